using Fleet.Functions.Hosting;
using Fleet.Grains.Functions;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fleet.Functions.Tests;

/// <summary>The stateless pool on its own (resolved functions in, no cluster): sizing, eviction, reclaiming under load.</summary>
public sealed class FunctionPoolTests
{
    private static (FunctionPool Pool, InMemoryPackages Packages) NewPool(int max)
    {
        var packages = new InMemoryPackages();
        packages.Options.MaxPoolEnvironments = max;
        var options = Microsoft.Extensions.Options.Options.Create(packages.Options);
        var pool = new FunctionPool(new FunctionResolver(null!, options, TimeProvider.System), new RuntimeCatalog([packages.DotNet]), packages.Code, new FunctionMetrics(), options, NullLoggerFactory.Instance);
        return (pool, packages);
    }

    // A generous timeout: these tests are about the pool's bookkeeping, and 2,000 cold starts on a loaded CI machine
    // (the reclaimer empties the pool continuously) must not fail on Lambda's default 3 s.
    private static ResolvedFunction Echo(InMemoryPackages packages, string name)
        => packages.Function(FunctionPackages.Zip(("Echo.dll", FunctionPackages.Compile("Echo", "namespace Echo; public class H { public int Handle(int x) => x; }"))), "Echo::Echo.H::Handle", timeoutSeconds: 60, name: name);

    [Fact]
    public async Task At_its_size_the_pool_evicts_the_least_recently_used_idle_environment_instead_of_throttling()
    {
        var (pool, packages) = NewPool(max: 2);
        var a = Echo(packages, "a");
        var b = Echo(packages, "b");
        var c = Echo(packages, "c");
        Assert.True((await pool.InvokeAsync(a, InMemoryPackages.Request("1"), CancellationToken.None)).Succeeded);
        Assert.True((await pool.InvokeAsync(b, InMemoryPackages.Request("2"), CancellationToken.None)).Succeeded);

        var third = await pool.InvokeAsync(c, InMemoryPackages.Request("3"), CancellationToken.None);
        Assert.True(third.Succeeded, third.Error?.Message);
        Assert.Equal(2, pool.Environments);

        // a was evicted (cold again), b is still warm.
        Assert.NotNull((await pool.InvokeAsync(a, InMemoryPackages.Request("1"), CancellationToken.None)).InitDurationMs);
        await pool.ReclaimIdleAsync(TimeSpan.Zero);
        Assert.Equal(0, pool.Environments);
    }

    [Fact]
    public async Task Concurrent_invocations_and_reclaiming_lose_no_environment()
    {
        var (pool, packages) = NewPool(max: 64);
        var function = Echo(packages, "busy");
        using var stop = new CancellationTokenSource();
        var reclaimer = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await pool.ReclaimIdleAsync(TimeSpan.Zero);
                await Task.Yield(); // race the callers without pinning a core of a 2-core CI machine
            }
        });
        var callers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 500; i++)
            {
                var result = await pool.InvokeAsync(function, InMemoryPackages.Request(i.ToString()), CancellationToken.None);
                Assert.True(result.Succeeded, result.Error?.Message);
            }
        })).ToArray();
        await Task.WhenAll(callers);
        stop.Cancel();
        await reclaimer;
        await pool.ReclaimIdleAsync(TimeSpan.Zero);

        Assert.Equal(0, pool.Environments);
        for (var i = 0; i < 50 && Directory.Exists(packages.Options.TempPath) && Directory.EnumerateDirectories(packages.Options.TempPath).Any(); i++) await Task.Delay(100);
        Assert.Empty(Directory.Exists(packages.Options.TempPath) ? Directory.EnumerateDirectories(packages.Options.TempPath) : []);
    }
}
