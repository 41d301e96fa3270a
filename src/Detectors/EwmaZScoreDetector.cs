namespace Fleet.Detectors;

/// <summary>
/// The light detector: a robust EWMA z-score. Tracks a winsorised EWMA of the value and of the absolute
/// deviation, scores z = |x - mean| / (1.25 mad) as z / (z + zAtHalf) (0.5 at zAtHalf), is silent for the first
/// <c>warmup</c> points and, after an alert, for <c>rest</c> points (one alert per event). 40 bytes of state.
/// </summary>
public sealed class EwmaZScoreDetector : IExplainingDetector
{
    public const string CatalogName = "ewma-z";
    private readonly double _alpha;
    private readonly double _zAtHalf;
    private readonly int _warmup;
    private readonly int _rest;
    private readonly double _clip;
    private double _mean;
    private double _mad;
    private long _count;
    private RestGate _gate;

    public EwmaZScoreDetector(double alpha = 0.003, double zAtHalf = 4.0, int warmup = 150, double threshold = 0.65, int rest = 300, double clip = 20)
    {
        // written so that NaN fails every check
        if (!(alpha > 0 && alpha < 1)) throw new ArgumentOutOfRangeException(nameof(alpha), "alpha must be in (0, 1)");
        if (!(zAtHalf > 0 && zAtHalf < double.PositiveInfinity)) throw new ArgumentOutOfRangeException(nameof(zAtHalf), "zAtHalf must be positive and finite");
        if (rest < 0) throw new ArgumentOutOfRangeException(nameof(rest), "rest must be >= 0");
        if (!(clip >= 1 && clip < double.PositiveInfinity)) throw new ArgumentOutOfRangeException(nameof(clip), "clip must be >= 1 and finite");
        if (!(threshold >= 0 && threshold <= 1)) throw new ArgumentOutOfRangeException(nameof(threshold), "threshold must be in [0, 1]");
        _alpha = alpha;
        _zAtHalf = zAtHalf;
        _warmup = Math.Max(1, warmup);
        _rest = rest;
        _clip = clip;
        Threshold = threshold;
    }

    public static EwmaZScoreDetector Create(IReadOnlyDictionary<string, double>? parameters)
    {
        var p = new ParameterReader(CatalogName, parameters);
        var d = new EwmaZScoreDetector(
            alpha: p.Get("alpha", 0.003, 1e-6, 0.999999),
            zAtHalf: p.Get("zAtHalf", 4.0, 1e-3, 1e3),
            warmup: p.Warmup(),
            threshold: p.Get("threshold", 0.65, 0, 1),
            rest: p.Rest(300),
            clip: p.Get("clip", 20, 1, 1e3));
        p.RejectUnknown();
        return d;
    }

    public string Name => CatalogName;
    public double Threshold { get; }
    public long Count => _count;
    public int StateSize => 3 * sizeof(double) + sizeof(int);

    public double Next(long timestampMs, double value) => Step(value, explain: false, out _);

    public double Next(long timestampMs, double value, out AnomalyExplanation explanation) => Step(value, explain: true, out explanation);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private double Step(double value, bool explain, out AnomalyExplanation explanation)
    {
        explanation = default;
        _count++;
        if (_count == 1)
        {
            _mean = value;
            _mad = 0;
            return 0;
        }

        var deviation = Math.Abs(value - _mean);
        var scale = Scale();
        var z = Robust.Z(deviation, scale);
        var score = z / (z + _zAtHalf);
        var passed = _gate.Pass(_count, _warmup, score, Threshold, _rest);
        if (explain && passed >= Threshold) explanation = Accepted(AnomalyKind.Level, scale);

        // Winsorise the update so one outlier does not drag the baseline.
        var clipped = Math.Min(deviation, _clip * scale);
        // Early on, average over everything seen (1/count) so the scale isn't biased low by the EWMA's zero start.
        var a = Math.Max(_alpha, 1.0 / _count);
        _mean += a * (value >= _mean ? clipped : -clipped);
        _mad += a * (clipped - _mad);

        return passed;
    }

    public AnomalyExplanation Band(long timestampMs)
        => _count < _warmup
            ? new AnomalyExplanation(AnomalyKind.None, _mean, double.NaN, double.NaN)
            : Accepted(AnomalyKind.None, Scale());

    /// <summary>
    /// The robust scale (1.25 mad), plus a tiny term so a constant series stays finite. Unlike fusion's (relative only),
    /// this one keeps an absolute part of 1e-9: ewma-z has no range to take a floor from, and on series quantised to a
    /// few decimals (CPU percentages) that absolute part is what keeps a long run of equal values from making the next
    /// small step look enormous (without it ewma-z scores 50.5 instead of 52.3 on NAB). So values under ~1e-8 need a
    /// metric scale rule to be judged by ewma-z; fusion judges them as they are.
    /// </summary>
    private double Scale() => 1.25 * _mad + 1e-9 * (Math.Abs(_mean) + 1);

    /// <summary>The band of values whose z stays below the one that reaches the threshold (none for a threshold of 0).</summary>
    private AnomalyExplanation Accepted(AnomalyKind kind, double scale)
    {
        var zAlert = Threshold <= 0 ? double.NaN : Threshold < 1 ? Threshold * _zAtHalf / (1 - Threshold) : double.PositiveInfinity;
        return new AnomalyExplanation(kind, _mean, _mean - zAlert * scale, _mean + zAlert * scale);
    }

    public byte[] SaveState() => new StateWriter(CatalogName).Write(_mean).Write(_mad).Write(_count).Write(_gate.Left).ToArray();

    public void LoadState(ReadOnlySpan<byte> state)
    {
        var r = new StateReader(state, CatalogName);
        _mean = r.ReadFinite();
        _mad = r.ReadFinite();
        _count = r.ReadLong();
        _gate.Left = r.ReadInt();
        r.End();
    }
}
