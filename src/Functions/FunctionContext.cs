using System.Text.Json;
using Fleet.Grains.Functions;

namespace Fleet.Functions.Hosting;

/// <summary>The <see cref="IFunctionContext"/> of one invocation.</summary>
internal sealed class FunctionContext(
    ResolvedFunction function,
    InvocationRequest request,
    DateTime deadlineUtc,
    CancellationToken cancellationToken,
    FunctionLogger logger,
    string tempDirectory,
    IFunctionInvoker? invoker,
    string invokedFunctionArn,
    string logStreamName) : IFunctionContext
{
    public string RequestId => request.RequestId;
    public string FunctionName => function.Name;
    public string FunctionVersion => function.Version;
    public string? InvokedAlias => request.InvokedAlias;
    public string InvokedFunctionArn => invokedFunctionArn;
    public string LogGroupName => "/aws/lambda/" + function.Name;
    public string LogStreamName => logStreamName;
    public int MemoryLimitMb => function.Configuration.MemoryMb;
    public TimeSpan RemainingTime => deadlineUtc - DateTime.UtcNow is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero;
    public CancellationToken CancellationToken => cancellationToken;
    public IFunctionLogger Logger => logger;
    public IReadOnlyDictionary<string, string> Environment => function.Configuration.Environment;
    public string TempDirectory => tempDirectory;

    public async Task<JsonElement> InvokeAsync(string functionName, object? payload, CancellationToken cancellationToken = default)
    {
        if (invoker is null)
            throw new FunctionInvocationException(functionName, nameof(InvocationErrorKind.NotFound), "this environment cannot call other functions");
        if (request.Depth + 1 > InvocationLimits.MaxDepth)
            throw new FunctionInvocationException(functionName, "Runtime.RecursionLimitExceeded", $"functions may call functions at most {InvocationLimits.MaxDepth} deep");
        var json = payload switch
        {
            null => "null",
            JsonElement e => e.GetRawText(),
            _ => JsonSerializer.Serialize(payload, payload.GetType(), HandlerBinding.Json),
        };
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, CancellationToken);
        var result = await invoker.InvokeAsync(functionName, new InvocationRequest(Guid.NewGuid().ToString(), json, null, request.Depth + 1), linked.Token);
        if (result.Error is { } error)
            throw new FunctionInvocationException(functionName, error.Kind == InvocationErrorKind.Unhandled ? error.Type : error.Kind.ToString(), error.Message);
        using var doc = JsonDocument.Parse(result.PayloadJson ?? "null");
        return doc.RootElement.Clone();
    }
}
