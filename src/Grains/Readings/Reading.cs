namespace Fleet.Grains.Readings;

/// <summary>One named metric value of a reading.</summary>
[GenerateSerializer, Immutable]
public readonly record struct MetricValue([property: Id(0)] string Name, [property: Id(1)] double Value);

/// <summary>
/// A validated reading of one sensor, as the MQTT gateway puts it on the sensor's stream.
/// </summary>
/// <param name="TimestampMs">The device's timestamp, unix milliseconds.</param>
/// <param name="Seq">The device's sequence number, or <see cref="NoSeq"/> when the device sent none.</param>
/// <param name="Metrics">One or more named values ("value" for a single-value reading).</param>
/// <param name="ReceivedAtUs">When the gateway accepted it, unix microseconds (for latency).</param>
[GenerateSerializer, Immutable]
public sealed record Reading(
    [property: Id(0)] long TimestampMs,
    [property: Id(1)] long Seq,
    [property: Id(2)] MetricValue[] Metrics,
    [property: Id(3)] long ReceivedAtUs)
{
    public const long NoSeq = -1;

    /// <summary>The metric name a plain <c>{"value": x}</c> reading gets.</summary>
    public const string DefaultMetric = "value";

    public bool HasSeq => Seq >= 0;
}
