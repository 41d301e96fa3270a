using System.ComponentModel.DataAnnotations;

namespace Fleet.Grains.Functions;

/// <summary>Asynchronous invocation (<c>X-Invocation-Type: Event</c>), section <c>Functions:Async</c>.</summary>
public sealed class AsyncInvocationOptions
{
    public const string Section = "Functions:Async";

    /// <summary>Retries after a function error (Lambda's default and maximum: 2).</summary>
    [Range(0, 2)]
    public int MaxRetries { get; set; } = 2;

    /// <summary>The wait before the first retry; the second waits twice as long (Lambda: 1 minute, then 2).</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often an unfinished event's durable reminder checks it after a silo failure (Orleans' minimum: 1 minute unless lowered).</summary>
    public TimeSpan ResumePeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The oldest an event may be when it is (re)tried, after a throttle or a function error (Lambda's
    /// MaximumEventAgeInSeconds: 60 s to 6 hours, default 6 hours).
    /// </summary>
    [Range(typeof(TimeSpan), "00:01:00", "06:00:00")]
    public TimeSpan MaxEventAge { get; set; } = TimeSpan.FromHours(6);

    /// <summary>
    /// How long a finished event's outcome stays fetchable (<c>GET /invocations/{id}</c>); then it is deleted from
    /// storage by the same durable reminder, so records do not pile up.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "365.00:00:00")]
    public TimeSpan OutcomeRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// The region in the function ARNs this platform writes (the <c>functionArn</c> of a destination's invocation record, a
    /// function context's <c>InvokedFunctionArn</c>).
    /// There is one platform and no regions: the emulator convention <c>us-east-1</c> by default.
    /// </summary>
    [RegularExpression(@"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
    public string ArnRegion { get; set; } = "us-east-1";

    /// <summary>The 12-digit account in the function ARNs this platform writes (the emulator convention: all zeros).</summary>
    [RegularExpression(@"^\d{12}$")]
    public string ArnAccount { get; set; } = "000000000000";
}
