using Fleet.Grains.Functions;

namespace Fleet.Functions.Hosting;

/// <summary>The runtimes this silo offers, by name.</summary>
public sealed class RuntimeCatalog(IEnumerable<IFunctionRuntime> runtimes)
{
    private readonly Dictionary<string, IFunctionRuntime> _runtimes = runtimes.ToDictionary(r => r.Name);

    /// <summary>The runtime name for a configuration: <c>javascript</c>, <c>dotnet</c> or <c>dotnet-process</c>.</summary>
    public static string RuntimeFor(FunctionConfiguration config)
        => config.Runtime == FunctionRuntimes.DotNet && config.Isolation == FunctionIsolation.Process ? "dotnet-process" : config.Runtime;

    public IFunctionRuntime For(FunctionConfiguration config)
        => _runtimes.TryGetValue(RuntimeFor(config), out var runtime)
            ? runtime
            : throw new FunctionValidationException($"runtime '{RuntimeFor(config)}' is not available on this silo");

    public T? Get<T>() where T : class, IFunctionRuntime => _runtimes.Values.OfType<T>().FirstOrDefault();
}
