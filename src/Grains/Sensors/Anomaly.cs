namespace Fleet.Grains.Sensors;

/// <summary>
/// A detected anomaly: what leaves through the outbound adapters. <see cref="Kind"/>, <see cref="Expected"/> and the
/// band <see cref="Lower"/>..<see cref="Upper"/> say why, when the detector explains itself (fusion, fusion-lite,
/// ewma-z); they are null otherwise (other detectors, anomalies added by a bound function, anomalies stored before).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record Anomaly(
    [property: Id(0)] string SensorId,
    [property: Id(1)] string Metric,
    [property: Id(2)] long TimestampMs,
    [property: Id(3), System.Text.Json.Serialization.JsonConverter(typeof(Fleet.Grains.Readings.SeqJsonConverter))] long Seq,
    [property: Id(4)] double Value,
    [property: Id(5)] double Score,
    [property: Id(6)] string Detector,
    [property: Id(7)] DateTime DetectedAtUtc)
{
    /// <summary>"level", "time-of-day", "new-extreme" or "distribution": the part of the detector that fired.</summary>
    [Id(8)] public string? Kind { get; init; }

    /// <summary>The value the detector expected (the level, or this hour's usual value).</summary>
    [Id(9)] public double? Expected { get; init; }

    /// <summary>The lower edge of the band strictly inside which no reading would have alerted (null: unbounded or none).</summary>
    [Id(10)] public double? Lower { get; init; }

    /// <summary>The upper edge of the band strictly inside which no reading would have alerted (null: unbounded or none).</summary>
    [Id(11)] public double? Upper { get; init; }
}
