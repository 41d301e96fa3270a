namespace Fleet.Grains.Functions;

/// <summary>How an invocation failed, in the words of the HTTP API.</summary>
public enum InvocationErrorKind
{
    /// <summary>The handler ran past the function's timeout.</summary>
    Timeout,

    /// <summary>The handler used more memory than the function's limit.</summary>
    MemoryLimitExceeded,

    /// <summary>The handler (or its constructor) threw; the error names the exception type and message.</summary>
    Unhandled,

    /// <summary>The function's reserved concurrency is in use.</summary>
    Throttled,

    /// <summary>No such function, version or alias.</summary>
    NotFound,

    /// <summary>The code could not be loaded: not a zip, no handler, wrong signature, missing dependency.</summary>
    InvalidPackage,

    /// <summary>The request itself is invalid (for example its payload is not JSON).</summary>
    InvalidRequest,

    /// <summary>An asynchronous event older than its maximum event age before it could run: discarded, as Lambda does.</summary>
    EventAgeExceeded,
}

/// <summary>
/// A failed invocation's error: its kind, and Lambda's error document (<c>errorType</c>, <c>errorMessage</c>, <c>stackTrace</c>
/// and, when the error reported wraps the exception the function threw, that exception as <see cref="Cause"/>; an
/// <see cref="AggregateException"/>'s inner exceptions as <see cref="Causes"/>, Lambda's <c>causes</c>).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record InvocationError(
    [property: Id(0)] InvocationErrorKind Kind,
    [property: Id(1)] string Type,
    [property: Id(2)] string Message,
    [property: Id(3)] string[]? StackTrace = null,
    [property: Id(4)] InvocationErrorCause? Cause = null,
    [property: Id(5)] InvocationErrorCause[]? Causes = null);

/// <summary>
/// The <c>cause</c> of Lambda's error document: the exception behind the error reported, with its own cause (its inner
/// exception), nested. A .NET handler whose constructor throws is a <c>LambdaException</c> whose cause is that exception.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record InvocationErrorCause(
    [property: Id(0)] string Type,
    [property: Id(1)] string Message,
    [property: Id(2)] string[]? StackTrace = null,
    [property: Id(3)] InvocationErrorCause? Cause = null,
    [property: Id(4)] InvocationErrorCause[]? Causes = null);

/// <summary>
/// One invocation's input. <see cref="InvokedQualifier"/> is the qualifier the caller named the function with (a version,
/// an alias or <c>$LATEST</c>; null when it named none): the qualifier of the context's <c>InvokedFunctionArn</c>.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record InvocationRequest(
    [property: Id(0)] string RequestId,
    [property: Id(1)] string PayloadJson,
    [property: Id(2)] string? InvokedAlias,
    [property: Id(3)] int Depth = 0,
    [property: Id(4)] int? TimeoutMs = null,
    [property: Id(5)] string? InvokedQualifier = null);

/// <summary>One invocation's outcome: a JSON result, or an error.</summary>
[GenerateSerializer, Immutable]
public sealed record InvocationResult
{
    [Id(0)] public required string RequestId { get; init; }

    [Id(1)] public string? FunctionName { get; init; }

    [Id(2)] public string? ExecutedVersion { get; init; }

    /// <summary>The handler's result as JSON (<c>null</c> when it returned nothing), or null when it failed.</summary>
    [Id(3)] public string? PayloadJson { get; init; }

    [Id(4)] public InvocationError? Error { get; init; }

    [Id(5)] public double DurationMs { get; init; }

    /// <summary>Set on a cold start: loading, constructing and initialising the function.</summary>
    [Id(6)] public double? InitDurationMs { get; init; }

    /// <summary>The last lines the handler logged (Lambda's LogType=Tail), when asked for.</summary>
    [Id(7)] public string? LogTail { get; init; }

    public bool Succeeded => Error is null;

    public static InvocationResult Failed(string requestId, InvocationErrorKind kind, string type, string message, string? function = null, string? version = null)
        => new() { RequestId = requestId, FunctionName = function, ExecutedVersion = version, Error = new InvocationError(kind, type, message) };
}

/// <summary>Maximum nesting of functions calling functions, so a loop fails instead of exhausting the silo.</summary>
public static class InvocationLimits
{
    public const int MaxDepth = 16;

    /// <summary>Lambda's synchronous payload limit (6 MB), for requests and responses alike.</summary>
    public const int MaxPayloadBytes = 6 * 1024 * 1024;

    /// <summary>Lambda's asynchronous (Event) payload limit (1 MB).</summary>
    public const int MaxEventPayloadBytes = 1024 * 1024;

    /// <summary>True when <paramref name="json"/> is over <paramref name="maxBytes"/> in UTF-8 (counted only when it could be).</summary>
    public static bool TooLarge(string json, int maxBytes)
        => json.Length > maxBytes || (json.Length > maxBytes / 3 && System.Text.Encoding.UTF8.GetByteCount(json) > maxBytes);
}
