using System.Runtime.CompilerServices;

namespace Fleet.Detectors;

/// <summary>
/// The robust baseline shared by <see cref="FusionDetector"/> and <see cref="EnsembleDetector"/>: a winsorised EWMA
/// level (mean, mean absolute deviation) with the running min..max, and a per-hour-of-day baseline (24 slots of mean,
/// mad and count, kept inline: no arrays, no per-point allocation). A mutable struct: keep it in a (non-readonly)
/// field and call it in place. The owning detector decides the save order of the level fields; the slots are saved
/// as three length-prefixed 24-double blocks (mean, mad, count), the layout the detectors always used.
/// </summary>
internal struct RobustBaseline : IFusionBaseline
{
    public const int Slots = 24;

    /// <summary>Bytes of state in memory: the four level doubles, the 2 x 24 slot doubles and the 24 slot counts.</summary>
    public const int StateBytes = LevelBaseline.StateBytes + 2 * Slots * sizeof(double) + Slots * sizeof(ushort);

    static int IFusionBaseline.StateBytes => StateBytes;
    static bool IFusionBaseline.HasSeason => true;

    /// <summary>
    /// A slot's count saturates here. It only matters while 1/(n+1) is above the slot's learning rate, so the results
    /// are exactly those of an unbounded count for any rate of at least 1/65536 (the default is 0.02).
    /// </summary>
    private const int MaxCount = ushort.MaxValue;

    private LevelBaseline _level;
    private SlotBuffer _slots; // [0, 24) mean, [24, 48) mad
    private CountBuffer _counts;

    [InlineArray(2 * Slots)]
    private struct SlotBuffer
    {
        private double _element0;
    }

    [InlineArray(Slots)]
    private struct CountBuffer
    {
        private ushort _element0;
    }

    public double Mean { [MethodImpl(MethodImplOptions.AggressiveInlining)] readonly get => _level.Mean; set => _level.Mean = value; }
    public double Mad { [MethodImpl(MethodImplOptions.AggressiveInlining)] readonly get => _level.Mad; set => _level.Mad = value; }
    public double Lo { [MethodImpl(MethodImplOptions.AggressiveInlining)] readonly get => _level.Lo; set => _level.Lo = value; }
    public double Hi { [MethodImpl(MethodImplOptions.AggressiveInlining)] readonly get => _level.Hi; set => _level.Hi = value; }

    public void Start(double value) => _level.Start(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly double Floor(double range, double rangeFloor) => _level.Floor(range, rangeFloor);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly double Scale(double floor) => _level.Scale(floor);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Update(double value, double dev, double scale, double clip, double a) => _level.Update(value, dev, scale, clip, a);

    /// <summary>
    /// Combines the level z with the z against the value's hour-of-day slot (mode 1: min, otherwise max; the level z
    /// stands in for the slot's until it has 3 points) and updates that slot (winsorised at clip scales, rate
    /// max(alpha, 1/(n+1))).
    /// </summary>
    public double Season(long timestampMs, double value, double z, double floor, double clip, double alpha, int mode)
        => Season(timestampMs, value, z, floor, clip, alpha, mode, out _);

    /// <inheritdoc cref="Season(long, double, double, double, double, double, int)"/>
    /// <param name="band">The slot's level and scale before this point, and whether the slot's z decided the result
    /// (none while the slot has fewer than 3 points: the level z stands in).</param>
    public double Season(long timestampMs, double value, double z, double floor, double clip, double alpha, int mode, out SlotBand band)
    {
        var slot = SlotOf(timestampMs);
        ref var mean = ref _slots[slot];
        ref var mad = ref _slots[Slots + slot];
        ref var count = ref _counts[slot];
        double n = count;
        double z3;
        band = default;
        if (n < 3) z3 = z;
        else
        {
            var scale = Math.Max(1.25 * mad, floor);
            z3 = Robust.Z(Math.Abs(value - mean), scale);
            band = new SlotBand(true, mode == 1 ? z3 < z : z3 > z, mean, scale);
        }

        z = mode == 1 ? Math.Min(z, z3) : Math.Max(z, z3);
        if (n == 0) mean = value;
        var sd = Math.Abs(value - mean);
        var sc = Math.Min(sd, clip * Math.Max(1.25 * mad, floor));
        if (n == 0) sc = 0;
        var a = Math.Max(alpha, 1.0 / (n + 1));
        mean += a * (value >= mean ? sc : -sc);
        mad += a * (sc - mad);
        if (count < MaxCount) count++;
        return z;
    }

    /// <summary>The hour of the day (UTC) of a timestamp: its slot (floor division, so before 1970 too).</summary>
    private static int SlotOf(long timestampMs)
    {
        var slot = (int)(Math.DivRem(timestampMs, 3_600_000, out var rest) % Slots);
        if (rest < 0) slot--;
        return slot < 0 ? slot + Slots : slot;
    }

    /// <summary>The slot a point at <paramref name="timestampMs"/> would be compared with (none below 3 points); changes nothing.</summary>
    public readonly SlotBand Peek(long timestampMs, double floor)
    {
        var slot = SlotOf(timestampMs);
        return _counts[slot] < 3 ? default : new SlotBand(true, false, _slots[slot], Math.Max(1.25 * _slots[Slots + slot], floor));
    }

    /// <summary>Saved as three 24-double blocks (mean, mad, count), the layout the detectors always used.</summary>
    public StateWriter WriteSlots(StateWriter w)
    {
        ReadOnlySpan<double> s = _slots;
        Span<double> counts = stackalloc double[Slots];
        for (var i = 0; i < Slots; i++) counts[i] = _counts[i];
        return w.Write(s[..Slots]).Write(s.Slice(Slots, Slots)).Write(counts);
    }

    public void ReadSlots(ref StateReader r)
    {
        Span<double> s = _slots;
        r.ReadFinite(s[..Slots]);
        r.ReadFinite(s.Slice(Slots, Slots));
        Span<double> counts = stackalloc double[Slots];
        r.ReadFinite(counts);
        for (var i = 0; i < Slots; i++) _counts[i] = (ushort)Math.Clamp(counts[i], 0, MaxCount);
    }
}

/// <summary>
/// The level part of <see cref="RobustBaseline"/> on its own: a winsorised EWMA level (mean, mean absolute deviation) and
/// the running min..max, 32 bytes. The baseline of <c>fusion-lite</c>, which has no hour-of-day slots.
/// </summary>
internal struct LevelBaseline : IFusionBaseline
{
    public const int StateBytes = 4 * sizeof(double);

    static int IFusionBaseline.StateBytes => StateBytes;
    static bool IFusionBaseline.HasSeason => false;

    public double Mean { [MethodImpl(MethodImplOptions.AggressiveInlining)] readonly get; set; }
    public double Mad { [MethodImpl(MethodImplOptions.AggressiveInlining)] readonly get; set; }
    public double Lo { [MethodImpl(MethodImplOptions.AggressiveInlining)] readonly get; set; }
    public double Hi { [MethodImpl(MethodImplOptions.AggressiveInlining)] readonly get; set; }

    /// <summary>First point: the level and the range start at the value.</summary>
    public void Start(double value)
    {
        Mean = value;
        Lo = value;
        Hi = value;
    }

    /// <summary>Scale floor: a fraction of the running range, plus a tiny relative term so constant series stay finite.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly double Floor(double range, double rangeFloor) => rangeFloor * range + Robust.TinyScale(Mean);

    /// <summary>The robust scale of the level (1.25 mad), at least <paramref name="floor"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly double Scale(double floor) => Math.Max(1.25 * Mad, floor);

    /// <summary>No hour-of-day slots.</summary>
    public readonly SlotBand Peek(long timestampMs, double floor) => default;

    /// <summary>No hour-of-day slots: the level z stands.</summary>
    public readonly double Season(long timestampMs, double value, double z, double floor, double clip, double alpha, int mode, out SlotBand band)
    {
        band = default;
        return z;
    }

    /// <summary>Winsorised level update (deviation clipped at clip·scale, rate a) and the running min..max.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Update(double value, double dev, double scale, double clip, double a)
    {
        var c1 = Math.Min(dev, clip * scale);
        Mean += a * (value >= Mean ? c1 : -c1);
        Mad += a * (c1 - Mad);
        if (value < Lo) Lo = value;
        if (value > Hi) Hi = value;
    }

    public readonly StateWriter WriteSlots(StateWriter w) => w;

    public void ReadSlots(ref StateReader r)
    {
    }
}

/// <summary>The arithmetic guards the robust detectors share.</summary>
internal static class Robust
{
    /// <summary>The largest z reported: far beyond any threshold, and finite, so a score never becomes NaN.</summary>
    public const double MaxZ = 1e12;

    /// <summary>
    /// The smallest scale of a series around <paramref name="level"/>: one part in 10^9 of its magnitude (so a series in
    /// small units, 1e-12, is judged like the same series in 1), and above zero for a series that sits at exactly 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double TinyScale(double level) => 1e-9 * Math.Abs(level) + 1e-300;

    /// <summary>|deviation| / scale, at most <see cref="MaxZ"/> (a reading of 1e9 after a series that sat at exactly 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Z(double deviation, double scale)
    {
        var z = deviation / scale;
        return z < MaxZ ? z : MaxZ;
    }
}

/// <summary>What <c>FusionDetector&lt;TBase&gt;</c> needs of its baseline: the level, and optionally hour-of-day slots.</summary>
internal interface IFusionBaseline
{
    static abstract int StateBytes { get; }

    static abstract bool HasSeason { get; }

    double Mean { get; set; }

    double Mad { get; set; }

    double Lo { get; set; }

    double Hi { get; set; }

    void Start(double value);

    double Floor(double range, double rangeFloor);

    double Scale(double floor);

    double Season(long timestampMs, double value, double z, double floor, double clip, double alpha, int mode, out SlotBand band);

    SlotBand Peek(long timestampMs, double floor);

    void Update(double value, double dev, double scale, double clip, double a);

    StateWriter WriteSlots(StateWriter w);

    void ReadSlots(ref StateReader r);
}

/// <summary>An hour-of-day slot's level and robust scale before a point (when it has them), and whether its z decided the point's z.</summary>
internal readonly record struct SlotBand(bool Valid, bool Decided, double Mean, double Scale);
