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
    TimeSpan AttemptTimeout)
{
    public static OutboundPolicy From(OutboundTargetOptions o) => new(
        new RateLimit(o.RatePerSecond, o.Burst),
        o.QueueCapacity,
        o.MaxConcurrency,
        o.MaxAttempts,
        o.RetryDelay,
        o.MaxRetryDelay,
        o.AttemptTimeout);
}
