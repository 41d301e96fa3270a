using System.Runtime.InteropServices;

namespace Fleet.Detectors;

/// <summary>
/// Bounded-memory re-derivation of CAD OSE (Contextual Anomaly Detector, open-source edition).
/// <list type="bullet">
/// <item>Values are quantised into <c>bins</c> bins over a learned running range: the range only grows, and when a
///   value falls outside it the range is widened to include the value plus <c>pad</c> of the new range (no access to
///   the file's min/max, unlike NAB's CAD OSE). A known range (<c>min</c>, <c>max</c>: a sensor's datasheet range)
///   is the starting range instead; a value outside it still widens it.</item>
/// <item>The last <c>order</c> bins form left contexts of orders 1..order; a context pair is (left context of order k,
///   current bin). A capped, hashed fact store (2-way set-associative table of 16-bit fingerprints, 2^tableBits
///   entries) remembers which left contexts and which pairs occurred.</item>
/// <item>As in CAD: s1 = share of the predicted contexts (left context known) whose pair did not occur before
///   (1 when nothing was predicted), s2 = share of the pairs that are new; raw score (s1 + s2) / 2.</item>
/// <item>Silent for <c>warmup</c> points; after a score ≥ restLevel silent for <c>rest</c> points (extend=1: as in
///   CAD, every raw score ≥ restLevel during the rest restarts it).</item>
/// </list>
/// O(order) per point, no allocation, state ≈ 2^tableBits · 2 bytes + 80 bytes (4.2 KB by default).
/// </summary>
public sealed class ContextNoveltyDetector : IAnomalyDetector
{
    public const string CatalogName = "cad";

    private readonly int _bins, _order, _rest, _warmup, _extend, _mask;
    private readonly double _pad, _threshold, _restLevel;
    private readonly ushort[] _table;
    private readonly byte[] _history;

    private long _count;
    private double _lo, _hi;
    private int _filled, _head, _epoch, _lastEpoch;
    private RestGate _gate;
    private readonly int _epochMode;
    private readonly KnownRange _known;

    public ContextNoveltyDetector(IReadOnlyDictionary<string, double>? parameters = null)
    {
        var p = new ParameterReader(CatalogName, parameters);
        _bins = p.GetInt("bins", 12, 2, 64);
        _order = p.GetInt("order", 3, 1, 16);
        var tableBits = p.GetInt("tableBits", 11, 4, 12);
        _pad = p.Get("pad", 0.1, 0, 10);
        _rest = p.Rest(150);
        _warmup = p.Warmup();
        _threshold = p.Get("threshold", 1.0, 0, 1);
        _restLevel = p.Get("restLevel", 0.75, 0, 1);
        _extend = p.GetInt("extend", 0, 0, 1);
        _epochMode = p.GetInt("epoch", 2, 0, 2);
        _known = p.KnownRange();
        p.RejectUnknown();
        _table = new ushort[1 << tableBits];
        _mask = (1 << tableBits) - 1;
        _history = new byte[16];
    }

    public string Name => CatalogName;
    public double Threshold => _threshold;
    public long Count => _count;
    public int StateSize => _table.Length * sizeof(ushort) + _history.Length + 2 * sizeof(double) + sizeof(long) + 5 * sizeof(int);

    /// <summary>Raw CAD score of the point (no warm-up or rest handling); learns the point.</summary>
    internal double Raw(double value)
    {
        _count++;
        if (_count == 1)
        {
            (_lo, _hi) = _known.StartAt(value);
        }
        else if (value > _hi)
        {
            _hi = value + _pad * (value - _lo);
            _epoch++;
        }
        else if (value < _lo)
        {
            _lo = value - _pad * (_hi - value);
            _epoch++;
        }

        var range = _hi - _lo;
        var bin = range > 0 ? (int)((value - _lo) / range * _bins) : 0;
        if (bin >= _bins) bin = _bins - 1;
        if (bin < 0) bin = 0;

        var n = Math.Min(_filled, _order);
        var predicted = 0;
        var active = 0;
        var fresh = 0;
        var expanded = _epoch != _lastEpoch;
        _lastEpoch = _epoch;
        ulong h = _epochMode == 1 ? Mix(0x243F6A8885A308D3UL ^ (ulong)_epoch) : 0x243F6A8885A308D3UL;
        for (var k = 1; k <= n; k++)
        {
            var prev = _history[(_head - k) & 15];
            h = Mix(h ^ ((ulong)prev + 1) ^ ((ulong)k << 8));
            var pair = Mix(h ^ (((ulong)bin + 1) << 40) ^ 0x9E3779B97F4A7C15UL);
            var leftSeen = Lookup(h, learn: true);
            var pairSeen = Lookup(pair, learn: true);
            if (leftSeen)
            {
                predicted++;
                if (pairSeen) active++;
            }

            if (!pairSeen) fresh++;
        }

        _history[_head & 15] = (byte)bin;
        _head = (_head + 1) & 15;
        if (_filled < 16) _filled++;
        if (n == 0) return 0;
        var s1 = predicted > 0 ? 1.0 - (double)active / predicted : 1.0;
        var s2 = (double)fresh / n;
        return _epochMode == 2 && expanded && _count > 2 ? 1.0 : 0.5 * (s1 + s2);
    }

    private bool Lookup(ulong h, bool learn)
    {
        var fp = (ushort)((h >> 48) | 1);
        var i = (int)h & _mask;
        var j = i ^ 1;
        if (_table[i] == fp || _table[j] == fp) return true;
        if (learn)
        {
            if (_table[i] == 0) _table[i] = fp;
            else if (_table[j] == 0) _table[j] = fp;
            else _table[((h >> 40) & 1) == 0 ? i : j] = fp;
        }

        return false;
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public double Next(long timestampMs, double value)
    {
        var score = Raw(value);
        return _gate.Pass(_count, _warmup, score, _restLevel, _rest, _extend != 0);
    }

    public byte[] SaveState() => new StateWriter(CatalogName)
        .Write(_count).Write(_lo).Write(_hi).Write(_filled).Write(_head).Write(_gate.Left).Write(_epoch).Write(_lastEpoch)
        .Write(MemoryMarshal.AsBytes(_table.AsSpan())).Write(_history).ToArray();

    public void LoadState(ReadOnlySpan<byte> state)
    {
        var r = new StateReader(state, CatalogName);
        _count = r.ReadLong();
        _lo = r.ReadDouble();
        _hi = r.ReadDouble();
        _filled = r.ReadInt();
        _head = r.ReadInt();
        _gate.Left = r.ReadInt();
        _epoch = r.ReadInt();
        _lastEpoch = r.ReadInt();
        r.Read(MemoryMarshal.AsBytes(_table.AsSpan()));
        r.Read(_history.AsSpan());
        r.End();
    }
}
