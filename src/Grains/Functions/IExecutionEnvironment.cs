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

/// <summary>
/// Lambda's asynchronous invocation metrics, recorded by the asynchronous invocation itself (<see cref="InvocationRecordGrain"/>);
/// <paramref name="function"/> is the function as invoked (<c>name</c>, <c>name:version</c> or <c>name:alias</c>). A port,
/// implemented by the runtimes' metrics.
/// </summary>
public interface IAsyncInvocationMetrics
{
    /// <summary><c>AsyncEventsReceived</c>: an event was accepted (stored) for processing.</summary>
    void EventReceived(string function);

    /// <summary><c>AsyncEventAge</c>: the time from accepting the event to an attempt to run it.</summary>
    void EventAge(string function, TimeSpan age);

    /// <summary><c>AsyncEventsDropped</c>: the event finished without running successfully (<paramref name="condition"/> in Lambda's words).</summary>
    void EventDropped(string function, string condition);

    /// <summary><c>DestinationDeliveryFailures</c>: the event's invocation record could not be sent to its destination (one attempt).</summary>
    void DestinationDeliveryFailed(string function);
}
