namespace Fleet.Detectors;

/// <summary>Which detector to create, with optional parameter overrides (name -> value).</summary>
public sealed record DetectorSpec(string Name, IReadOnlyDictionary<string, double>? Parameters = null)
{
    public static DetectorSpec Default => new(DetectorCatalog.DefaultName);
}
