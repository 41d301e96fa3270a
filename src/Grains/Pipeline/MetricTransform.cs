using Fleet.Grains.Sensors;

namespace Fleet.Grains.Pipeline;

/// <summary>Filter/transform step: unit conversion, clamping and the range filter of one metric value.</summary>
public static class MetricTransform
{
    /// <returns>false when the value falls outside the rule's valid range and must be filtered out.</returns>
    public static bool TryApply(MetricRule? rule, double raw, out double value)
    {
        value = raw;
        if (rule is null)
        {
            return true;
        }

        value = raw * rule.Scale + rule.Offset;
        if (rule.ClampMin is { } lo && value < lo) value = lo;
        if (rule.ClampMax is { } hi && value > hi) value = hi;
        if (rule.Min is { } min && value < min) return false;
        if (rule.Max is { } max && value > max) return false;
        return double.IsFinite(value);
    }

    public static MetricRule? RuleFor(SensorConfig? config, string metric)
    {
        if (config?.Metrics is not { Count: > 0 } rules) return null;
        return rules.TryGetValue(metric, out var rule) ? rule : rules.GetValueOrDefault("*");
    }
}
