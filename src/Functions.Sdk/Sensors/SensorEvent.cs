namespace Fleet.Functions.Sensors;

/// <summary>One metric's value in a <see cref="SensorEvent"/>.</summary>
public readonly record struct SensorMetric(string Name, double Value);

/// <summary>
/// An anomaly a detector found in a <see cref="SensorEvent"/>. Detectors that explain themselves (the built-in
/// <c>fusion</c>, <c>fusion-lite</c> and <c>ewma-z</c>) also say why: <see cref="Kind"/> ("level", "time-of-day",
/// "new-extreme", "distribution"), the value they <see cref="Expected"/>, and the band <see cref="Lower"/>..<see cref="Upper"/>
/// strictly inside which no reading would have alerted, in the reading's units (the built-in smoothing undone).
/// </summary>
public sealed record SensorAnomaly(string Metric, double Value, double Score, string Detector)
{
    public string? Kind { get; init; }

    public double? Expected { get; init; }

    public double? Lower { get; init; }

    public double? Upper { get; init; }
}

/// <summary>
/// A sensor's reading as the functions in its environment see it, typed. Steps run in order on the
/// same event: a step may change or remove metrics, add anomalies, or return null to drop the reading.
/// Bound functions written in any language receive its JSON form:
/// <c>{"sensorId","topic","timestamp","seq","metrics":{name:value},"anomalies":[{metric,value,score,detector,kind?,expected?,lower?,upper?}]}</c>.
/// </summary>
[System.Text.Json.Serialization.JsonConverter(typeof(SensorEventJsonConverter))]
public sealed class SensorEvent
{
    public string SensorId { get; set; } = "";

    /// <summary>Milliseconds since the Unix epoch, as the device stamped it.</summary>
    public long Timestamp { get; set; }

    /// <summary>The device's sequence number, when it sends one.</summary>
    public long? Seq { get; set; }

    public List<SensorMetric> Metrics { get; } = new(4);

    public List<SensorAnomaly> Anomalies { get; } = new(1);

    /// <summary>Makes the event a fresh reading (the platform reuses one event object per turn).</summary>
    public SensorEvent Reset(string sensorId, long timestamp, long? seq)
    {
        SensorId = sensorId;
        Timestamp = timestamp;
        Seq = seq;
        Metrics.Clear();
        Anomalies.Clear();
        return this;
    }
}
