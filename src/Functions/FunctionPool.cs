using System.Collections.Concurrent;
using Fleet.Grains.Functions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fleet.Functions.Hosting;

/// <summary>
/// The silo's pool of stateless execution environments, for invocations not tied to a sensor: direct
/// invocation over HTTP, asynchronous events, and functions calling functions. Like Lambda, an
/// invocation takes a warm idle environment of its version or cold-starts a new one, so concurrency
/// grows with demand; a function's reserved concurrency and the pool's size bound it (beyond them,
/// <see cref="InvocationErrorKind.Throttled"/>). Idle environments are reclaimed after
/// <see cref="FunctionsOptions.PoolIdleTimeout"/>; broken ones (timeout, memory limit) at once.
/// </summary>
public sealed class FunctionPool : IFunctionInvoker, IHostedService, IAsyncDisposable
{
    private readonly FunctionResolver _resolver;
    private readonly ExecutionEnvironmentFactory _factory;
    private readonly FunctionMetrics _metrics;
    private readonly FunctionsOptions _options;
    private readonly ILogger<FunctionPool> _logger;
    private readonly ConcurrentDictionary<string, ConcurrentStack<IExecutionEnvironment>> _idle = new();
    private readonly ConcurrentDictionary<string, int> _running = new();
    private int _environments;
    private Timer? _sweeper;

    public FunctionPool(
        FunctionResolver resolver,
        RuntimeCatalog runtimes,
        CodeCache code,
        FunctionMetrics metrics,
        IOptions<FunctionsOptions> options,
        ILoggerFactory loggers)
    {
        _resolver = resolver;
        _metrics = metrics;
        _options = options.Value;
        _logger = loggers.CreateLogger<FunctionPool>();
        _factory = new ExecutionEnvironmentFactory(runtimes, code, options, loggers, this);
    }

    /// <summary>The factory sensor grains use: its environments call other functions through this pool.</summary>
    public ExecutionEnvironmentFactory Factory => _factory;

    /// <summary>Environments alive in the pool now (busy or idle).</summary>
    public int Environments => Volatile.Read(ref _environments);

    public async Task<InvocationResult> InvokeAsync(string function, InvocationRequest request, CancellationToken cancellationToken)
    {
        var (resolved, alias, missing) = await _resolver.ResolveAsync(function);
        if (resolved is null)
            return InvocationResult.Failed(request.RequestId, InvocationErrorKind.NotFound, "ResourceNotFoundException", missing!, FunctionResolver.Split(function).Name);
        return await InvokeAsync(resolved, request with { InvokedAlias = alias ?? request.InvokedAlias }, cancellationToken);
    }

    public async Task<InvocationResult> InvokeAsync(ResolvedFunction function, InvocationRequest request, CancellationToken cancellationToken)
    {
        var reserved = function.Configuration.ReservedConcurrency;
        var running = _running.AddOrUpdate(function.Name, 1, static (_, n) => n + 1);
        try
        {
            if (reserved is { } limit && running > limit)
                return Throttle(function, request, "ReservedFunctionConcurrentInvocationLimitExceeded", $"function '{function.Name}' has {limit} reserved concurrency, all in use");
            var environment = Take(function);
            if (environment is null)
                return Throttle(function, request, "ConcurrentInvocationLimitExceeded", $"this silo runs at most {_options.MaxPoolEnvironments} pooled environments");
            InvocationResult result;
            try
            {
                cancellationToken.ThrowIfCancellationRequested();
                result = await environment.InvokeAsync(request);
            }
            catch
            {
                Discard(environment);
                throw;
            }

            Return(environment);
            _metrics.Record(function.Name, result);
            return result;
        }
        finally
        {
            _running.AddOrUpdate(function.Name, 0, static (_, n) => n - 1);
        }
    }

    private InvocationResult Throttle(ResolvedFunction function, InvocationRequest request, string reason, string message)
    {
        var result = InvocationResult.Failed(request.RequestId, InvocationErrorKind.Throttled, reason, message, function.Name, function.Version);
        _metrics.Record(function.Name, result);
        return result;
    }

    private IExecutionEnvironment? Take(ResolvedFunction function)
    {
        if (_idle.TryGetValue(function.Key, out var stack) && stack.TryPop(out var warm)) return warm;
        if (Interlocked.Increment(ref _environments) > _options.MaxPoolEnvironments)
        {
            Interlocked.Decrement(ref _environments);
            return null;
        }

        return _factory.Create(function, "pool");
    }

    private void Return(IExecutionEnvironment environment)
    {
        if (environment.IsBroken)
        {
            Discard(environment);
            return;
        }

        _idle.GetOrAdd(environment.Function.Key, static _ => new ConcurrentStack<IExecutionEnvironment>()).Push(environment);
    }

    private void Discard(IExecutionEnvironment environment)
    {
        Interlocked.Decrement(ref _environments);
        _ = Task.Run(async () =>
        {
            try
            {
                await environment.DisposeAsync();
            }
            catch (Exception ex)
            {
                _logger.LogWarning(ex, "Disposing an environment of {Function} failed", environment.Function.Key);
            }
        });
    }

    /// <summary>Disposes idle environments unused for <paramref name="idleFor"/>; returns how many.</summary>
    public async Task<int> ReclaimIdleAsync(TimeSpan idleFor)
    {
        var cutoff = DateTime.UtcNow - idleFor;
        var reclaimed = new List<IExecutionEnvironment>();
        foreach (var (key, stack) in _idle)
        {
            var keep = new List<IExecutionEnvironment>();
            while (stack.TryPop(out var environment))
            {
                if (environment is ExecutionEnvironment { LastUsedUtc: var used } && used > cutoff) keep.Add(environment);
                else reclaimed.Add(environment);
            }

            if (keep.Count > 0) stack.PushRange(keep.ToArray());
            else _idle.TryRemove(new(key, stack));
        }

        foreach (var environment in reclaimed)
        {
            Interlocked.Decrement(ref _environments);
            await environment.DisposeAsync();
        }

        return reclaimed.Count;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var period = TimeSpan.FromSeconds(Math.Clamp(_options.PoolIdleTimeout.TotalSeconds / 4, 1, 30));
        _sweeper = new Timer(_ => _ = ReclaimIdleAsync(_options.PoolIdleTimeout), null, period, period);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_sweeper is not null) await _sweeper.DisposeAsync();
        await ReclaimIdleAsync(TimeSpan.Zero);
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);
}
