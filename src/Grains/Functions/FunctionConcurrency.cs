using Microsoft.Extensions.Logging;

namespace Fleet.Grains.Functions;

/// <summary>
/// One function's invocations in flight across the cluster (keyed by the function's name), for its reserved
/// concurrency: a permit per running invocation, each a lease that expires on its own, so the permits of a silo that
/// died mid-invocation come back after the lease instead of never. Held in memory only: counts of running invocations
/// mean nothing after a restart (at worst, a counter lost with its silo admits up to the limit again at once).
/// </summary>
public interface IFunctionConcurrencyGrain : IGrainWithStringKey
{
    /// <summary>Takes a permit named <paramref name="lease"/> for <paramref name="duration"/> unless <paramref name="limit"/> are in use.</summary>
    Task<bool> TryAcquire(string lease, int limit, TimeSpan duration);

    Task Release(string lease);

    /// <summary>Permits held now (expired leases not counted).</summary>
    Task<int> InUse();
}

public sealed class FunctionConcurrencyGrain(TimeProvider time) : Grain, IFunctionConcurrencyGrain
{
    private readonly Dictionary<string, DateTime> _leases = new(StringComparer.Ordinal);

    public Task<bool> TryAcquire(string lease, int limit, TimeSpan duration)
    {
        var now = time.GetUtcNow().UtcDateTime;
        Expire(now);
        if (_leases.Count >= limit && !_leases.ContainsKey(lease)) return Task.FromResult(false);
        _leases[lease] = now + duration;
        KeepAlive(now); // the count must outlive the invocations it counts
        return Task.FromResult(true);
    }

    public Task Release(string lease)
    {
        _leases.Remove(lease);
        KeepAlive(time.GetUtcNow().UtcDateTime);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Active until the latest lease ends: DelayDeactivation sets the keep-alive (it does not extend it), so a short lease
    /// taken after a long one must not cut the long one's keep-alive short.
    /// </summary>
    private void KeepAlive(DateTime now)
    {
        if (_leases.Count == 0) return;
        var latest = _leases.Values.Max();
        if (latest > now) DelayDeactivation(latest - now);
    }

    public Task<int> InUse()
    {
        Expire(time.GetUtcNow().UtcDateTime);
        return Task.FromResult(_leases.Count);
    }

    private void Expire(DateTime now)
    {
        if (_leases.Count == 0) return;
        List<string>? expired = null;
        foreach (var (lease, until) in _leases)
        {
            if (until <= now) (expired ??= []).Add(lease);
        }

        if (expired is null) return;
        foreach (var lease in expired) _leases.Remove(lease);
    }
}

/// <summary>Whether an invocation may run under its function's reserved concurrency, and the permit to give back.</summary>
public readonly record struct ConcurrencyAdmission(InvocationError? Refusal, string? Lease)
{
    public bool Admitted => Refusal is null;
}

/// <summary>
/// Lambda's reserved concurrency, counted across the cluster: a function-level limit (every version and alias of the
/// function together, pooled and sensor-bound invocations alike). A function without a limit costs nothing here (no
/// call); 0 throttles without a call; a limit above 0 takes a permit from the function's
/// <see cref="IFunctionConcurrencyGrain"/> before the invocation and gives it back after.
/// </summary>
public sealed class FunctionConcurrency(IGrainFactory grains, ILogger<FunctionConcurrency> logger, TimeSpan? initTimeout = null)
{
    public const string ThrottleReason = "ReservedFunctionConcurrentInvocationLimitExceeded";

    /// <summary>
    /// Added to an invocation's timeout (and to the cold start's limit) for its lease: a permit outlives the invocation
    /// only if the silo died.
    /// </summary>
    public static readonly TimeSpan LeaseGrace = TimeSpan.FromSeconds(30);

    private readonly TimeSpan _initTimeout = initTimeout ?? TimeSpan.Zero;

    private static readonly ConcurrencyAdmission Unlimited = new(null, null);

    /// <summary>Admits an invocation of <paramref name="function"/> that may run for up to <paramref name="timeout"/>.</summary>
    public async ValueTask<ConcurrencyAdmission> TryAcquireAsync(ResolvedFunction function, TimeSpan timeout)
    {
        if (function.ReservedConcurrency is not { } limit) return Unlimited;
        if (limit <= 0) return new(Refusal(function.Name, limit), null);
        var lease = Guid.NewGuid().ToString("n");
        try
        {
            return await grains.GetGrain<IFunctionConcurrencyGrain>(function.Name).TryAcquire(lease, limit, _initTimeout + timeout + LeaseGrace)
                ? new(null, lease)
                : new(Refusal(function.Name, limit), null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "The concurrency counter of {Function} could not be reached; the invocation is throttled", function.Name);
            return new(Throttled($"function '{function.Name}' has {limit} reserved concurrency and its counter could not be reached: {ex.Message}"), null);
        }
    }

    /// <summary>Gives the permit back (a failure only delays it to the lease's end).</summary>
    public async ValueTask ReleaseAsync(ResolvedFunction function, ConcurrencyAdmission admission)
    {
        if (admission.Lease is not { } lease) return;
        try
        {
            await grains.GetGrain<IFunctionConcurrencyGrain>(function.Name).Release(lease);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Releasing a concurrency permit of {Function} failed; it expires with its lease", function.Name);
        }
    }

    /// <summary>The throttle of a function whose <paramref name="limit"/> is reached (0: the function is turned off).</summary>
    public static InvocationError Refusal(string function, int limit) => Throttled(limit <= 0
        ? $"function '{function}' has 0 reserved concurrency: every invocation is throttled"
        : $"function '{function}' has {limit} reserved concurrency, all in use");

    private static InvocationError Throttled(string message) => new(InvocationErrorKind.Throttled, ThrottleReason, message);
}
