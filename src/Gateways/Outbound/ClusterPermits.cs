using Fleet.Grains.Outbound;

namespace Fleet.Gateways.Outbound;

/// <summary>
/// This silo's side of a target's cluster-wide token bucket: leases small batches of permits from the
/// target's <see cref="IRateLimitGrain"/> (about 50 ms worth at a time) and hands them out one per attempt.
/// Leased permits expire after a second, so a silo cannot hoard them and burst past the rate later.
/// </summary>
public sealed class ClusterPermits(IGrainFactory grains, string target, RateLimit limit)
{
    private static readonly TimeSpan LeaseLifetime = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly int _leaseSize = Math.Max(1, (int)(limit.PermitsPerSecond * 0.05));
    private int _local;
    private long _expiresAt;

    public RateLimit Limit => limit;

    public async ValueTask AcquireAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryTakeLocal()) return;
            await _gate.WaitAsync(cancellationToken);
            try
            {
                if (TryTakeLocal()) return;
                var grant = await grains.GetGrain<IRateLimitGrain>(target).Acquire(_leaseSize, limit);
                if (grant.Permits > 0)
                {
                    Volatile.Write(ref _expiresAt, Environment.TickCount64 + (long)LeaseLifetime.TotalMilliseconds);
                    Interlocked.Exchange(ref _local, grant.Permits - 1); // one for this caller
                    return;
                }

                await Task.Delay(grant.RetryAfter, cancellationToken);
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    /// <summary>
    /// The downstream said 429: this silo drops the permits it holds, and the cluster's bucket grants none to any silo
    /// for <paramref name="wait"/>, so the other silos back off too instead of spending their attempts on more 429s.
    /// </summary>
    public async Task PauseAsync(TimeSpan wait)
    {
        Interlocked.Exchange(ref _local, 0);
        await grains.GetGrain<IRateLimitGrain>(target).Pause(wait);
    }

    private bool TryTakeLocal()
    {
        if (Environment.TickCount64 > Volatile.Read(ref _expiresAt))
        {
            Interlocked.Exchange(ref _local, 0);
            return false;
        }

        while (true)
        {
            var current = Volatile.Read(ref _local);
            if (current <= 0) return false;
            if (Interlocked.CompareExchange(ref _local, current - 1, current) == current) return true;
        }
    }
}
