using System.Net;
using System.Text;

namespace Fleet.Gateways.Tests;

/// <summary>
/// One sensor the transport keeps refusing (<see cref="GatedReadingTransport.Failing"/>) shares the only producer shard
/// with healthy sensors: its readings are parked and retried, the healthy sensors keep flowing, and once the transport
/// takes the parked readings they all arrive, once and in order.
/// </summary>
public sealed class IngressParkingTests
{
    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task PostAsync(GatewayHost host, string sensorId, params (long Seq, double Value)[] readings)
    {
        var body = "[" + string.Join(",", readings.Select(r => GatewayHost.Reading(r.Seq, r.Value))) + "]";
        var response = await host.Http.PostAsync($"/sensors/{sensorId}/readings", Json(body));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    private static async Task<(long Sensors, long Readings)> ParkedAsync(GatewayHost host)
    {
        var ingress = await host.GetJsonAsync("/ingress");
        return ((long)ingress["parkedSensors"]!, (long)ingress["parkedReadings"]!);
    }

    [Fact]
    public async Task A_sensor_the_transport_refuses_is_parked_while_the_others_flow_and_gets_every_reading_in_order_once_it_recovers()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Mqtt:ProducerShards"] = "1" });
        host.Gate.Failing = true;

        await PostAsync(host, "failing-a", (1, 10), (2, 11));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (await ParkedAsync(host) != (1, 2))
        {
            Assert.True(DateTime.UtcNow < deadline, $"not parked: {await ParkedAsync(host)}");
            await Task.Delay(20);
        }

        // The same shard keeps delivering other sensors while failing-a is refused.
        for (var i = 1; i <= 5; i++) await PostAsync(host, "healthy-b", (i, i));
        await host.WaitForSensorAsync("healthy-b", s => s.Counts.Accepted == 5);

        // failing-a's later readings queue behind its parked ones.
        await PostAsync(host, "failing-a", (3, 12));
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (await ParkedAsync(host) != (1, 3))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the later reading did not queue behind: {await ParkedAsync(host)}");
            await Task.Delay(20);
        }

        // The backoff reaches 1 s after about 1.3 s parked, so wait for the next retry rather than a fixed 300 ms
        // (a slow machine gets here later, when retries are a second apart).
        var refused = host.Gate.Refused;
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (host.Gate.Refused == refused)
        {
            Assert.True(DateTime.UtcNow < deadline, "the parked readings were not retried");
            await Task.Delay(20);
        }
        Assert.Equal(0, (await host.Sensor("failing-a").GetSnapshot()).Counts.Accepted);

        host.Gate.Failing = false;
        var sensor = await host.WaitForSensorAsync("failing-a", s => s.Counts.Accepted == 3);
        Assert.Equal(0, sensor.Counts.Duplicates);
        Assert.Equal(0, sensor.Counts.Late);
        Assert.Equal(0, sensor.Counts.Rejected);
        Assert.Equal(12, sensor.LastReading!.Metrics.Single().Value);
        Assert.Equal((0, 0), await ParkedAsync(host));
        Assert.True((long)(await host.GetJsonAsync("/ingress"))["transportRetries"]! >= 2);
    }

    [Fact]
    public async Task Parked_readings_that_fill_the_shards_capacity_hold_the_shard_back_instead_of_growing_and_lose_nothing()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Mqtt:ProducerShards"] = "1",
            ["Mqtt:QueueCapacity"] = "2",
            ["Mqtt:AcceptTimeout"] = "00:00:05",
        });
        host.Gate.Failing = true;

        await PostAsync(host, "failing-c", (1, 1), (2, 2));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (await ParkedAsync(host) != (1, 2))
        {
            Assert.True(DateTime.UtcNow < deadline, $"not parked: {await ParkedAsync(host)}");
            await Task.Delay(20);
        }

        // The parked readings fill the capacity: a healthy sensor's reading is queued but not taken while they wait.
        await PostAsync(host, "healthy-d", (1, 1));
        await Task.Delay(500);
        Assert.Equal(0, (await host.Sensor("healthy-d").GetSnapshot()).Counts.Accepted);
        Assert.Equal((1, 2), await ParkedAsync(host));

        host.Gate.Failing = false;
        await host.WaitForSensorAsync("failing-c", s => s.Counts.Accepted == 2 && s.Counts.Duplicates == 0);
        await host.WaitForSensorAsync("healthy-d", s => s.Counts.Accepted == 1);
        Assert.Equal((0, 0), await ParkedAsync(host));
    }

    [Fact]
    public async Task A_parked_backlog_longer_than_a_flush_is_sent_in_pieces_oldest_first()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Mqtt:ProducerShards"] = "1",
            ["Mqtt:MaxFlushReadings"] = "2",
        });
        host.Gate.Failing = true;

        await PostAsync(host, "failing-e", (1, 1), (2, 2), (3, 3), (4, 4), (5, 5));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (await ParkedAsync(host) != (1, 5))
        {
            Assert.True(DateTime.UtcNow < deadline, $"not parked: {await ParkedAsync(host)}");
            await Task.Delay(20);
        }

        host.Gate.Failing = false;
        var sensor = await host.WaitForSensorAsync("failing-e", s => s.Counts.Accepted + s.Counts.Duplicates + s.Counts.Late >= 5);
        await Task.Delay(200);
        sensor = await host.Sensor("failing-e").GetSnapshot();
        Assert.Equal(5, sensor.Counts.Accepted);
        Assert.Equal(0, sensor.Counts.Duplicates);
        Assert.Equal(0, sensor.Counts.Late);
        Assert.Equal(5, sensor.LastReading!.Metrics.Single().Value);
        Assert.Equal((0, 0), await ParkedAsync(host));
    }

    [Fact]
    public async Task A_sensor_with_its_limit_of_parked_readings_has_further_publishes_refused_as_overloaded_while_others_flow()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Mqtt:ProducerShards"] = "1",
            ["Mqtt:MaxParkedPerSensor"] = "2",
        });
        host.Gate.Failing = true;

        await PostAsync(host, "failing-f", (1, 1), (2, 2));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (await ParkedAsync(host) != (1, 2))
        {
            Assert.True(DateTime.UtcNow < deadline, $"not parked: {await ParkedAsync(host)}");
            await Task.Delay(20);
        }

        var refused = await host.Http.PostAsync("/sensors/failing-f/readings", Json($"[{GatewayHost.Reading(3, 3)}]"));
        var body = await refused.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Contains("overloaded", body);
        Assert.Contains("has 2 readings the silo cannot deliver yet", body);
        Assert.Equal((1, 2), await ParkedAsync(host)); // nothing of it was queued

        await PostAsync(host, "healthy-g", (1, 1));
        await host.WaitForSensorAsync("healthy-g", s => s.Counts.Accepted == 1);

        host.Gate.Failing = false;
        await host.WaitForSensorAsync("failing-f", s => s.Counts.Accepted == 2);
        // The sensor may hold them a moment before the ingress has counted its retry done (a fresh-clone CI run posted
        // in between and was refused): drained means none parked.
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (await ParkedAsync(host) != (0, 0))
        {
            Assert.True(DateTime.UtcNow < deadline, $"not drained: {await ParkedAsync(host)}");
            await Task.Delay(20);
        }

        await PostAsync(host, "failing-f", (3, 3)); // sent again once the parked readings drained: taken
        // (refusals reach the sensor's counts once a second)
        var sensor = await host.WaitForSensorAsync("failing-f", s => s.Counts.Accepted == 3 && s.Counts.RejectedByReason.GetValueOrDefault("overloaded") == 1);
        Assert.Equal(3, sensor.LastReading!.Metrics.Single().Value);
    }
}
