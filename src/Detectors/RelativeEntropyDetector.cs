namespace Fleet.Detectors;

/// <summary>
/// Relative entropy (Wang et al., 2011; NAB's "relativeEntropy"), online: the last <c>window</c> values are
/// quantised into <c>bins</c> equal bins over the running min..max (starting from the known range <c>min</c>..<c>max</c>
/// when one is configured, as NAB hands its detectors the file's range), and the window's histogram P̂ is compared with up
/// to <c>hypotheses</c> stored histograms by the test statistic 2·W·KL(P̂‖P_i) against the chi-squared 99% point with
/// bins-1 degrees of freedom. A window that agrees with no stored hypothesis is anomalous (score 1) and becomes a new
/// hypothesis (when the store is full it replaces the least-used one); a window that agrees with one is scored
/// 0.5·stat/threshold (below 0.5). When the running range has grown by more than <c>regrow</c> (25%) since the last
/// drop (or the first value), all stored hypotheses are dropped: they were binned with a range that no longer holds (NAB's version never
/// sees its range grow, it is handed the file's min/max). Silent for <c>warmup</c> points and for <c>rest</c> points
/// after an alert. KL uses precomputed logs (no log per point per hypothesis); no allocation per point.
/// </summary>
public sealed class RelativeEntropyDetector : IAnomalyDetector
{
    public const string CatalogName = "relative-entropy";

    private readonly int _w, _n, _h, _warmup, _rest;
    private readonly double _chi, _threshold;
    private readonly double[] _ring;
    private readonly float[] _logP; // h * n, log of each hypothesis' frequencies (-inf for 0)
    private readonly int[] _uses;
    private readonly int[] _hist;
    private readonly double[] _plogp; // c -> (c/W) log(c/W)
    private int _m;
    private long _count;
    private double _lo, _hi;
    private RestGate _gate;
    private readonly KnownRange _known;
    private readonly double _regrow;
    private double _binnedRange; // the range when the stored hypotheses were started

    public RelativeEntropyDetector(IReadOnlyDictionary<string, double>? parameters = null)
    {
        var p = new ParameterReader(CatalogName, parameters);
        _w = p.GetInt("window", 52, 8, 512);
        _n = p.GetInt("bins", 5, 2, 32);
        _h = p.GetInt("hypotheses", 64, 1, 256);
        _warmup = p.Warmup();
        _rest = p.Rest(300);
        _threshold = p.Get("threshold", 1.0, 0, 1);
        var confidence = p.Get("confidence", 0.99, 0.5, 0.999999);
        _known = p.KnownRange();
        _regrow = p.Get("regrow", 0.25, -1, 100); // negative: never drop hypotheses
        p.RejectUnknown();
        _chi = ChiSquaredQuantile(confidence, _n - 1);
        _ring = new double[_w];
        _logP = new float[_h * _n];
        _uses = new int[_h];
        _hist = new int[_n];
        _plogp = new double[_w + 1];
        for (var c = 1; c <= _w; c++)
        {
            var q = (double)c / _w;
            _plogp[c] = q * Math.Log(q);
        }
    }

    public string Name => CatalogName;
    public double Threshold => _threshold;
    public long Count => _count;
    public int StateSize => _w * 8 + _h * _n * 4 + _h * 4 + 5 * 8 + 8;

    /// <summary>Chi-squared quantile by Wilson-Hilferty (accurate to ~1% for df &gt;= 2), used once at construction.</summary>
    private static double ChiSquaredQuantile(double p, int df)
    {
        // standard normal quantile by bisection on the upper tail
        double lo = -10, hi = 10;
        for (var i = 0; i < 200; i++)
        {
            var mid = 0.5 * (lo + hi);
            if (1 - Normal.UpperTail(mid) < p) lo = mid;
            else hi = mid;
        }

        var z = 0.5 * (lo + hi);
        var k = (double)df;
        var a = 2.0 / (9 * k);
        var c = 1 - a + z * Math.Sqrt(a);
        return k * c * c * c;
    }

    public double Next(long timestampMs, double value)
    {
        _ring[(int)(_count % _w)] = value;
        _count++;
        if (_count == 1)
        {
            (_lo, _hi) = _known.StartAt(value);
            _binnedRange = _hi - _lo;
        }
        else if (value < _lo || value > _hi)
        {
            // A much wider range re-bins every window: hypotheses stored under the old bins no longer describe the
            // values they were learned from (a stale one can even "match" a genuinely new distribution), so they are
            // dropped once the range has grown by more than `regrow` since the last drop (or the first value).
            _lo = Math.Min(_lo, value);
            _hi = Math.Max(_hi, value);
            if (_regrow >= 0 && _hi - _lo > (1 + _regrow) * _binnedRange)
            {
                _m = 0;
                _binnedRange = _hi - _lo;
            }
        }

        double score = 0;
        if (_count >= _w)
        {
            Array.Clear(_hist);
            var range = _hi - _lo;
            var scale = range > 0 ? _n / range : 0;
            for (var i = 0; i < _w; i++)
            {
                var b = (int)((_ring[i] - _lo) * scale);
                _hist[b >= _n ? _n - 1 : b]++;
            }

            double self = 0;
            for (var j = 0; j < _n; j++) self += _plogp[_hist[j]];
            var best = -1;
            var bestStat = double.PositiveInfinity;
            for (var i = 0; i < _m; i++)
            {
                var cross = 0.0;
                var o = i * _n;
                for (var j = 0; j < _n; j++)
                {
                    if (_hist[j] != 0) cross += _hist[j] * (double)_logP[o + j];
                }

                var stat = 2 * _w * (self - cross / _w);
                if (stat < _chi && stat < bestStat)
                {
                    bestStat = stat;
                    best = i;
                }
            }

            if (best >= 0)
            {
                _uses[best]++;
                score = 0.5 * Math.Max(0, bestStat) / _chi;
            }
            else
            {
                score = 1;
                var slot = _m;
                if (_m < _h)
                {
                    _m++;
                }
                else
                {
                    slot = 0;
                    for (var i = 1; i < _h; i++)
                    {
                        if (_uses[i] < _uses[slot]) slot = i;
                    }
                }

                _uses[slot] = 1;
                for (var j = 0; j < _n; j++)
                {
                    _logP[slot * _n + j] = _hist[j] == 0 ? float.NegativeInfinity : (float)Math.Log((double)_hist[j] / _w);
                }
            }
        }

        return _gate.Pass(_count, _warmup, score, _threshold, _rest);
    }

    public byte[] SaveState() => new StateWriter(CatalogName)
        .Write(_count).Write(_lo).Write(_hi).Write(_m).Write(_gate.Left).Write(_ring).Write(_logP).Write(_uses)
        .Write(_binnedRange).ToArray(); // the later addition last: a state saved before it still loads

    public void LoadState(ReadOnlySpan<byte> state)
    {
        var r = new StateReader(state, CatalogName);
        _count = r.ReadLong();
        _lo = r.ReadDouble();
        _hi = r.ReadDouble();
        _m = r.ReadInt();
        _gate.Left = r.ReadInt();
        r.Read(_ring);
        r.Read(_logP);
        r.Read(_uses);
        _binnedRange = r.AtEnd ? _hi - _lo : r.ReadDouble();
        r.End();
    }
}
