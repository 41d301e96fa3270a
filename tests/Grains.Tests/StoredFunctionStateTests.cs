using Fleet.Grains.Functions;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Fleet.Grains.Tests;

/// <summary>
/// A function's stored state from the release before reserved concurrency became a function-level setting and before
/// per-qualifier asynchronous settings existed. Fixtures/function-state-ae02102.b64 is a <see cref="FunctionState"/>
/// serialized by commit ae02102: <c>$LATEST</c> with reserved concurrency 3, version 1 turned off (0), version 2 without a
/// limit, alias <c>live</c> on version 2 with a quarter of its traffic on version 1.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class StoredFunctionStateTests(ClusterFixture fixture)
{
    private static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(b => b.AddAssembly(typeof(FunctionState).Assembly))
        .BuildServiceProvider()
        .GetRequiredService<Serializer>();

    private static FunctionState Stored()
        => Serializer.Deserialize<FunctionState>(Convert.FromBase64String(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "function-state-ae02102.b64"))))!;

    [Fact]
    public void The_previous_releases_function_loads_whole_and_migrates_to_the_strictest_limit()
    {
        var state = Stored();
        var old = state.Definition!;
        Assert.Equal(("compat-fn", "Compat::Compat.H::Handle", 7, 256, "latest"), (old.Name, old.Configuration.Handler, old.Configuration.TimeoutSeconds, old.Configuration.MemoryMb, old.Configuration.Environment["MODE"]));
        Assert.Equal(2, state.LastVersion);
        Assert.Equal([1, 2], old.Versions.Select(v => v.Version));
        Assert.Null(old.EventInvokeConfigs);

        var migrated = old.Migrated();
        Assert.Equal(0, migrated.ReservedConcurrentExecutions); // version 1 was off: the function is, rather than silently on
        Assert.All(migrated.Versions, v => Assert.Null(v.Configuration.ReservedConcurrency));
        Assert.Null(migrated.Configuration.ReservedConcurrency);

        var v1 = migrated.ResolveVersion("1")!;
        Assert.Equal(("v1", "cd34", 0), (v1.Configuration.Environment["MODE"], v1.Code.Sha256, v1.ReservedConcurrency));
        var live = Assert.Single(migrated.Aliases);
        Assert.Equal(("2", 0.25), (live.FunctionVersion, live.AdditionalVersionWeights!["1"]));
    }

    [Fact]
    public async Task The_previous_releases_function_grain_activates_and_takes_new_settings()
    {
        var grain = fixture.Client.GetGrain<IFunctionGrain>("compat-fn-" + Guid.NewGuid().ToString("n")[..8]);
        var storage = ((Orleans.TestingHost.InProcessSiloHandle)fixture.Cluster.Primary!).SiloHost!.Services
            .GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(Fleet.Grains.Storage.StorageNames.Default);
        await storage.WriteStateAsync("function", grain.GetGrainId(), new Orleans.GrainState<FunctionState>(Stored()));

        var loaded = (await grain.Get())!;
        Assert.Equal(0, loaded.ReservedConcurrentExecutions);
        Assert.Equal([1, 2], loaded.Versions.Select(v => v.Version));

        Assert.Equal(5, await grain.PutConcurrency(5));
        await grain.PutEventInvokeConfig("live", maximumRetryAttempts: 1, maximumEventAgeInSeconds: 600, merge: false);
        var published = await grain.PublishVersion(null);
        Assert.Equal(3, published.Version); // the old LastVersion is kept: no version number reused

        await fixture.Cluster.DeactivateAsync(grain);
        var reloaded = (await grain.Get())!;
        Assert.Equal(5, reloaded.ReservedConcurrentExecutions);
        Assert.Equal((1, 600), (reloaded.EventInvokeConfigOf("live")!.MaximumRetryAttempts, reloaded.EventInvokeConfigOf("live")!.MaximumEventAgeInSeconds));
        Assert.Equal([1, 2, 3], reloaded.Versions.Select(v => v.Version));
    }
}
