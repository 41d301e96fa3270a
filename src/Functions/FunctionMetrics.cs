using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Fleet.Grains.Functions;

namespace Fleet.Functions.Hosting;

/// <summary>
/// Per-function counters on this silo: invocations, errors by kind, cold starts and their durations; and Lambda's
/// asynchronous invocation metrics (<c>AsyncEventsReceived</c>, <c>AsyncEventAge</c>, <c>AsyncEventsDropped</c>,
/// <c>DestinationDeliveryFailures</c>), recorded on the silo that runs the event.
/// </summary>
public sealed class FunctionMetrics : IAsyncInvocationMetrics, IDisposable
{
    public const string MeterName = "Fleet.Functions";

    private readonly ConcurrentDictionary<string, FunctionStats> _byFunction = new();
    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _invocations;
    private readonly Counter<long> _coldStarts;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _initDuration;
    private readonly Counter<long> _asyncEventsReceived;
    private readonly Histogram<double> _asyncEventAge;
    private readonly Counter<long> _asyncEventsDropped;
    private readonly Counter<long> _destinationDeliveryFailures;

    public FunctionMetrics()
    {
        _invocations = _meter.CreateCounter<long>("fleet.function.invocations", description: "Function invocations by outcome");
        _coldStarts = _meter.CreateCounter<long>("fleet.function.cold_starts");
        _duration = _meter.CreateHistogram<double>("fleet.function.duration", "ms");
        _initDuration = _meter.CreateHistogram<double>("fleet.function.init_duration", "ms");
        _asyncEventsReceived = _meter.CreateCounter<long>("fleet.function.async_events_received",
            description: "Lambda's AsyncEventsReceived: asynchronous events accepted (stored) for processing");
        _asyncEventAge = _meter.CreateHistogram<double>("fleet.function.async_event_age", "ms",
            "Lambda's AsyncEventAge: the time from accepting an asynchronous event to each attempt to run it");
        _asyncEventsDropped = _meter.CreateCounter<long>("fleet.function.async_events_dropped",
            description: "Lambda's AsyncEventsDropped: asynchronous events that finished without running successfully (sent to an OnFailure destination first, if one is set)");
        _destinationDeliveryFailures = _meter.CreateCounter<long>("fleet.function.destination_delivery_failures",
            description: "Lambda's DestinationDeliveryFailures: attempts to send an asynchronous event's invocation record to its destination that failed");
    }

    public FunctionStats For(string function) => _byFunction.GetOrAdd(function, static _ => new FunctionStats());

    public IReadOnlyDictionary<string, FunctionStats> All => _byFunction;

    public void Record(string function, InvocationResult result)
    {
        var stats = For(function);
        stats.Record(result);
        var outcome = result.Error?.Kind.ToString() ?? "Success";
        _invocations.Add(1, new KeyValuePair<string, object?>("function", function), new KeyValuePair<string, object?>("outcome", outcome));
        _duration.Record(result.DurationMs, new KeyValuePair<string, object?>("function", function));
        if (result.InitDurationMs is { } init)
        {
            _coldStarts.Add(1, new KeyValuePair<string, object?>("function", function));
            _initDuration.Record(init, new KeyValuePair<string, object?>("function", function));
        }
    }

    // Tagged with the function's name, as the invocation metrics are (the qualifier it was invoked with is not a tag).
    private static KeyValuePair<string, object?> FunctionTag(string function)
        => new("function", FunctionDefinition.Split(function).Name);

    public void EventReceived(string function) => _asyncEventsReceived.Add(1, FunctionTag(function));

    public void EventAge(string function, TimeSpan age) => _asyncEventAge.Record(Math.Max(0, age.TotalMilliseconds), FunctionTag(function));

    public void EventDropped(string function, string condition)
        => _asyncEventsDropped.Add(1, FunctionTag(function), new KeyValuePair<string, object?>("condition", condition));

    public void DestinationDeliveryFailed(string function) => _destinationDeliveryFailures.Add(1, FunctionTag(function));

    public void Dispose() => _meter.Dispose();
}

/// <summary>One function's counters on one silo (or one sensor's environment).</summary>
public sealed class FunctionStats
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, long> _errors = new();
    private long _invocations;
    private long _coldStarts;
    private double _durationMsTotal;
    private double _initMsTotal;
    private double _initMsMax;

    public void Record(InvocationResult result)
    {
        lock (_gate)
        {
            _invocations++;
            _durationMsTotal += result.DurationMs;
            if (result.Error is { } error) _errors[error.Kind.ToString()] = _errors.GetValueOrDefault(error.Kind.ToString()) + 1;
            if (result.InitDurationMs is { } init)
            {
                _coldStarts++;
                _initMsTotal += init;
                _initMsMax = Math.Max(_initMsMax, init);
            }
        }
    }

    public FunctionStatsView View()
    {
        lock (_gate)
        {
            return new FunctionStatsView(
                _invocations,
                _errors.Values.Sum(),
                new Dictionary<string, long>(_errors),
                _coldStarts,
                _invocations == 0 ? 0 : _durationMsTotal / _invocations,
                _coldStarts == 0 ? 0 : _initMsTotal / _coldStarts,
                _initMsMax);
        }
    }
}

public sealed record FunctionStatsView(
    long Invocations,
    long Errors,
    IReadOnlyDictionary<string, long> ErrorsByKind,
    long ColdStarts,
    double MeanDurationMs,
    double MeanInitDurationMs,
    double MaxInitDurationMs);
