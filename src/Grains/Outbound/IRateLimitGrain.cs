namespace Fleet.Grains.Outbound;

/// <summary>
/// The one token bucket of an outbound target (key: target name) for the whole cluster: every silo
/// leases its permits here, so the target's rate holds however many silos send to it.
/// </summary>
public interface IRateLimitGrain : IGrainWithStringKey
{
    /// <summary>Grants up to <paramref name="wanted"/> permits under <paramref name="limit"/>.</summary>
    Task<PermitGrant> Acquire(int wanted, RateLimit limit);

    /// <summary>
    /// The downstream throttled a silo (429): no silo gets a permit for <paramref name="wait"/> (a longer pause already
    /// running is kept). Grants meanwhile are 0 with the time left as their retry-after.
    /// </summary>
    Task Pause(TimeSpan wait);
}
