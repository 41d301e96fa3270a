using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Fleet.Gateways.Http;
using Fleet.Gateways.Mqtt;
using Fleet.Gateways.Outbound;
using Fleet.Grains;
using Fleet.Grains.Readings;
using Fleet.Grains.Sensors;
using Fleet.Grains.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;

namespace Fleet.Gateways.Tests;

/// <summary>
/// The real transport (direct grain calls) in front of which sensors whose id starts with <see cref="Prefix"/> wait
/// while the gate is closed: a transport that stalls on demand, as one does under load. Sends for sensors whose id
/// starts with <see cref="FailingPrefix"/> are refused (they throw) while <see cref="Failing"/> is set: one sensor the
/// transport cannot deliver to.
/// </summary>
public sealed class GatedReadingTransport(IReadingTransport inner) : IReadingTransport
{
    public const string Prefix = "gated-";
    public const string FailingPrefix = "failing-";

    private volatile bool _failing;
    private int _refused;

    /// <summary>While set, sends for <see cref="FailingPrefix"/> sensors throw.</summary>
    public bool Failing { get => _failing; set => _failing = value; }

    /// <summary>Sends refused so far.</summary>
    public int Refused => Volatile.Read(ref _refused);

    private TaskCompletionSource _open = Opened();
    private TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Name => "gated " + inner.Name;

    private static TaskCompletionSource Opened()
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        open.SetResult();
        return open;
    }

    /// <summary>Closes the gate; the returned task completes when a gated send is waiting at it.</summary>
    public Task Close()
    {
        _entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _entered.Task;
    }

    public void Open() => _open.TrySetResult();

    public async Task SendAsync(string sensorId, List<Reading> readings)
    {
        if (_failing && sensorId.StartsWith(FailingPrefix, StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _refused);
            throw new InvalidOperationException($"sensor {sensorId} cannot take readings");
        }

        if (sensorId.StartsWith(Prefix, StringComparison.Ordinal))
        {
            var open = _open.Task;
            _entered.TrySetResult();
            await open;
        }

        await inner.SendAsync(sensorId, readings);
    }
}

/// <summary>Memory grain storage, except that writes of grains whose key starts with <see cref="Prefix"/> fail: a store that is down.</summary>
public sealed class BrokenGrainStorage(Orleans.Storage.IGrainStorage inner) : Orleans.Storage.IGrainStorage
{
    public const string Inner = "memory-inner";
    public const string Prefix = "broken-";

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ReadStateAsync(stateName, grainId, grainState);

    /// <summary>Invocation records with this prefix refuse the write of a finished event with nothing left to send (the outcome, or forgetting a sent record).</summary>
    public const string FinishedPrefix = "finishedbroken-";

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = grainId.Key.ToString()!;
        if (key.StartsWith(Prefix, StringComparison.Ordinal)) throw new InvalidOperationException($"storage for {grainId} is down");
        if (key.StartsWith(FinishedPrefix, StringComparison.Ordinal)
            && grainState.State is Fleet.Grains.Functions.InvocationRecordState { Record.CompletedUtc: not null, Destination: null })
            throw new InvalidOperationException($"storage for {grainId} refuses the finished record");
        return inner.WriteStateAsync(stateName, grainId, grainState);
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ClearStateAsync(stateName, grainId, grainState);
}

/// <summary>
/// One silo in this process composed as src/Silo composes it, minus what these tests do not need: Orleans (localhost
/// clustering, memory grain storage), the sensor grains, the outbound adapters, the embedded MQTT broker and the
/// telemetry ingress (direct transport, gated), and the HTTP API on Kestrel; every port is a free one.
/// </summary>
public sealed class GatewayHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GatewayHost(WebApplication app, int mqttPort)
    {
        _app = app;
        MqttPort = mqttPort;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        Http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(20) };
    }

    public int MqttPort { get; }

    public HttpClient Http { get; }

    public IServiceProvider Services => _app.Services;

    public GatedReadingTransport Gate => _app.Services.GetRequiredService<GatedReadingTransport>();

    public IngressStats Stats => _app.Services.GetRequiredService<IngressStats>();

    public ISensorGrain Sensor(string id) => _app.Services.GetRequiredService<IGrainFactory>().GetGrain<ISensorGrain>(id);

    /// <summary>
    /// Starts the host; with <paramref name="functions"/>, also the function runtimes and the Functions API (code and scratch
    /// folders in a temporary directory, asynchronous retries 50 ms apart).
    /// </summary>
    public static async Task<GatewayHost> StartAsync(IDictionary<string, string?>? settings = null, bool functions = false)
    {
        var mqttPort = FreePort();
        var config = new Dictionary<string, string?>
        {
            ["Mqtt:Port"] = mqttPort.ToString(),
            ["Mqtt:RejectFlushInterval"] = "00:00:00.100",
        };
        if (functions)
        {
            var root = Path.Combine(Path.GetTempPath(), "fleet-gw-functions-" + Guid.NewGuid().ToString("N"));
            config["Functions:CodeCachePath"] = Path.Combine(root, "code");
            config["Functions:TempPath"] = Path.Combine(root, "tmp");
            config["Functions:Async:RetryDelay"] = "00:00:00.050";
        }

        foreach (var (key, value) in settings ?? new Dictionary<string, string?>()) config[key] = value;

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Production });
        builder.Configuration.AddInMemoryCollection(config);
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        var cluster = "gw-tests-" + Guid.NewGuid().ToString("N")[..8];
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(FreePort(), FreePort(), serviceId: cluster, clusterId: cluster);
            silo.AddMemoryGrainStorage(BrokenGrainStorage.Inner);
            silo.Services.AddKeyedSingleton<Orleans.Storage.IGrainStorage>(StorageNames.Default, (sp, _) =>
                new BrokenGrainStorage(sp.GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(BrokenGrainStorage.Inner)));
        });
        builder.Services.AddSingleton(sp => new GatedReadingTransport(new DirectReadingTransport(sp.GetRequiredService<SensorReferences>())));
        builder.Services.AddSingleton<IReadingTransport>(sp => sp.GetRequiredService<GatedReadingTransport>());
        builder.Services.AddSensorGrains(builder.Configuration);
        builder.Services.AddOutbound(builder.Configuration);
        builder.Services.AddMqttGateway(builder.Configuration);
        if (functions) Fleet.Functions.Hosting.FunctionsHostingExtensions.AddFunctions(builder.Services, builder.Configuration);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter()));
        builder.Services.AddFleetHttpErrors();

        var app = builder.Build();
        app.UseFleetHttpErrors();
        app.MapFleetApi();
        if (functions) app.MapFunctionsApi();
        await app.StartAsync();
        return new GatewayHost(app, mqttPort);
    }

    public async Task<IMqttClient> ConnectAsync()
    {
        var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", MqttPort)
            .WithClientId("test-" + Guid.NewGuid().ToString("N")[..8])
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanSession()
            .Build());
        return client;
    }

    public async Task<JsonNode> GetJsonAsync(string path)
    {
        var response = await Http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!;
    }

    /// <summary>This silo's refusals of one reason, as GET /ingress shows them.</summary>
    public async Task<long> RejectedAsync(string reason)
        => (long)(await GetJsonAsync("/ingress"))["rejectedByReason"]![reason]!;

    /// <summary>Polls the sensor's state until <paramref name="done"/> holds; fails after 10 s with the last state.</summary>
    public async Task<SensorSnapshot> WaitForSensorAsync(string id, Func<SensorSnapshot, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var snapshot = await Sensor(id).GetSnapshot();
            if (done(snapshot)) return snapshot;
            if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"sensor {id} did not reach the expected state; counts: {snapshot.Counts}");
            await Task.Delay(20);
        }
    }

    public static string Reading(long seq, double value, long? ts = null)
        => $"{{\"ts\":{ts ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()},\"seq\":{seq},\"value\":{value.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}";

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        Gate.Open();
        Gate.Failing = false;
        Http.Dispose();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
    }
}

/// <summary>One <see cref="GatewayHost"/> on default settings, shared by a test class.</summary>
public sealed class GatewayHostFixture : IAsyncLifetime
{
    public GatewayHost Host { get; private set; } = null!;

    public async Task InitializeAsync() => Host = await GatewayHost.StartAsync();

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>One <see cref="GatewayHost"/> with the function runtimes and the Functions API, shared by a test class.</summary>
public sealed class FunctionsGatewayHostFixture : IAsyncLifetime
{
    public GatewayHost Host { get; private set; } = null!;

    public async Task InitializeAsync() => Host = await GatewayHost.StartAsync(functions: true);

    public async Task DisposeAsync() => await Host.DisposeAsync();
}
