using Fleet.Detectors;
using Fleet.Functions.Sensors;

namespace Fleet.Functions.BuiltIn;

/// <summary>Running statistics and the live detector of one metric.</summary>
public sealed class MetricTrack
{
    public string Name { get; init; } = "";
    public long Count { get; private set; }
    public double Mean { get; private set; }
    public double M2 { get; private set; }
    public double Min { get; private set; } = double.PositiveInfinity;
    public double Max { get; private set; } = double.NegativeInfinity;
    public double Last { get; private set; }
    public double Smoothed { get; internal set; }
    public double LastScore { get; internal set; }
    public long LastTimestampMs { get; internal set; }
    public IAnomalyDetector Detector { get; internal set; } = null!;

    public double Variance => Count > 1 ? M2 / (Count - 1) : 0;

    public void Add(double value)
    {
        Count++;
        var delta = value - Mean;
        Mean += delta / Count;
        M2 += delta * (value - Mean);
        if (value < Min) Min = value;
        if (value > Max) Max = value;
        Last = value;
    }

    internal void Write(BinaryWriter w)
    {
        w.Write(Count);
        w.Write(Mean);
        w.Write(M2);
        w.Write(Min);
        w.Write(Max);
        w.Write(Last);
        w.Write(Smoothed);
        w.Write(LastScore);
        w.Write(LastTimestampMs);
        w.Write(Detector.Name);
        var state = Detector.SaveState();
        w.Write(state.Length);
        w.Write(state);
    }

    internal static MetricTrack Read(BinaryReader r, string name, Func<IAnomalyDetector> create)
    {
        var track = new MetricTrack
        {
            Name = name,
            Count = r.ReadInt64(), Mean = r.ReadDouble(), M2 = r.ReadDouble(), Min = r.ReadDouble(), Max = r.ReadDouble(),
            Last = r.ReadDouble(), Smoothed = r.ReadDouble(), LastScore = r.ReadDouble(), LastTimestampMs = r.ReadInt64(),
        };
        var detectorName = r.ReadString();
        var state = r.ReadBytes(r.ReadInt32());
        var detector = create();
        if (detector.Name == detectorName)
        {
            try
            {
                detector.LoadState(state);
            }
            catch (ArgumentException)
            {
                detector = create(); // a state from an older detector version: start that detector afresh
            }
        }

        track.Detector = detector;
        return track;
    }
}

/// <summary>
/// Built-in step 3, anomaly detection: per metric (at most <c>MAX_METRICS</c>), EWMA smoothing
/// (<c>SMOOTHING_ALPHA</c>), running statistics, and one online detector (<c>DETECTOR</c>,
/// <c>DETECTOR_PARAMETERS</c>); a score at or above the detector's threshold adds an anomaly to the event.
/// Changing the detector or its parameters restarts every metric's detector.
/// </summary>
public sealed class Detect : IFunctionHandler<SensorEvent, SensorEvent?>, IStatefulFunction
{
    // A sensor has a few metrics: an exact-size array searched in order costs far less memory than a dictionary.
    private MetricTrack[] _tracks = [];
    private BuiltInSettings? _settings;
    private IReadOnlyDictionary<string, string>? _environment;
    private byte[]? _pending;

    public IReadOnlyDictionary<string, MetricTrack> Metrics => _tracks.ToDictionary(t => t.Name, StringComparer.Ordinal);
    public long MetricLimitExceeded { get; private set; }
    public long Anomalies { get; private set; }

    /// <summary>Detections that failed with an internal error (that metric's detector restarted); see <see cref="LastError"/>.</summary>
    public long DetectorErrors { get; private set; }

    public Exception? LastError { get; private set; }

    public Task<SensorEvent?> HandleAsync(SensorEvent evt, IFunctionContext context)
    {
        if (_pending is { } pending)
        {
            _pending = null;
            RestoreState(pending, context.Environment);
        }

        var settings = Settings(context.Environment);
        var alpha = settings.Alpha;
        foreach (var metric in evt.Metrics)
        {
            var track = GetOrAdd(metric.Name, settings);
            if (track is null)
            {
                MetricLimitExceeded++;
                continue;
            }

            var value = metric.Value;
            var previous = track.Smoothed;
            var smoothing = track.Count > 0 && alpha < 1.0;
            track.Smoothed = smoothing ? previous + alpha * (value - previous) : value;
            track.Add(value);
            track.LastTimestampMs = evt.Timestamp;
            var detector = track.Detector;
            var explanation = default(AnomalyExplanation);
            double score;
            try
            {
                score = detector is IExplainingDetector explaining
                    ? explaining.Next(evt.Timestamp, track.Smoothed, out explanation)
                    : detector.Next(evt.Timestamp, track.Smoothed);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // A detector's bug must not stop the sensor: this metric's detection is skipped, its detector (whose state
                // the failure may have left half-updated) starts afresh, the reading's other metrics go on.
                DetectorErrors++;
                LastError = ex;
                track.Detector = DetectorCatalog.Create(settings.DetectorName, settings.Parameters);
                track.LastScore = 0;
                continue;
            }

            track.LastScore = score;
            if (score >= detector.Threshold)
            {
                Anomalies++;
                var explained = explanation.Kind != AnomalyKind.None;
                var a = smoothing ? alpha : 1.0;
                evt.Anomalies.Add(new SensorAnomaly(metric.Name, value, score, detector.Name)
                {
                    Kind = explanation.KindName,
                    Expected = explained ? Finite(explanation.Expected) : null,
                    Lower = explained ? Finite(Unsmoothed(explanation.Lower, previous, a)) : null, // unbounded or none: null
                    Upper = explained ? Finite(Unsmoothed(explanation.Upper, previous, a)) : null,
                });
            }
        }

        return Passed.Of(evt);
    }

    private static double? Finite(double x) => double.IsFinite(x) ? x : null;

    /// <summary>
    /// The detector sees the smoothed value; bands are given in the reading's own units. The reading that smooths to
    /// <paramref name="x"/> from <paramref name="previous"/> is previous + (x - previous) / alpha (exact: smoothing is
    /// monotone). The expected value is the detector's level (or the hour's), the same in either units: not converted.
    /// </summary>
    private static double Unsmoothed(double x, double previous, double alpha) => alpha < 1.0 ? previous + (x - previous) / alpha : x;

    /// <summary>
    /// What the metric's detector would accept from the next reading at the time of the last one: the value it expects
    /// and the band (in the reading's units, smoothing undone) strictly inside which that reading would not alert.
    /// Null where the detector does not explain itself, during its warm-up, or where it can give no band.
    /// </summary>
    public (double? Expected, double? Lower, double? Upper) Band(string metric)
    {
        var track = _tracks.FirstOrDefault(t => string.Equals(t.Name, metric, StringComparison.Ordinal));
        if (track?.Detector is not IExplainingDetector explaining || track.Count == 0) return default;
        var band = explaining.Band(track.LastTimestampMs);
        var alpha = _settings?.Alpha ?? 1.0;
        return (Finite(band.Expected), Finite(Unsmoothed(band.Lower, track.Smoothed, alpha)), Finite(Unsmoothed(band.Upper, track.Smoothed, alpha)));
    }

    /// <summary>Applies an environment now rather than at the next event (a reconfiguration restarts detectors at once).</summary>
    public void Configure(IReadOnlyDictionary<string, string> environment) => Settings(environment);

    private BuiltInSettings Settings(IReadOnlyDictionary<string, string> environment)
    {
        if (ReferenceEquals(environment, _environment) && _settings is not null) return _settings;
        var cache = default(SettingsCache);
        var next = cache.Get(environment);
        if (_settings is not null && !_settings.SameDetector(next))
        {
            foreach (var track in _tracks)
            {
                track.Detector = DetectorCatalog.Create(next.DetectorName, next.Parameters);
                track.LastScore = 0; // the old detector's last word, not the new one's
            }
        }

        _settings = next;
        _environment = environment;
        return next;
    }

    private MetricTrack? GetOrAdd(string name, BuiltInSettings settings)
    {
        foreach (var track in _tracks)
        {
            if (string.Equals(track.Name, name, StringComparison.Ordinal)) return track;
        }

        if (_tracks.Length >= settings.MetricLimit) return null;
        var created = new MetricTrack { Name = name, Detector = DetectorCatalog.Create(settings.DetectorName, settings.Parameters) };
        _tracks = [.. _tracks, created];
        return created;
    }

    public byte[]? SaveState()
    {
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream))
        {
            w.Write((byte)1);
            w.Write(MetricLimitExceeded);
            w.Write(Anomalies);
            w.Write(_tracks.Length);
            foreach (var track in _tracks)
            {
                w.Write(track.Name);
                track.Write(w);
            }

            w.Write(DetectorErrors); // added later, so last: a state saved before it still loads
        }

        return stream.ToArray();
    }

    /// <summary>Restores the metrics; detectors are rebuilt with the settings of <paramref name="environment"/>.</summary>
    public void RestoreState(byte[] state, IReadOnlyDictionary<string, string> environment)
    {
        var settings = Settings(environment);
        using var r = new BinaryReader(new MemoryStream(state));
        if (r.ReadByte() != 1) return;
        MetricLimitExceeded = r.ReadInt64();
        Anomalies = r.ReadInt64();
        var count = r.ReadInt32();
        var tracks = new MetricTrack[count];
        for (var i = 0; i < count; i++)
        {
            var name = r.ReadString();
            tracks[i] = MetricTrack.Read(r, name, () => DetectorCatalog.Create(settings.DetectorName, settings.Parameters));
        }

        _tracks = tracks;
        DetectorErrors = r.BaseStream.Position < r.BaseStream.Length ? r.ReadInt64() : 0;
    }

    /// <summary>Kept until the first event, whose context carries the environment the detectors are rebuilt with.</summary>
    void IStatefulFunction.RestoreState(byte[] state) => _pending = state;
}
