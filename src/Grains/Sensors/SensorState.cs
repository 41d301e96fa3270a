using Fleet.Grains.Readings;

namespace Fleet.Grains.Sensors;

/// <summary>The last reading the pipeline accepted.</summary>
[GenerateSerializer, Immutable]
public sealed record LastReading(
    [property: Id(0)] long TimestampMs,
    [property: Id(1), System.Text.Json.Serialization.JsonConverter(typeof(Fleet.Grains.Readings.SeqJsonConverter))] long Seq,
    [property: Id(2)] MetricValue[] Metrics,
    [property: Id(3)] DateTime ProcessedAtUtc);

/// <summary>
/// Everything a sensor's environment persists (write-behind). Kept flat, with nothing allocated that a sensor
/// may never need (reject counts, anomalies): sensors are many, and each object costs its header and a reference.
/// </summary>
[GenerateSerializer]
public sealed class SensorState
{
    /// <summary>Readings taken into the pipeline (not duplicate, not late).</summary>
    [Id(14)] public long Accepted;
    /// <summary>Readings an internal error (a bug, not bad input) stopped in the pipeline; see the silo's log.</summary>
    [Id(17)] public long Failed;
    /// <summary>Publishes the gateway refused, by reason (null until the first: most sensors never send bad input).</summary>
    [Id(15)] public Dictionary<RejectReason, long>? Rejected;
    [Id(10)] public long LastTimestampMs;
    [Id(11)] public long LastSeq;
    [Id(12)] public MetricValue[]? LastMetrics;
    [Id(13)] public DateTime LastProcessedUtc;
    /// <summary>The most recent anomalies, oldest first (null until the first).</summary>
    [Id(16)] public List<Anomaly>? Recent;
    [Id(7)] public SensorConfig? Config;
    [Id(8)] public DateTime FirstSeenUtc;
    /// <summary>The functions' warm state (<c>IStatefulFunction</c>), by function: filled for a write, dropped after it.</summary>
    [Id(9)] public Dictionary<string, byte[]>? FunctionState;

    public long RejectedTotal => Rejected?.Values.Sum() ?? 0;

    public IReadOnlyList<Anomaly> RecentAnomalies => (IReadOnlyList<Anomaly>?)Recent ?? [];

    /// <summary>The last reading the pipeline accepted (a copy), or null before the first.</summary>
    public LastReading? Last => LastMetrics is null ? null : new LastReading(LastTimestampMs, LastSeq, (MetricValue[])LastMetrics.Clone(), LastProcessedUtc);

    /// <summary>
    /// Remembers the last reading. Its values are copied into the sensor's own array (reused while the sensor sends
    /// the same number of metrics), so no reading's array outlives its turn: less survives each collection.
    /// </summary>
    public void SetLast(long timestampMs, long seq, MetricValue[] metrics, DateTime processedUtc)
    {
        LastTimestampMs = timestampMs;
        LastSeq = seq;
        if (LastMetrics is null || LastMetrics.Length != metrics.Length) LastMetrics = new MetricValue[metrics.Length];
        metrics.CopyTo(LastMetrics, 0);
        LastProcessedUtc = processedUtc;
    }
}
