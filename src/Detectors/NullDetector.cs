namespace Fleet.Detectors;

/// <summary>NAB's null detector: scores every point 0 (never alerts). The benchmark's zero.</summary>
public sealed class NullDetector : IAnomalyDetector
{
    public const string CatalogName = "null";
    private long _count;

    public string Name => CatalogName;
    public double Threshold => 1.0;
    public long Count => _count;
    public int StateSize => sizeof(long);

    public static NullDetector Create(IReadOnlyDictionary<string, double>? parameters)
    {
        new ParameterReader(CatalogName, parameters).RejectUnknown();
        return new NullDetector();
    }

    public double Next(long timestampMs, double value)
    {
        _count++;
        return 0.0;
    }

    public byte[] SaveState() => new StateWriter(CatalogName).Write(_count).ToArray();

    public void LoadState(ReadOnlySpan<byte> state)
    {
        var r = new StateReader(state, CatalogName);
        _count = r.ReadLong();
        r.End();
    }
}
