using System.Runtime.CompilerServices;

namespace Fleet.Detectors;

/// <summary>
/// The minutes (unix time / 60 s) of the last <see cref="Size"/> large deviations, inline (no array object), and
/// whether a new one repeats one of them: at the same time of day (within a tolerance), at least half a day later.
/// Minutes are kept as ints (they fit until the year 6053; the ingress admits 2000-2200) and 0 marks an empty entry
/// (1970-01-01 00:00, outside that range).
/// </summary>
internal struct RecurrenceMemory
{
    public const int Size = 8;

    /// <summary>Bytes of state.</summary>
    public const int StateBytes = (Size + 1) * sizeof(int);

    private const long Day = 24 * 60;

    private Minutes _at;
    private int _next;

    [InlineArray(Size)]
    private struct Minutes
    {
        private int _element0;
    }

    /// <summary>On (state kept and saved) when the owning detector damps repeats.</summary>
    public static bool Enabled(double damp) => damp < 1;

    public readonly bool Repeats(long minute, int tolerance)
    {
        for (var i = 0; i < Size; i++)
        {
            var earlier = _at[i];
            if (earlier == 0) continue;
            var gap = minute - earlier;
            if (gap < Day / 2) continue;
            var phase = gap % Day;
            if (phase <= tolerance || phase >= Day - tolerance) return true;
        }

        return false;
    }

    public void Add(long minute)
    {
        _at[_next] = (int)minute;
        _next = (_next + 1) % Size;
    }

    public readonly StateWriter Write(StateWriter w)
    {
        ReadOnlySpan<int> at = _at;
        return w.Write(at).Write(_next);
    }

    public void Read(ref StateReader r)
    {
        Span<int> at = _at;
        r.Read(at);
        _next = r.ReadInt();
        if ((uint)_next >= Size) throw new ArgumentException("recurrence memory state is corrupt", "state");
    }
}
