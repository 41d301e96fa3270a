using System.Runtime.CompilerServices;

namespace Fleet.Detectors;

/// <summary>
/// The robust baseline shared by <see cref="FusionDetector"/> and <see cref="EnsembleDetector"/>: a winsorised EWMA
/// level (mean, mean absolute deviation) with the running min..max, and a per-hour-of-day baseline (24 slots of mean,
/// mad and count, kept inline: no arrays, no per-point allocation). A mutable struct: keep it in a (non-readonly)
/// field and call it in place. The owning detector decides the save order of the level fields; the slots are saved
/// as three length-prefixed 24-double blocks (mean, mad, count), the layout the detectors always used.
/// </summary>
internal struct RobustBaseline
{
    public const int Slots = 24;

    /// <summary>Bytes of state: the four level doubles and the 3 x 24 slot doubles.</summary>
    public const int StateBytes = (4 + 3 * Slots) * sizeof(double);

    public double Mean, Mad, Lo, Hi;
    private SlotBuffer _slots; // [0, 24) mean, [24, 48) mad, [48, 72) count

    [InlineArray(3 * Slots)]
    private struct SlotBuffer
    {
        private double _element0;
    }

    /// <summary>First point: the level and the range start at the value.</summary>
    public void Start(double value)
    {
        Mean = value;
        Lo = value;
        Hi = value;
    }

    /// <summary>Scale floor: a fraction of the running range, plus a tiny relative term so constant series stay finite.</summary>
    public readonly double Floor(double range, double rangeFloor) => rangeFloor * range + 1e-9 * (Math.Abs(Mean) + 1);

    /// <summary>The robust scale of the level (1.25 mad), at least <paramref name="floor"/>.</summary>
    public readonly double Scale(double floor) => Math.Max(1.25 * Mad, floor);

    /// <summary>
    /// Combines the level z with the z against the value's hour-of-day slot (mode 1: min, otherwise max; the level z
    /// stands in for the slot's until it has 3 points) and updates that slot (winsorised at clip scales, rate
    /// max(alpha, 1/(n+1))).
    /// </summary>
    public double Season(long timestampMs, double value, double z, double floor, double clip, double alpha, int mode)
    {
        var slot = (int)((timestampMs / 3_600_000) % Slots);
        if (slot < 0) slot += Slots;
        ref var mean = ref _slots[slot];
        ref var mad = ref _slots[Slots + slot];
        ref var n = ref _slots[2 * Slots + slot];
        double z3;
        if (n < 3) z3 = z;
        else z3 = Math.Abs(value - mean) / Math.Max(1.25 * mad, floor);
        z = mode == 1 ? Math.Min(z, z3) : Math.Max(z, z3);
        if (n == 0) mean = value;
        var sd = Math.Abs(value - mean);
        var sc = Math.Min(sd, clip * Math.Max(1.25 * mad, floor));
        if (n == 0) sc = 0;
        var a = Math.Max(alpha, 1.0 / (n + 1));
        mean += a * (value >= mean ? sc : -sc);
        mad += a * (sc - mad);
        n++;
        return z;
    }

    /// <summary>Winsorised level update (deviation clipped at clip·scale, rate a) and the running min..max.</summary>
    public void Update(double value, double dev, double scale, double clip, double a)
    {
        var c1 = Math.Min(dev, clip * scale);
        Mean += a * (value >= Mean ? c1 : -c1);
        Mad += a * (c1 - Mad);
        if (value < Lo) Lo = value;
        if (value > Hi) Hi = value;
    }

    public readonly StateWriter WriteSlots(StateWriter w)
    {
        ReadOnlySpan<double> s = _slots;
        return w.Write(s[..Slots]).Write(s.Slice(Slots, Slots)).Write(s[(2 * Slots)..]);
    }

    public void ReadSlots(ref StateReader r)
    {
        Span<double> s = _slots;
        r.Read(s[..Slots]);
        r.Read(s.Slice(Slots, Slots));
        r.Read(s[(2 * Slots)..]);
    }
}
