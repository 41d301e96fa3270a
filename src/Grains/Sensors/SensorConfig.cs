namespace Fleet.Grains.Sensors;

/// <summary>Per-metric rule: unit conversion (value * Scale + Offset), clamp, then a valid range.</summary>
[GenerateSerializer, Immutable]
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record MetricRule
{
    [Id(0)] public double Scale { get; init; } = 1.0;
    [Id(1)] public double Offset { get; init; }
    /// <summary>Values are clamped into [ClampMin, ClampMax] after conversion.</summary>
    [Id(2)] public double? ClampMin { get; init; }
    [Id(3)] public double? ClampMax { get; init; }
    /// <summary>Values outside [Min, Max] after conversion are filtered out (counted, not analysed).</summary>
    [Id(4)] public double? Min { get; init; }
    [Id(5)] public double? Max { get; init; }
}

/// <summary>
/// A sensor's own configuration. Every field is optional: what is left out falls back to the silo's
/// <see cref="SensorPipelineOptions"/>. A field it does not have is refused (over HTTP), since PUT replaces the whole
/// configuration and a misspelt field would otherwise reset what it meant to set.
/// </summary>
[GenerateSerializer, Immutable]
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record SensorConfig
{
    /// <summary>Detector name from the catalog (e.g. "ewma-z"); null = the silo default.</summary>
    [Id(0)] public string? Detector { get; init; }
    [Id(1)] public Dictionary<string, double>? DetectorParameters { get; init; }
    /// <summary>Readings older than the newest seen timestamp by more than this are dropped as late.</summary>
    [Id(2)] public long? AllowedLatenessMs { get; init; }
    /// <summary>EWMA smoothing factor in (0, 1]; 1 means no smoothing.</summary>
    [Id(3)] public double? SmoothingAlpha { get; init; }
    /// <summary>Rules per metric name; the rule under "*" applies to metrics without their own.</summary>
    [Id(4)] public Dictionary<string, MetricRule>? Metrics { get; init; }
}
