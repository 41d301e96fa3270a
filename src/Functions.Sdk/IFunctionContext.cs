using System.Text.Json;

namespace Fleet.Functions;

/// <summary>What the platform tells a handler about the invocation and its execution environment.</summary>
public interface IFunctionContext
{
    /// <summary>The invocation's id; every log line of the invocation carries it.</summary>
    string RequestId { get; }

    string FunctionName { get; }

    /// <summary>The version that runs: <c>$LATEST</c> or a published version number.</summary>
    string FunctionVersion { get; }

    /// <summary>The alias the caller invoked, or null when it named a version or nothing.</summary>
    string? InvokedAlias { get; }

    int MemoryLimitMb { get; }

    /// <summary>Time left before the invocation times out.</summary>
    TimeSpan RemainingTime { get; }

    /// <summary>Cancelled when the invocation times out; a handler should stop promptly.</summary>
    CancellationToken CancellationToken { get; }

    /// <summary>A structured logger whose entries are tagged with the request id.</summary>
    IFunctionLogger Logger { get; }

    /// <summary>The function's environment variables.</summary>
    IReadOnlyDictionary<string, string> Environment { get; }

    /// <summary>The execution environment's own scratch folder (Lambda's <c>/tmp</c>); removed when the environment is reclaimed.</summary>
    string TempDirectory { get; }

    /// <summary>
    /// Invokes another function synchronously (by <c>name</c>, <c>name:version</c> or <c>name:alias</c>)
    /// and returns its JSON result; a failure of the callee is thrown as <see cref="FunctionInvocationException"/>.
    /// </summary>
    Task<JsonElement> InvokeAsync(string function, object? payload, CancellationToken cancellationToken = default);
}
