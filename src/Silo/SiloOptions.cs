using System.ComponentModel.DataAnnotations;

namespace Fleet.Silo;

/// <summary>Cluster membership and the sensor streams. Section "Silo".</summary>
public sealed class SiloOptions
{
    public const string Section = "Silo";

    [Required]
    public string ClusterId { get; set; } = "fleet-dev";

    [Required]
    public string ServiceId { get; set; } = "fleet";

    /// <summary>Silo-to-silo port.</summary>
    [Range(1, 65535)]
    public int SiloPort { get; set; } = 11111;

    /// <summary>Port for external Orleans clients.</summary>
    [Range(1, 65535)]
    public int GatewayPort { get; set; } = 30000;

    /// <summary>
    /// <c>Localhost</c> (the default): one silo (or several on this machine), grain state and reminders in the local
    /// SQLite file. <c>Redis</c>: a cluster of silos on any machines, with membership, grain state and reminders in
    /// the Redis server <see cref="Redis"/> names, so a sensor's state follows it to whichever silo activates it.
    /// </summary>
    public ClusteringKind Clustering { get; set; } = ClusteringKind.Localhost;

    /// <summary>The Redis server of a <c>Redis</c> cluster, as a StackExchange.Redis configuration (<c>redis:6379,password=...</c>).</summary>
    public string? Redis { get; set; }

    /// <summary>
    /// The address the other silos reach this one at (<c>Redis</c> clustering); default: this machine's first
    /// non-loopback IPv4 address (loopback when it has none).
    /// </summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>
    /// How readings reach the sensor grains: <c>Direct</c> (batched grain calls, push; the default, chosen by the
    /// numbers in docs/benchmarks.md) or <c>Streams</c> (an Orleans stream per sensor, implicit subscription,
    /// memory streams here: polled, ~60% of the throughput, ~3.4 KB more per sensor, and what is queued is lost
    /// on shutdown).
    /// </summary>
    public IngressTransport Transport { get; set; } = IngressTransport.Direct;

    /// <summary>Stream queues (partitions) of the sensor stream provider.</summary>
    [Range(1, 1024)]
    public int StreamQueues { get; set; } = 8;

    /// <summary>How often each stream queue is polled; bounds the latency floor of the memory streams.</summary>
    public TimeSpan StreamPollPeriod { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Batch containers delivered to a sensor grain per call.</summary>
    [Range(1, 10_000)]
    public int StreamBatchSize { get; set; } = 64;

    /// <summary>An idle sensor environment is reclaimed (state written, memory freed) after this long.</summary>
    public TimeSpan SensorIdleTimeout { get; set; } = TimeSpan.FromMinutes(15);
}

public enum ClusteringKind
{
    Localhost,
    Redis,
}

public enum IngressTransport
{
    Streams,
    Direct,
}
