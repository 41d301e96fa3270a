using System.Text.Json.Nodes;

namespace Fleet.EndToEnd.Tests;

public sealed class OutboundTests
{
    [Fact]
    public async Task A_throttling_webhook_gets_no_more_than_the_rate_and_every_anomaly_ends_delivered_or_dead_lettered()
    {
        await using var webhook = new ThrottlingWebhook { Rejecting = true };
        await webhook.StartAsync();
        const double rate = 8;
        const int burst = 2;
        await using var silo = new SiloProcess(new Dictionary<string, string>
        {
            ["Outbound__Targets__hook__Kind"] = "Webhook",
            ["Outbound__Targets__hook__Url"] = webhook.Url,
            ["Outbound__Targets__hook__RatePerSecond"] = rate.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Outbound__Targets__hook__Burst"] = burst.ToString(),
            ["Outbound__Targets__hook__MaxAttempts"] = "8",
            ["Outbound__Targets__hook__RetryDelay"] = "00:00:00.100",
            ["Outbound__Targets__hook__MaxRetryDelay"] = "00:00:01",
        });
        await silo.StartAsync();

        // warmup 1 and threshold 0: every reading after the first is an anomaly, so the outbound load is known.
        var config = await silo.PutJsonAsync("/sensors/loud-1/config", new { detector = "ewma-z", detectorParameters = new Dictionary<string, double> { ["warmup"] = 1, ["threshold"] = 0 } });
        Assert.True(config.IsSuccessStatusCode, await config.Content.ReadAsStringAsync());
        await Devices.MosquittoPubAsync(silo.MqttPort, "sensors/loud-1/telemetry", Enumerable.Range(1, 40).Select(i => Devices.Reading(i, i % 3)));
        var sensor = await silo.WaitForAsync("/sensors/loud-1", s => (long)s["counts"]!["accepted"]! == 40);
        var anomalies = (long)sensor["counts"]!["anomalies"]!;
        Assert.True(anomalies >= 30, $"expected most readings to be anomalies, got {anomalies}");

        static JsonNode Hook(JsonNode all) => all.AsArray().Single(t => (string)t!["name"]! == "hook")!;
        var settled = await silo.WaitForAsync("/outbound", o =>
        {
            var h = Hook(o);
            return (long)h["submitted"]! == anomalies && (int)h["queued"]! == 0 && (int)h["inFlight"]! == 0
                && (long)h["delivered"]! + (long)h["deadLettered"]! == anomalies;
        }, TimeSpan.FromSeconds(60));
        var hook = Hook(settled);
        var delivered = (long)hook["delivered"]!;
        var deadLettered = (long)hook["deadLettered"]!;

        // Rejected (400) items were dead-lettered at once; throttled and failed attempts were retried.
        Assert.True(deadLettered > 0, "the even-seq items should have been refused with 400");
        Assert.True((long)hook["throttled"]! > 0);
        Assert.True((long)hook["retries"]! > 0);
        Assert.Equal(delivered, webhook.Accepted.Count);
        Assert.Equal(webhook.Arrivals.Count, (long)hook["attempts"]!);

        // The cluster-wide bucket held: in any 2 s, any 5 s and over the whole run.
        AssertRateHeld(webhook, rate, burst);

        var letters = await silo.GetJsonAsync("/outbound/deadletters?target=hook&limit=1000");
        Assert.Equal(deadLettered, (long)letters["hook"]!["total"]!);
        Assert.All(letters["hook"]!["items"]!.AsArray(), l => Assert.Equal("HTTP 400", (string)l!["reason"]!));

        // The downstream is fixed: redrive, and every dead letter is delivered.
        webhook.Rejecting = false;
        using var redrive = await silo.Http.PostAsync("/outbound/deadletters/redrive?target=hook", null);
        Assert.True(redrive.IsSuccessStatusCode);
        Assert.Equal(deadLettered, (long)JsonNode.Parse(await redrive.Content.ReadAsStringAsync())!["redriven"]!);
        await silo.WaitForAsync("/outbound", o =>
        {
            var h = Hook(o);
            return (long)h["delivered"]! == anomalies && (int)h["queued"]! == 0 && (int)h["inFlight"]! == 0;
        }, TimeSpan.FromSeconds(60));
        Assert.Equal(anomalies, webhook.Accepted.Distinct().Count());
        Assert.Equal(0, (long)(await silo.GetJsonAsync("/outbound/deadletters?target=hook"))["hook"]!["total"]!);
        AssertRateHeld(webhook, rate, burst);
    }

    /// <summary>
    /// A redrive leases its dead letters instead of taking them out of the store: a silo killed while the redriven
    /// items are in flight (the downstream hangs) loses none of them; after a restart they are still listed, and a
    /// redrive then delivers every one exactly once to the webhook.
    /// </summary>
    [Fact]
    public async Task Dead_letters_survive_a_silo_killed_in_the_middle_of_their_redrive()
    {
        await using var webhook = new ThrottlingWebhook { Rejecting = true };
        await webhook.StartAsync();
        var dataDirectory = Path.Combine(Path.GetTempPath(), "fleet-e2e-redrive-crash-" + Guid.NewGuid().ToString("N"));
        var settings = new Dictionary<string, string>
        {
            ["Outbound__Targets__hook__Kind"] = "Webhook",
            ["Outbound__Targets__hook__Url"] = webhook.Url,
            ["Outbound__Targets__hook__RatePerSecond"] = "100",
            ["Outbound__Targets__hook__Burst"] = "100",
            ["Outbound__Targets__hook__MaxAttempts"] = "8", // the webhook's 429s and 500s are retried; its 400s are final
            ["Outbound__Targets__hook__RetryDelay"] = "00:00:00.100",
            ["Outbound__Targets__hook__MaxRetryDelay"] = "00:00:01",
            ["Outbound__Targets__hook__AttemptTimeout"] = "00:01:00",
        };
        static JsonNode Hook(JsonNode all) => all.AsArray().Single(t => (string)t!["name"]! == "hook")!;
        static List<string> Ids(JsonNode letters) => letters["hook"]!["items"]!.AsArray().Select(l => (string)l!["id"]!).Order().ToList();

        List<string> before;
        await using (var silo = new SiloProcess(settings, dataDirectory))
        {
            await silo.StartAsync();
            var config = await silo.PutJsonAsync("/sensors/loud-2/config", new { detector = "ewma-z", detectorParameters = new Dictionary<string, double> { ["warmup"] = 1, ["threshold"] = 0 } });
            Assert.True(config.IsSuccessStatusCode, await config.Content.ReadAsStringAsync());
            await Devices.MosquittoPubAsync(silo.MqttPort, "sensors/loud-2/telemetry", Enumerable.Range(1, 20).Select(i => Devices.Reading(i, i % 3)));
            await silo.WaitForAsync("/sensors/loud-2", s => (long)s["counts"]!["accepted"]! == 20);
            var settled = await silo.WaitForAsync("/outbound", o =>
            {
                var h = Hook(o);
                return (long)h["submitted"]! > 0 && (int)h["queued"]! == 0 && (int)h["inFlight"]! == 0 && (long)h["deadLettered"]! > 0
                    && (long)h["delivered"]! + (long)h["deadLettered"]! == (long)h["submitted"]!;
            }, TimeSpan.FromSeconds(60));
            var deadLettered = (long)Hook(settled)["deadLettered"]!;
            before = Ids(await silo.GetJsonAsync("/outbound/deadletters?target=hook&limit=1000"));
            Assert.Equal(deadLettered, before.Count);

            // The downstream now hangs: the redriven items sit in flight when the silo dies.
            webhook.Rejecting = false;
            webhook.Hanging = true;
            using var redrive = await silo.Http.PostAsync("/outbound/deadletters/redrive?target=hook", null);
            Assert.Equal(deadLettered, (long)JsonNode.Parse(await redrive.Content.ReadAsStringAsync())!["redriven"]!);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (webhook.Hung == 0) { Assert.True(DateTime.UtcNow < deadline, "no redriven item reached the webhook"); await Task.Delay(50); }
            await silo.KillAsync();
        }

        webhook.Hanging = false;
        await using (var silo = new SiloProcess(settings, dataDirectory))
        {
            await silo.StartAsync();
            Assert.Equal(before, Ids(await silo.GetJsonAsync("/outbound/deadletters?target=hook&limit=1000")));

            var accepted = webhook.Accepted.Count;
            using var redrive = await silo.Http.PostAsync("/outbound/deadletters/redrive?target=hook", null);
            Assert.Equal(before.Count, (long)JsonNode.Parse(await redrive.Content.ReadAsStringAsync())!["redriven"]!);
            await silo.WaitForAsync("/outbound", o => (long)Hook(o)["delivered"]! == before.Count && (int)Hook(o)["inFlight"]! == 0, TimeSpan.FromSeconds(60));
            await silo.WaitForAsync("/outbound/deadletters?target=hook", l => (long)l["hook"]!["total"]! == 0, TimeSpan.FromSeconds(10));
            Assert.Equal(accepted + before.Count, webhook.Accepted.Count);
            Assert.Equal(webhook.Accepted.Count, webhook.Accepted.Distinct().Count());
        }
    }

    /// <summary>
    /// The bucket (burst, rate) allows at most burst + rate x T grants in any T. Arrivals are timed at the webhook,
    /// so a grant can arrive late (a loaded CI machine delays a request by up to a second, and the first request also
    /// opens the connection): each bound allows <see cref="Jitter"/> of lateness. A limiter at twice the rate, or none,
    /// still exceeds every bound.
    /// </summary>
    private static void AssertRateHeld(ThrottlingWebhook webhook, double rate, int burst)
    {
        static double Allowed(int burst, double rate, TimeSpan window) => burst + rate * (window + Jitter).TotalSeconds + 1;
        foreach (var window in (TimeSpan[])[TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5)])
        {
            var most = webhook.MaxInWindow(window);
            Assert.True(most <= Allowed(burst, rate, window), $"{most} requests within {window.TotalSeconds} s (rate {rate}/s, burst {burst})");
        }

        var (count, span) = webhook.ArrivalSpan();
        Assert.True(count <= Allowed(burst, rate, span), $"{count} requests in {span.TotalSeconds:F2} s (rate {rate}/s, burst {burst})");
    }

    private static readonly TimeSpan Jitter = TimeSpan.FromSeconds(1);
}
