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
}
