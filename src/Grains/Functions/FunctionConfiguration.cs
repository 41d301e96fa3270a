namespace Fleet.Grains.Functions;

/// <summary>The runtimes a function can name.</summary>
public static class FunctionRuntimes
{
    public const string DotNet = "dotnet";
    public const string JavaScript = "javascript";

    public static readonly IReadOnlyList<string> All = [DotNet, JavaScript];
}

/// <summary>Where a .NET function runs.</summary>
public static class FunctionIsolation
{
    /// <summary>In the silo process: trusted code, the fastest; the memory limit is not enforced.</summary>
    public const string InProcess = "in-process";

    /// <summary>In a worker process whose managed heap is capped at the function's memory limit.</summary>
    public const string Process = "process";
}

/// <summary>
/// A function's configuration, as the user gives it (Lambda's <c>CreateFunction</c> minus the code):
/// validated by <see cref="FunctionValidation"/>.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record FunctionConfiguration
{
    public const int DefaultTimeoutSeconds = 3;
    public const int DefaultMemoryMb = 128;

    [Id(0)] public required string Name { get; init; }

    /// <summary><c>dotnet</c> or <c>javascript</c>.</summary>
    [Id(1)] public required string Runtime { get; init; }

    /// <summary><c>Assembly::Namespace.Type::Method</c> for .NET, <c>file.export</c> for JavaScript.</summary>
    [Id(2)] public required string Handler { get; init; }

    /// <summary>1 to 900 seconds; 3 by default.</summary>
    [Id(3)] public int TimeoutSeconds { get; init; } = DefaultTimeoutSeconds;

    /// <summary>128 to 10,240 MB; 128 by default.</summary>
    [Id(4)] public int MemoryMb { get; init; } = DefaultMemoryMb;

    /// <summary>At most 4 KB in all (keys and values, UTF-8).</summary>
    [Id(5)] public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Up to 5 layers, <c>name:version</c>, applied in order (a later layer's file wins).</summary>
    [Id(6)] public IReadOnlyList<string> Layers { get; init; } = [];

    [Id(7)] public string? Description { get; init; }

    /// <summary><see cref="FunctionIsolation.InProcess"/> (default) or <see cref="FunctionIsolation.Process"/>; .NET only.</summary>
    [Id(8)] public string Isolation { get; init; } = FunctionIsolation.InProcess;

    /// <summary>
    /// Accepted for compatibility only: reserved concurrency is a function-level setting
    /// (<see cref="FunctionDefinition.ReservedConcurrentExecutions"/>, Lambda's <c>PutFunctionConcurrency</c>). A value given
    /// here on a deploy sets the function's; stored configurations no longer carry it (older state is migrated on load).
    /// </summary>
    [Id(9)] public int? ReservedConcurrency { get; init; }

    public TimeSpan Timeout => TimeSpan.FromSeconds(TimeoutSeconds);

    public bool SameAs(FunctionConfiguration other)
        => Name == other.Name && Runtime == other.Runtime && Handler == other.Handler && TimeoutSeconds == other.TimeoutSeconds
           && MemoryMb == other.MemoryMb && Description == other.Description && Isolation == other.Isolation
           && Layers.SequenceEqual(other.Layers)
           && Environment.Count == other.Environment.Count
           && Environment.All(kv => other.Environment.TryGetValue(kv.Key, out var v) && v == kv.Value);
}
