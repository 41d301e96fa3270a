using Orleans.Concurrency;
using Fleet.Grains.Readings;

namespace Fleet.Grains.Sensors;

/// <summary>How many publishes of one sensor the gateway refused for one reason.</summary>
[GenerateSerializer, Immutable]
public readonly record struct RejectCount([property: Id(0)] RejectReason Reason, [property: Id(1)] long Count);

/// <summary>
/// A sensor's warm execution environment. Readings arrive on the sensor's stream (implicit subscription);
/// the methods here are for the HTTP API, the gateway's reject counts and direct invocation.
/// </summary>
public interface ISensorGrain : IGrainWithStringKey
{
    /// <summary>Interleaves: readable while a bound function awaits (turns still never run in parallel).</summary>
    [AlwaysInterleave]
    Task<SensorSnapshot> GetSnapshot();

    [AlwaysInterleave]
    Task<Anomaly[]> GetAnomalies(int max);

    /// <summary>Validates and applies a configuration; throws <see cref="ArgumentException"/> when invalid.</summary>
    Task<SensorSnapshot> Configure(SensorConfig config);

    /// <summary>Direct invocation: runs readings through the pipeline without the stream.</summary>
    Task Ingest(Reading[] readings);

    /// <summary>
    /// Writes the state if it changed since the last write (called by the silo's checkpoint scheduler). Interleaves:
    /// readings keep being processed while the storage write is in flight.
    /// </summary>
    [AlwaysInterleave]
    Task Checkpoint();

    /// <summary>The gateway's per-sensor reject counts, flushed in batches.</summary>
    [OneWay]
    Task AddRejects(RejectCount[] rejects);
}
