namespace Fleet.Detectors;

/// <summary>
/// Candidate successor of <see cref="EnsembleDetector"/>: the same level + hour-of-day robust z-scores, plus
/// <list type="bullet">
/// <item>tail calibration (tailP &gt; 0): z is divided by a running estimate of its own tailP-quantile (log-domain
///   stochastic approximation), times tailRef, so heavy-tailed series (tweet counts) are not over-alerted;</item>
/// <item>spatial novelty (spatial &gt; 0): a value outside the running min..max widened by spatialTol of the range
///   scores at least <c>spatial</c> (HTM's "spatial anomaly");</item>
/// <item>CAD-style suppression (extend=1): every raw score at or above restLevel during the rest period restarts it,
///   so a long anomaly produces one alert.</item>
/// </list>
/// O(1) per point, no allocation, ~0.8 KB state.
/// </summary>
public sealed class FusionDetector : IAnomalyDetector
{
    public const string CatalogName = "fusion";

    private readonly double _alphaSlow, _zScale, _threshold, _rangeFloor, _clip, _restLevel, _alphaSeason;
    private readonly double _tailP, _tailEta, _tailRef, _spatial, _spatialTol, _spatialMin;
    private readonly int _rest, _warmup, _seasonMode, _extend;
    private readonly double _wEntropy;
    private readonly RelativeEntropyDetector? _entropy;

    private long _count;
    private RobustBaseline _base;
    private double _logQ;
    private RestGate _gate;

    public FusionDetector(IReadOnlyDictionary<string, double>? parameters = null)
    {
        var p = new ParameterReader(CatalogName, parameters);
        _alphaSlow = p.Get("alphaSlow", 0.001, 1e-5, 1);
        _zScale = p.Get("zScale", 4, 1e-3, 1e3);
        _rangeFloor = p.Get("rangeFloor", 0.01, 0, 1);
        _clip = p.Get("clip", 20, 1, 1e3);
        _rest = p.Rest(200);
        _warmup = p.Warmup();
        _threshold = p.Get("threshold", 0.6, 0, 1);
        _restLevel = p.Get("restLevel", 0.67, 0, 1);
        _seasonMode = p.GetInt("season", 2, 0, 2);
        _alphaSeason = p.Get("alphaSeason", 0.02, 1e-5, 1);
        _tailP = p.Get("tailP", 0.99, 0, 0.99999);
        _tailEta = p.Get("tailEta", 0.05, 1e-6, 1);
        _tailRef = p.Get("tailRef", 3, 0.1, 100);
        _spatial = p.Get("spatial", 0.9, 0, 1);
        _spatialTol = p.Get("spatialTol", 0.02, 0, 10);
        _spatialMin = p.Get("spatialMin", 4, 0, 1e9);
        _extend = p.GetInt("extend", 0, 0, 1);
        _wEntropy = p.Get("wEntropy", 0, 0, 1);
        var reWindow = p.GetInt("entropyWindow", 52, 8, 512);
        var reBins = p.GetInt("entropyBins", 5, 2, 32);
        var reHyp = p.GetInt("entropyHypotheses", 32, 1, 256);
        p.RejectUnknown();
        if (_wEntropy > 0)
        {
            _entropy = new RelativeEntropyDetector(new Dictionary<string, double>
            {
                ["window"] = reWindow, ["bins"] = reBins, ["hypotheses"] = reHyp, ["warmup"] = 1, ["rest"] = 0,
            });
        }
        _logQ = Math.Log(_tailRef);
    }

    public string Name => CatalogName;
    public double Threshold => _threshold;
    public long Count => _count;
    public int StateSize => RobustBaseline.StateBytes + 2 * sizeof(double) + sizeof(long) + sizeof(int) + (_entropy?.StateSize ?? 0);

    public double Next(long timestampMs, double value)
    {
        _count++;
        if (_count == 1)
        {
            _base.Start(value);
            return 0;
        }

        var range = _base.Hi - _base.Lo;
        var floor = _base.Floor(range, _rangeFloor);
        var sEff = _base.Scale(floor);
        var dev = Math.Abs(value - _base.Mean);
        var z = dev / sEff;
        if (_seasonMode != 0) z = _base.Season(timestampMs, value, z, floor, _clip, _alphaSeason, _seasonMode);

        if (_tailP > 0)
        {
            var q = Math.Exp(_logQ);
            var zc = z * _tailRef / Math.Max(q, _tailRef);
            _logQ += _tailEta * (z > q ? _tailP : -(1 - _tailP));
            z = zc;
        }

        var score = z / (z + _zScale);
        if (_entropy != null)
        {
            var e = _entropy.Next(timestampMs, value);
            score = Math.Max(score, _wEntropy * e);
        }
        if (_spatial > 0 && range > 0 && _count > _warmup)
        {
            var tol = _spatialTol * range;
            if ((value > _base.Hi + tol || value < _base.Lo - tol) && dev > _spatialMin * sEff) score = Math.Max(score, _spatial);
        }

        // update baselines (winsorised so one outlier does not drag them)
        _base.Update(value, dev, sEff, _clip, Math.Max(_alphaSlow, 1.0 / _count));

        return _gate.Pass(_count, _warmup, score, _restLevel, _rest, _extend != 0);
    }

    public byte[] SaveState()
    {
        var w = new StateWriter(CatalogName)
            .Write(_count).Write(_base.Mean).Write(_base.Mad).Write(_base.Lo).Write(_base.Hi).Write(_logQ).Write(_gate.Left);
        return _base.WriteSlots(w).Write(_entropy?.SaveState() ?? []).ToArray();
    }

    public void LoadState(ReadOnlySpan<byte> state)
    {
        var r = new StateReader(state, CatalogName);
        _count = r.ReadLong();
        _base.Mean = r.ReadDouble();
        _base.Mad = r.ReadDouble();
        _base.Lo = r.ReadDouble();
        _base.Hi = r.ReadDouble();
        _logQ = r.ReadDouble();
        _gate.Left = r.ReadInt();
        _base.ReadSlots(ref r);
        var inner = r.ReadBytes();
        if (_entropy != null) _entropy.LoadState(inner);
        else if (inner.Length != 0) throw new ArgumentException("state was saved with different parameters", "state");
        r.End();
    }
}
