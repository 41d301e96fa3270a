namespace Fleet.Detectors;

/// <summary>Reads and validates a detector's name-&gt;double parameters; unknown names or bad values throw ArgumentException.</summary>
internal sealed class ParameterReader
{
    private readonly string _detector;
    private readonly IReadOnlyDictionary<string, double> _values;
    private readonly HashSet<string> _known = new(StringComparer.OrdinalIgnoreCase);

    public ParameterReader(string detector, IReadOnlyDictionary<string, double>? values)
    {
        _detector = detector;
        _values = values ?? new Dictionary<string, double>();
        // Names are matched ignoring case, so two that differ only in case would make the result depend on order.
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var k in _values.Keys)
        {
            if (!seen.Add(k)) throw new ArgumentException($"detector '{detector}': parameter '{k}' is given twice (names ignore case)");
        }
    }

    public double Get(string name, double fallback, double min, double max)
    {
        _known.Add(name);
        var v = fallback;
        foreach (var kv in _values)
        {
            if (string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase)) v = kv.Value;
        }

        if (double.IsNaN(v) || v < min || v > max)
        {
            throw new ArgumentException($"detector '{_detector}': parameter '{name}' = {v} is out of range [{min}, {max}]");
        }

        return v;
    }

    public int GetInt(string name, int fallback, int min, int max)
    {
        var v = Get(name, fallback, min, max);
        if (v != Math.Floor(v)) throw new ArgumentException($"detector '{_detector}': parameter '{name}' = {v} must be a whole number");
        return (int)v;
    }

    /// <summary>The refractory period after an alert, in points (parameter <c>rest</c>).</summary>
    public int Rest(int fallback) => GetInt("rest", fallback, 0, 1_000_000);

    /// <summary>The silent warm-up, in points (parameter <c>warmup</c>).</summary>
    public int Warmup(int fallback = 150) => GetInt("warmup", fallback, 1, 1_000_000);

    /// <summary>
    /// A range the values are known to stay in (parameters <c>min</c> and <c>max</c>, e.g. 0..100 for a CPU percentage):
    /// detectors that bin values start from it instead of learning the range. Unset: (-inf, +inf).
    /// </summary>
    public KnownRange KnownRange()
    {
        var min = Get("min", double.NegativeInfinity, double.NegativeInfinity, double.MaxValue);
        var max = Get("max", double.PositiveInfinity, -double.MaxValue, double.PositiveInfinity);
        if (!(min < max)) throw new ArgumentException($"detector '{_detector}': parameter 'min' = {min} must be below 'max' = {max}");
        return new KnownRange(min, max);
    }

    /// <summary>Call after reading every parameter: rejects names the detector doesn't have.</summary>
    public void RejectUnknown()
    {
        foreach (var k in _values.Keys)
        {
            if (!_known.Contains(k))
            {
                throw new ArgumentException($"detector '{_detector}' has no parameter '{k}'; known: {string.Join(", ", _known.Order(StringComparer.Ordinal))}");
            }
        }
    }
}

/// <summary>A configured value range; either side may be open (infinite).</summary>
internal readonly record struct KnownRange(double Min, double Max)
{
    /// <summary>The range a binning detector starts from at its first value: the known range widened to the value.</summary>
    public (double Lo, double Hi) StartAt(double value) =>
        (double.IsFinite(Min) ? Math.Min(value, Min) : value, double.IsFinite(Max) ? Math.Max(value, Max) : value);
}
