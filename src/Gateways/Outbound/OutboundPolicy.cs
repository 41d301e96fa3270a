using Fleet.Grains.Outbound;

namespace Fleet.Gateways.Outbound;

/// <summary>How a target is protected and retried: a small immutable record built from its options.</summary>
public sealed record OutboundPolicy(
    RateLimit Rate,
    int QueueCapacity,
    int MaxConcurrency,
    int MaxAttempts,
    TimeSpan RetryDelay,
    TimeSpan MaxRetryDelay,
    TimeSpan AttemptTimeout,
    TimeSpan DeadLetterStoreTimeout)
{
    /// <summary>
    /// How long a redrive holds its letters: well over what an item can take here (a full queue drained at a quarter of
    /// the cluster's rate, as when four silos share it, then every attempt timing out after the longest backoff, plus
    /// 5 minutes for pauses), so no second redrive sends them meanwhile; at most a day. A lease that still runs out
    /// costs a duplicate delivery (the same id), never a lost letter.
    /// </summary>
    public TimeSpan RedriveLease
    {
        get
        {
            var seconds = 4 * QueueCapacity / Rate.PermitsPerSecond + MaxAttempts * (AttemptTimeout + MaxRetryDelay).TotalSeconds + 300;
            return TimeSpan.FromSeconds(Math.Min(seconds, TimeSpan.FromDays(1).TotalSeconds));
        }
    }

    public static OutboundPolicy From(OutboundTargetOptions o) => new(
        new RateLimit(o.RatePerSecond, o.Burst),
        o.QueueCapacity,
        o.MaxConcurrency,
        o.MaxAttempts,
        o.RetryDelay,
        o.MaxRetryDelay,
        o.AttemptTimeout,
        o.DeadLetterStoreTimeout);
}
