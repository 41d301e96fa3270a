using System.Diagnostics;
using Fleet.Grains.Outbound;
using Fleet.Grains.Sensors;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
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

    [Fact]
    public async Task A_pause_stops_every_grant_until_it_ends()
    {
        var limiter = fixture.Client.GetGrain<IRateLimitGrain>($"rl-{Guid.NewGuid():N}");
        var limit = new RateLimit(1000, 100);
        Assert.True((await limiter.Acquire(5, limit)).Permits > 0);

        await limiter.Pause(TimeSpan.FromSeconds(2));
        await limiter.Pause(TimeSpan.FromMilliseconds(100)); // a shorter pause does not cut the longer one short
        var paused = await limiter.Acquire(5, limit);
        Assert.Equal(0, paused.Permits);
        Assert.InRange(paused.RetryAfter, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));

        await Task.Delay(paused.RetryAfter + TimeSpan.FromMilliseconds(50));
        Assert.True((await limiter.Acquire(5, limit)).Permits > 0);
    }

    private static DeadLetter Letter(string target, int n) => new(
        Guid.NewGuid(),
        target,
        new Anomaly($"s-{n}", "value", 1_732_450_000_000 + n, n, n, 0.9, "ewma-z", new DateTime(2024, 11, 24, 0, 0, 0, DateTimeKind.Utc)),
        3,
        "HTTP 400",
        new DateTime(2024, 11, 24, 0, 0, 0, DateTimeKind.Utc).AddSeconds(n),
        new DateTime(2024, 11, 24, 0, 1, 0, DateTimeKind.Utc).AddSeconds(n));

    private static DeadLetter[] Letters(string target, int count) => Enumerable.Range(0, count).Select(n => Letter(target, n)).ToArray();

    [Fact]
    public async Task Dead_letters_span_segments_and_list_in_order_across_them()
    {
        var target = $"hook-{Guid.NewGuid():N}";
        var grain = fixture.Client.GetGrain<IDeadLetterGrain>(target);
        var cap = DeadLetterGrain.SegmentCapacity;
        var letters = Letters(target, 2 * cap + 50);
        await grain.Add(letters[..3]);
        await grain.Add(letters[3..(cap + 10)]); // fills the first segment and opens the second
        await grain.Add(letters[(cap + 10)..]);

        var all = new List<DeadLetter>();
        for (var offset = 0; offset < letters.Length; offset += 100)
        {
            var page = await grain.List(offset, 100);
            Assert.Equal(letters.Length, page.Total);
            all.AddRange(page.Items);
        }

        Assert.Equal(letters, all);
        Assert.Equal(letters[(cap - 5)..(cap + 5)], (await grain.List(cap - 5, 10)).Items); // a page across a segment boundary
        Assert.Empty((await grain.List(letters.Length, 5)).Items);

        // Each segment is its own state, so an add writes at most one segment of letters, not the whole store.
        var segment = fixture.Client.GetGrain<IDeadLetterSegmentGrain>($"{target}/1");
        Assert.Equal(cap, await segment.Count());

        // Written through: new activations read the same letters back.
        await fixture.Cluster.DeactivateAsync(grain);
        await fixture.Cluster.DeactivateAsync(segment);
        Assert.Equal(letters[..100], (await grain.List(0, 100)).Items);
        Assert.Equal(letters.Length, (await grain.List(0, 1)).Total);
    }

    [Fact]
    public async Task A_redrive_leases_letters_and_only_a_delivery_removes_them()
    {
        var target = $"hook-{Guid.NewGuid():N}";
        var grain = fixture.Client.GetGrain<IDeadLetterGrain>(target);
        var letters = Letters(target, DeadLetterGrain.SegmentCapacity + 20);
        await grain.Add(letters);

        var first = await grain.Lease(10, TimeSpan.FromMinutes(10));
        Assert.Equal(letters[..10], first); // oldest first
        var second = await grain.Lease(10, TimeSpan.FromMinutes(10));
        Assert.Equal(letters[10..20], second); // a second redrive does not get the leased ones
        Assert.Equal(letters.Length, (await grain.List(0, 1)).Total); // leased letters stay stored

        await grain.Remove(first.Select(l => l.Id).ToArray()); // delivered
        Assert.Equal(letters[10..110], (await grain.List(0, 100)).Items);

        // Failed again: stored anew at the end with the new outcome, the old copy gone.
        var again = second.Select(l => l with { Attempts = 6, Reason = "HTTP 503" }).ToArray();
        await grain.Replace(again);
        var page = await grain.List(0, 1000);
        Assert.Equal(letters.Length - 10, page.Total);
        Assert.Equal([.. letters[20..], .. again], page.Items);

        // Given back unused: available to the next redrive.
        var third = await grain.Lease(5, TimeSpan.FromMinutes(10));
        Assert.Equal(letters[20..25], third);
        await grain.Release(third.Select(l => l.Id).ToArray());
        Assert.Equal(letters[20..25], await grain.Lease(5, TimeSpan.FromMinutes(10)));

        // A store that restarts forgets its leases, never its letters: what was out is redrivable again.
        await fixture.Cluster.DeactivateAsync(grain);
        Assert.Equal(letters[20..30], await grain.Lease(10, TimeSpan.FromMilliseconds(300)));
        Assert.Equal(letters[30..40], await grain.Lease(10, TimeSpan.FromMinutes(10))); // [20..30] are held
        // A lease that runs out frees its letters too.
        await Task.Delay(400);
        Assert.Equal(letters[20..30], await grain.Lease(10, TimeSpan.FromMinutes(10)));

        // A delivered letter whose lease the store forgot is still found and removed.
        await fixture.Cluster.DeactivateAsync(grain);
        await grain.Remove([letters[^1].Id]);
        Assert.DoesNotContain(letters[^1], (await grain.List(0, 1000)).Items);
        Assert.Equal(letters.Length - 11, (await grain.List(0, 1)).Total);
    }

    [Fact]
    public async Task Emptied_segments_leave_the_store()
    {
        var target = $"hook-{Guid.NewGuid():N}";
        var grain = fixture.Client.GetGrain<IDeadLetterGrain>(target);
        var cap = DeadLetterGrain.SegmentCapacity;
        var letters = Letters(target, 2 * cap + 1);
        await grain.Add(letters);

        var leased = await grain.Lease(cap, TimeSpan.FromMinutes(10));
        Assert.Equal(letters[..cap], leased);
        await grain.Remove(leased.Select(l => l.Id).ToArray());
        Assert.Equal(0, await fixture.Client.GetGrain<IDeadLetterSegmentGrain>($"{target}/0").Count());

        Assert.Equal([1L, 2L], (await StoredIndex(grain)).Segments); // the emptied segment left the index

        await fixture.Cluster.DeactivateAsync(grain);
        var page = await grain.List(0, 1000);
        Assert.Equal(letters[cap..], page.Items);
        Assert.Equal(cap + 1, page.Total);

        // Drained entirely: the last segment stays open for the next add, which lands after nothing.
        await grain.Remove((await grain.Lease(1000, TimeSpan.FromMinutes(10))).Select(l => l.Id).ToArray());
        Assert.Equal(0, (await grain.List(0, 10)).Total);
        var next = Letter(target, 9999);
        await grain.Add([next]);
        Assert.Equal([next], (await grain.List(0, 10)).Items);
    }

    private Orleans.Storage.IGrainStorage Storage => ((Orleans.TestingHost.InProcessSiloHandle)fixture.Cluster.Primary!).SiloHost!.Services
        .GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(Fleet.Grains.Storage.StorageNames.Default);

    private async Task<DeadLetterIndexState> StoredIndex(IDeadLetterGrain grain)
    {
        var read = new GrainState<DeadLetterIndexState>(new DeadLetterIndexState());
        await Storage.ReadStateAsync("deadletter-index", grain.GetGrainId(), read);
        return read.State!;
    }

    private async Task<List<DeadLetter>> StoredLegacy(IDeadLetterGrain grain)
    {
        var read = new GrainState<DeadLetterState>(new DeadLetterState());
        await Storage.ReadStateAsync("deadletters", grain.GetGrainId(), read);
        return read.State!.Items;
    }

    /// <summary>What a silo of the older release writes: the whole list in state "deadletters".</summary>
    private async Task WriteLegacy(IDeadLetterGrain grain, DeadLetter[] letters)
    {
        var legacy = new GrainState<DeadLetterState>(new DeadLetterState());
        await Storage.ReadStateAsync("deadletters", grain.GetGrainId(), legacy);
        legacy.State!.Items.AddRange(letters);
        await Storage.WriteStateAsync("deadletters", grain.GetGrainId(), legacy);
    }

    [Fact]
    public async Task Dead_letters_an_older_release_kept_in_one_list_move_into_segments()
    {
        var target = $"hook-{Guid.NewGuid():N}";
        var grain = fixture.Client.GetGrain<IDeadLetterGrain>(target);
        var letters = Letters(target, DeadLetterGrain.SegmentCapacity + 3);
        await WriteLegacy(grain, letters);

        Assert.Equal(letters, (await grain.List(0, 1000)).Items);
        Assert.Equal(letters[..2], await grain.Lease(2, TimeSpan.FromMinutes(1)));
        Assert.Empty(await StoredLegacy(grain)); // moved, not copied
        Assert.Equal([0L, 1L], (await StoredIndex(grain)).Segments);

        // During a rolling upgrade a silo of the older release adds to the old layout; the next activation moves those too.
        var later = Enumerable.Range(500, 3).Select(n => Letter(target, n)).ToArray();
        await fixture.Cluster.DeactivateAsync(grain);
        await WriteLegacy(grain, later);
        DeadLetter[] both = [.. letters, .. later];
        Assert.Equal(both, (await grain.List(0, 1000)).Items);
        Assert.Equal([0L, 1L, 2L], (await StoredIndex(grain)).Segments);
        await fixture.Cluster.DeactivateAsync(grain);
        Assert.Equal(both, (await grain.List(0, 1000)).Items);
    }
}
