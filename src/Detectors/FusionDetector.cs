namespace Fleet.Detectors;

/// <summary>
/// The default detector (successor of <see cref="EnsembleDetector"/>): the same level + hour-of-day robust z-scores, plus
/// <list type="bullet">
/// <item>tail calibration (tailP &gt; 0): z is divided by a running estimate of its own tailP-quantile (log-domain
///   stochastic approximation), times tailRef, so heavy-tailed series (tweet counts) are not over-alerted;</item>
/// <item>spatial novelty (spatial &gt; 0): a value outside the running min..max widened by spatialTol of the range
///   scores at least <c>spatial</c> (HTM's "spatial anomaly"). After the warm-up a new extreme widens the range by at
///   most rangeClip (200) robust scales, so one glitch cannot deafen the detector for good (the scale floor is a
///   share of the range);</item>
/// <item>CAD-style suppression (extend=1): every raw score at or above restLevel during the rest period restarts it,
///   so a long anomaly produces one alert.</item>
/// <item>heavy-tail calibration (tailExtrap, tailKnee): where log(q99/q90) of z exceeds tailKnee, z is divided by
///   q99 extrapolated by tailExtrap times the excess, so a bursty series needs a larger deviation to alert.</item>
/// <item>recurrence damping (recurDamp &lt; 1, on by default with 0): a calibrated deviation of at least recurLevel
///   at the same time of day (within recurTol minutes) as one of the last 8 such deviations, at least half a day
///   later, is multiplied by recurDamp: a nightly job or backup alerts once, not every night. A new extreme still
///   scores through the spatial novelty. Deviations during the warm-up are not remembered.</item>
/// </list>
/// O(1) per point, no allocation, 536 B of state. <c>fusion-lite</c> is the same without the hour-of-day slots (~100 B).
/// </summary>
public static class FusionDetector
{
    public const string CatalogName = "fusion";

    /// <summary>fusion without the 24 hour-of-day slots: ~100 B of state instead of 536 B.</summary>
    public const string LiteName = "fusion-lite";
}

/// <summary>The fusion detector over a baseline with (<see cref="RobustBaseline"/>) or without (<see cref="LevelBaseline"/>) hour-of-day slots.</summary>
internal sealed class FusionDetector<TBase> : IExplainingDetector, IFusionTraceable
    where TBase : struct, IFusionBaseline
{
    private static readonly string CatalogName = TBase.HasSeason ? FusionDetector.CatalogName : FusionDetector.LiteName;

    // The parameters are the same for every sensor that uses them: one shared, immutable copy (~130 B less per metric).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Settings> Shared = new();
    private const int MaxShared = 1024;
    private readonly Settings _s;
    private readonly RelativeEntropyDetector? _entropy;

    private long _count;
    private TBase _base;
    private double _logQ;   // log of the running tailP (99%) quantile of z
    private double _logQ90; // log of its running 90% quantile: their ratio measures how heavy the tail is
    private RestGate _gate;
    private RecurrenceMemory _recur;

    public FusionDetector(IReadOnlyDictionary<string, double>? parameters = null)
    {
        var key = parameters is null || parameters.Count == 0
            ? ""
            : string.Join(";", parameters.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value:R}"));
        _s = Shared.TryGetValue(key, out var shared) ? shared
            : Shared.Count < MaxShared ? Shared.GetOrAdd(key, _ => new Settings(parameters))
            : new Settings(parameters); // many distinct parameter sets (one per sensor?): each keeps its own copy
        if (_s.WEntropy > 0)
        {
            _entropy = new RelativeEntropyDetector(new Dictionary<string, double>
            {
                ["window"] = _s.EntropyWindow, ["bins"] = _s.EntropyBins, ["hypotheses"] = _s.EntropyHypotheses, ["warmup"] = 1, ["rest"] = 0,
            });
        }

        _base = new TBase();
        _logQ = Math.Log(_s.TailRef);
        _logQ90 = Math.Log(_s.TailRef) - 1;
    }

    /// <summary>The detector's parameters, read and checked once per distinct parameter set.</summary>
    private sealed class Settings
    {
        public readonly double AlphaSlow, ZScale, Threshold, RangeFloor, Clip, RestLevel, AlphaSeason, RangeClip;
        public readonly double TailP, TailEta, TailRef, TailExtrap, TailKnee, Spatial, SpatialTol, SpatialMin, WEntropy, RecurDamp, RecurLevel;
        public readonly int Rest, Warmup, SeasonMode, Extend, EntropyWindow, EntropyBins, EntropyHypotheses, RecurTol;

        public Settings(IReadOnlyDictionary<string, double>? parameters)
        {
            var p = new ParameterReader(CatalogName, parameters);
            AlphaSlow = p.Get("alphaSlow", 0.001, 1e-5, 1);
            ZScale = p.Get("zScale", 4, 1e-3, 1e3);
            RangeFloor = p.Get("rangeFloor", 0.01, 0, 1);
            RangeClip = p.Get("rangeClip", 200, 0, 1e9);
            Clip = p.Get("clip", 20, 1, 1e3);
            Rest = p.Rest(120);
            Warmup = p.Warmup();
            Threshold = p.Get("threshold", 0.57, 0, 1);
            RestLevel = p.Get("restLevel", 0.62, 0, 1);
            if (TBase.HasSeason)
            {
                SeasonMode = p.GetInt("season", 2, 0, 2);
                AlphaSeason = p.Get("alphaSeason", 0.02, 1e-5, 1);
            }

            TailP = p.Get("tailP", 0.99, 0, 0.99999);
            TailEta = p.Get("tailEta", 0.05, 1e-6, 1);
            TailRef = p.Get("tailRef", 3, 0.1, 100);
            Spatial = p.Get("spatial", 0.9, 0, 1);
            SpatialTol = p.Get("spatialTol", 0.02, 0, 10);
            SpatialMin = p.Get("spatialMin", 4, 0, 1e9);
            Extend = p.GetInt("extend", 0, 0, 1);
            WEntropy = p.Get("wEntropy", 0, 0, 1);
            EntropyWindow = p.GetInt("entropyWindow", 52, 8, 512);
            EntropyBins = p.GetInt("entropyBins", 5, 2, 32);
            EntropyHypotheses = p.GetInt("entropyHypotheses", 32, 1, 256);
            RecurDamp = p.Get("recurDamp", 0, 0, 1);
            RecurLevel = p.Get("recurLevel", 8, 0, 1e3);
            RecurTol = p.GetInt("recurTol", 60, 0, 720);
            TailExtrap = p.Get("tailExtrap", 1, 0, 10);
            TailKnee = p.Get("tailKnee", 0.9, 0, 10);
            p.RejectUnknown();
        }
    }

    public string Name => CatalogName;
    public double Threshold => _s.Threshold;
    public long Count => _count;
    public int StateSize => TBase.StateBytes + 3 * sizeof(double) + sizeof(long) + sizeof(int) + (_entropy?.StateSize ?? 0)
        + (RecurrenceMemory.Enabled(_s.RecurDamp) ? RecurrenceMemory.StateBytes : 0);

    public double Next(long timestampMs, double value)
    {
        var none = default(NoTrace);
        return Step(timestampMs, value, explain: false, out _, ref none);
    }

    public double Next(long timestampMs, double value, out AnomalyExplanation explanation)
    {
        var none = default(NoTrace);
        return Step(timestampMs, value, explain: true, out explanation, ref none);
    }

    /// <summary>The same step, handing <paramref name="trace"/> its internals (see <see cref="FusionTrace"/>): for the research replays.</summary>
    public double Next<TTrace>(long timestampMs, double value, ref TTrace trace)
        where TTrace : struct, IFusionTrace
        => Step(timestampMs, value, explain: false, out _, ref trace);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private double Step<TTrace>(long timestampMs, double value, bool explain, out AnomalyExplanation explanation, ref TTrace trace)
        where TTrace : struct, IFusionTrace
    {
        explanation = default;
        _count++;
        if (_count == 1)
        {
            _base.Start(value);
            return 0;
        }

        var range = _base.Hi - _base.Lo;
        var floor = _base.Floor(range, _s.RangeFloor);
        var sEff = _base.Scale(floor);
        var dev = Math.Abs(value - _base.Mean);
        var z = Robust.Z(dev, sEff);
        var slot = default(SlotBand);
        if (_s.SeasonMode != 0) z = _base.Season(timestampMs, value, z, floor, _s.Clip, _s.AlphaSeason, _s.SeasonMode, out slot);

        var rawZ = z;
        var calibration = 1.0; // raw z per calibrated z: what the tail calibration divided by
        if (_s.TailP > 0)
        {
            var q = Math.Exp(_logQ);
            // Heavy tails (log q99/q90 above the knee, e.g. tweet counts; a Gaussian's is 0.45, an exponential's 0.69)
            // are calibrated against an extrapolated higher quantile, so their routine bursts stop alerting.
            var qx = TailQuantile(q);
            calibration = Math.Max(qx, _s.TailRef) / _s.TailRef;
            var zc = z * _s.TailRef / Math.Max(qx, _s.TailRef);
            _logQ += _s.TailEta * (z > q ? _s.TailP : -(1 - _s.TailP));
            _logQ90 += _s.TailEta * (z > Math.Exp(_logQ90) ? 0.9 : -0.1);
            z = zc;
        }

        var calibratedZ = z;
        var repeated = false;
        if (RecurrenceMemory.Enabled(_s.RecurDamp) && z >= _s.RecurLevel && _count > _s.Warmup)
        {
            // A deviation at the same time of day as an earlier large one (a daily job, a nightly backup) is the
            // series' routine, not news: damp it. Every large deviation is remembered, alerting or not. A new extreme
            // still scores through the spatial novelty below (damping that too cost 5 NAB points). The warm-up's
            // deviations are not remembered: before a level and a spread exist every reading looks huge.
            var minute = timestampMs / 60_000;
            var repeats = _recur.Repeats(minute, _s.RecurTol);
            _recur.Add(minute);
            repeated = repeats;
            if (repeats) z *= _s.RecurDamp;
        }

        var zScore = z / (z + _s.ZScale);
        var score = zScore;
        if (_entropy != null)
        {
            var e = _entropy.Next(timestampMs, value);
            score = Math.Max(score, _s.WEntropy * e);
        }

        var extreme = false;
        var novel = false;
        if (_s.Spatial > 0 && range > 0 && _count > _s.Warmup)
        {
            var tol = _s.SpatialTol * range;
            if ((value > _base.Hi + tol || value < _base.Lo - tol) && dev > _s.SpatialMin * sEff)
            {
                novel = true;
                extreme = _s.Spatial > score;
                score = Math.Max(score, _s.Spatial);
            }
        }

        if (TTrace.Enabled)
        {
            trace.Step(new FusionTrace(_count, value, rawZ, calibratedZ, _logQ, _logQ90, score, repeated, _base.Mean, sEff, novel,
                timestampMs / 60_000, _base.Hi, _base.Lo));
        }

        var passed = _gate.Pass(_count, _s.Warmup, score, _s.RestLevel, _s.Rest, _s.Extend != 0);
        if (explain && passed >= _s.Threshold) explanation = Explain(zScore, score, extreme, range, sEff, calibration, slot);

        // update baselines (winsorised so one outlier does not drag them)
        var (lo, hi) = (_base.Lo, _base.Hi);
        _base.Update(value, dev, sEff, _s.Clip, Math.Max(_s.AlphaSlow, 1.0 / _count));
        if (_s.RangeClip > 0 && _count > _s.Warmup && hi > lo)
        {
            // After the warm-up a new extreme widens the range by at most rangeClip scales: one glitch (a reading of
            // 1000 from a sensor at 20) must not widen the scale floor (a share of the range) and the spatial novelty's
            // "seen before" for good, deafening the detector to every later shift inside it.
            _base.Hi = Math.Min(_base.Hi, Math.Max(hi, _base.Mean) + _s.RangeClip * sEff);
            _base.Lo = Math.Max(_base.Lo, Math.Min(lo, _base.Mean) - _s.RangeClip * sEff);
        }

        return passed;
    }

    /// <summary>The running tail quantile of z (<paramref name="q"/>), extrapolated where the tail is heavy (log q99/q90 above the knee).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private double TailQuantile(double q)
    {
        var heavy = Math.Max(0, _logQ - _logQ90 - _s.TailKnee);
        return heavy > 0 ? Math.Exp(_logQ + _s.TailExtrap * heavy) : q;
    }

    public AnomalyExplanation Band(long timestampMs)
    {
        var expectedLevel = _base.Mean;
        if (_count < Math.Max(1, _s.Warmup)) return new AnomalyExplanation(AnomalyKind.None, expectedLevel, double.NaN, double.NaN);
        var range = _base.Hi - _base.Lo;
        var floor = _base.Floor(range, _s.RangeFloor);
        var slot = _s.SeasonMode != 0 ? _base.Peek(timestampMs, floor) : default;
        var calibration = _s.TailP > 0 ? Math.Max(TailQuantile(Math.Exp(_logQ)), _s.TailRef) / _s.TailRef : 1.0;
        var (lower, upper) = AcceptedBand(range, _base.Scale(floor), calibration, slot, spatialArmed: _count + 1 > _s.Warmup);
        return new AnomalyExplanation(AnomalyKind.None, slot.Valid ? slot.Mean : expectedLevel, lower, upper);
    }

    /// <summary>
    /// Why a point passed the threshold, from the state before it is learnt: the part that scored highest, the value it
    /// expected (the level, or the hour's slot when that decided), and the band strictly inside which no value would
    /// have alerted at that moment: inside the z band of the level and of the hour's slot (the z that reaches the
    /// threshold, times the tail calibration, times each baseline's robust scale) and, where the spatial novelty can
    /// alert, not beyond the range seen so far plus its tolerance while more than spatialMin scales from the level.
    /// Outside it every value alerts, except where the recurrence damping spares a large deviation at a time of day
    /// that repeats an earlier one (the band is still a guarantee, not the whole non-alerting set). No band (NaN) where
    /// none can be given: a threshold of 0 (everything alerts) or the entropy component able to alert on its own.
    /// </summary>
    private AnomalyExplanation Explain(double zScore, double score, bool extreme, double range, double sEff, double calibration, SlotBand slot)
    {
        var kind = extreme ? AnomalyKind.NewExtreme
            : score > zScore ? AnomalyKind.Distribution
            : slot.Decided ? AnomalyKind.TimeOfDay : AnomalyKind.Level;
        var (lower, upper) = AcceptedBand(range, sEff, calibration, slot, spatialArmed: _count > _s.Warmup);
        return new AnomalyExplanation(kind, slot.Decided ? slot.Mean : _base.Mean, lower, upper);
    }

    /// <summary>The band strictly inside which a point does not alert (see <see cref="Explain"/>); NaN where there is none.</summary>
    private (double Lower, double Upper) AcceptedBand(double range, double sEff, double calibration, SlotBand slot, bool spatialArmed)
    {
        var t = _s.Threshold;
        if (t <= 0 || (_entropy != null && _s.WEntropy >= t)) return (double.NaN, double.NaN);

        var zAlert = t < 1 ? t * _s.ZScale / (1 - t) * calibration : double.PositiveInfinity;
        var mean = _base.Mean;
        var lower = mean - zAlert * sEff;
        var upper = mean + zAlert * sEff;
        if (slot.Valid)
        {
            var slotLower = slot.Mean - zAlert * slot.Scale;
            var slotUpper = slot.Mean + zAlert * slot.Scale;
            if (_s.SeasonMode == 2)
            {
                // max of the two z's (the default): a value alerts where either baseline finds it far
                lower = Math.Max(lower, slotLower);
                upper = Math.Min(upper, slotUpper);
            }
            else if (slotLower <= upper && lower <= slotUpper)
            {
                // min of the two z's (season=1): it alerts only where both find it far, so either band is safe
                lower = Math.Min(lower, slotLower);
                upper = Math.Max(upper, slotUpper);
            }
            else
            {
                return (double.NaN, double.NaN); // two separate bands: no one band
            }
        }

        if (_s.Spatial >= t && range > 0 && spatialArmed)
        {
            var tol = _s.SpatialTol * range;
            lower = Math.Max(lower, Math.Min(_base.Lo - tol, mean - _s.SpatialMin * sEff));
            upper = Math.Min(upper, Math.Max(_base.Hi + tol, mean + _s.SpatialMin * sEff));
        }

        return (lower, upper);
    }

    public byte[] SaveState()
    {
        var w = new StateWriter(CatalogName)
            .Write(_count).Write(_base.Mean).Write(_base.Mad).Write(_base.Lo).Write(_base.Hi).Write(_logQ).Write(_gate.Left);
        w = _base.WriteSlots(w).Write(_entropy?.SaveState() ?? []);
        if (RecurrenceMemory.Enabled(_s.RecurDamp)) w = _recur.Write(w);
        return w.Write(_logQ90).ToArray(); // the later additions last: a state saved before them still loads
    }

    public void LoadState(ReadOnlySpan<byte> state)
    {
        var r = new StateReader(state, CatalogName);
        _count = r.ReadLong();
        _base.Mean = r.ReadFinite();
        _base.Mad = r.ReadFinite();
        _base.Lo = r.ReadFinite();
        _base.Hi = r.ReadFinite();
        _logQ = r.ReadFinite();
        _gate.Left = r.ReadInt();
        _base.ReadSlots(ref r);
        var inner = r.ReadBytes();
        if (_entropy != null) _entropy.LoadState(inner);
        else if (inner.Length != 0) throw new ArgumentException("state was saved with different parameters", "state");
        // A state saved before the recurrence memory or the 90% quantile existed keeps its baseline; they start afresh.
        if (RecurrenceMemory.Enabled(_s.RecurDamp) && !r.AtEnd) _recur.Read(ref r);
        if (!r.AtEnd) _logQ90 = r.ReadFinite();
        r.End();
    }
}

/// <summary>
/// What <see cref="FusionDetector{TBase}"/> computed for one point, before its rest gate: the research replays
/// (tools/Nab <c>trace</c>, tools/Nab/replay) rebuild its calibration, damping and gate from these.
/// </summary>
/// <param name="Count">points seen, this one included</param>
/// <param name="RawZ">the larger robust z of the level and the hour's slot, before the tail calibration</param>
/// <param name="CalibratedZ">z after the tail calibration, before the recurrence damping</param>
/// <param name="LogQ">log of the running 99% quantile of the raw z, after this point's update</param>
/// <param name="LogQ90">log of the running 90% quantile, after this point's update</param>
/// <param name="Score">the score before the rest gate</param>
/// <param name="Repeated">the recurrence memory found this deviation's time of day among the earlier large ones</param>
/// <param name="Level">the level before this point</param>
/// <param name="Scale">the level's robust scale before this point</param>
/// <param name="Novel">the spatial novelty fired (beyond the range seen so far and far from the level)</param>
/// <param name="Minute">the timestamp in whole minutes</param>
public readonly record struct FusionTrace(
    long Count, double Value, double RawZ, double CalibratedZ, double LogQ, double LogQ90, double Score, bool Repeated,
    double Level, double Scale, bool Novel, long Minute, double Hi, double Lo);

/// <summary>A fusion detector (<c>fusion</c>, <c>fusion-lite</c>) that can hand out its internals point by point.</summary>
public interface IFusionTraceable : IAnomalyDetector
{
    /// <summary>Exactly <see cref="IAnomalyDetector.Next"/>, handing <paramref name="trace"/> what was computed on the way.</summary>
    double Next<TTrace>(long timestampMs, double value, ref TTrace trace)
        where TTrace : struct, IFusionTrace;
}

/// <summary>Receives <see cref="FusionTrace"/>s. A struct: where <see cref="Enabled"/> is false the JIT drops the whole call.</summary>
public interface IFusionTrace
{
    static abstract bool Enabled { get; }

    void Step(in FusionTrace point);
}

internal struct NoTrace : IFusionTrace
{
    public static bool Enabled => false;

    public readonly void Step(in FusionTrace point)
    {
    }
}
