using System.Collections.Concurrent;
using Fleet.Grains.Outbound;
using Fleet.Grains.Readings;
using Fleet.Grains.Sensors;
using Fleet.Grains.Storage;
using Fleet.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.Streams;
using Orleans.TestingHost;

namespace Fleet.Grains.Tests;

/// <summary>The grains' outbound port double: records every anomaly the grains send.</summary>
public sealed class RecordingOutboundPort : IOutboundPort
{
    public static RecordingOutboundPort Instance { get; } = new();

    private readonly ConcurrentQueue<Anomaly> _sent = new();

    public void Send(Anomaly anomaly) => _sent.Enqueue(anomaly);

    public IReadOnlyList<Anomaly> For(string sensorId) => _sent.Where(a => a.SensorId == sensorId).ToList();
}

/// <summary>
/// The SQLite grain storage, except that writes of grains whose key starts with <see cref="Prefix"/> wait while the
/// gate is closed: a storage write that is slow on demand.
/// </summary>
public sealed class GatedGrainStorage(Orleans.Storage.IGrainStorage inner) : Orleans.Storage.IGrainStorage
{
    public const string Inner = "sqlite-inner";
    public const string Prefix = "gated-";

    private static TaskCompletionSource _open = Opened();
    private static TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static TaskCompletionSource Opened()
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        open.SetResult();
        return open;
    }

    /// <summary>Closes the gate; the returned task completes when a gated write is waiting at it.</summary>
    public static Task Close()
    {
        _entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _entered.Task;
    }

    public static void Open() => _open.TrySetResult();

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ReadStateAsync(stateName, grainId, grainState);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (grainId.Key.ToString()!.StartsWith(Prefix, StringComparison.Ordinal))
        {
            var open = _open.Task;
            _entered.TrySetResult();
            await open;
        }

        await inner.WriteStateAsync(stateName, grainId, grainState);
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ClearStateAsync(stateName, grainId, grainState);
}

/// <summary>One in-process silo composed as the real one is (memory streams, implicit subscriptions, SQLite state).</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public static readonly string DatabasePath = Path.Combine(Path.GetTempPath(), $"fleet-grains-tests-{Guid.NewGuid():N}", "fleet.db");

    public TestCluster Cluster { get; private set; } = null!;

    public IClusterClient Client => Cluster.Client;

    public async Task InitializeAsync()
    {
        var builder = new TestClusterBuilder(1);
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        builder.AddClientBuilderConfigurator<ClientConfigurator>();
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        try
        {
            Directory.Delete(Path.GetDirectoryName(DatabasePath)!, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public IAsyncStream<Reading> StreamOf(string sensorId)
        => Client.GetStreamProvider(SensorStreams.Provider).GetStream<Reading>(SensorStreams.For(sensorId));

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            silo.AddSqliteGrainStorage(GatedGrainStorage.Inner, o => o.Path = DatabasePath);
            silo.Services.AddKeyedSingleton<Orleans.Storage.IGrainStorage>(StorageNames.Default, (sp, _) =>
                new GatedGrainStorage(sp.GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(GatedGrainStorage.Inner)));
            silo.AddMemoryStreams(SensorStreams.Provider, streams =>
            {
                streams.ConfigurePartitioning(2);
                streams.ConfigureStreamPubSub(StreamPubSubType.ImplicitOnly);
                streams.ConfigurePullingAgent(agent => agent.Configure(o => o.GetQueueMsgsTimerPeriod = TimeSpan.FromMilliseconds(10)));
            });
            silo.Services.AddSensorGrains();
            silo.Services.AddSingleton<IOutboundPort>(RecordingOutboundPort.Instance);
        }
    }

    private sealed class ClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(Microsoft.Extensions.Configuration.IConfiguration configuration, IClientBuilder client)
        {
            client.AddMemoryStreams(SensorStreams.Provider, streams =>
            {
                streams.ConfigurePartitioning(2);
                streams.ConfigureStreamPubSub(StreamPubSubType.ImplicitOnly);
            });
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}

public static class Poll
{
    /// <summary>Polls until <paramref name="done"/> holds, or fails after <paramref name="timeout"/> (default 10 s) with the last value.</summary>
    public static async Task<T> Until<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan? timeout = null, string? what = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var value = await read();
            if (done(value)) return value;
            if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"timed out waiting for {what ?? "condition"}; last value: {value}");
            await Task.Delay(20);
        }
    }
}
