using System.Globalization;
using System.Text.Json;
using Fleet.Detectors;
using Fleet.Functions.Sensors;

namespace Fleet.Functions.BuiltIn;

/// <summary>Per-metric rule: unit conversion (value * Scale + Offset), clamp, then a valid range.</summary>
public sealed record MetricRule
{
    public double Scale { get; init; } = 1.0;
    public double Offset { get; init; }
    public double? ClampMin { get; init; }
    public double? ClampMax { get; init; }
    public double? Min { get; init; }
    public double? Max { get; init; }
}

/// <summary>
/// The built-in functions' configuration, read from their environment variables as any Lambda function's
/// is. The sensor grain sets them from the silo's defaults and the sensor's own configuration.
/// Parsed once per distinct environment (by reference), not per event.
/// </summary>
public sealed class BuiltInSettings
{
    public const string AllowedLatenessMs = "ALLOWED_LATENESS_MS";
    public const string DedupeWindow = "DEDUPE_WINDOW";
    public const string MetricRules = "METRIC_RULES";
    public const string SmoothingAlpha = "SMOOTHING_ALPHA";
    public const string Detector = "DETECTOR";
    public const string DetectorParameters = "DETECTOR_PARAMETERS";
    public const string MaxMetrics = "MAX_METRICS";

    /// <summary>Web defaults; named floating-point literals pass through so that validation, not JSON, names a non-finite value.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowReadingFromString | System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public long LatenessMs { get; private init; } = 60_000;
    public int Window { get; private init; } = 64;
    public IReadOnlyDictionary<string, MetricRule>? Rules { get; private init; }
    public double Alpha { get; private init; } = 1.0;
    public string DetectorName { get; private init; } = DetectorCatalog.DefaultName;
    public Dictionary<string, double>? Parameters { get; private init; }
    public string ParametersText { get; private init; } = "";
    public int MetricLimit { get; private init; } = 32;

    /// <summary>Reads the settings; throws <see cref="ArgumentException"/> with a user-facing message when one is invalid.</summary>
    public static BuiltInSettings From(IReadOnlyDictionary<string, string> environment)
    {
        var parameters = environment.TryGetValue(DetectorParameters, out var p) && !string.IsNullOrWhiteSpace(p)
            ? JsonSerializer.Deserialize<Dictionary<string, double>>(p, Json)
            : null;
        var settings = new BuiltInSettings
        {
            LatenessMs = Long(environment, AllowedLatenessMs, 60_000),
            Window = (int)Long(environment, DedupeWindow, 64),
            Rules = environment.TryGetValue(MetricRules, out var r) && !string.IsNullOrWhiteSpace(r)
                ? JsonSerializer.Deserialize<Dictionary<string, MetricRule>>(r, Json)
                : null,
            Alpha = environment.TryGetValue(SmoothingAlpha, out var a) ? double.Parse(a, CultureInfo.InvariantCulture) : 1.0,
            DetectorName = environment.TryGetValue(Detector, out var d) && d.Length > 0 ? d : DetectorCatalog.DefaultName,
            Parameters = parameters,
            ParametersText = p ?? "",
            MetricLimit = (int)Long(environment, MaxMetrics, 32),
        };
        settings.Validate();
        return settings;
    }

    private void Validate()
    {
        if (LatenessMs < 0) throw new ArgumentException("allowedLatenessMs must be >= 0");
        if (Window is < 1 or > 64) throw new ArgumentException("the dedupe window must be 1-64");
        if (Alpha <= 0 || Alpha > 1 || !double.IsFinite(Alpha)) throw new ArgumentException("smoothingAlpha must be in (0, 1]");
        if (MetricLimit < 1) throw new ArgumentException("the metric limit must be >= 1");
        DetectorCatalog.Create(DetectorName, Parameters); // proves the name and the parameters
        foreach (var (metric, rule) in Rules ?? new Dictionary<string, MetricRule>())
        {
            // JSON lets a rule be null ({"metrics": {"t": null}}); refuse it here rather than fail on it later.
            if (rule is null)
                throw new ArgumentException($"metric '{metric}': the rule is null; give an object such as {{\"min\": 0, \"max\": 100}}, or leave the metric out");
            if (!double.IsFinite(rule.Scale) || !double.IsFinite(rule.Offset))
                throw new ArgumentException($"metric '{metric}': scale and offset must be finite");
            if (rule.Min is { } min && rule.Max is { } max && min > max)
                throw new ArgumentException($"metric '{metric}': min must not exceed max");
            if (rule.ClampMin is { } cmin && rule.ClampMax is { } cmax && cmin > cmax)
                throw new ArgumentException($"metric '{metric}': clampMin must not exceed clampMax");
        }
    }

    public MetricRule? RuleFor(string metric)
    {
        if (Rules is not { Count: > 0 } rules) return null;
        return rules.TryGetValue(metric, out var rule) ? rule : rules.GetValueOrDefault("*");
    }

    public bool SameDetector(BuiltInSettings other) => DetectorName == other.DetectorName && ParametersText == other.ParametersText;

    private static long Long(IReadOnlyDictionary<string, string> env, string key, long fallback)
        => env.TryGetValue(key, out var text) ? long.Parse(text, CultureInfo.InvariantCulture) : fallback;
}

/// <summary>
/// Settings per environment dictionary instance, shared by every function and sensor that uses the same
/// environment (most sensors share the silo's default one), so a sensor pays a reference, not a copy.
/// </summary>
internal struct SettingsCache
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<IReadOnlyDictionary<string, string>, BuiltInSettings> Shared = new();
    private IReadOnlyDictionary<string, string>? _environment;
    private BuiltInSettings? _settings;

    public BuiltInSettings Get(IReadOnlyDictionary<string, string> environment)
    {
        if (!ReferenceEquals(environment, _environment) || _settings is null)
        {
            _settings = Shared.GetValue(environment, BuiltInSettings.From);
            _environment = environment;
        }

        return _settings;
    }
}

/// <summary>The completed task that hands an event on: one per thread, since the platform reuses one event per thread.</summary>
internal static class Passed
{
    [ThreadStatic] private static Task<SensorEvent?>? _last;

    public static Task<SensorEvent?> Of(SensorEvent evt)
    {
        var last = _last;
        if (last is not null && ReferenceEquals(last.Result, evt)) return last;
        return _last = Task.FromResult<SensorEvent?>(evt);
    }
}
