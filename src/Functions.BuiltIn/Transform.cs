using Fleet.Functions.Sensors;

namespace Fleet.Functions.BuiltIn;

/// <summary>
/// Built-in step 2, filter/transform: per metric (rules in <c>METRIC_RULES</c>, the rule under <c>*</c> for
/// metrics without their own) converts units (value * scale + offset), clamps, and drops values outside
/// the valid range (counted as filtered). The reading itself goes on, with the metrics that remain.
/// </summary>
public sealed class Transform : IFunctionHandler<SensorEvent, SensorEvent?>, IStatefulFunction
{
    private SettingsCache _settings;

    public long Filtered { get; private set; }

    public Task<SensorEvent?> HandleAsync(SensorEvent evt, IFunctionContext context)
    {
        var settings = _settings.Get(context.Environment);
        if (settings.Rules is not null)
        {
            var metrics = evt.Metrics;
            for (var i = metrics.Count - 1; i >= 0; i--)
            {
                var metric = metrics[i];
                if (TryApply(settings.RuleFor(metric.Name), metric.Value, out var value))
                {
                    metrics[i] = metric with { Value = value };
                }
                else
                {
                    Filtered++;
                    metrics.RemoveAt(i);
                }
            }
        }

        return Passed.Of(evt);
    }

    /// <returns>false when the value falls outside the rule's valid range and must be filtered out.</returns>
    public static bool TryApply(MetricRule? rule, double raw, out double value)
    {
        value = raw;
        if (rule is null) return true;
        value = raw * rule.Scale + rule.Offset;
        if (rule.ClampMin is { } lo && value < lo) value = lo;
        if (rule.ClampMax is { } hi && value > hi) value = hi;
        if (rule.Min is { } min && value < min) return false;
        if (rule.Max is { } max && value > max) return false;
        return double.IsFinite(value);
    }

    public byte[]? SaveState() => Filtered == 0 ? null : BitConverter.GetBytes(Filtered);

    public void RestoreState(byte[] state)
    {
        if (state.Length == sizeof(long)) Filtered = BitConverter.ToInt64(state);
    }
}
