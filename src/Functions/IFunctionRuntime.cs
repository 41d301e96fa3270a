using Fleet.Grains.Functions;

namespace Fleet.Functions.Hosting;

/// <summary>
/// One runtime (<c>dotnet</c>, <c>dotnet-process</c>, <c>javascript</c>): turns a function's code into a
/// running instance. <see cref="StartAsync"/> is the cold start (load, construct, initialise); the
/// instance then serves every warm invocation of its environment, one at a time.
/// </summary>
public interface IFunctionRuntime
{
    /// <summary>The name <see cref="FunctionRuntimeSelector"/> matches.</summary>
    string Name { get; }

    /// <summary>
    /// Loads the code and constructs the handler. Throws <see cref="FunctionLoadException"/> when the code
    /// cannot serve (no handler, wrong signature, missing dependency) and <see cref="FunctionInitException"/>
    /// when the function's own initialisation (constructor, module top level) throws.
    /// </summary>
    Task<IFunctionInstance> StartAsync(FunctionCode code, CancellationToken cancellationToken);
}

/// <summary>A constructed handler in one execution environment.</summary>
public interface IFunctionInstance : IAsyncDisposable
{
    /// <summary>
    /// Runs the handler on <paramref name="payloadJson"/> and returns its result as JSON (<c>null</c> when it
    /// returned nothing). A handler's exception propagates (unwrapped from reflection); a memory limit
    /// surfaces as <see cref="FunctionMemoryLimitException"/>; a time limit as <see cref="OperationCanceledException"/>
    /// or <see cref="TimeoutException"/>.
    /// </summary>
    Task<string> InvokeAsync(string payloadJson, IFunctionContext context);
}

/// <summary>Everything a runtime needs to start a function: its resolved version and its unpacked code.</summary>
/// <param name="Function">The version that runs.</param>
/// <param name="PackageDirectory">The function's zip, extracted (read-only by convention).</param>
/// <param name="LayerDirectories">The layers' zips, extracted, in the function's order (a later layer wins).</param>
/// <param name="TempDirectory">The environment's scratch folder.</param>
public sealed record FunctionCode(
    ResolvedFunction Function,
    string PackageDirectory,
    IReadOnlyList<string> LayerDirectories,
    string TempDirectory)
{
    public FunctionConfiguration Configuration => Function.Configuration;
}
