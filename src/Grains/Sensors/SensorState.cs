using Fleet.Detectors;
using Fleet.Grains.Readings;

namespace Fleet.Grains.Sensors;

/// <summary>Counts of what happened to this sensor's readings.</summary>
[GenerateSerializer]
public sealed class SensorCounters
{
    /// <summary>Readings taken into the pipeline (not duplicate, not late).</summary>
    [Id(0)] public long Accepted;
    /// <summary>Publishes the gateway refused, by reason (null until the first: most sensors never send bad input).</summary>
    [Id(1)] public Dictionary<RejectReason, long>? Rejected;
    [Id(2)] public long Duplicates;
    [Id(3)] public long Late;
    /// <summary>Metric values dropped by a range filter.</summary>
    [Id(4)] public long Filtered;
    [Id(5)] public long Anomalies;
    /// <summary>Metric values dropped because the sensor already has the maximum number of metrics.</summary>
    [Id(6)] public long MetricLimitExceeded;

    public long RejectedTotal => Rejected?.Values.Sum() ?? 0;
}

/// <summary>Running statistics and detector state of one metric.</summary>
[GenerateSerializer]
public sealed class MetricState
{
    [Id(0)] public long Count;
    [Id(1)] public double Mean;
    [Id(2)] public double M2;
    [Id(3)] public double Min = double.PositiveInfinity;
    [Id(4)] public double Max = double.NegativeInfinity;
    [Id(5)] public double Last;
    [Id(6)] public double Smoothed;
    [Id(7)] public double LastScore;
    [Id(8)] public string Detector = "";
    [Id(9)] public byte[]? DetectorState;
    [Id(10)] public long LastTimestampMs;

    /// <summary>The live detector (not serialised; rebuilt from <see cref="DetectorState"/>).</summary>
    [NonSerialized] public IAnomalyDetector? Live;

    public double Variance => Count > 1 ? M2 / (Count - 1) : 0;

    public void Add(double value)
    {
        Count++;
        var delta = value - Mean;
        Mean += delta / Count;
        M2 += delta * (value - Mean);
        if (value < Min) Min = value;
        if (value > Max) Max = value;
        Last = value;
    }
}

/// <summary>The last reading the pipeline accepted.</summary>
[GenerateSerializer, Immutable]
public sealed record LastReading(
    [property: Id(0)] long TimestampMs,
    [property: Id(1)] long Seq,
    [property: Id(2)] MetricValue[] Metrics,
    [property: Id(3)] DateTime ProcessedAtUtc);

/// <summary>Everything a sensor's environment persists (write-behind).</summary>
[GenerateSerializer]
public sealed class SensorState
{
    [Id(0)] public SensorCounters Counters = new();
    [Id(1)] public long HighestSeq = -1;
    [Id(2)] public ulong SeqMask;
    [Id(3)] public long NewestTimestampMs = long.MinValue;
    [Id(4)] public LastReading? Last;
    [Id(5)] public Dictionary<string, MetricState> Metrics = new(StringComparer.Ordinal);
    [Id(6)] public List<Anomaly> RecentAnomalies = new();
    [Id(7)] public SensorConfig? Config;
    [Id(8)] public DateTime FirstSeenUtc;
}
