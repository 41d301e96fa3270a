namespace Fleet.Detectors;

/// <summary>The detectors a sensor can be configured with, by name.</summary>
public static class DetectorCatalog
{
    /// <summary>The detector used when a sensor names none.</summary>
    public const string DefaultName = EwmaZScoreDetector.CatalogName;

    private static readonly Dictionary<string, Func<IReadOnlyDictionary<string, double>, IAnomalyDetector>> Factories =
        new(StringComparer.OrdinalIgnoreCase)
        {
            [EwmaZScoreDetector.CatalogName] = p => new EwmaZScoreDetector(
                alpha: Get(p, "alpha", 0.02),
                zAtHalf: Get(p, "zAtHalf", 4.0),
                warmup: (int)Get(p, "warmup", 30),
                threshold: Get(p, "threshold", 0.9)),
        };

    public static IReadOnlyCollection<string> Names => Factories.Keys;

    public static bool Exists(string name) => Factories.ContainsKey(name);

    public static IAnomalyDetector Create(DetectorSpec spec) => Create(spec.Name, spec.Parameters);

    public static IAnomalyDetector Create(string name, IReadOnlyDictionary<string, double>? parameters = null)
    {
        if (!Factories.TryGetValue(name, out var factory))
        {
            throw new ArgumentException($"unknown detector '{name}'; known: {string.Join(", ", Factories.Keys)}", nameof(name));
        }

        return factory(parameters ?? EmptyParameters);
    }

    private static readonly IReadOnlyDictionary<string, double> EmptyParameters = new Dictionary<string, double>();

    private static double Get(IReadOnlyDictionary<string, double> p, string key, double fallback)
        => p.TryGetValue(key, out var v) ? v : fallback;
}
