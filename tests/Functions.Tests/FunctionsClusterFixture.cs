using Fleet.Functions.Hosting;
using Fleet.Grains;
using Fleet.Grains.Outbound;
using Fleet.Grains.Sensors;
using Fleet.Grains.Storage;
using Fleet.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Fleet.Functions.Tests;

/// <summary>Two in-process silos sharing SQLite state, with the sensor grains and the function runtimes, composed as the real silo is.</summary>
public sealed class FunctionsClusterFixture : IAsyncLifetime
{
    private static readonly string Root = Path.Combine(Path.GetTempPath(), $"fleet-functions-tests-{Guid.NewGuid():N}");

    public TestCluster Cluster { get; private set; } = null!;

    public IClusterClient Client => Cluster.Client;

    public IServiceProvider Services => ServicesOf(0);

    /// <summary>The services of silo <paramref name="index"/> (0: the primary).</summary>
    public IServiceProvider ServicesOf(int index) => ((InProcessSiloHandle)Cluster.Silos[index]).SiloHost!.Services;

    public FunctionDeployer Deployer => Services.GetRequiredService<FunctionDeployer>();

    public FunctionPool Pool => Services.GetRequiredService<FunctionPool>();

    public async Task InitializeAsync()
    {
        var builder = new TestClusterBuilder(2);
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed class NoOutbound : IOutboundPort
    {
        public void Send(Anomaly anomaly)
        {
        }
    }

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Functions:CodeCachePath"] = Path.Combine(Root, "code"),
                ["Functions:TempPath"] = Path.Combine(Root, "tmp"),
                ["Functions:DefinitionCacheTtl"] = "00:00:00.200",
                ["Functions:Async:RetryDelay"] = "00:00:00.050",
            }).Build();
            silo.AddSqliteGrainStorage(StorageNames.Default, o => o.Path = Path.Combine(Root, "fleet.db"));
            silo.UseSqliteReminderService(Path.Combine(Root, "fleet.db"));
            silo.Services.AddSensorGrains();
            silo.Services.AddSingleton<IOutboundPort>(new NoOutbound());
            silo.Services.AddFunctions(configuration);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class FunctionsCluster : ICollectionFixture<FunctionsClusterFixture>
{
    public const string Name = "functions cluster";
}
