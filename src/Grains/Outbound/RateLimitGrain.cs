using System.Threading.RateLimiting;

namespace Fleet.Grains.Outbound;

/// <summary>Holds a <see cref="TokenBucketRateLimiter"/> per target; one activation serves the cluster.</summary>
public sealed class RateLimitGrain : Grain, IRateLimitGrain, IDisposable
{
    private TokenBucketRateLimiter? _limiter;
    private RateLimit? _limit;

    public Task<PermitGrant> Acquire(int wanted, RateLimit limit)
    {
        if (_limiter is null || _limit != limit)
        {
            _limiter?.Dispose();
            _limit = limit;
            // Replenish every 10 ms (or per token when slower) so grants stay smooth at any rate.
            var period = TimeSpan.FromMilliseconds(Math.Max(10, 1000.0 / limit.PermitsPerSecond));
            var perPeriod = Math.Max(1, (int)Math.Round(limit.PermitsPerSecond * period.TotalSeconds));
            _limiter = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = Math.Max(1, limit.Burst),
                TokensPerPeriod = perPeriod,
                ReplenishmentPeriod = period,
                AutoReplenishment = true,
                QueueLimit = 0,
            });
        }

        wanted = Math.Clamp(wanted, 1, Math.Max(1, limit.Burst));
        var available = (int)Math.Min(wanted, _limiter.GetStatistics()?.CurrentAvailablePermits ?? 0);
        if (available > 0)
        {
            using var lease = _limiter.AttemptAcquire(available);
            if (lease.IsAcquired)
            {
                return Task.FromResult(new PermitGrant(available, TimeSpan.Zero));
            }
        }

        var retryAfter = TimeSpan.FromMilliseconds(Math.Max(5, 1000.0 / limit.PermitsPerSecond));
        return Task.FromResult(new PermitGrant(0, retryAfter));
    }

    public void Dispose() => _limiter?.Dispose();
}
