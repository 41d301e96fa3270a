namespace Fleet.Grains.Outbound;

/// <summary>A token bucket: <see cref="PermitsPerSecond"/> replenished continuously, at most <see cref="Burst"/> saved up.</summary>
[GenerateSerializer, Immutable]
public sealed record RateLimit([property: Id(0)] double PermitsPerSecond, [property: Id(1)] int Burst);

/// <summary>What a lease request got: permits now, or how long to wait before asking again.</summary>
[GenerateSerializer, Immutable]
public readonly record struct PermitGrant([property: Id(0)] int Permits, [property: Id(1)] TimeSpan RetryAfter);
