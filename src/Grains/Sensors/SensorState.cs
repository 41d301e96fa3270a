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

    public long RejectedTotal => Rejected?.Values.Sum() ?? 0;
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
    [Id(4)] public LastReading? Last;
    [Id(6)] public List<Anomaly> RecentAnomalies = new();
    [Id(7)] public SensorConfig? Config;
    [Id(8)] public DateTime FirstSeenUtc;
    /// <summary>The functions' warm state (<c>IStatefulFunction</c>), by function: filled for a write, dropped after it.</summary>
    [Id(9)] public Dictionary<string, byte[]>? FunctionState;
}
