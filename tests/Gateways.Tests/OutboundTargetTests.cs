using Fleet.Gateways.Outbound;
using Fleet.Grains.Sensors;
using Microsoft.Extensions.DependencyInjection;

namespace Fleet.Gateways.Tests;

/// <summary>An outbound target inside a real in-process silo (Orleans permits and dead letters), against a real webhook server.</summary>
public sealed class OutboundTargetTests(WebhookServer server) : IClassFixture<WebhookServer>
{
    /// <summary>
    /// A downstream's Retry-After of 60 days once paused the target until then, and the pause's timer overflowed, so
    /// every later alert was dead-lettered at once with 0 attempts. Retry-After is honoured up to MaxRetryDelay.
    /// </summary>
    [Fact]
    public async Task A_huge_retry_after_is_honoured_only_up_to_the_max_retry_delay()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Outbound:Targets:slow:Kind"] = "Webhook",
            ["Outbound:Targets:slow:Url"] = new Uri(server.BaseUri, "/hook/throttle-60-days").ToString(),
            ["Outbound:Targets:slow:MaxAttempts"] = "3",
            ["Outbound:Targets:slow:RetryDelay"] = "00:00:00.100",
            ["Outbound:Targets:slow:MaxRetryDelay"] = "00:00:01",
        });
        var dispatcher = host.Services.GetRequiredService<OutboundDispatcher>();
        Assert.True(dispatcher.TryGetTarget("slow", out var target));
        var started = DateTime.UtcNow;
        dispatcher.Send(new Anomaly("s-1", "value", 0, 1, 95, 0.9, "fusion", started));

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (target.Stats().DeadLettered == 0 && DateTime.UtcNow < deadline)
        {
            if (target.Stats().PausedUntilUtc is { } paused) Assert.True(paused <= DateTime.UtcNow.AddSeconds(1.5), $"paused until {paused:O}");
            await Task.Delay(50);
        }

        var stats = target.Stats();
        Assert.Equal((1L, 3L, 3L), (stats.DeadLettered, stats.Attempts, stats.Throttled)); // every attempt made, each throttled
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10)); // waited, but not 60 days
        Assert.Equal(0, stats.Lost);
    }

    /// <summary>
    /// The dead-letter store itself is down: the item is retried for DeadLetterStoreTimeout, then counted lost (and
    /// logged whole), and the target goes on with the next item rather than stall.
    /// </summary>
    [Fact]
    public async Task An_item_the_dead_letter_store_cannot_take_is_counted_lost_and_the_target_goes_on()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Outbound:Targets:broken-hook:Kind"] = "Webhook",
            ["Outbound:Targets:broken-hook:Url"] = new Uri(server.BaseUri, "/hook/bad").ToString(),
            ["Outbound:Targets:broken-hook:MaxAttempts"] = "1",
            ["Outbound:Targets:broken-hook:DeadLetterStoreTimeout"] = "00:00:01",
        });
        var dispatcher = host.Services.GetRequiredService<OutboundDispatcher>();
        Assert.True(dispatcher.TryGetTarget("broken-hook", out var target));
        dispatcher.Send(new Anomaly("s-1", "value", 0, 1, 95, 0.9, "fusion", DateTime.UtcNow));
        dispatcher.Send(new Anomaly("s-1", "value", 0, 2, 96, 0.9, "fusion", DateTime.UtcNow));

        await WaitAsync(() => target.Stats() is { Lost: 2, Queued: 0, InFlight: 0 });
        var stats = target.Stats();
        Assert.Equal((2L, 0L, 0L, 2L), (stats.Lost, stats.DeadLettered, stats.Delivered, stats.Attempts));
    }

    /// <summary>
    /// A flood of alerts while the dead-letter store is down: the writer's backlog is bounded (10,000 letters), the
    /// letters beyond it are counted lost at once, and once the store has been down for DeadLetterStoreTimeout the rest
    /// are settled within about that time too (one attempt per batch), not one timeout per batch of 256; every
    /// submitted item is accounted for.
    /// </summary>
    [Fact]
    public async Task A_flood_while_the_dead_letter_store_is_down_is_settled_within_the_timeout()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Outbound:Targets:broken-flood:Kind"] = "Webhook",
            ["Outbound:Targets:broken-flood:Url"] = new Uri(server.BaseUri, "/hook/bad").ToString(),
            ["Outbound:Targets:broken-flood:MaxAttempts"] = "1",
            ["Outbound:Targets:broken-flood:QueueCapacity"] = "300",
            ["Outbound:Targets:broken-flood:RatePerSecond"] = "5000",
            ["Outbound:Targets:broken-flood:Burst"] = "5000",
            ["Outbound:Targets:broken-flood:DeadLetterStoreTimeout"] = "00:00:01",
        });
        var dispatcher = host.Services.GetRequiredService<OutboundDispatcher>();
        Assert.True(dispatcher.TryGetTarget("broken-flood", out var target));
        var started = DateTime.UtcNow;
        for (var i = 0; i < 12_000; i++) dispatcher.Send(new Anomaly("s-1", "value", 0, i, 95, 0.9, "fusion", DateTime.UtcNow));

        await WaitAsync(() => target.Stats() is { Lost: 12_000, Queued: 0, InFlight: 0, DeadLetterPending: 0 }, () => target.Stats().ToString());
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.Zero, TimeSpan.FromSeconds(10)); // one timeout per batch would be ~47 s
        var stats = target.Stats();
        Assert.Equal((12_000L, 0L, 0L), (stats.Submitted, stats.Delivered, stats.DeadLettered));
    }

    /// <summary>
    /// Redriven letters that fail again stay dead letters (same ids, a new dead-lettering time, no duplicates); once the
    /// downstream is back, a redrive delivers them and empties the store. A redrive takes no more than the queue has room for.
    /// </summary>
    [Fact]
    public async Task Redriven_letters_stay_stored_until_delivered()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Outbound:Targets:flaky:Kind"] = "Webhook",
            ["Outbound:Targets:flaky:Url"] = new Uri(server.BaseUri, "/hook/flaky").ToString(),
            ["Outbound:Targets:flaky:MaxAttempts"] = "1",
            ["Outbound:Targets:flaky:QueueCapacity"] = "3",
            ["Outbound:Targets:flaky:MaxConcurrency"] = "1",
        });
        var dispatcher = host.Services.GetRequiredService<OutboundDispatcher>();
        Assert.True(dispatcher.TryGetTarget("flaky", out var target));
        var store = host.Services.GetRequiredService<IGrainFactory>().GetGrain<Fleet.Grains.Outbound.IDeadLetterGrain>("flaky");
        for (var i = 0; i < 5; i++)
        {
            await WaitAsync(() => target.Stats().Queued == 0); // no queue_full: every letter is an HTTP 400
            dispatcher.Send(new Anomaly("s-1", "value", 0, i, 95, 0.9, "fusion", DateTime.UtcNow));
        }

        await WaitAsync(() => target.Stats().DeadLettered == 5, () => target.Stats().ToString());
        var before = (await store.List(0, 100)).Items;
        Assert.Equal(5, before.Length);

        // Still failing: a redrive takes what the queue has room for (3); they come back as the same letters, dead-lettered
        // anew, nothing lost and nothing doubled.
        Assert.Equal(3, await dispatcher.RedriveAsync(target, 100));
        await WaitAsync(() => target.Stats() is { DeadLettered: 8, Queued: 0, InFlight: 0 });
        var after = (await store.List(0, 100)).Items;
        Assert.Equal(before.Select(l => l.Id).Order(), after.Select(l => l.Id).Order());
        Assert.Equal(before[3..], after[..2]); // the two not redriven are untouched, and now the oldest
        Assert.All(after[2..], l => Assert.True(l.DeadLetteredUtc > before.Max(b => b.DeadLetteredUtc), "a redriven letter that failed again is stored anew"));

        // Fixed: redrives deliver them and the store is empty.
        server.FlakyFixed = true;
        Assert.Equal(3, await dispatcher.RedriveAsync(target, 100));
        await WaitAsync(() => target.Stats() is { Delivered: 3, Queued: 0, InFlight: 0 });
        Assert.Equal(2, await dispatcher.RedriveAsync(target, 100));
        await WaitAsync(() => target.Stats().Delivered == 5);
        await WaitAsync(() => store.List(0, 1).Result.Total == 0);
        Assert.Equal(0, target.Stats().Lost);
    }

    /// <summary>
    /// A 429 that one silo gets pauses the target on every silo: here two targets of the same name (as on two silos,
    /// sharing the cluster's bucket) send to two endpoints; the throttled one's Retry-After holds the other one back too.
    /// </summary>
    [Fact]
    public async Task A_429_on_one_silo_pauses_the_target_on_the_others()
    {
        await using var host = await GatewayHost.StartAsync();
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        var options = new OutboundTargetOptions { MaxAttempts = 1, RetryDelay = TimeSpan.FromMilliseconds(100), MaxRetryDelay = TimeSpan.FromSeconds(4) };
        var logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        using var http = new HttpClient();
        var name = $"shared-{Guid.NewGuid():N}";
        var throttled = new OutboundTarget(name, OutboundKind.Webhook, OutboundPolicy.From(options), new WebhookSender(http, new Uri(server.BaseUri, "/hook/throttle")), grains, TimeProvider.System, logger);
        var healthy = new OutboundTarget(name, OutboundKind.Webhook, OutboundPolicy.From(options), new WebhookSender(http, new Uri(server.BaseUri, "/hook/ok")), grains, TimeProvider.System, logger);
        throttled.Start();
        healthy.Start();
        try
        {
            throttled.Submit(new OutboundItem(Guid.NewGuid(), new Anomaly("s-1", "value", 0, 1, 95, 0.9, "fusion", DateTime.UtcNow), DateTime.UtcNow));
            await WaitAsync(() => throttled.Stats().Throttled == 1);
            var paused = DateTime.UtcNow;
            healthy.Submit(new OutboundItem(Guid.NewGuid(), new Anomaly("s-1", "value", 0, 2, 95, 0.9, "fusion", DateTime.UtcNow), DateTime.UtcNow));
            await WaitAsync(() => healthy.Stats().Delivered == 1);
            // Retry-After 7 s, bounded by MaxRetryDelay 4 s; the other silo waited most of it (less the time to see the 429).
            Assert.InRange(DateTime.UtcNow - paused, TimeSpan.FromSeconds(2.5), TimeSpan.FromSeconds(15));
        }
        finally
        {
            await throttled.StopAsync(TimeSpan.FromSeconds(1));
            await healthy.StopAsync(TimeSpan.FromSeconds(1));
        }
    }

    internal static async Task WaitAsync(Func<bool> done, Func<string>? state = null, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out" + (state is null ? "" : ": " + state()));
            await Task.Delay(20);
        }
    }

    [Theory]
    [InlineData("ftp://example.com/hook", "absolute http or https Url")]
    [InlineData("mailto:ops@example.com", "absolute http or https Url")]
    public void A_webhook_url_that_is_not_http_is_refused_at_startup(string url, string message)
    {
        var options = new OutboundOptions();
        options.Targets["x"] = new OutboundTargetOptions { Kind = OutboundKind.Webhook, Url = new Uri(url) };
        Assert.Contains(OutboundOptions.Validate(options), e => e.Contains(message));
    }

    [Fact]
    public void Waits_beyond_a_day_are_refused_at_startup()
    {
        var options = new OutboundOptions();
        options.Targets["x"] = new OutboundTargetOptions { Kind = OutboundKind.Webhook, Url = new Uri("http://localhost/hook"), AttemptTimeout = TimeSpan.FromDays(60), MaxRetryDelay = TimeSpan.FromDays(2) };
        var errors = OutboundOptions.Validate(options).ToList();
        Assert.Contains(errors, e => e.Contains("AttemptTimeout must be at most 1 day"));
        Assert.Contains(errors, e => e.Contains("MaxRetryDelay must be at most 1 day"));
    }

    [Theory]
    [InlineData(null, "fleet_anomalies", "a Postgres target needs a ConnectionString")]
    [InlineData("Username=fleet", "fleet_anomalies", "the ConnectionString is not valid: it names no Host")]
    [InlineData("Host=db;Bogus Key=1", "fleet_anomalies", "the ConnectionString is not valid")]
    [InlineData("Host=db;Username=fleet", "alerts; DROP TABLE users", "Table 'alerts; DROP TABLE users' must be name or schema.name")]
    [InlineData("Host=db;Username=fleet", "ops.alerts", null)]
    public void A_postgres_target_is_checked_at_startup(string? connectionString, string table, string? message)
    {
        var options = new OutboundOptions();
        options.Targets["db"] = new OutboundTargetOptions { Kind = OutboundKind.Postgres, ConnectionString = connectionString, Table = table };
        var errors = OutboundOptions.Validate(options).ToList();
        if (message is null) Assert.Empty(errors);
        else Assert.Contains(errors, e => e.StartsWith("Outbound:Targets:db: " + message, StringComparison.Ordinal));
    }
}
