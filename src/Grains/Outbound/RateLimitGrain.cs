using System.Threading.RateLimiting;

namespace Fleet.Grains.Outbound;

/// <summary>Holds a <see cref="TokenBucketRateLimiter"/> per target; one activation serves the cluster.</summary>
public sealed class RateLimitGrain(TimeProvider time) : Grain, IRateLimitGrain, IDisposable
{
    private TokenBucketRateLimiter? _limiter;
    private RateLimit? _limit;
    private DateTimeOffset _pausedUntil;

    public Task Pause(TimeSpan wait)
    {
        var until = time.GetUtcNow() + wait;
        if (until > _pausedUntil) _pausedUntil = until;
        return Task.CompletedTask;
    }

    public Task<PermitGrant> Acquire(int wanted, RateLimit limit)
    {
        var paused = _pausedUntil - time.GetUtcNow();
        if (paused > TimeSpan.Zero) return Task.FromResult(new PermitGrant(0, paused));

        if (_limiter is null || _limit != limit)
        {
            // A changed limit (silos with different settings during a rolling change) keeps the tokens left, not a full
            // bucket: two limits asked for in turn must not refill the bucket at every call.
            var left = _limiter?.GetStatistics()?.CurrentAvailablePermits;
            _limiter?.Dispose();
            _limit = limit;
            var (perPeriod, period) = Replenishment(limit.PermitsPerSecond);
            var tokenLimit = Math.Max(1, limit.Burst);
            _limiter = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = tokenLimit,
                TokensPerPeriod = perPeriod,
                ReplenishmentPeriod = period,
                AutoReplenishment = true,
                QueueLimit = 0,
            });
            if (left is { } l && l < tokenLimit) _limiter.AttemptAcquire((int)(tokenLimit - Math.Max(0, l))).Dispose();
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

    /// <summary>
    /// Whole tokens per whole-millisecond period (the limiter's timer ticks in milliseconds) whose rate comes
    /// closest to <paramref name="rate"/> without exceeding it, with periods of about 10 to 50 ms (or one token
    /// per period when slower) so grants stay smooth. Rounding tokens per a fixed 10 ms instead would run
    /// e.g. 150/s at 200/s.
    /// </summary>
    internal static (int Tokens, TimeSpan Period) Replenishment(double rate)
    {
        var bestTokens = 1;
        var bestMs = Math.Max(1L, (long)Math.Ceiling(1000.0 / rate));
        var bestRate = 1000.0 / bestMs;
        var most = Math.Max(1, (int)Math.Min(rate / 20.0, int.MaxValue));
        for (var tokens = Math.Max(1, (int)Math.Min(Math.Ceiling(rate / 100.0), int.MaxValue)); tokens <= most; tokens++)
        {
            var ms = Math.Max(1L, (long)Math.Ceiling(tokens * 1000.0 / rate));
            var r = tokens * 1000.0 / ms;
            if (r > bestRate)
            {
                (bestTokens, bestMs, bestRate) = (tokens, ms, r);
            }
        }

        return (bestTokens, TimeSpan.FromMilliseconds(bestMs));
    }

    public void Dispose() => _limiter?.Dispose();
}
