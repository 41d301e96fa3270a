using Orleans.Concurrency;

namespace Fleet.Grains.Registry;

[GenerateSerializer, Immutable]
public sealed record SensorPage(
    [property: Id(0)] string[] SensorIds,
    [property: Id(1)] int Total,
    [property: Id(2)] string? Next);

/// <summary>The list of sensors that have sent readings, for paging over HTTP.</summary>
public interface ISensorRegistryGrain : IGrainWithIntegerKey
{
    [OneWay]
    Task Register(string sensorId);

    /// <summary>Sensors in ordinal order after <paramref name="after"/> (exclusive), at most <paramref name="limit"/>.</summary>
    Task<SensorPage> List(string? after, int limit);
}
