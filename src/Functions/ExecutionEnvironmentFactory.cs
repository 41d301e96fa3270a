using Fleet.Grains.Functions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fleet.Functions.Hosting;

/// <summary>Creates environments on the runtime a function's configuration names; their handlers call other functions through <paramref name="invoker"/>.</summary>
public sealed class ExecutionEnvironmentFactory(
    RuntimeCatalog runtimes,
    CodeCache code,
    IOptions<FunctionsOptions> options,
    ILoggerFactory loggers,
    IFunctionInvoker? invoker,
    AsyncInvocationOptions? arns = null) : IExecutionEnvironmentFactory
{
    private readonly ILogger _logger = loggers.CreateLogger("Fleet.Functions");

    public IExecutionEnvironment Create(ResolvedFunction function, string owner)
        => new ExecutionEnvironment(function, owner, runtimes.For(function.Configuration), code, invoker, options.Value, _logger, arns);
}
