using System.Diagnostics.Metrics;

namespace Fleet.Grains.Telemetry;

/// <summary>
/// Silo-wide pipeline counters and latency histograms: exported as OpenTelemetry metrics (meter
/// "Fleet.Pipeline") and read by the HTTP API and the benchmark.
/// </summary>
public sealed class PipelineMetrics : IDisposable
{
    public const string MeterName = "Fleet.Pipeline";
    private readonly Meter _meter = new(MeterName);
    private long _processed;
    private long _anomalies;

    public PipelineMetrics()
    {
        _meter.CreateObservableCounter("fleet.readings.processed", () => Volatile.Read(ref _processed), description: "Readings processed by sensor grains");
        _meter.CreateObservableCounter("fleet.anomalies", () => Volatile.Read(ref _anomalies), description: "Anomalies detected");
    }

    /// <summary>Gateway accept -> grain processed, in microseconds.</summary>
    public LatencyHistogram PipelineLatency { get; } = new();

    /// <summary>Device timestamp -> grain processed, in microseconds (meaningful when clocks agree).</summary>
    public LatencyHistogram SourceLatency { get; } = new();

    /// <summary>Device timestamp -> gateway accepted, in microseconds: the network and broker share of <see cref="SourceLatency"/>.</summary>
    public LatencyHistogram TransitLatency { get; } = new();

    public long Processed => Volatile.Read(ref _processed);
    public long Anomalies => Volatile.Read(ref _anomalies);

    public void RecordProcessed(long receivedAtUs, long timestampMs, long nowUs)
    {
        Interlocked.Increment(ref _processed);
        PipelineLatency.Record(nowUs - receivedAtUs);
        SourceLatency.Record(nowUs - timestampMs * 1000);
        TransitLatency.Record(receivedAtUs - timestampMs * 1000);
    }

    public void RecordAnomaly() => Interlocked.Increment(ref _anomalies);

    public void ResetLatency()
    {
        PipelineLatency.Reset();
        SourceLatency.Reset();
        TransitLatency.Reset();
    }

    public void Dispose() => _meter.Dispose();
}
