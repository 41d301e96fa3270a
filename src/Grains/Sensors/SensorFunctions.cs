using System.Text.Json;
using Fleet.Functions.Sensors;
using Fleet.Grains.Functions;
using Fleet.Grains.Readings;

namespace Fleet.Grains.Sensors;

/// <summary>One binding's outcomes in one sensor's environment.</summary>
[GenerateSerializer, Immutable]
public sealed record BindingStatusView(
    [property: Id(0)] string Binding,
    [property: Id(1)] IReadOnlyList<string> Functions,
    [property: Id(2)] long Runs,
    [property: Id(3)] long Completed,
    [property: Id(4)] long Filtered,
    [property: Id(5)] long Errors,
    [property: Id(6)] string? LastResult,
    [property: Id(7)] InvocationError? LastError);

/// <summary>A warm function instance in one sensor's environment.</summary>
[GenerateSerializer, Immutable]
public sealed record EnvironmentView(
    [property: Id(0)] string Function,
    [property: Id(1)] string Version,
    [property: Id(2)] bool Warm,
    [property: Id(3)] DateTime CreatedUtc,
    [property: Id(4)] long Invocations,
    [property: Id(5)] long ColdStarts,
    [property: Id(6)] double LastInitMs,
    [property: Id(7)] long Timeouts);

[GenerateSerializer, Immutable]
public sealed record SensorFunctionsView(
    [property: Id(0)] BindingStatusView[] Bindings,
    [property: Id(1)] EnvironmentView[] Environments);

/// <summary>
/// The functions bound to one sensor, hosted in its grain: each matching binding's chain runs on every
/// accepted reading, in order, in warm environments that live as long as the grain (Lambda's warm reuse;
/// their scratch folders go with the grain). A broken environment (timeout, memory limit) is replaced by a
/// cold one on the next reading. Environments of versions no longer resolved are reclaimed after a minute,
/// those of functions no binding names any more at once. A bound function runs in the sensor's turn, so its
/// timeout is capped at <see cref="SensorPipelineOptions.FunctionTimeout"/> (the sensor's reads interleave meanwhile).
/// </summary>
internal sealed class SensorFunctions(
    string sensorId, IFunctionDirectory directory, IExecutionEnvironmentFactory factory, TimeProvider time, TimeSpan timeoutCap, FunctionConcurrency? concurrency = null) : IAsyncDisposable
{
    private static readonly TimeSpan StaleAfter = TimeSpan.FromMinutes(1);

    private readonly Dictionary<string, Hosted> _environments = new();
    private readonly Dictionary<string, BindingStats> _stats = new();

    /// <summary>The qualifier each bound reference (<c>name[:qualifier]</c>) invokes by, split once, not per reading.</summary>
    private Dictionary<string, string?>? _qualifiers;

    private string? QualifierOf(string function)
    {
        _qualifiers ??= new Dictionary<string, string?>(StringComparer.Ordinal);
        if (!_qualifiers.TryGetValue(function, out var qualifier))
        {
            qualifier = FunctionDefinition.Split(function).Qualifier;
            if (string.IsNullOrEmpty(qualifier)) qualifier = null;
            if (_qualifiers.Count >= 64) _qualifiers.Clear(); // bounded: bindings change rarely
            _qualifiers[function] = qualifier;
        }

        return qualifier;
    }
    private FunctionBinding[] _bindings = [];
    private long _runs;

    public FunctionBinding[] Bindings => _bindings;

    /// <summary>Applies the bindings that match now; environments of functions no binding names any more are reclaimed.</summary>
    public async Task Bind(FunctionBinding[] bindings)
    {
        _bindings = bindings;
        var named = bindings.SelectMany(b => b.Functions).Select(f => FunctionDefinition.Split(f).Name).ToHashSet(StringComparer.Ordinal);
        foreach (var (key, hosted) in _environments.Where(kv => !named.Contains(kv.Value.Environment.Function.Name)).ToArray())
        {
            _environments.Remove(key);
            await hosted.Environment.DisposeAsync();
        }
    }

    /// <summary>Runs every bound chain on one accepted reading.</summary>
    public async Task RunAsync(Reading reading, List<Anomaly> anomalies)
    {
        var evt = EventJson(reading, anomalies);
        foreach (var binding in _bindings)
        {
            await RunChainAsync(binding, evt);
        }

        if (++_runs % 256 == 0) await ReclaimStaleAsync();
    }

    private async Task RunChainAsync(FunctionBinding binding, string payload)
    {
        var timeoutMs = (int)Math.Min(int.MaxValue, timeoutCap.TotalMilliseconds);
        if (!_stats.TryGetValue(binding.Name, out var stats)) _stats[binding.Name] = stats = new BindingStats();
        stats.Runs++;
        foreach (var function in binding.Functions)
        {
            var (resolved, alias, missing) = await directory.ResolveAsync(function);
            if (resolved is null)
            {
                stats.Fail(new InvocationError(InvocationErrorKind.NotFound, "ResourceNotFoundException", missing!));
                return;
            }

            // Reserved concurrency is the function's across the cluster, bound invocations included (0 turns it off, as
            // Lambda throttles every invocation of such a function). Only a function with a limit pays for it.
            var admission = default(ConcurrencyAdmission);
            if (resolved.ReservedConcurrency is not null)
            {
                admission = concurrency is not null
                    ? await concurrency.TryAcquireAsync(resolved, TimeSpan.FromMilliseconds(Math.Min(timeoutMs, resolved.Configuration.Timeout.TotalMilliseconds)))
                    : resolved.ReservedConcurrency == 0
                        ? new ConcurrencyAdmission(FunctionConcurrency.Refusal(resolved.Name, 0), null)
                        : default;
                if (admission.Refusal is { } refusal)
                {
                    stats.Fail(refusal);
                    return;
                }
            }

            InvocationResult result;
            Hosted? hosted;
            try
            {
                // Inside the permit's try: an environment that cannot be created must give the permit back too.
                if (!_environments.TryGetValue(resolved.Key, out hosted))
                {
                    hosted = new Hosted(factory.Create(resolved, sensorId), time.GetUtcNow().UtcDateTime);
                    _environments[resolved.Key] = hosted;
                }

                result = await hosted.Environment.InvokeAsync(new InvocationRequest(
                    Guid.NewGuid().ToString(), payload, alias, TimeoutMs: timeoutMs, InvokedQualifier: QualifierOf(function)));
            }
            finally
            {
                if (admission.Lease is not null) await concurrency!.ReleaseAsync(resolved, admission);
            }

            hosted.Record(result, time.GetUtcNow().UtcDateTime);
            if (hosted.Environment.IsBroken)
            {
                _environments.Remove(resolved.Key);
                await hosted.Environment.DisposeAsync();
            }

            if (result.Error is { } error)
            {
                stats.Fail(error);
                return;
            }

            if (result.PayloadJson is null or "null")
            {
                stats.Filtered++;
                return;
            }

            payload = result.PayloadJson;
        }

        stats.Completed++;
        stats.LastResult = payload;
    }

    /// <summary>The event a bound function receives: the reading, its topic and the anomalies it raised.</summary>
    internal string EventJson(Reading reading, List<Anomaly> anomalies)
    {
        var evt = new SensorEvent().Reset(sensorId, reading.TimestampMs, reading.HasSeq ? reading.Seq : null);
        foreach (var metric in reading.Metrics) evt.Metrics.Add(new SensorMetric(metric.Name, metric.Value));
        foreach (var a in anomalies)
        {
            evt.Anomalies.Add(new SensorAnomaly(a.Metric, a.Value, a.Score, a.Detector) { Kind = a.Kind, Expected = a.Expected, Lower = a.Lower, Upper = a.Upper });
        }

        return JsonSerializer.Serialize(evt);
    }

    public SensorFunctionsView View()
        => new(
            _bindings.Select(b => _stats.TryGetValue(b.Name, out var s)
                ? new BindingStatusView(b.Name, b.Functions, s.Runs, s.Completed, s.Filtered, s.Errors, s.LastResult, s.LastError)
                : new BindingStatusView(b.Name, b.Functions, 0, 0, 0, 0, null, null)).ToArray(),
            _environments.Values.Select(h => new EnvironmentView(
                h.Environment.Function.Name, h.Environment.Function.Version, h.Environment.IsWarm, h.CreatedUtc, h.Invocations, h.ColdStarts, h.LastInitMs, h.Timeouts)).ToArray());

    private async Task ReclaimStaleAsync()
    {
        var cutoff = time.GetUtcNow().UtcDateTime - StaleAfter;
        foreach (var (key, hosted) in _environments.Where(kv => kv.Value.LastUsedUtc < cutoff).ToArray())
        {
            _environments.Remove(key);
            await hosted.Environment.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var hosted in _environments.Values) await hosted.Environment.DisposeAsync();
        _environments.Clear();
    }

    private sealed class BindingStats
    {
        public long Runs;
        public long Completed;
        public long Filtered;
        public long Errors;
        public string? LastResult;
        public InvocationError? LastError;

        public void Fail(InvocationError error)
        {
            Errors++;
            LastError = error;
        }
    }

    private sealed class Hosted(IExecutionEnvironment environment, DateTime createdUtc)
    {
        public IExecutionEnvironment Environment { get; } = environment;
        public DateTime CreatedUtc { get; } = createdUtc;
        public DateTime LastUsedUtc { get; private set; } = createdUtc;
        public long Invocations { get; private set; }
        public long ColdStarts { get; private set; }
        public long Timeouts { get; private set; }
        public double LastInitMs { get; private set; }

        public void Record(InvocationResult result, DateTime now)
        {
            LastUsedUtc = now;
            Invocations++;
            if (result.InitDurationMs is { } init)
            {
                ColdStarts++;
                LastInitMs = init;
            }

            if (result.Error?.Kind == InvocationErrorKind.Timeout) Timeouts++;
        }
    }
}
