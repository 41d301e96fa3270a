namespace Fleet.Detectors;

/// <summary>
/// <see cref="FusionDetector"/> (robust level / hour-of-day z-score, tail calibration, spatial novelty) combined
/// with the CAD-style context novelty of <see cref="ContextNoveltyDetector"/>; both run without their own rest
/// period. With <c>cad' = max(0, cad - cadFloor) / (1 - cadFloor)</c> and fusion score f, the raw score is
/// (mode) 0: <c>max(f, wCad·cad')</c>; 1: <c>f + wCad·cad'·(1 - f)</c>; 2: <c>(1 - wCad) f + wCad·cad'</c>;
/// 3 (default): <c>f·(1 - wCad + 2 wCad·cad')</c> (cad' = 0.5 neutral); 4: <c>f·(1 + wCad·max(0, 2 cad' - 1))</c>;
/// 5: like 3, but the factor only damps while f &lt; dampBelow (a boost always applies; f at or above dampBelow is
/// never damped, so weak early detections on smooth series stay visible); the default of <c>fusion-cad2</c>;
/// then one shared warm-up and rest period. O(order) per point, no allocation, ≈ 4.8 KB state by default.
/// </summary>
public sealed class FusionCadDetector : IAnomalyDetector
{
    public const string CatalogName = "fusion-cad";

    /// <summary>The same detector with mode 5 (damp only low fusion scores) by default.</summary>
    public const string DampLowName = "fusion-cad2";

    private readonly FusionDetector<RobustBaseline> _fusion;
    private readonly ContextNoveltyDetector _cad;
    private readonly string _name;
    private readonly double _wCad, _cadFloor, _threshold, _restLevel, _dampBelow;
    private readonly int _rest, _warmup, _mode;

    private long _count;
    private RestGate _gate;

    public FusionCadDetector(IReadOnlyDictionary<string, double>? parameters = null)
        : this(CatalogName, parameters)
    {
    }

    /// <summary><paramref name="name"/> is <see cref="CatalogName"/> (default mode 3) or <see cref="DampLowName"/> (default mode 5).</summary>
    public FusionCadDetector(string name, IReadOnlyDictionary<string, double>? parameters)
    {
        if (name != CatalogName && name != DampLowName) throw new ArgumentException($"not a fusion-cad name: '{name}'", nameof(name));
        _name = name;
        var p = new ParameterReader(name, parameters);
        _wCad = p.Get("wCad", 0.2, 0, 1);
        _cadFloor = p.Get("cadFloor", 0, 0, 0.99);
        _rest = p.Rest(200);
        _warmup = p.Warmup();
        _threshold = p.Get("threshold", 0.667, 0, 1);
        _restLevel = p.Get("restLevel", 0.67, 0, 1);
        var dampLow = name == DampLowName; // mode 5 and dampBelow exist only under this name
        _mode = p.GetInt("mode", dampLow ? 5 : 3, 0, dampLow ? 5 : 4);
        _dampBelow = dampLow ? p.Get("dampBelow", 0.5, 0, 1) : 0;
        var alphaSlow = p.Get("alphaSlow", 0.001, 1e-5, 1);
        var tailEta = p.Get("tailEta", 0.05, 1e-6, 1);
        var spatial = p.Get("spatial", 0.9, 0, 1);
        var bins = p.GetInt("bins", 12, 2, 64);
        var order = p.GetInt("order", 2, 1, 16);
        var tableBits = p.GetInt("tableBits", 11, 4, 12);
        var pad = p.Get("pad", 0.1, 0, 10);
        var epoch = p.GetInt("epoch", 2, 0, 2);
        // fusion's later additions, off by default here: fusion-cad is measured and documented without them.
        var recurDamp = p.Get("recurDamp", 1, 0, 1);
        var tailExtrap = p.Get("tailExtrap", 0, 0, 10);
        p.RejectUnknown();
        _fusion = new FusionDetector<RobustBaseline>(new Dictionary<string, double>
        {
            ["rest"] = 0, ["warmup"] = _warmup, ["alphaSlow"] = alphaSlow, ["tailEta"] = tailEta, ["spatial"] = spatial,
            ["recurDamp"] = recurDamp, ["tailExtrap"] = tailExtrap,
        });
        _cad = new ContextNoveltyDetector(new Dictionary<string, double>
        {
            ["rest"] = 0, ["warmup"] = 1, ["bins"] = bins, ["order"] = order, ["tableBits"] = tableBits, ["pad"] = pad, ["epoch"] = epoch,
        });
    }

    public string Name => _name;
    public double Threshold => _threshold;
    public long Count => _count;
    public int StateSize => _fusion.StateSize + _cad.StateSize + sizeof(long) + sizeof(int);

    public double Next(long timestampMs, double value)
    {
        _count++;
        var f = _fusion.Next(timestampMs, value);
        var c = _cad.Raw(value);
        if (_count <= _warmup) return 0;
        c = Math.Max(0, c - _cadFloor) / (1 - _cadFloor);
        var score = _mode switch
        {
            0 => Math.Max(f, _wCad * c),
            1 => f + _wCad * c * (1 - f),
            2 => (1 - _wCad) * f + _wCad * c,
            3 => f * (1 - _wCad + 2 * _wCad * c),
            5 => f < _dampBelow ? f * (1 - _wCad + 2 * _wCad * c) : f * Math.Max(1, 1 - _wCad + 2 * _wCad * c),
            _ => f * (1 + _wCad * Math.Max(0, 2 * c - 1)),
        };
        return _gate.Pass(_count, _warmup, score, _restLevel, _rest);
    }

    public byte[] SaveState() => new StateWriter(_name)
        .Write(_count).Write(_gate.Left).Write(_fusion.SaveState()).Write(_cad.SaveState()).ToArray();

    public void LoadState(ReadOnlySpan<byte> state)
    {
        var r = new StateReader(state, _name);
        _count = r.ReadLong();
        _gate.Left = r.ReadInt();
        _fusion.LoadState(r.ReadBytes());
        _cad.LoadState(r.ReadBytes());
        r.End();
    }
}
