using System.ComponentModel.DataAnnotations;

namespace Fleet.Gateways.Mqtt;

/// <summary>The embedded MQTT broker and the telemetry ingress. Section "Mqtt".</summary>
public sealed class MqttGatewayOptions
{
    public const string Section = "Mqtt";

    /// <summary>TCP port of the embedded broker (MQTT 3.1.1 and 5).</summary>
    [Range(0, 65535)]
    public int Port { get; set; } = 1883;

    /// <summary>First topic level of telemetry: devices publish to {TopicPrefix}/{sensorId}/telemetry.</summary>
    [Required, RegularExpression("^[A-Za-z0-9_-]+$")]
    public string TopicPrefix { get; set; } = "sensors";

    /// <summary>Topic level alerts are republished under: {AlertTopicPrefix}/{sensorId}.</summary>
    [Required, RegularExpression("^[A-Za-z0-9_-]+$")]
    public string AlertTopicPrefix { get; set; } = "alerts";

    /// <summary>
    /// When false (the default), publishes to topics other than telemetry are refused as unknown_topic.
    /// When true, they are relayed like any broker would (alert topics stay reserved for the platform).
    /// </summary>
    public bool RelayOtherTopics { get; set; }

    /// <summary>
    /// When true (the default), accepted telemetry is also routed to MQTT subscribers of its topic, as a plain
    /// broker would; false skips the subscription match per publish.
    /// </summary>
    public bool RelayTelemetry { get; set; } = true;

    [Range(16, 16 * 1024 * 1024)]
    public int MaxPayloadBytes { get; set; } = 64 * 1024;

    [Range(1, 1024)]
    public int MaxMetricsPerReading { get; set; } = 32;

    [Range(1, 100_000)]
    public int MaxReadingsPerPublish { get; set; } = 1000;

    /// <summary>Readings waiting for the stream, per shard; a full queue slows publishers down (TCP backpressure).</summary>
    [Range(1, 10_000_000)]
    public int QueueCapacity { get; set; } = 50_000;

    /// <summary>
    /// Most readings one sensor may have parked (refused by the transport, waiting to be sent again in order) before its
    /// further publishes are refused as <c>overloaded</c> (nothing queued: the device sends again later). Keeps a sensor
    /// that cannot take readings from filling its shard's queue and holding back the other sensors there.
    /// </summary>
    [Range(1, 10_000_000)]
    public int MaxParkedPerSensor { get; set; } = 10_000;

    /// <summary>Independent producer loops (readings of one sensor always share one, so order holds).</summary>
    [Range(1, 256)]
    public int ProducerShards { get; set; } = 4;

    /// <summary>Most readings one producer flush carries.</summary>
    [Range(1, 1_000_000)]
    public int MaxFlushReadings { get; set; } = 4096;

    /// <summary>
    /// How long a QoS 1 publish (or an HTTP POST of readings) may wait for room in the ingress queue before it is
    /// refused as <c>overloaded</c>; a refused publish was not queued, so the device's resend cannot duplicate it.
    /// </summary>
    public TimeSpan AcceptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How far a reading's <c>ts</c> may be ahead of the time the silo received it; a later one is refused
    /// (<c>bad_timestamp</c>), since a single reading from the future would make the sensor treat every later valid
    /// reading as late.
    /// </summary>
    public TimeSpan MaxClockAhead { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How often per-sensor reject counts are sent to the sensor grains.</summary>
    public TimeSpan RejectFlushInterval { get; set; } = TimeSpan.FromSeconds(1);
}
