namespace Fleet.Detectors;

/// <summary>
/// An online anomaly detector for one metric of one sensor. It sees each point once, in order,
/// with no look-ahead and no labels, exactly as the sensor grain feeds it.
/// Implementations must not allocate per point.
/// </summary>
public interface IAnomalyDetector
{
    /// <summary>The catalog name this detector was created under (e.g. "ewma-z").</summary>
    string Name { get; }

    /// <summary>Score at or above which the platform reports an anomaly.</summary>
    double Threshold { get; }

    /// <summary>Feeds one point and returns its anomaly score in [0, 1].</summary>
    double Next(long timestampMs, double value);

    /// <summary>How many points this detector has seen.</summary>
    long Count { get; }

    /// <summary>Approximate bytes of state held for this metric (reported, and budgeted at 8 KB).</summary>
    int StateSize { get; }

    /// <summary>Serialises the whole state (called at checkpoints, not per point).</summary>
    byte[] SaveState();

    /// <summary>Restores a state produced by <see cref="SaveState"/> of the same detector and parameters.</summary>
    void LoadState(ReadOnlySpan<byte> state);
}
