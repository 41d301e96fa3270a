namespace Fleet.Grains.Sensors;

/// <summary>Counters as the HTTP API shows them.</summary>
[GenerateSerializer, Immutable]
public sealed record SensorCountsView(
    [property: Id(0)] long Accepted,
    [property: Id(1)] long Rejected,
    [property: Id(2)] Dictionary<string, long> RejectedByReason,
    [property: Id(3)] long Duplicates,
    [property: Id(4)] long Late,
    [property: Id(5)] long Filtered,
    [property: Id(6)] long Anomalies,
    [property: Id(7)] long MetricLimitExceeded,
    [property: Id(8)] long Errors = 0);

/// <summary>Running statistics and detector summary of one metric.</summary>
[GenerateSerializer, Immutable]
public sealed record MetricSummary(
    [property: Id(0)] string Name,
    [property: Id(1)] long Count,
    [property: Id(2)] double Mean,
    [property: Id(3)] double StdDev,
    [property: Id(4)] double Min,
    [property: Id(5)] double Max,
    [property: Id(6)] double Last,
    [property: Id(7)] long LastTimestampMs,
    [property: Id(8)] DetectorSummary Detector);

/// <summary>
/// A metric's detector: its threshold, last score and cost, and what is normal now: the value it expects and the band
/// strictly inside which the next reading (at the last reading's time of day) would not alert, in the reading's units;
/// null where the detector does not explain itself or is still warming up.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record DetectorSummary(
    [property: Id(0)] string Name,
    [property: Id(1)] double Threshold,
    [property: Id(2)] double LastScore,
    [property: Id(3)] long Points,
    [property: Id(4)] int StateBytes,
    [property: Id(5)] double? Expected = null,
    [property: Id(6)] double? Lower = null,
    [property: Id(7)] double? Upper = null);

/// <summary>The live state of one sensor's environment.</summary>
[GenerateSerializer, Immutable]
public sealed record SensorSnapshot(
    [property: Id(0)] string SensorId,
    [property: Id(1)] bool Known,
    [property: Id(2)] DateTime ActivatedAtUtc,
    [property: Id(3)] DateTime? FirstSeenUtc,
    [property: Id(4)] SensorCountsView Counts,
    [property: Id(5)] LastReading? LastReading,
    [property: Id(6)] MetricSummary[] Metrics,
    [property: Id(7)] Anomaly[] RecentAnomalies,
    [property: Id(8)] SensorConfig? Config,
    [property: Id(9)] SensorFunctionsView? Functions = null);
