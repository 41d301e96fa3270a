namespace Fleet.Grains.Readings;

/// <summary>Why the gateway refused a publish. Each is counted per sensor (where the id is valid) and globally.</summary>
public enum RejectReason
{
    MalformedJson = 0,
    MissingValue = 1,
    NonFiniteValue = 2,
    PayloadTooLarge = 3,
    TooManyMetrics = 4,
    BadSensorId = 5,
    UnknownTopic = 6,
    BadTimestamp = 7,
    BatchTooLarge = 8,
    BadMetricName = 9,
    BadSequence = 10,
    Overloaded = 11,

    /// <summary>A finite value beyond ±<see cref="RejectReasons.MaxMagnitude"/>: no sensor measures that, and sums of squares of it overflow.</summary>
    ValueOutOfRange = 12,
}

public static class RejectReasons
{
    public static readonly RejectReason[] All = Enum.GetValues<RejectReason>();

    /// <summary>
    /// The largest magnitude a value may have. Larger finite doubles (up to 1.8e308) overflow the running statistics
    /// (a mean or variance becomes infinite, and the sensor's JSON cannot be written) and the detectors' arithmetic.
    /// </summary>
    public const double MaxMagnitude = 1e100;

    /// <summary>snake_case names used in JSON and metrics.</summary>
    public static string Name(this RejectReason reason) => reason switch
    {
        RejectReason.MalformedJson => "malformed_json",
        RejectReason.MissingValue => "missing_value",
        RejectReason.NonFiniteValue => "non_finite_value",
        RejectReason.PayloadTooLarge => "payload_too_large",
        RejectReason.TooManyMetrics => "too_many_metrics",
        RejectReason.BadSensorId => "bad_sensor_id",
        RejectReason.UnknownTopic => "unknown_topic",
        RejectReason.BadTimestamp => "bad_timestamp",
        RejectReason.BatchTooLarge => "batch_too_large",
        RejectReason.BadMetricName => "bad_metric_name",
        RejectReason.BadSequence => "bad_sequence",
        RejectReason.Overloaded => "overloaded",
        RejectReason.ValueOutOfRange => "value_out_of_range",
        _ => reason.ToString(),
    };
}
