namespace Fleet.Grains.Sensors;

/// <summary>A detected anomaly: what leaves through the outbound adapters.</summary>
[GenerateSerializer, Immutable]
public sealed record Anomaly(
    [property: Id(0)] string SensorId,
    [property: Id(1)] string Metric,
    [property: Id(2)] long TimestampMs,
    [property: Id(3)] long Seq,
    [property: Id(4)] double Value,
    [property: Id(5)] double Score,
    [property: Id(6)] string Detector,
    [property: Id(7)] DateTime DetectedAtUtc);
