using System.Diagnostics;
using Fleet.Grains.Outbound;
using Fleet.Grains.Sensors;
using Xunit.Abstractions;

namespace Fleet.Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class OutboundGrainTests(ClusterFixture fixture, ITestOutputHelper output)
{
    [Theory]
    [InlineData(100, 20)]
    [InlineData(150, 10)] // a rate whose tokens per 10 ms period are not whole
    public async Task Rate_limit_grants_never_exceed_burst_plus_rate_times_elapsed(double rate, int burst)
    {
        var limiter = fixture.Client.GetGrain<IRateLimitGrain>($"rl-{Guid.NewGuid():N}");
        var limit = new RateLimit(rate, burst);
        var granted = 0L;
        var calls = 0L;
        var stopwatch = Stopwatch.StartNew();
        var until = TimeSpan.FromSeconds(2);

        // Eight callers hammer the one bucket, asking for a handful each time.
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async worker =>
        {
            while (stopwatch.Elapsed < until)
            {
                var grant = await limiter.Acquire(1 + worker % 4, limit);
                Interlocked.Increment(ref calls);
                if (grant.Permits > 0)
                {
                    Assert.Equal(TimeSpan.Zero, grant.RetryAfter);
                    Assert.InRange(grant.Permits, 1, 1 + worker % 4);
                    Interlocked.Add(ref granted, grant.Permits);
                }
                else
                {
                    Assert.True(grant.RetryAfter > TimeSpan.Zero);
                }
            }
        }));
        var elapsed = stopwatch.Elapsed.TotalSeconds;

        var ceiling = burst + rate * elapsed;
        output.WriteLine($"granted {granted} of at most {ceiling:0} permits in {elapsed:0.000} s over {calls} calls");
        Assert.True(granted <= ceiling, $"granted {granted} permits in {elapsed:0.00} s; at most {ceiling:0} allowed ({calls} calls)");
        // It does replenish: well over the burst was granted (a loose floor, not a speed test).
        Assert.True(granted > burst + rate * elapsed * 0.25, $"granted only {granted} permits in {elapsed:0.00} s");
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(99)]
    [InlineData(100)]
    [InlineData(150)]
    [InlineData(200)]
    [InlineData(333)]
    [InlineData(1000)]
    [InlineData(2500)]
    [InlineData(100_000)]
    public void Replenishment_never_exceeds_the_rate_and_stays_close_to_it(double rate)
    {
        var (tokens, period) = RateLimitGrain.Replenishment(rate);
        Assert.True(tokens >= 1);
        Assert.Equal(0, period.Ticks % TimeSpan.TicksPerMillisecond); // the limiter's timer ticks in whole ms
        var actual = tokens / period.TotalSeconds;
        Assert.InRange(actual, rate * 0.9, rate);
        if (rate >= 100) Assert.InRange(period.TotalMilliseconds, 1, 50); // smooth: no long gaps at high rates
    }

    [Fact]
    public async Task Two_silos_asking_with_different_limits_do_not_refill_the_bucket()
    {
        var limiter = fixture.Client.GetGrain<IRateLimitGrain>($"rl-{Guid.NewGuid():N}");
        RateLimit[] limits = [new(10, 10), new(10, 11)]; // a rolling configuration change: two silos disagree on the burst
        var granted = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 400; i++) granted += (await limiter.Acquire(5, limits[i % 2])).Permits;
        var ceiling = 11 + 10 * watch.Elapsed.TotalSeconds + 1;
        Assert.True(granted <= ceiling, $"{granted} permits in {watch.Elapsed.TotalSeconds:F2} s, at most {ceiling:F0} allowed");
    }

    [Fact]
    public async Task An_empty_bucket_says_when_to_ask_again()
    {
        var limiter = fixture.Client.GetGrain<IRateLimitGrain>($"rl-{Guid.NewGuid():N}");
        var limit = new RateLimit(1, 3); // one per second, three saved up
        Assert.Equal(3, (await limiter.Acquire(10, limit)).Permits); // asks are capped at the burst
        var empty = await limiter.Acquire(1, limit);
        Assert.Equal(0, empty.Permits);
        Assert.Equal(TimeSpan.FromSeconds(1), empty.RetryAfter);
    }

    private static DeadLetter Letter(string target, int n) => new(
        Guid.NewGuid(),
        target,
        new Anomaly($"s-{n}", "value", 1_732_450_000_000 + n, n, n, 0.9, "ewma-z", new DateTime(2024, 11, 24, 0, 0, 0, DateTimeKind.Utc)),
        3,
        "HTTP 400",
        new DateTime(2024, 11, 24, 0, 0, n, DateTimeKind.Utc),
        new DateTime(2024, 11, 24, 0, 1, n, DateTimeKind.Utc));

    [Fact]
    public async Task Dead_letters_add_list_take_and_return()
    {
        var target = $"hook-{Guid.NewGuid():N}";
        var grain = fixture.Client.GetGrain<IDeadLetterGrain>(target);
        var letters = Enumerable.Range(0, 5).Select(n => Letter(target, n)).ToArray();
        await grain.Add(letters[..3]);
        await grain.Add(letters[3..]);

        var page = await grain.List(0, 100);
        Assert.Equal(5, page.Total);
        Assert.Equal(letters, page.Items);
        var middle = await grain.List(1, 2);
        Assert.Equal(letters[1..3], middle.Items);
        Assert.Equal(5, middle.Total);
        Assert.Empty((await grain.List(10, 5)).Items);

        var taken = await grain.Take(2);
        Assert.Equal(letters[..2], taken); // oldest first
        Assert.Equal(letters[2..], (await grain.List(0, 100)).Items);

        await grain.Return(taken);
        Assert.Equal(letters, (await grain.List(0, 100)).Items);

        // Written through: a new activation reads the same list back.
        await fixture.Cluster.DeactivateAsync(grain);
        Assert.Equal(letters, (await grain.List(0, 100)).Items);

        Assert.Equal(letters, await grain.Take(100));
        Assert.Equal(0, (await grain.List(0, 100)).Total);
        Assert.Empty(await grain.Take(1));
        await fixture.Cluster.DeactivateAsync(grain);
        Assert.Equal(0, (await grain.List(0, 100)).Total);
    }
}
