namespace Fleet.Grains.Functions;

/// <summary>
/// A warm execution environment for one function version: the first invocation is the cold start
/// (load, construct, initialise); later ones reuse the instance. The port grains use to run user code;
/// implemented by the function runtimes (Fleet.Functions) and wired in by the silo.
/// </summary>
public interface IExecutionEnvironment : IAsyncDisposable
{
    ResolvedFunction Function { get; }

    /// <summary>True once the cold start has completed.</summary>
    bool IsWarm { get; }

    /// <summary>
    /// True after a timeout, a memory-limit failure or a failed cold start: the environment must not be
    /// reused; dispose it and create a fresh one.
    /// </summary>
    bool IsBroken { get; }

    /// <summary>Never throws for a handler's failure: every outcome is an <see cref="InvocationResult"/>.</summary>
    Task<InvocationResult> InvokeAsync(InvocationRequest request);
}

/// <summary>Creates execution environments; <paramref name="owner"/> names who hosts it (a sensor, a pool) for logs and the scratch folder.</summary>
public interface IExecutionEnvironmentFactory
{
    IExecutionEnvironment Create(ResolvedFunction function, string owner);
}

/// <summary>
/// Invokes a function by <c>name</c>, <c>name:version</c> or <c>name:alias</c> in the silo's pool of stateless
/// environments: direct invocation, asynchronous events and functions calling functions. A port, implemented by the runtimes.
/// </summary>
public interface IFunctionInvoker
{
    Task<InvocationResult> InvokeAsync(string function, InvocationRequest request, CancellationToken cancellationToken);
}
