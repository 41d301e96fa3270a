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

    /// <summary>
    /// The ARN the caller invoked the function by, with the qualifier it used (Lambda's <c>invokedFunctionArn</c>,
    /// <c>ILambdaContext.InvokedFunctionArn</c>): <c>arn:aws:lambda:REGION:ACCOUNT:function:NAME</c> when it named none,
    /// <c>...:NAME:3</c> for a version, <c>...:NAME:live</c> for an alias, <c>...:NAME:$LATEST</c> when it named
    /// <c>$LATEST</c>. The region and account are the platform's (<c>Functions:Async:ArnRegion</c>, <c>ArnAccount</c>).
    /// </summary>
    /// <remarks>The default (for a context of the author's own, in tests) is the unqualified ARN on the platform's defaults.</remarks>
    string InvokedFunctionArn => $"arn:aws:lambda:us-east-1:000000000000:function:{FunctionName}";

    /// <summary>Lambda's log group of the function, <c>/aws/lambda/NAME</c> (<c>ILambdaContext.LogGroupName</c>).</summary>
    string LogGroupName => "/aws/lambda/" + FunctionName;

    /// <summary>
    /// Lambda's log stream of the execution environment, <c>YYYY/MM/DD/[VERSION]ID</c> (<c>ILambdaContext.LogStreamName</c>):
    /// the same for every invocation an environment serves, another for each environment.
    /// </summary>
    string LogStreamName => "";

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
