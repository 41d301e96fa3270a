using System.Text.Json;

namespace Fleet.Functions.Worker;

/// <summary>The handler's <see cref="IFunctionContext"/> inside the worker: logs and nested invocations go to the host as frames.</summary>
internal sealed class WorkerContext(
    WorkerLoop worker,
    string requestId,
    string functionName,
    string functionVersion,
    string? invokedAlias,
    string? invokedFunctionArn,
    string? logGroupName,
    string? logStreamName,
    int memoryLimitMb,
    DateTime deadlineUtc,
    CancellationToken cancellationToken,
    IReadOnlyDictionary<string, string> environment,
    string tempDirectory) : IFunctionContext, IFunctionLogger
{
    public string RequestId => requestId;
    public string FunctionName => functionName;
    public string FunctionVersion => functionVersion;
    public string? InvokedAlias => invokedAlias;

    // From the host; an older host sends none: the SDK's defaults.
    public string InvokedFunctionArn => invokedFunctionArn ?? $"arn:aws:lambda:us-east-1:000000000000:function:{functionName}";
    public string LogGroupName => logGroupName ?? "/aws/lambda/" + functionName;
    public string LogStreamName => logStreamName ?? "";
    public int MemoryLimitMb => memoryLimitMb;
    public TimeSpan RemainingTime => deadlineUtc - DateTime.UtcNow is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero;
    public CancellationToken CancellationToken => cancellationToken;
    public IFunctionLogger Logger => this;
    public IReadOnlyDictionary<string, string> Environment => environment;
    public string TempDirectory => tempDirectory;

    public Task<JsonElement> InvokeAsync(string function, object? payload, CancellationToken cancellationToken = default)
        => worker.InvokeFunctionAsync(requestId, function, payload, cancellationToken);

    public void Log(FunctionLogLevel level, string message, IReadOnlyDictionary<string, object?>? fields = null)
        => worker.Frames.SendLog(requestId, level, message, fields);
}
