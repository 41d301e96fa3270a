namespace Fleet.EndToEnd.Tests;

/// <summary>
/// Inputs that once disturbed other traffic, through a real silo process: extreme values for a sensor whose detector
/// stores floats, a device clock that jumps ahead, a device that reboots early. Valid traffic flows throughout.
/// </summary>
public sealed class FaultIsolationTests
{
    [Fact]
    public async Task Extreme_values_for_one_sensor_do_not_stall_it_or_the_others()
    {
        await using var silo = new SiloProcess();
        await silo.StartAsync();
        var config = await silo.PutJsonAsync("/sensors/poison-1/config", new { detector = "rcf", detectorParameters = new Dictionary<string, double> { ["warmup"] = 20 } });
        Assert.True(config.IsSuccessStatusCode, await config.Content.ReadAsStringAsync());

        // rcf keeps floats: values beyond 3.4e38 once made it throw on every later reading, and the ingress retried the
        // batch forever, stalling every sensor of its shard
        var extreme = string.Join(",", Enumerable.Range(1, 60).Select(i => Devices.Reading(i, i % 2 == 0 ? 0 : (i % 3 == 0 ? -1e100 : 1e100))));
        using (var posted = await silo.Http.PostAsync("/sensors/poison-1/readings", new StringContent($"[{extreme}]")))
        {
            Assert.Equal(System.Net.HttpStatusCode.Accepted, posted.StatusCode);
        }

        for (var s = 0; s < 40; s++)
        {
            using var ok = await silo.Http.PostAsync($"/sensors/other-{s}/readings", new StringContent(Devices.Reading(1, 20 + s)));
            Assert.Equal(System.Net.HttpStatusCode.Accepted, ok.StatusCode);
        }

        for (var s = 0; s < 40; s++) await silo.WaitForAsync($"/sensors/other-{s}", n => (long)n["counts"]!["accepted"]! == 1);
        var poisoned = await silo.WaitForAsync("/sensors/poison-1", n => (long)n["counts"]!["accepted"]! == 60);
        Assert.Equal(0, (long)poisoned["counts"]!["errors"]!);
        Assert.Equal(60, (long)poisoned["metrics"]![0]!["detector"]!["points"]!);

        var ingress = await silo.GetJsonAsync("/ingress");
        Assert.Equal(0, (long)ingress["transportRetries"]!);
        Assert.Equal(41, (long)ingress["publishes"]!); // one per POST, not one per flush
        Assert.Equal(100, (long)ingress["readings"]!);
    }

    [Fact]
    public async Task A_device_clock_that_jumps_ahead_once_and_a_device_that_reboots_early_lose_no_readings()
    {
        await using var silo = new SiloProcess();
        await silo.StartAsync();
        using var device = await Devices.ConnectAsync(silo.MqttPort);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // one reading stamped 20 hours ahead, then the clock is right again
        Assert.True((await device.PublishAsync("sensors/clock-1/telemetry", Devices.Reading(1, 20, now - 10_000))).IsSuccess);
        Assert.True((await device.PublishAsync("sensors/clock-1/telemetry", Devices.Reading(2, 21, now + 20 * 3_600_000L))).IsSuccess);
        for (var i = 3; i <= 10; i++) Assert.True((await device.PublishAsync("sensors/clock-1/telemetry", Devices.Reading(i, 20, now + i))).IsSuccess);
        var clock = await silo.WaitForAsync("/sensors/clock-1", n => (long)n["counts"]!["accepted"]! + (long)n["counts"]!["late"]! == 10);
        Assert.Equal((10L, 0L), ((long)clock["counts"]!["accepted"]!, (long)clock["counts"]!["late"]!));

        // seq 0..9, a reboot, seq 0..9 again with later timestamps
        for (var i = 0; i < 10; i++) await device.PublishAsync("sensors/boot-1/telemetry", Devices.Reading(i, 20, now - 60_000 + i));
        for (var i = 0; i < 10; i++) await device.PublishAsync("sensors/boot-1/telemetry", Devices.Reading(i, 21, now + i));
        var boot = await silo.WaitForAsync("/sensors/boot-1", n => (long)n["counts"]!["accepted"]! + (long)n["counts"]!["duplicates"]! == 20);
        Assert.Equal((20L, 0L), ((long)boot["counts"]!["accepted"]!, (long)boot["counts"]!["duplicates"]!));
    }
}
