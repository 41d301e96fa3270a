using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Fleet.Functions.Hosting.Isolated;

/// <summary>Where the isolated runtime finds its worker and how long it waits for it.</summary>
public sealed class IsolatedDotNetRuntimeOptions
{
    public const string WorkerFileName = "Fleet.Functions.Worker.dll";

    /// <summary>The worker's dll (its .runtimeconfig.json and .deps.json beside it). Default: next to the hosting application, then next to this assembly.</summary>
    public string? WorkerPath { get; set; }

    /// <summary>The <c>dotnet</c> muxer. Default: this process's own when it is one, else the one that hosts this runtime, else <c>dotnet</c> on the PATH.</summary>
    public string? DotNetHostPath { get; set; }

    /// <summary>How long a worker may take to load and construct the function.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a disposed worker may take to dispose its handler and exit before it is killed.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(1);

    internal string ResolveWorkerPath()
    {
        if (!string.IsNullOrEmpty(WorkerPath)) return Path.GetFullPath(WorkerPath);
        var besideApp = Path.Combine(AppContext.BaseDirectory, WorkerFileName);
        if (File.Exists(besideApp)) return besideApp;
        var hosting = Path.GetDirectoryName(typeof(IsolatedDotNetRuntime).Assembly.Location);
        var besideHosting = string.IsNullOrEmpty(hosting) ? null : Path.Combine(hosting, WorkerFileName);
        return besideHosting is not null && File.Exists(besideHosting) ? besideHosting : besideApp;
    }

    internal string ResolveDotNetHost()
    {
        if (!string.IsNullOrEmpty(DotNetHostPath)) return DotNetHostPath;
        var muxer = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "dotnet.exe" : "dotnet";
        if (Environment.ProcessPath is { } self && string.Equals(Path.GetFileName(self), muxer, StringComparison.OrdinalIgnoreCase)) return self;
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath)) return hostPath;

        // <root>/shared/Microsoft.NETCore.App/<version>/: the muxer of the runtime this process runs on.
        var runtimeDirectory = RuntimeEnvironment.GetRuntimeDirectory().TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        var root = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(runtimeDirectory)));
        if (root is not null && File.Exists(Path.Combine(root, muxer))) return Path.Combine(root, muxer);
        return muxer;
    }
}

/// <summary>
/// The isolated .NET runtime (<c>dotnet-process</c>): each environment is a worker process
/// (<c>dotnet exec Fleet.Functions.Worker.dll</c>) that hosts one instance of the function, its managed
/// heap capped at the function's memory limit with <c>DOTNET_GCHeapHardLimit</c>. A function that
/// exceeds its memory, crashes or hangs takes down its own worker only; the silo reports
/// <see cref="FunctionMemoryLimitException"/>, <see cref="FunctionErrorException"/> (<c>Runtime.ExitError</c>)
/// or <see cref="TimeoutException"/> and lives on. Handler rules and error types are the in-process runtime's.
/// </summary>
public sealed class IsolatedDotNetRuntime(IsolatedDotNetRuntimeOptions? options = null, ILogger<IsolatedDotNetRuntime>? logger = null) : IFunctionRuntime
{
    public const string RuntimeName = "dotnet-process";

    /// <summary>The environment variables of the silo a worker keeps; everything else it does not see (only its function's own).</summary>
    private static readonly string[] InheritedVariables =
    [
        "PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "DOTNET_ROOT", "DOTNET_ROOT_X64", "DOTNET_ROOT_ARM64",
        "SystemRoot", "windir", "SystemDrive", "ComSpec", "PATHEXT", "USERPROFILE", "ProgramData", "ProgramFiles", "APPDATA", "LOCALAPPDATA",
    ];

    private readonly IsolatedDotNetRuntimeOptions _options = options ?? new IsolatedDotNetRuntimeOptions();

    public string Name => RuntimeName;

    public async Task<IFunctionInstance> StartAsync(FunctionCode code, CancellationToken cancellationToken)
    {
        var workerPath = _options.ResolveWorkerPath();
        if (!File.Exists(workerPath))
            throw new InvalidOperationException($"the isolated .NET worker is not installed: '{workerPath}' does not exist");
        return await IsolatedFunctionInstance.StartAsync(code, CreateStartInfo(code, workerPath), _options, logger, cancellationToken);
    }

    internal ProcessStartInfo CreateStartInfo(FunctionCode code, string workerPath)
    {
        var info = new ProcessStartInfo(_options.ResolveDotNetHost())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardErrorEncoding = System.Text.Encoding.UTF8,
            UseShellExecute = false,
            CreateNoWindow = true,
            WorkingDirectory = Directory.Exists(code.PackageDirectory) ? code.PackageDirectory : AppContext.BaseDirectory,
        };
        info.ArgumentList.Add("exec");
        info.ArgumentList.Add(workerPath);

        var inherited = InheritedVariables
            .Select(name => (name, value: Environment.GetEnvironmentVariable(name)))
            .Where(v => v.value is not null)
            .ToArray();
        info.Environment.Clear();
        foreach (var (name, value) in inherited) info.Environment[name] = value;
        foreach (var (name, value) in code.Configuration.Environment) info.Environment[name] = value;
        if (!string.IsNullOrEmpty(code.TempDirectory))
        {
            // Path.GetTempPath() in the function is its environment's scratch folder, as /tmp is in Lambda.
            foreach (var name in new[] { "TMPDIR", "TMP", "TEMP" }) info.Environment[name] = code.TempDirectory;
        }

        // The function's own variables must not lift or change the heap limit.
        foreach (var name in info.Environment.Keys.Where(IsGcSetting).ToArray()) info.Environment.Remove(name);
        info.Environment["DOTNET_GCHeapHardLimit"] = HeapHardLimit(code.Configuration.MemoryMb);
        info.Environment["DOTNET_gcServer"] = "0";
        return info;
    }

    /// <summary>DOTNET_GCHeapHardLimit's value for <paramref name="memoryMb"/>: bytes, hexadecimal.</summary>
    internal static string HeapHardLimit(int memoryMb) => "0x" + ((long)memoryMb * 1024 * 1024).ToString("X", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>DOTNET_GCHeapHardLimit, DOTNET_GCHeapHardLimitPercent, DOTNET_GCgen0size, DOTNET_gcServer, ... (names are case-insensitive to the runtime).</summary>
    private static bool IsGcSetting(string name)
        => name.StartsWith("DOTNET_GC", StringComparison.OrdinalIgnoreCase)
           || name.StartsWith("COMPlus_GC", StringComparison.OrdinalIgnoreCase)
           || name.StartsWith("CORECLR_GC", StringComparison.OrdinalIgnoreCase);
}
