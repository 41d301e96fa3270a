using Fleet.Functions.Hosting.DotNet;
using Fleet.Functions.Hosting.Isolated;
using Fleet.Functions.Hosting.JavaScript;
using Fleet.Grains.Functions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fleet.Functions.Hosting;

public static class FunctionsHostingExtensions
{
    /// <summary>
    /// Adds the function runtimes (.NET in-process, .NET in a worker process, JavaScript), the code cache,
    /// the stateless pool and the deployer; grains get them through the <see cref="IExecutionEnvironmentFactory"/>
    /// and <see cref="IFunctionInvoker"/> ports.
    /// </summary>
    public static IServiceCollection AddFunctions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<FunctionsOptions>().Bind(configuration.GetSection(FunctionsOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<AsyncInvocationOptions>().Bind(configuration.GetSection(AsyncInvocationOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<JavaScriptRuntimeOptions>().Bind(configuration.GetSection(FunctionsOptions.Section + ":JavaScript"));
        services.AddSingleton<IFunctionRuntime, DotNetRuntime>();
        services.AddSingleton<IFunctionRuntime>(sp => new JavaScriptRuntime(sp.GetRequiredService<IOptions<JavaScriptRuntimeOptions>>().Value));
        services.AddOptions<IsolatedDotNetRuntimeOptions>().Bind(configuration.GetSection(FunctionsOptions.Section + ":Isolated"));
        services.AddSingleton<IFunctionRuntime>(sp => new IsolatedDotNetRuntime(
            sp.GetRequiredService<IOptions<IsolatedDotNetRuntimeOptions>>().Value,
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<IsolatedDotNetRuntime>>()));
        services.AddSingleton<RuntimeCatalog>();
        services.TryAddSingleton<IPackageSource, GrainPackageSource>();
        services.AddSingleton<CodeCache>();
        services.AddSingleton<FunctionMetrics>();
        services.AddSingleton<IAsyncInvocationMetrics>(sp => sp.GetRequiredService<FunctionMetrics>());
        services.AddSingleton<FunctionResolver>();
        services.AddSingleton(sp => new FunctionConcurrency(
            sp.GetRequiredService<IGrainFactory>(),
            sp.GetRequiredService<ILogger<FunctionConcurrency>>(),
            sp.GetRequiredService<IOptions<FunctionsOptions>>().Value.InitTimeout)); // a lease covers a cold start too
        services.AddSingleton<FunctionPool>();
        services.AddHostedService(sp => sp.GetRequiredService<FunctionPool>());
        services.AddSingleton<IFunctionInvoker>(sp => sp.GetRequiredService<FunctionPool>());
        services.AddSingleton<IExecutionEnvironmentFactory>(sp => sp.GetRequiredService<FunctionPool>().Factory);
        services.AddSingleton<IFunctionDirectory>(sp => sp.GetRequiredService<FunctionResolver>());
        services.AddSingleton<FunctionDeployer>();
        services.AddSingleton<BindingCache>();
        services.AddHostedService(sp => sp.GetRequiredService<BindingCache>());
        services.AddHostedService<TempFolderJanitor>();
        return services;
    }
}

/// <summary>Empties the scratch root at start: environments of a previous run are gone with it.</summary>
internal sealed class TempFolderJanitor(IOptions<FunctionsOptions> options) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var root = Path.GetFullPath(options.Value.TempPath);
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        Directory.CreateDirectory(root);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
