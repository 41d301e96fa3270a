using System.Globalization;
using System.Text.Json;
using Fleet.Functions;
using Fleet.Functions.BuiltIn;
using Fleet.Functions.Sensors;
using Fleet.Grains.Readings;
using Fleet.Grains.Sensors;

namespace Fleet.Grains.Pipeline;

/// <summary>What became of one reading.</summary>
public enum ReadingOutcome
{
    Accepted,
    Duplicate,
    Late,

    /// <summary>An internal error (a bug, not bad input) stopped it; counted in <see cref="PipelineCounts.Errors"/>, see <see cref="SensorPipeline.LastError"/>.</summary>
    Failed,
}

/// <summary>
/// What the built-in functions counted, as the sensor's snapshot shows it. <paramref name="Errors"/>: internal errors,
/// readings that failed in the pipeline plus detections that failed (that metric's detector restarted).
/// </summary>
public readonly record struct PipelineCounts(long Accepted, long Duplicates, long Late, long Filtered, long Anomalies, long MetricLimitExceeded, long Errors = 0);

/// <summary>
/// The default binding of every sensor's environment: the built-in functions (Fleet.Functions.BuiltIn,
/// written against the function SDK like any user's) run in order on each reading: preprocess (dedupe,
/// lateness), transform (unit, clamp, range filter), detect (smoothing, running statistics, one online
/// detector per metric). They are invoked through the SDK's handler contract with a typed event, in the
/// grain's turn (they complete synchronously), and configured through environment variables built from the
/// silo's defaults and the sensor's own configuration. Their warm state (fields) is checkpointed through
/// <see cref="IStatefulFunction"/>. No Orleans, no I/O here: unit-tested directly, hosted by <c>SensorGrain</c>.
/// </summary>
public sealed class SensorPipeline
{
    // One event and one context per thread: a grain's turn never overlaps itself and the built-ins are synchronous.
    [ThreadStatic] private static SensorEvent? _event;
    [ThreadStatic] private static BuiltInContext? _context;

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<SensorPipelineOptions, IReadOnlyDictionary<string, string>> DefaultEnvironments = new();

    private readonly string _sensorId;
    private readonly SensorState _state;
    private readonly SensorPipelineOptions _options;
    private readonly TimeProvider _time;
    private readonly Preprocess _preprocess = new();
    private readonly Transform _transform = new();
    private readonly Detect _detect = new();
    private IReadOnlyDictionary<string, string> _environment;
    private Exception? _lastError;

    public SensorPipeline(string sensorId, SensorState state, SensorPipelineOptions options, TimeProvider time)
    {
        _sensorId = sensorId;
        _state = state;
        _options = options;
        _time = time;
        _environment = EnvironmentFor(state.Config, options);
        Restore();
    }

    public SensorState State => _state;

    public PipelineCounts Counts => new(_state.Accepted, _preprocess.Duplicates, _preprocess.Late, _transform.Filtered, _detect.Anomalies, _detect.MetricLimitExceeded, Errors);

    /// <summary>Internal errors so far: readings that failed, plus detections that failed.</summary>
    public long Errors => _state.Failed + _detect.DetectorErrors;

    /// <summary>The last internal error (of a reading that failed, or of a detection that did), for the host to log.</summary>
    public Exception? LastError => _lastError ?? _detect.LastError;

    public IReadOnlyDictionary<string, MetricTrack> Metrics => _detect.Metrics;

    /// <summary>The band the metric's detector would accept the next reading in (see <see cref="Detect.Band"/>).</summary>
    public (double? Expected, double? Lower, double? Upper) Band(string metric) => _detect.Band(metric);

    public long HighestSeq => _preprocess.HighestSeq;

    public long NewestTimestampMs => _preprocess.NewestTimestampMs;

    /// <summary>
    /// Runs one reading through the built-in chain; anomalies found are appended to <paramref name="anomalies"/>. Never
    /// throws for one reading: an internal error (a bug) fails that reading alone (<see cref="ReadingOutcome.Failed"/>,
    /// counted), so the readings after it, of this sensor and of every other, go on.
    /// </summary>
    public ReadingOutcome Process(Reading reading, List<Anomaly> anomalies)
    {
        var found = anomalies.Count;
        try
        {
            return ProcessOne(reading, anomalies);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            anomalies.RemoveRange(found, anomalies.Count - found);
            _state.Failed++;
            _lastError = ex;
            return ReadingOutcome.Failed;
        }
    }

    private ReadingOutcome ProcessOne(Reading reading, List<Anomaly> anomalies)
    {
        var evt = (_event ??= new SensorEvent()).Reset(_sensorId, reading.TimestampMs, reading.HasSeq ? reading.Seq : null);
        foreach (var metric in reading.Metrics) evt.Metrics.Add(new SensorMetric(metric.Name, metric.Value));
        var context = _context ??= new BuiltInContext();

        var duplicates = _preprocess.Duplicates;
        _preprocess.ReceivedAtMs = reading.ReceivedAtUs / 1000;
        if (Run(_preprocess, BuiltInFunctions.Preprocess, evt, context) is null)
            return _preprocess.Duplicates != duplicates ? ReadingOutcome.Duplicate : ReadingOutcome.Late;
        Run(_transform, BuiltInFunctions.Transform, evt, context);
        Run(_detect, BuiltInFunctions.Detect, evt, context);
        _state.Accepted++;

        if (evt.Anomalies.Count > 0)
        {
            var now = _time.GetUtcNow().UtcDateTime;
            foreach (var a in evt.Anomalies)
            {
                var anomaly = new Anomaly(_sensorId, a.Metric, reading.TimestampMs, reading.Seq, a.Value, a.Score, a.Detector, now)
                {
                    Kind = a.Kind, Expected = a.Expected, Lower = a.Lower, Upper = a.Upper,
                };
                anomalies.Add(anomaly);
                RememberAnomaly(anomaly);
            }
        }

        _state.SetLast(reading.TimestampMs, reading.Seq, reading.Metrics, _time.GetUtcNow().UtcDateTime);
        return ReadingOutcome.Accepted;
    }

    private SensorEvent? Run(IFunctionHandler<SensorEvent, SensorEvent?> function, string name, SensorEvent evt, BuiltInContext context)
    {
        context.Set(name, _environment);
        var task = function.HandleAsync(evt, context);
        if (!task.IsCompletedSuccessfully)
        {
            throw task.Exception?.InnerException ?? new InvalidOperationException($"{name} must complete synchronously on the hot path");
        }

        return task.Result;
    }

    /// <summary>Copies the built-ins' warm state into the serialisable state (called before a write).</summary>
    public void Checkpoint()
    {
        var saved = _state.FunctionState ??= new Dictionary<string, byte[]>(3, StringComparer.Ordinal);
        Save(saved, BuiltInFunctions.Preprocess, _preprocess);
        Save(saved, BuiltInFunctions.Transform, _transform);
        Save(saved, BuiltInFunctions.Detect, _detect);
    }

    /// <summary>After a successful write the copies are dropped: the live functions hold the state.</summary>
    public void Checkpointed() => _state.FunctionState = null;

    private static void Save(Dictionary<string, byte[]> saved, string name, IStatefulFunction function)
    {
        if (function.SaveState() is { } bytes) saved[name] = bytes;
        else saved.Remove(name);
    }

    private void Restore()
    {
        if (_state.FunctionState is not { } saved) return;
        if (saved.TryGetValue(BuiltInFunctions.Preprocess, out var p)) ((IStatefulFunction)_preprocess).RestoreState(p);
        if (saved.TryGetValue(BuiltInFunctions.Transform, out var t)) ((IStatefulFunction)_transform).RestoreState(t);
        if (saved.TryGetValue(BuiltInFunctions.Detect, out var d)) _detect.RestoreState(d, _environment);
        _state.FunctionState = null;
    }

    /// <summary>Applies a new configuration; detectors restart when the detector or its parameters change.</summary>
    public void Reconfigure(SensorConfig config)
    {
        var environment = EnvironmentFor(config, _options);
        BuiltInSettings.From(environment); // throws ArgumentException with a user-facing message when invalid
        _state.Config = config;
        _environment = environment;
        _detect.Configure(environment);
    }

    /// <summary>The built-ins' environment variables: the silo's defaults, overridden by the sensor's configuration.</summary>
    public static IReadOnlyDictionary<string, string> EnvironmentFor(SensorConfig? config, SensorPipelineOptions options)
    {
        if (config is null) return DefaultEnvironments.GetValue(options, o => Build(null, o));
        return Build(config, options);
    }

    private static Dictionary<string, string> Build(SensorConfig? config, SensorPipelineOptions options)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [BuiltInSettings.AllowedLatenessMs] = (config?.AllowedLatenessMs ?? options.AllowedLatenessMs).ToString(CultureInfo.InvariantCulture),
            [BuiltInSettings.DedupeWindow] = options.DedupeWindow.ToString(CultureInfo.InvariantCulture),
            [BuiltInSettings.SmoothingAlpha] = (config?.SmoothingAlpha ?? options.SmoothingAlpha).ToString("R", CultureInfo.InvariantCulture),
            [BuiltInSettings.Detector] = config?.Detector ?? options.DefaultDetector,
            [BuiltInSettings.MaxMetrics] = options.MaxMetricsPerSensor.ToString(CultureInfo.InvariantCulture),
        };
        if (config?.DetectorParameters is { Count: > 0 } parameters)
            env[BuiltInSettings.DetectorParameters] = JsonSerializer.Serialize(parameters, BuiltInSettings.Json);
        if (config?.Metrics is { Count: > 0 } rules)
            env[BuiltInSettings.MetricRules] = JsonSerializer.Serialize(rules, BuiltInSettings.Json);
        return env;
    }

    private void RememberAnomaly(Anomaly anomaly)
    {
        var recent = _state.Recent ??= new List<Anomaly>();
        if (recent.Count >= _options.RecentAnomalies) recent.RemoveAt(0);
        recent.Add(anomaly);
    }

    /// <summary>The context the built-ins run with: their name and the sensor's environment variables; no time limit (they are synchronous and bounded).</summary>
    private sealed class BuiltInContext : IFunctionContext, IFunctionLogger
    {
        private string _requestId = "";
        private IReadOnlyDictionary<string, string> _environment = new Dictionary<string, string>();

        public void Set(string name, IReadOnlyDictionary<string, string> environment)
        {
            FunctionName = name;
            _environment = environment;
            _requestId = "";
        }

        public string RequestId => _requestId.Length > 0 ? _requestId : _requestId = Guid.NewGuid().ToString();
        public string FunctionName { get; private set; } = "";
        public string FunctionVersion => "builtin";
        public string? InvokedAlias => null;
        public int MemoryLimitMb => 0;
        public TimeSpan RemainingTime => Timeout.InfiniteTimeSpan;
        public CancellationToken CancellationToken => CancellationToken.None;
        public IFunctionLogger Logger => this;
        public IReadOnlyDictionary<string, string> Environment => _environment;
        public string TempDirectory => Path.GetTempPath();

        public Task<JsonElement> InvokeAsync(string function, object? payload, CancellationToken cancellationToken = default)
            => throw new NotSupportedException("built-in functions do not call other functions");

        public void Log(FunctionLogLevel level, string message, IReadOnlyDictionary<string, object?>? fields = null)
        {
        }
    }
}
