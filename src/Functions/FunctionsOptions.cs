using System.ComponentModel.DataAnnotations;

namespace Fleet.Functions.Hosting;

/// <summary>The function runtimes' settings (section <c>Functions</c>).</summary>
public sealed class FunctionsOptions
{
    public const string Section = "Functions";

    /// <summary>Where packages and layers are unpacked (a cache; the durable copies live in grain storage).</summary>
    [Required]
    public string CodeCachePath { get; set; } = Path.Combine("data", "functions", "code");

    /// <summary>Where each execution environment gets its scratch folder (Lambda's /tmp); emptied at start.</summary>
    [Required]
    public string TempPath { get; set; } = Path.Combine("data", "functions", "tmp");

    /// <summary>Largest package or layer zip accepted (Lambda: 50 MB for a direct upload).</summary>
    [Range(1024, 256L * 1024 * 1024)]
    public long MaxPackageBytes { get; set; } = 50L * 1024 * 1024;

    /// <summary>Largest unpacked size of a package with its layers (Lambda: 250 MB).</summary>
    [Range(1024, 4L * 1024 * 1024 * 1024)]
    public long MaxUnpackedBytes { get; set; } = 250L * 1024 * 1024;

    /// <summary>Longest a cold start (load and construct) may take (Lambda's init phase: 10 s).</summary>
    public TimeSpan InitTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an idle environment of the stateless pool stays warm.</summary>
    public TimeSpan PoolIdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Environments of the stateless pool on one silo, all functions together; beyond it invocations are throttled.</summary>
    [Range(1, 10_000)]
    public int MaxPoolEnvironments { get; set; } = 256;

    /// <summary>How long a published definition may be served from a silo's cache before it is read again.</summary>
    public TimeSpan DefinitionCacheTtl { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How many bytes of log lines a synchronous invocation may return (Lambda's LogType=Tail: 4 KB).</summary>
    [Range(0, 1024 * 1024)]
    public int LogTailBytes { get; set; } = 4096;
}
