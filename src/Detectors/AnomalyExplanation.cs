namespace Fleet.Detectors;

/// <summary>Which part of a detector made a point anomalous.</summary>
public enum AnomalyKind : byte
{
    /// <summary>No explanation (the detector gives none, or the point was not anomalous).</summary>
    None = 0,

    /// <summary>The value is far from the series' running level.</summary>
    Level,

    /// <summary>The value is far from what this hour of the day usually brings.</summary>
    TimeOfDay,

    /// <summary>The value lies outside everything the series has shown so far (HTM's "spatial anomaly").</summary>
    NewExtreme,

    /// <summary>The recent values' distribution differs from every distribution seen before.</summary>
    Distribution,
}

/// <summary>
/// Why a point scored at or above the detector's threshold, in the units of the value the detector was fed: the value
/// it expected, and the band strictly inside which no value would have alerted at that moment. Like a CloudWatch
/// anomaly-detection band: an alert reads "95 where about 21 was expected, 12..30 is normal at this hour".
/// <see cref="Lower"/> and <see cref="Upper"/> are NaN where the detector can give no such band (e.g. a threshold of 0),
/// and infinite where no value on that side can alert.
/// </summary>
public readonly record struct AnomalyExplanation(AnomalyKind Kind, double Expected, double Lower, double Upper)
{
    /// <summary>The name the platform reports: "level", "time-of-day", "new-extreme", "distribution" (null for none).</summary>
    public string? KindName => Kind switch
    {
        AnomalyKind.Level => "level",
        AnomalyKind.TimeOfDay => "time-of-day",
        AnomalyKind.NewExtreme => "new-extreme",
        AnomalyKind.Distribution => "distribution",
        _ => null,
    };
}

/// <summary>
/// A detector that can say why a point was anomalous. The explanation is computed only for points that score at or
/// above <see cref="IAnomalyDetector.Threshold"/>, from the state before the point was learnt, with no allocation.
/// </summary>
public interface IExplainingDetector : IAnomalyDetector
{
    /// <summary>
    /// Feeds one point, exactly as <see cref="IAnomalyDetector.Next"/> (the same score and state); when the score is at or
    /// above the threshold, <paramref name="explanation"/> says why, otherwise it is <c>default</c>.
    /// </summary>
    double Next(long timestampMs, double value, out AnomalyExplanation explanation);

    /// <summary>
    /// What the detector would accept now from a point at <paramref name="timestampMs"/> (changing nothing): the value it
    /// expects and the band strictly inside which such a point would not alert, ignoring the rest period after an alert.
    /// <see cref="AnomalyExplanation.Kind"/> is <see cref="AnomalyKind.None"/>; the band is NaN during the warm-up (nothing
    /// alerts yet) and where the detector can give none.
    /// </summary>
    AnomalyExplanation Band(long timestampMs);
}
