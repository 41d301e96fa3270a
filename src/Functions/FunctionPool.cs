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
/// grows with demand; a function's reserved concurrency (counted across the cluster by
/// <see cref="FunctionConcurrency"/>) and the pool's size bound it (beyond them, <see cref="InvocationErrorKind.Throttled"/>). Idle environments are reclaimed after
/// <see cref="FunctionsOptions.PoolIdleTimeout"/>; broken ones (timeout, memory limit) at once.
/// </summary>
public sealed class FunctionPool : IFunctionInvoker, IHostedService, IAsyncDisposable
{
    private readonly FunctionResolver _resolver;
    private readonly ExecutionEnvironmentFactory _factory;
    private readonly FunctionMetrics _metrics;
    private readonly FunctionsOptions _options;
    private readonly ILogger<FunctionPool> _logger;
    private readonly FunctionConcurrency? _concurrency;
    // Idle environments by version key, each with when it was returned; one lock guards them and the count
    // (invocations are not the hot path, and take/return are a few instructions under it).
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Stack<(IExecutionEnvironment Environment, DateTime ReturnedUtc)>> _idle = new();
    private readonly ConcurrentDictionary<string, int> _running = new();
    private int _environments;
    private Timer? _sweeper;

    public FunctionPool(
        FunctionResolver resolver,
        RuntimeCatalog runtimes,
        CodeCache code,
        FunctionMetrics metrics,
        IOptions<FunctionsOptions> options,
        ILoggerFactory loggers,
        FunctionConcurrency? concurrency = null,
        IOptions<AsyncInvocationOptions>? arns = null)
    {
        _resolver = resolver;
        _concurrency = concurrency;
        _metrics = metrics;
        _options = options.Value;
        _logger = loggers.CreateLogger<FunctionPool>();
        _factory = new ExecutionEnvironmentFactory(runtimes, code, options, loggers, this, arns?.Value);
    }

    /// <summary>The factory sensor grains use: its environments call other functions through this pool.</summary>
    public ExecutionEnvironmentFactory Factory => _factory;

    /// <summary>Environments alive in the pool now (busy or idle).</summary>
    public int Environments
    {
        get
        {
            lock (_gate) return _environments;
        }
    }

    public async Task<InvocationResult> InvokeAsync(string function, InvocationRequest request, CancellationToken cancellationToken)
    {
        var (resolved, alias, missing) = await _resolver.ResolveAsync(function);
        if (resolved is null)
            return InvocationResult.Failed(request.RequestId, InvocationErrorKind.NotFound, "ResourceNotFoundException", missing!, FunctionDefinition.Split(function).Name);
        return await InvokeAsync(
            resolved,
            request with { InvokedAlias = alias ?? request.InvokedAlias, InvokedQualifier = request.InvokedQualifier ?? NonEmpty(FunctionDefinition.Split(function).Qualifier) },
            cancellationToken);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    public async Task<InvocationResult> InvokeAsync(ResolvedFunction function, InvocationRequest request, CancellationToken cancellationToken)
    {
        // Reserved concurrency is the function's, counted across the cluster (every version, pooled and sensor-bound
        // invocations together). This silo's own count is a lower bound of it: beyond the limit here, throttle without asking.
        var reserved = function.ReservedConcurrency;
        if (reserved is null) return await RunAsync(function, request, cancellationToken);
        var running = _running.AddOrUpdate(function.Name, 1, static (_, n) => n + 1);
        try
        {
            if (running > reserved)
            {
                var refused = FunctionConcurrency.Refusal(function.Name, reserved.Value);
                return Throttle(function, request, refused.Type, refused.Message);
            }

            // No cluster counter (the pool on its own): this silo's count is the count.
            if (_concurrency is null) return await RunAsync(function, request, cancellationToken);

            var timeout = request.TimeoutMs is { } ms ? TimeSpan.FromMilliseconds(Math.Min(ms, function.Configuration.Timeout.TotalMilliseconds)) : function.Configuration.Timeout;
            var admission = await _concurrency.TryAcquireAsync(function, timeout);
            if (admission.Refusal is { } refusal) return Throttle(function, request, refusal.Type, refusal.Message);
            try
            {
                return await RunAsync(function, request, cancellationToken);
            }
            finally
            {
                await _concurrency.ReleaseAsync(function, admission);
            }
        }
        finally
        {
            _running.AddOrUpdate(function.Name, 0, static (_, n) => n - 1);
        }
    }

    private async Task<InvocationResult> RunAsync(ResolvedFunction function, InvocationRequest request, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested(); // before taking: a cancelled caller costs no environment
        var environment = Take(function);
        if (environment is null)
            return Throttle(function, request, "ConcurrentInvocationLimitExceeded", $"this silo runs at most {_options.MaxPoolEnvironments} pooled environments");
        InvocationResult result;
        try
        {
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

    private InvocationResult Throttle(ResolvedFunction function, InvocationRequest request, string reason, string message)
    {
        var result = InvocationResult.Failed(request.RequestId, InvocationErrorKind.Throttled, reason, message, function.Name, function.Version);
        _metrics.Record(function.Name, result);
        return result;
    }

    /// <summary>A warm idle environment of this version, or a new one; at the pool's size the least recently used idle one makes room.</summary>
    private IExecutionEnvironment? Take(ResolvedFunction function)
    {
        IExecutionEnvironment? evicted = null;
        lock (_gate)
        {
            if (_idle.TryGetValue(function.Key, out var stack) && stack.TryPop(out var warm))
            {
                if (stack.Count == 0) _idle.Remove(function.Key);
                return warm.Environment;
            }

            if (_environments >= _options.MaxPoolEnvironments)
            {
                evicted = EvictLeastRecentlyUsed();
                if (evicted is null) return null; // every environment is busy
            }
            else
            {
                _environments++;
            }
        }

        if (evicted is not null) DisposeLater(evicted);
        return _factory.Create(function, "pool");
    }

    // Under _gate: removes the idle environment returned longest ago (its slot passes to the caller).
    private IExecutionEnvironment? EvictLeastRecentlyUsed()
    {
        string? oldestKey = null;
        var oldest = DateTime.MaxValue;
        foreach (var (key, stack) in _idle)
        {
            foreach (var (_, returned) in stack)
            {
                if (returned < oldest) (oldest, oldestKey) = (returned, key);
            }
        }

        if (oldestKey is null) return null;
        var items = _idle[oldestKey].Where(e => e.ReturnedUtc != oldest).Reverse().ToList();
        var victim = _idle[oldestKey].First(e => e.ReturnedUtc == oldest).Environment;
        if (items.Count == 0) _idle.Remove(oldestKey);
        else _idle[oldestKey] = new Stack<(IExecutionEnvironment, DateTime)>(items);
        return victim;
    }

    private void Return(IExecutionEnvironment environment)
    {
        if (environment.IsBroken)
        {
            Discard(environment);
            return;
        }

        lock (_gate)
        {
            if (!_idle.TryGetValue(environment.Function.Key, out var stack)) _idle[environment.Function.Key] = stack = new();
            stack.Push((environment, DateTime.UtcNow));
        }
    }

    private void Discard(IExecutionEnvironment environment)
    {
        lock (_gate) _environments--;
        DisposeLater(environment);
    }

    private void DisposeLater(IExecutionEnvironment environment)
        => _ = Task.Run(async () =>
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

    /// <summary>Disposes idle environments unused for <paramref name="idleFor"/>; returns how many.</summary>
    public async Task<int> ReclaimIdleAsync(TimeSpan idleFor)
    {
        var cutoff = DateTime.UtcNow - idleFor;
        var reclaimed = new List<IExecutionEnvironment>();
        lock (_gate)
        {
            foreach (var key in _idle.Keys.ToArray())
            {
                var stack = _idle[key];
                var keep = stack.Where(e => e.ReturnedUtc > cutoff).Reverse().ToList();
                reclaimed.AddRange(stack.Where(e => e.ReturnedUtc <= cutoff).Select(e => e.Environment));
                if (keep.Count == 0) _idle.Remove(key);
                else if (keep.Count != stack.Count) _idle[key] = new Stack<(IExecutionEnvironment, DateTime)>(keep);
            }

            _environments -= reclaimed.Count;
        }

        foreach (var environment in reclaimed) await environment.DisposeAsync();
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
