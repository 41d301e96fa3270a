using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fleet.EndToEnd.Tests;

/// <summary>
/// A real silo (src/Silo's build output) in its own process, on free ports and its own data folder,
/// configured through environment variables exactly as a user would.
/// </summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private readonly Dictionary<string, string> _environment;
    private readonly Dictionary<string, string> _settings;
    private readonly StringBuilder _output = new();
    private readonly bool _ownsData;
    private Process? _process;

    public SiloProcess(IDictionary<string, string>? settings = null, string? dataDirectory = null)
    {
        _ownsData = dataDirectory is null;
        _settings = new Dictionary<string, string>(settings ?? new Dictionary<string, string>());
        DataDirectory = dataDirectory ?? Path.Combine(Path.GetTempPath(), "fleet-e2e-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(DataDirectory);
        _environment = new Dictionary<string, string>
        {
            ["Silo__ClusterId"] = "e2e-" + Guid.NewGuid().ToString("N")[..8],
            ["Storage__Path"] = Path.Combine(DataDirectory, "fleet.db"),
            ["Functions__CodeCachePath"] = Path.Combine(DataDirectory, "functions", "code"),
            ["Functions__TempPath"] = Path.Combine(DataDirectory, "functions", "tmp"),
            ["Sensors__CheckpointInterval"] = "00:00:01",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Fleet"] = "Information",
            ["DOTNET_ENVIRONMENT"] = "Production",
        };
        AssignPorts();
    }

    /// <summary>Fresh ports for HTTP, MQTT and the silo; the caller's settings still win.</summary>
    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(Http))]
    private void AssignPorts()
    {
        HttpPort = FreePort();
        MqttPort = FreePort();
        _environment["Urls"] = $"http://127.0.0.1:{HttpPort}";
        _environment["Mqtt__Port"] = MqttPort.ToString();
        _environment["Silo__SiloPort"] = FreePort().ToString();
        _environment["Silo__GatewayPort"] = FreePort().ToString();
        foreach (var (key, value) in _settings) _environment[key] = value;
        Http?.Dispose();
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HttpPort}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public string DataDirectory { get; }
    public int HttpPort { get; private set; }
    public int MqttPort { get; private set; }
    public HttpClient Http { get; private set; }
    public string Output { get { lock (_output) return _output.ToString(); } }

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Orleans.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("Orleans.sln not found above the test output");
        }
    }

    /// <summary>The silo build of the same configuration as this test assembly.</summary>
    public static string SiloAssembly
    {
        get
        {
            var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name; // bin/<Configuration>/net10.0/
            var path = Path.Combine(RepoRoot, "src", "Silo", "bin", configuration, "net10.0", "Fleet.Silo.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("silo build not found; build the solution first", path);
        }
    }

    public async Task StartAsync()
    {
        // A port found free can be taken by another process before the silo binds it; that start is retried on new ports.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await StartOnceAsync();
                return;
            }
            catch (SiloExitedException ex) when (attempt < 3 && ex.Message.Contains("Address already in use", StringComparison.Ordinal))
            {
                _process?.Dispose();
                _process = null;
                lock (_output) _output.Clear();
                AssignPorts();
            }
        }
    }

    private async Task StartOnceAsync()
    {
        var start = new ProcessStartInfo("dotnet", $"\"{SiloAssembly}\"")
        {
            WorkingDirectory = Path.GetDirectoryName(SiloAssembly)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in _environment) start.Environment[key] = value;
        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start the silo");
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                _process.WaitForExit(); // drains the redirected output
                throw new SiloExitedException($"silo exited with {_process.ExitCode}:\n{Output}");
            }

            try
            {
                using var response = await Http.GetAsync("/health");
                if (response.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"silo not healthy within 90 s:\n{Output}");
    }

    private sealed class SiloExitedException(string message) : InvalidOperationException(message);

    /// <summary>Graceful stop (SIGTERM), as an operator or an orchestrator would.</summary>
    public async Task StopAsync()
    {
        if (_process is null || _process.HasExited) return;
        using (var kill = Process.Start("kill", $"-TERM {_process.Id}")) await kill!.WaitForExitAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(45));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"silo did not stop within 45 s:\n{Output}");
        }
    }

    /// <summary>A crash: the process is killed (SIGKILL), nothing is written on the way out.</summary>
    public async Task KillAsync()
    {
        if (_process is null || _process.HasExited) return;
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public async Task<JsonNode> GetJsonAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"GET {path}: {(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!;
    }

    public async Task<JsonNode?> TryGetJsonAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        return response.IsSuccessStatusCode ? JsonNode.Parse(await response.Content.ReadAsStringAsync()) : null;
    }

    public async Task<HttpResponseMessage> PutJsonAsync(string path, object body)
        => await Http.PutAsJsonAsync(path, body, new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>Polls until <paramref name="condition"/> holds; fails with the last value seen.</summary>
    public async Task<JsonNode> WaitForAsync(string path, Func<JsonNode, bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        JsonNode? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                last = await TryGetJsonAsync(path);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // the silo is busy or recovering (a cluster member died): ask again until the deadline
            }

            if (last is not null && condition(last)) return last;
            await Task.Delay(100);
        }

        throw new TimeoutException($"GET {path} never satisfied the condition; last: {last?.ToJsonString()}\nsilo output:\n{Output}");
    }

    // Below Linux's ephemeral range (32768-60999), so no outgoing connection of this or another process is handed
    // the port between this check and the silo's bind; each test process starts at its own random offset.
    private const int PortBase = 20000, PortSpan = 12000;
    private static int s_nextPort = Random.Shared.Next(PortSpan);

    public static int FreePort()
    {
        for (var attempt = 0; attempt < PortSpan; attempt++)
        {
            var port = PortBase + (int)((uint)Interlocked.Increment(ref s_nextPort) % PortSpan);
            try
            {
                using var listener = new TcpListener(IPAddress.Any, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
            }
        }

        throw new InvalidOperationException($"no free port in {PortBase}-{PortBase + PortSpan - 1}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        catch (TimeoutException)
        {
        }

        _process?.Dispose();
        Http.Dispose();
        if (_ownsData)
        {
            try
            {
                Directory.Delete(DataDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
