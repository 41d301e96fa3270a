namespace Fleet.Gateways.Outbound;

/// <summary>The outcome of one send attempt.</summary>
public readonly record struct SendResult(bool Delivered, bool Retryable, bool Throttled, TimeSpan? RetryAfter, string? Error)
{
    public static SendResult Ok => new(true, false, false, null, null);

    /// <summary>429: the downstream asks us to slow down (optionally for <paramref name="retryAfter"/>).</summary>
    public static SendResult Throttle(TimeSpan? retryAfter, string error) => new(false, true, true, retryAfter, error);

    /// <summary>A transient failure (5xx, timeout, connection error): worth retrying.</summary>
    public static SendResult Transient(string error, TimeSpan? retryAfter = null) => new(false, true, false, retryAfter, error);

    /// <summary>A failure that retrying will not fix (4xx other than 408/429).</summary>
    public static SendResult Permanent(string error) => new(false, false, false, null, error);
}
