using Testcontainers.Redis;

namespace Fleet.EndToEnd.Tests;

/// <summary>
/// A cluster of two real silo processes (<c>Silo:Clustering=Redis</c>) on a real Redis server (in a container,
/// Testcontainers): a sensor has one warm environment in the whole cluster, whichever silo its device talks to, and its
/// state follows it when the silo that ran it stops.
/// </summary>
public sealed class RedisClusterTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private readonly RedisContainer _redis = new RedisBuilder(Environment.GetEnvironmentVariable("FLEET_REDIS_IMAGE") ?? "redis:7").Build();

    public Task InitializeAsync() => _redis.StartAsync();

    public Task DisposeAsync() => _redis.DisposeAsync().AsTask();

    private Dictionary<string, string> Cluster(string clusterId) => new()
    {
        ["Silo__Clustering"] = "Redis",
        ["Silo__Redis"] = _redis.GetConnectionString(),
        ["Silo__ClusterId"] = clusterId,
        ["Silo__AdvertisedAddress"] = "127.0.0.1",
    };

    [Fact]
    public async Task Two_silos_share_each_sensor_and_its_state_survives_the_silo_that_ran_it()
    {
        var clusterId = "e2e-redis-" + Guid.NewGuid().ToString("N")[..8];
        await using var a = new SiloProcess(Cluster(clusterId));
        await using var b = new SiloProcess(Cluster(clusterId));
        await a.StartAsync();
        await b.StartAsync();

        // The device's readings arrive at both silos, half each: one sensor environment counts them all.
        await Devices.MosquittoPubAsync(a.MqttPort, "sensors/pump-1/telemetry", Enumerable.Range(1, 20).Select(i => Devices.Reading(i, 20 + i % 3)));
        await Devices.MosquittoPubAsync(b.MqttPort, "sensors/pump-1/telemetry", Enumerable.Range(21, 20).Select(i => Devices.Reading(i, 20 + i % 3)));
        await a.WaitForAsync("/sensors/pump-1", s => (long)s["counts"]!["accepted"]! == 40);
        await b.WaitForAsync("/sensors/pump-1", s => (long)s["counts"]!["accepted"]! == 40);

        // Configured through one silo, seen through the other.
        var config = await b.PutJsonAsync("/sensors/pump-1/config", new { detector = "ewma-z", allowedLatenessMs = 5000 });
        Assert.True(config.IsSuccessStatusCode, await config.Content.ReadAsStringAsync());
        var seenOnA = await a.GetJsonAsync("/sensors/pump-1");
        Assert.Equal(5000, (long)seenOnA["config"]!["allowedLatenessMs"]!);

        // One silo stops: the cluster's other silo serves the sensor with all it had, and goes on counting.
        await a.StopAsync();
        var afterStop = await b.WaitForAsync("/sensors/pump-1", s => (long)s["counts"]!["accepted"]! == 40, TimeSpan.FromSeconds(60));
        Assert.Equal("ewma-z", (string)afterStop["config"]!["detector"]!);
        await Devices.MosquittoPubAsync(b.MqttPort, "sensors/pump-1/telemetry", Enumerable.Range(41, 5).Select(i => Devices.Reading(i, 21)));
        await b.WaitForAsync("/sensors/pump-1", s => (long)s["counts"]!["accepted"]! == 45, TimeSpan.FromSeconds(60));
    }

    /// <summary>
    /// A silo killed outright (SIGKILL, no goodbye): once the cluster has declared it dead, the sensor it ran is
    /// activated on the other silo with the state last written behind (every second here), and takes readings again.
    /// The time that takes is printed (Orleans' default membership timing); the test bounds it only loosely.
    /// </summary>
    [Fact]
    public async Task A_sensor_of_a_killed_silo_comes_back_on_the_other_with_its_written_state()
    {
        var clusterId = "e2e-redis-" + Guid.NewGuid().ToString("N")[..8];
        await using var a = new SiloProcess(Cluster(clusterId));
        await using var b = new SiloProcess(Cluster(clusterId));
        await a.StartAsync(); // alone in the cluster: the sensor's environment starts here
        // warmup 1 and threshold 0: every reading after the first is an anomaly, so the state has a list to load back.
        var config = await a.PutJsonAsync("/sensors/valve-9/config", new { detector = "ewma-z", detectorParameters = new Dictionary<string, double> { ["warmup"] = 1, ["threshold"] = 0 } });
        Assert.True(config.IsSuccessStatusCode, await config.Content.ReadAsStringAsync());
        await Devices.MosquittoPubAsync(a.MqttPort, "sensors/valve-9/telemetry", Enumerable.Range(1, 20).Select(i => Devices.Reading(i, 20 + i % 3)));
        var before = await a.WaitForAsync("/sensors/valve-9", s => (long)s["counts"]!["accepted"]! == 20);
        var anomalies = (long)before["counts"]!["anomalies"]!;
        Assert.InRange(anomalies, 10, 20);
        await Task.Delay(TimeSpan.FromSeconds(2.5)); // past the write-behind period (Sensors:CheckpointInterval, 1 s here)
        await b.StartAsync();

        await a.KillAsync();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var served = await b.WaitForAsync("/sensors/valve-9", s => (long)s["counts"]!["accepted"]! == 20, TimeSpan.FromMinutes(3));
        output.WriteLine($"the killed silo's sensor answered from the other silo after {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.Equal(20L, (long)served["lastReading"]!["seq"]!);
        Assert.Equal(anomalies, (long)served["counts"]!["anomalies"]!);
        // Loaded once, listed once: the recent anomalies are the ones detected, not each twice.
        Assert.Equal(anomalies, (await b.GetJsonAsync("/sensors/valve-9/anomalies?limit=1000")).AsArray().Count);
        await Devices.MosquittoPubAsync(b.MqttPort, "sensors/valve-9/telemetry", Enumerable.Range(21, 5).Select(i => Devices.Reading(i, 21)));
        await b.WaitForAsync("/sensors/valve-9", s => (long)s["counts"]!["accepted"]! == 25, TimeSpan.FromSeconds(60));
    }

    [Theory]
    [InlineData(null, null, "Silo:Redis is required with Silo:Clustering=Redis")]
    [InlineData("host:notaport", null, "Silo:Redis is not a Redis configuration")]
    [InlineData("127.0.0.1:6379", "silo-1.local", "Silo:AdvertisedAddress 'silo-1.local' is not an IP address")]
    public async Task A_redis_cluster_without_a_usable_server_or_address_does_not_start_and_says_why(string? redis, string? address, string message)
    {
        var settings = new Dictionary<string, string> { ["Silo__Clustering"] = "Redis" };
        if (redis is not null) settings["Silo__Redis"] = redis;
        if (address is not null) settings["Silo__AdvertisedAddress"] = address;
        await using var silo = new SiloProcess(settings);

        var refused = await Assert.ThrowsAnyAsync<InvalidOperationException>(silo.StartAsync);
        Assert.Contains(message, refused.Message);
    }
}
