using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Orleans.Configuration;
using StackExchange.Redis;

namespace Fleet.Silo;

/// <summary>
/// <c>Silo:Clustering=Redis</c>: a cluster of silos that find each other, keep grain state and keep reminders in one
/// Redis server. A sensor's grain then runs on exactly one silo of the cluster at a time, and its state (and every
/// function, binding, dead letter and asynchronous event) follows it when that silo stops or dies.
/// </summary>
public static class RedisClusterExtensions
{
    public static ISiloBuilder UseFleetRedisCluster(this ISiloBuilder orleans, SiloOptions silo)
    {
        orleans.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = silo.ClusterId;
            o.ServiceId = silo.ServiceId;
        });
        orleans.ConfigureEndpoints(AdvertisedAddress(silo), silo.SiloPort, silo.GatewayPort, listenOnAnyHostAddress: true);
        // Each provider gets its own parsed copy: they keep and may adjust the options they are given.
        orleans.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(silo.Redis!));
        // Grain state in Orleans' own serialization, as the SQLite store keeps it: the provider's default (Newtonsoft JSON)
        // would write computed list properties and append to them on every load, and loses the [Id] version tolerance.
        orleans.AddRedisGrainStorage(Fleet.Grains.Storage.StorageNames.Default, options => options.Configure<Orleans.Serialization.Serializer>((o, serializer) =>
        {
            o.ConfigurationOptions = ConfigurationOptions.Parse(silo.Redis!);
            o.GrainStorageSerializer = new Orleans.Storage.OrleansGrainStorageSerializer(serializer);
        }));
        orleans.UseRedisReminderService(o => o.ConfigurationOptions = ConfigurationOptions.Parse(silo.Redis!));
        return orleans;
    }

    /// <summary>Why <paramref name="configuration"/> is not a StackExchange.Redis configuration, or null when it is one.</summary>
    public static string? ConfigurationError(string configuration)
    {
        try
        {
            return ConfigurationOptions.Parse(configuration).EndPoints.Count == 0 ? "it names no server" : null;
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }
    }

    private static IPAddress AdvertisedAddress(SiloOptions silo)
    {
        if (silo.AdvertisedAddress is { } configured) return IPAddress.Parse(configured);
        return NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
            ?? IPAddress.Loopback;
    }
}
