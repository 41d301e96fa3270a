using System.Text.Json;
using Fleet.Grains.Functions;

namespace Fleet.Functions.Tests;

/// <summary>A context for calling a runtime's instance directly in tests; records log entries.</summary>
public sealed class TestFunctionContext : IFunctionContext, IFunctionLogger
{
    private readonly CancellationTokenSource _cts;
    private readonly DateTime _deadline;

    public TestFunctionContext(TimeSpan? timeout = null, string tempDirectory = "", IReadOnlyDictionary<string, string>? environment = null, int memoryLimitMb = 128)
    {
        var t = timeout ?? TimeSpan.FromSeconds(3);
        _cts = new CancellationTokenSource(t);
        _deadline = DateTime.UtcNow + t;
        TempDirectory = tempDirectory;
        Environment = environment ?? new Dictionary<string, string>();
        MemoryLimitMb = memoryLimitMb;
    }

    public List<(FunctionLogLevel Level, string Message, IReadOnlyDictionary<string, object?>? Fields)> Entries { get; } = new();

    public Func<string, object?, Task<JsonElement>>? OnInvoke { get; set; }

    public string RequestId { get; } = Guid.NewGuid().ToString();
    public string FunctionName { get; init; } = "test";
    public string FunctionVersion { get; init; } = "$LATEST";
    public string? InvokedAlias { get; init; }
    public string InvokedFunctionArn { get; init; } = "arn:aws:lambda:us-east-1:000000000000:function:test";
    public string LogGroupName { get; init; } = "/aws/lambda/test";
    public string LogStreamName { get; init; } = "2026/01/01/[$LATEST]00000000000000000000000000000000";
    public int MemoryLimitMb { get; }
    public TimeSpan RemainingTime => _deadline - DateTime.UtcNow;
    public CancellationToken CancellationToken => _cts.Token;
    public IFunctionLogger Logger => this;
    public IReadOnlyDictionary<string, string> Environment { get; }
    public string TempDirectory { get; }

    public Task<JsonElement> InvokeAsync(string function, object? payload, CancellationToken cancellationToken = default)
        => OnInvoke?.Invoke(function, payload) ?? throw new FunctionInvocationException(function, nameof(InvocationErrorKind.NotFound), "no such function in this test");

    public void Log(FunctionLogLevel level, string message, IReadOnlyDictionary<string, object?>? fields = null)
    {
        lock (Entries) Entries.Add((level, message, fields));
    }

    /// <summary>A resolved function for runtime tests.</summary>
    public static ResolvedFunction Resolved(string runtime, string handler, int timeoutSeconds = 3, int memoryMb = 128, string isolation = FunctionIsolation.InProcess, string name = "test")
        => new()
        {
            Name = name,
            Version = "$LATEST",
            RevisionId = Guid.NewGuid().ToString("n"),
            Code = new CodeReference("0", 0),
            Configuration = new FunctionConfiguration { Name = name, Runtime = runtime, Handler = handler, TimeoutSeconds = timeoutSeconds, MemoryMb = memoryMb, Isolation = isolation },
        };
}
