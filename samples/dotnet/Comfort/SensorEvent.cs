namespace Fleet.Samples.Comfort;

/// <summary>
/// What a function bound to a sensor receives for every accepted reading (and what a direct invocation may send):
/// <c>{"sensorId","topic","timestamp","seq","metrics":{name:value},"anomalies":[{metric,value,score,detector}]}</c>.
/// </summary>
public sealed class SensorEvent
{
    public string? SensorId { get; init; }

    /// <summary><c>sensors/{sensorId}/telemetry</c>.</summary>
    public string? Topic { get; init; }

    /// <summary>The reading's time, unix milliseconds.</summary>
    public long Timestamp { get; init; }

    public long? Seq { get; init; }

    public Dictionary<string, double> Metrics { get; init; } = new();

    /// <summary>The anomalies this reading raised in the sensor's detectors.</summary>
    public List<SensorAnomaly> Anomalies { get; init; } = [];
}

public sealed class SensorAnomaly
{
    public string? Metric { get; init; }

    public double Value { get; init; }

    public double Score { get; init; }

    public string? Detector { get; init; }
}
