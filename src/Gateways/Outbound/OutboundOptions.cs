using System.ComponentModel.DataAnnotations;

namespace Fleet.Gateways.Outbound;

public enum OutboundKind
{
    /// <summary>Republish to the embedded broker, topic {AlertTopicPrefix}/{sensorId}.</summary>
    Mqtt,

    /// <summary>HTTP POST of the anomaly as JSON to <see cref="OutboundTargetOptions.Url"/>.</summary>
    Webhook,

    /// <summary>A row per anomaly in a PostgreSQL table (<see cref="OutboundTargetOptions.ConnectionString"/>, <see cref="OutboundTargetOptions.Table"/>).</summary>
    Postgres,
}

/// <summary>One outbound target. Configure under Outbound:Targets:{name}.</summary>
public sealed class OutboundTargetOptions
{
    public OutboundKind Kind { get; set; } = OutboundKind.Webhook;

    /// <summary>Webhook URL (Webhook targets only).</summary>
    public Uri? Url { get; set; }

    /// <summary>PostgreSQL connection string (Postgres targets only), e.g. <c>Host=db;Username=fleet;Password=...;Database=fleet</c>.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>The table anomalies are written to (Postgres targets only): <c>name</c> or <c>schema.name</c>.</summary>
    public string Table { get; set; } = "fleet_anomalies";

    /// <summary>
    /// Create the table on the first send when it is missing (Postgres targets only). Off: the table must exist, and
    /// the sink's database user needs nothing but INSERT on it.
    /// </summary>
    public bool CreateTable { get; set; } = true;

    public bool Enabled { get; set; } = true;

    /// <summary>Cluster-wide sustained rate (token bucket refill).</summary>
    [Range(0.01, 1_000_000)]
    public double RatePerSecond { get; set; } = 50;

    /// <summary>Cluster-wide burst (token bucket size).</summary>
    [Range(1, 1_000_000)]
    public int Burst { get; set; } = 50;

    /// <summary>Items waiting per silo; when full, new items are dead-lettered (reason queue_full), never dropped.</summary>
    [Range(1, 10_000_000)]
    public int QueueCapacity { get; set; } = 10_000;

    /// <summary>Sends in flight at once per silo.</summary>
    [Range(1, 1024)]
    public int MaxConcurrency { get; set; } = 8;

    /// <summary>Attempts in all (1 = no retry) before an item is dead-lettered.</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 6;

    /// <summary>First retry delay; doubles per attempt, with jitter, capped at <see cref="MaxRetryDelay"/>. Retry-After wins.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Timeout of one attempt.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a dead letter's write is retried while the dead-letter store is unavailable; after that the item is
    /// counted lost and logged whole.
    /// </summary>
    public TimeSpan DeadLetterStoreTimeout { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>Section "Outbound": the targets anomalies are sent to, by name.</summary>
public sealed class OutboundOptions
{
    public const string Section = "Outbound";

    public Dictionary<string, OutboundTargetOptions> Targets { get; set; } = new(StringComparer.OrdinalIgnoreCase)
    {
        ["mqtt-alerts"] = new() { Kind = OutboundKind.Mqtt, RatePerSecond = 200, Burst = 200 },
    };

    private static readonly TimeSpan MaxWait = TimeSpan.FromDays(1);

    private static string? ConnectionStringError(string connectionString)
    {
        try
        {
            var parsed = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
            return string.IsNullOrEmpty(parsed.Host) ? "it names no Host" : null;
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }
    }

    public static IEnumerable<string> Validate(OutboundOptions options)
    {
        foreach (var (name, target) in options.Targets)
        {
            if (string.IsNullOrWhiteSpace(name) || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_')))
                yield return $"Outbound:Targets: '{name}' is not a valid target name ([A-Za-z0-9_-])";
            if (target.Kind == OutboundKind.Webhook && target.Enabled
                && (target.Url is null || !target.Url.IsAbsoluteUri || target.Url.Scheme is not ("http" or "https")))
                yield return $"Outbound:Targets:{name}: a webhook needs an absolute http or https Url";
            if (target.Kind == OutboundKind.Postgres && target.Enabled)
            {
                if (string.IsNullOrWhiteSpace(target.ConnectionString))
                    yield return $"Outbound:Targets:{name}: a Postgres target needs a ConnectionString";
                else if (ConnectionStringError(target.ConnectionString) is { } error)
                    yield return $"Outbound:Targets:{name}: the ConnectionString is not valid: {error}";
                if (!PostgresSender.IsTableName(target.Table))
                    yield return $"Outbound:Targets:{name}: Table '{target.Table}' must be name or schema.name (letters, digits and _, not starting with a digit)";
            }
            if (target.RetryDelay <= TimeSpan.Zero || target.MaxRetryDelay < target.RetryDelay)
                yield return $"Outbound:Targets:{name}: RetryDelay must be positive and not above MaxRetryDelay";
            if (target.AttemptTimeout <= TimeSpan.Zero)
                yield return $"Outbound:Targets:{name}: AttemptTimeout must be positive";
            if (target.DeadLetterStoreTimeout <= TimeSpan.Zero)
                yield return $"Outbound:Targets:{name}: DeadLetterStoreTimeout must be positive";
            // Beyond a day a wait is a misconfiguration, and timers and the retry library refuse such spans.
            foreach (var (setting, span) in new[] { ("RetryDelay", target.RetryDelay), ("MaxRetryDelay", target.MaxRetryDelay), ("AttemptTimeout", target.AttemptTimeout), ("DeadLetterStoreTimeout", target.DeadLetterStoreTimeout) })
            {
                if (span > MaxWait) yield return $"Outbound:Targets:{name}: {setting} must be at most 1 day (is {span})";
            }
            var results = new List<ValidationResult>();
            if (!Validator.TryValidateObject(target, new ValidationContext(target), results, validateAllProperties: true))
                foreach (var r in results) yield return $"Outbound:Targets:{name}: {r.ErrorMessage}";
        }
    }
}
