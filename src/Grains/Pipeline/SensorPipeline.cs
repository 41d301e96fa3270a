using Fleet.Detectors;
using Fleet.Grains.Readings;
using Fleet.Grains.Sensors;

namespace Fleet.Grains.Pipeline;

/// <summary>What became of one reading.</summary>
public enum ReadingOutcome
{
    Accepted,
    Duplicate,
    Late,
}

/// <summary>
/// The built-in functions of a sensor's environment, in order: preprocessing (dedupe by seq, lateness),
/// filter/transform (unit conversion, clamp, range filter, smoothing), anomaly detection (one online
/// detector per metric) and running statistics. Pure logic over <see cref="SensorState"/>: no Orleans,
/// no I/O, so it is unit-tested directly and hosted by <c>SensorGrain</c>.
/// </summary>
public sealed class SensorPipeline
{
    private readonly string _sensorId;
    private readonly SensorState _state;
    private readonly SensorPipelineOptions _options;
    private readonly TimeProvider _time;

    public SensorPipeline(string sensorId, SensorState state, SensorPipelineOptions options, TimeProvider time)
    {
        _sensorId = sensorId;
        _state = state;
        _options = options;
        _time = time;
        RestoreDetectors();
    }

    public SensorState State => _state;

    private string DetectorName => _state.Config?.Detector ?? _options.DefaultDetector;
    private long AllowedLatenessMs => _state.Config?.AllowedLatenessMs ?? _options.AllowedLatenessMs;
    private double SmoothingAlpha => _state.Config?.SmoothingAlpha ?? _options.SmoothingAlpha;

    /// <summary>Runs one reading through every step; anomalies found are appended to <paramref name="anomalies"/>.</summary>
    public ReadingOutcome Process(Reading reading, List<Anomaly> anomalies)
    {
        var counters = _state.Counters;
        if (reading.HasSeq && !SequenceWindow.TryAccept(_state, reading.Seq, reading.TimestampMs, _options.DedupeWindow))
        {
            counters.Duplicates++;
            return ReadingOutcome.Duplicate;
        }

        if (_state.NewestTimestampMs != long.MinValue && reading.TimestampMs < _state.NewestTimestampMs - AllowedLatenessMs)
        {
            counters.Late++;
            return ReadingOutcome.Late;
        }

        if (reading.TimestampMs > _state.NewestTimestampMs)
        {
            _state.NewestTimestampMs = reading.TimestampMs;
        }

        counters.Accepted++;
        var now = _time.GetUtcNow().UtcDateTime;
        var alpha = SmoothingAlpha;
        foreach (var metric in reading.Metrics)
        {
            if (!MetricTransform.TryApply(MetricTransform.RuleFor(_state.Config, metric.Name), metric.Value, out var value))
            {
                counters.Filtered++;
                continue;
            }

            var metricState = GetOrAddMetric(metric.Name);
            if (metricState is null)
            {
                counters.MetricLimitExceeded++;
                continue;
            }

            metricState.Smoothed = metricState.Count == 0 || alpha >= 1.0
                ? value
                : metricState.Smoothed + alpha * (value - metricState.Smoothed);
            metricState.Add(value);
            metricState.LastTimestampMs = reading.TimestampMs;

            var detector = metricState.Live!;
            var score = detector.Next(reading.TimestampMs, metricState.Smoothed);
            metricState.LastScore = score;
            if (score >= detector.Threshold)
            {
                counters.Anomalies++;
                var anomaly = new Anomaly(_sensorId, metric.Name, reading.TimestampMs, reading.Seq, value, score, detector.Name, now);
                anomalies.Add(anomaly);
                RememberAnomaly(anomaly);
            }
        }

        _state.Last = new LastReading(reading.TimestampMs, reading.Seq, reading.Metrics, now);
        return ReadingOutcome.Accepted;
    }

    /// <summary>Copies live detector state into the serialisable state (called before a write).</summary>
    public void Checkpoint()
    {
        foreach (var metric in _state.Metrics.Values)
        {
            if (metric.Live is { } live)
            {
                metric.DetectorState = live.SaveState();
                metric.Detector = live.Name;
            }
        }
    }

    /// <summary>Applies a new configuration; detectors restart when the detector or its parameters change.</summary>
    public void Reconfigure(SensorConfig config)
    {
        Validate(config);
        var previous = _state.Config;
        _state.Config = config;
        var detectorChanged = (previous?.Detector ?? _options.DefaultDetector) != (config.Detector ?? _options.DefaultDetector)
            || !SameParameters(previous?.DetectorParameters, config.DetectorParameters);
        if (detectorChanged)
        {
            foreach (var metric in _state.Metrics.Values)
            {
                metric.Live = CreateDetector();
                metric.Detector = metric.Live.Name;
                metric.DetectorState = null;
            }
        }
    }

    /// <summary>Throws <see cref="ArgumentException"/> with a user-facing message when the configuration is invalid.</summary>
    public static void Validate(SensorConfig config)
    {
        if (config.Detector is { } name)
        {
            // Creating one proves the name and the parameters are valid.
            DetectorCatalog.Create(name, config.DetectorParameters);
        }

        if (config.AllowedLatenessMs is < 0)
            throw new ArgumentException("allowedLatenessMs must be >= 0");
        if (config.SmoothingAlpha is { } a && (a <= 0 || a > 1 || !double.IsFinite(a)))
            throw new ArgumentException("smoothingAlpha must be in (0, 1]");
        if (config.Metrics is { } rules)
        {
            foreach (var (metric, rule) in rules)
            {
                if (!double.IsFinite(rule.Scale) || !double.IsFinite(rule.Offset))
                    throw new ArgumentException($"metric '{metric}': scale and offset must be finite");
                if (rule.Min is { } min && rule.Max is { } max && min > max)
                    throw new ArgumentException($"metric '{metric}': min must not exceed max");
                if (rule.ClampMin is { } cmin && rule.ClampMax is { } cmax && cmin > cmax)
                    throw new ArgumentException($"metric '{metric}': clampMin must not exceed clampMax");
            }
        }
    }

    private MetricState? GetOrAddMetric(string name)
    {
        if (_state.Metrics.TryGetValue(name, out var existing))
        {
            return existing;
        }

        if (_state.Metrics.Count >= _options.MaxMetricsPerSensor)
        {
            return null;
        }

        var live = CreateDetector();
        var created = new MetricState { Live = live, Detector = live.Name };
        _state.Metrics.Add(name, created);
        return created;
    }

    private IAnomalyDetector CreateDetector()
        => DetectorCatalog.Create(DetectorName, _state.Config?.DetectorParameters);

    private void RestoreDetectors()
    {
        foreach (var metric in _state.Metrics.Values)
        {
            var live = CreateDetector();
            if (metric.DetectorState is { } saved && metric.Detector == live.Name)
            {
                try
                {
                    live.LoadState(saved);
                }
                catch (ArgumentException)
                {
                    // A state from an older detector version: start that detector afresh.
                    live = CreateDetector();
                }
            }

            metric.Live = live;
            metric.Detector = live.Name;
        }
    }

    private void RememberAnomaly(Anomaly anomaly)
    {
        var recent = _state.RecentAnomalies;
        if (recent.Count >= _options.RecentAnomalies)
        {
            recent.RemoveAt(0);
        }

        recent.Add(anomaly);
    }

    private static bool SameParameters(Dictionary<string, double>? a, Dictionary<string, double>? b)
    {
        if (a is null || a.Count == 0) return b is null || b.Count == 0;
        if (b is null || a.Count != b.Count) return false;
        foreach (var (k, v) in a)
        {
            if (!b.TryGetValue(k, out var w) || !v.Equals(w)) return false;
        }

        return true;
    }
}
