using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Fleet.Functions.Hosting;

namespace Fleet.Gateways.Tests;

/// <summary>
/// Records every measurement of the <see cref="FunctionMetrics.MeterName"/> meter (Lambda's asynchronous invocation
/// metrics among them), to be read per instrument and function (tests give their functions names of their own, so hosts
/// in parallel do not mix).
/// </summary>
public sealed class FunctionMetricsRecorder : IDisposable
{
    public const string Received = "fleet.function.async_events_received";
    public const string Age = "fleet.function.async_event_age";
    public const string Dropped = "fleet.function.async_events_dropped";
    public const string DeliveryFailures = "fleet.function.destination_delivery_failures";

    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)> _measurements = new();

    public FunctionMetricsRecorder()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == FunctionMetrics.MeterName) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var map = new Dictionary<string, object?>();
        foreach (var tag in tags) map[tag.Key] = tag.Value;
        _measurements.Enqueue((instrument.Name, value, map));
    }

    /// <summary>The measurements of <paramref name="instrument"/> tagged with <paramref name="function"/>, in order.</summary>
    public List<(double Value, Dictionary<string, object?> Tags)> Of(string instrument, string function)
        => _measurements.Where(m => m.Instrument == instrument && Equals(m.Tags.GetValueOrDefault("function"), function)).Select(m => (m.Value, m.Tags)).ToList();

    public double Sum(string instrument, string function) => Of(instrument, function).Sum(m => m.Value);

    public void Dispose() => _listener.Dispose();
}
