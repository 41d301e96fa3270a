namespace Fleet.Detectors;

/// <summary>
/// The previous default detector (superseded by <see cref="FusionDetector"/>): a robust ensemble of online signals, all O(1) per point and allocation-free.
/// <list type="bullet">
/// <item>level: |x - m| / (1.25 mad) against a winsorised EWMA baseline (alphaSlow);</item>
/// <item>season: the same against a per-hour-of-day baseline (24 slots, from the timestamp), combined by max
///   (season=2), min (1) or off (0): catches "right value at the wrong time" (daily pattern breaks);</item>
/// <item>jump: |x - x_prev| against an EWMA of jumps (wJump, off by default: it fires on regular transitions);</item>
/// <item>novelty: CAD-style unseen quantised contexts of order 1..order in a 16 Kbit seen-set (wNovel, off by default);</item>
/// <item>optional anomaly-likelihood (likelihood=1) or record-relative (relative=1) normalisation (both off: they
///   scored lower on NAB).</item>
/// </list>
/// The combined z is squashed to z/(z+zScale); after a score at or above restLevel the detector stays silent for
/// <c>rest</c> points (one alert per event: NAB charges every repeated alert), and it is silent for the first
/// <c>warmup</c> points. Scale floors use a fraction of the running min..max range so quantised series don't explode.
/// </summary>
public sealed class EnsembleDetector : IAnomalyDetector
{
    public const string CatalogName = "ensemble";
    private const int SeenBits = 1 << 14;

    // parameters
    private readonly double _alphaSlow, _alphaJump, _zScale, _w1, _w2, _w3, _alphaShort, _alphaLong, _threshold, _rangeFloor, _clip;
    private readonly int _bins, _order, _rest, _warmup, _useLikelihood, _timeContext;

    // state
    private long _count;
    private RobustBaseline _base;
    private double _prev, _dmad;
    private double _short, _lMean, _lVar;
    private RestGate _gate;
    private readonly int _relative, _maxStart;
    private readonly double _maxDecay;
    private double _max;
    private readonly double _restLevel;
    private readonly int _bias;
    private readonly int _seasonMode;
    private readonly double _alphaSeason;
    private ulong _history; // last bins, 8 bits each
    private readonly ulong[] _seen = new ulong[SeenBits / 64];

    public EnsembleDetector(IReadOnlyDictionary<string, double>? parameters = null)
    {
        var p = new ParameterReader(CatalogName, parameters);
        _alphaSlow = p.Get("alphaSlow", 0.003, 1e-5, 1);
        _alphaJump = p.Get("alphaJump", 0.01, 1e-5, 1);
        _zScale = p.Get("zScale", 4, 1e-3, 1e3);
        _w1 = p.Get("wLevel", 1, 0, 1);
        _w2 = p.Get("wJump", 0, 0, 1);
        _w3 = p.Get("wNovel", 0, 0, 1);
        _alphaShort = p.Get("alphaShort", 0.3, 1e-4, 1);
        _alphaLong = p.Get("alphaLong", 0.002, 1e-6, 1);
        _rangeFloor = p.Get("rangeFloor", 0.01, 0, 1);
        _clip = p.Get("clip", 20, 1, 1e3);
        _bins = p.GetInt("bins", 10, 2, 255);
        _order = p.GetInt("order", 4, 1, 8);
        _rest = p.Rest(300);
        _warmup = p.Warmup();
        _useLikelihood = p.GetInt("likelihood", 0, 0, 1);
        _timeContext = p.GetInt("timeContext", 0, 0, 1);
        _threshold = p.Get("threshold", 0.667, 0, 1);
        _restLevel = p.Get("restLevel", 0.67, 0, 1);
        _relative = p.GetInt("relative", 0, 0, 1);
        _bias = p.GetInt("startAverage", 1, 0, 1);
        _seasonMode = p.GetInt("season", 2, 0, 2);
        _alphaSeason = p.Get("alphaSeason", 0.02, 1e-5, 1);
        _maxDecay = p.Get("maxDecay", 0.0005, 0, 1);
        _maxStart = p.GetInt("maxStart", 30, 0, 1_000_000);
        p.RejectUnknown();
    }

    public string Name => CatalogName;
    public double Threshold => _threshold;
    public long Count => _count;
    public int StateSize => SeenBits / 8 + RobustBaseline.StateBytes + 10 * sizeof(double);

    public double Next(long timestampMs, double value)
    {
        _count++;
        if (_count == 1)
        {
            _base.Start(value);
            _prev = value;
            return 0;
        }

        var range = _base.Hi - _base.Lo;
        var floor = _base.Floor(range, _rangeFloor);
        var sEff = _base.Scale(floor);
        var dEff = Math.Max(1.25 * _dmad, floor);
        var dev = Math.Abs(value - _base.Mean);
        var jump = Math.Abs(value - _prev);
        var z1 = Robust.Z(dev, sEff);
        var z2 = Robust.Z(jump, dEff);
        if (_seasonMode != 0) z1 = _base.Season(timestampMs, value, z1, floor, _clip, _alphaSeason, _seasonMode);

        // contextual novelty over quantised values (range = running min/max, before this point)
        var novelty = 0.0;
        if (_w3 > 0)
        {
            var b = range > 0 ? (int)Math.Clamp((value - _base.Lo) / range * _bins, -1, _bins) + 1 : 1;
            var hist = (_history << 8) | (uint)b;
            var tod = _timeContext != 0 ? (ulong)((timestampMs / 3_600_000) % 24 + 1) : 0UL;
            var unseen = 0;
            for (var k = 1; k <= _order; k++)
            {
                var mask = k == 8 ? ulong.MaxValue : (1UL << (8 * k)) - 1;
                var h = Mix((hist & mask) ^ ((ulong)k << 60) ^ (tod << 52));
                var bit = (int)(h & (SeenBits - 1));
                ref var word = ref _seen[bit >> 6];
                var m = 1UL << (bit & 63);
                if ((word & m) == 0)
                {
                    unseen++;
                    word |= m;
                }
            }

            _history = hist;
            novelty = (double)unseen / _order;
        }

        var raw = Math.Max(_w1 * Squash(z1), Math.Max(_w2 * Squash(z2), _w3 * novelty));

        // update baselines (winsorised so one outlier does not drag them)
        _base.Update(value, dev, sEff, _clip, Math.Max(_alphaSlow, _bias != 0 ? 1.0 / _count : 0));
        var c2 = Math.Min(jump, _clip * dEff);
        _dmad += _alphaJump * (c2 - _dmad);
        _prev = value;

        double score;
        if (_relative != 0)
        {
            var sRaw = Math.Max(_w1 * z1, Math.Max(_w2 * z2, _w3 * novelty * 10));
            score = _max > 0 ? sRaw / (sRaw + _max) : 0;
            if (_count > _maxStart) _max = Math.Max(_max * (1 - _maxDecay), sRaw);
        }
        else if (_useLikelihood != 0)
        {
            _short += _alphaShort * (raw - _short);
            var sd = Math.Sqrt(_lVar) + 1e-3;
            var zL = (_short - _lMean) / sd;
            var d = _short - _lMean;
            _lMean += _alphaLong * d;
            _lVar = (1 - _alphaLong) * (_lVar + _alphaLong * d * d);
            score = zL > 0 ? zL / (zL + 10) : 0;
        }
        else
        {
            score = raw;
        }

        return _gate.Pass(_count, _warmup, score, _restLevel, _rest);
    }

    private double Squash(double z) => z / (z + _zScale);

    private static ulong Mix(ulong x)
    {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdUL;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53UL;
        x ^= x >> 33;
        return x;
    }

    public byte[] SaveState()
    {
        var w = _base.WriteSlots(new StateWriter(CatalogName)
            .Write(_count).Write(_base.Mean).Write(_base.Mad).Write(_prev).Write(_dmad).Write(_base.Lo).Write(_base.Hi)
            .Write(_short).Write(_lMean).Write(_lVar).Write(_gate.Left).Write((long)_history).Write(_max));
        var bytes = new byte[_seen.Length * 8];
        Buffer.BlockCopy(_seen, 0, bytes, 0, bytes.Length);
        return w.Write(bytes).ToArray();
    }

    public void LoadState(ReadOnlySpan<byte> state)
    {
        var r = new StateReader(state, CatalogName);
        _count = r.ReadLong();
        _base.Mean = r.ReadDouble();
        _base.Mad = r.ReadDouble();
        _prev = r.ReadDouble();
        _dmad = r.ReadDouble();
        _base.Lo = r.ReadDouble();
        _base.Hi = r.ReadDouble();
        _short = r.ReadDouble();
        _lMean = r.ReadDouble();
        _lVar = r.ReadDouble();
        _gate.Left = r.ReadInt();
        _history = (ulong)r.ReadLong();
        _max = r.ReadDouble();
        _base.ReadSlots(ref r);
        var bytes = new byte[_seen.Length * 8];
        r.Read(bytes);
        Buffer.BlockCopy(bytes, 0, _seen, 0, bytes.Length);
        r.End();
    }
}
