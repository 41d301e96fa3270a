using Fleet.Grains.Readings;

namespace Fleet.Gateways.Mqtt;

/// <summary>
/// How the ingress hands one sensor's readings to that sensor's environment. The returned task completes
/// once the readings are accepted (stream transport: the stream provider has them; direct transport: the
/// sensor grain has processed them); until then the ingress keeps them and retries.
/// </summary>
public interface IReadingTransport
{
    string Name { get; }

    Task SendAsync(string sensorId, List<Reading> readings);
}

/// <summary>Puts readings on the Orleans stream of the sensor (provider <see cref="SensorStreams.Provider"/>, implicit subscription).</summary>
public sealed class StreamReadingTransport(IClusterClient client) : IReadingTransport
{
    private Orleans.Streams.IStreamProvider? _provider;

    public string Name => "streams";

    public Task SendAsync(string sensorId, List<Reading> readings)
    {
        _provider ??= client.GetStreamProvider(SensorStreams.Provider);
        var stream = _provider.GetStream<Reading>(SensorStreams.For(sensorId));
        return readings.Count == 1 ? stream.OnNextAsync(readings[0]) : stream.OnNextBatchAsync(readings);
    }
}

/// <summary>Calls the sensor grain directly with the batch (push: no queue polling, no per-stream state).</summary>
public sealed class DirectReadingTransport(Fleet.Grains.Sensors.SensorReferences sensors) : IReadingTransport
{
    public string Name => "direct";

    public Task SendAsync(string sensorId, List<Reading> readings)
        => sensors.Get(sensorId).Ingest(readings.ToArray());
}
