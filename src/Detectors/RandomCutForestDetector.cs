namespace Fleet.Detectors;

/// <summary>
/// Streaming robust random cut forest (Guha et al., ICML 2016; the rrcf "sliding window" variant), sized to fit the
/// per-metric budget: <c>trees</c> trees over the last <c>samples</c> shingles of <c>shingle</c> consecutive values.
/// Every point deletes the oldest shingle from each tree, inserts the new one (random cut proportional to the bounding
/// box spans, exactly as RRCF) and scores it by its collusive displacement (CoDisp: max over ancestors of sibling
/// mass / own mass), averaged over the trees. The raw CoDisp is divided by its running mean (EWMA) and squashed to
/// z / (z + zScale); silent for <c>warmup</c> points and for <c>rest</c> points after a score at or above
/// <c>restLevel</c> (one alert per event).
/// <para>Compact layout (all trees in flat arrays, byte node ids, float coordinates and cuts, bounding boxes only
/// on internal nodes): about trees x samples x (9 + 8 shingle) bytes; the defaults (4 x 32, shingle 4) use ~6 KB.
/// No allocation per point.</para>
/// </summary>
public sealed class RandomCutForestDetector : IAnomalyDetector
{
    public const string CatalogName = "rcf";
    private const int LeafBase = 128;

    private readonly int _t, _s, _d, _r, _mask, _warmup, _rest;
    private readonly double _zScale, _alpha, _threshold, _restLevel;

    // values ring (float), R = samples + shingle - 1 rounded up to a power of two
    private readonly float[] _ring;

    // internal nodes: index t*S + i, i in [0, S-1)
    private readonly byte[] _left, _right, _iparent, _imass, _dim;
    private readonly float[] _cut;
    private readonly float[] _bmin, _bmax; // (t*S + i) * d + m
    private readonly byte[] _ifree; // free stacks of internal ids per tree
    private readonly int[] _ifreeCount;

    // leaves: index t*S + l
    private readonly byte[] _lparent, _lcount, _lrep; // rep = shingle index mod R
    private readonly byte[] _lfree;
    private readonly int[] _lfreeCount;
    private readonly byte[] _slotLeaf; // t*S + slot -> leaf
    private readonly byte[] _root;
    private readonly int[] _size; // shingles in tree

    private long _count, _shingles;
    private ulong _rng;
    private double _cdMean;
    private RestGate _gate;

    // scratch (not state)
    private readonly float[] _p, _lo, _hi, _span, _nmin, _nmax;

    public RandomCutForestDetector(IReadOnlyDictionary<string, double>? parameters = null)
    {
        var p = new ParameterReader(CatalogName, parameters);
        _t = p.GetInt("trees", 4, 1, 16);
        _s = p.GetInt("samples", 32, 4, 128);
        _d = p.GetInt("shingle", 4, 1, 16);
        _zScale = p.Get("zScale", 3, 1e-3, 1e3);
        _alpha = p.Get("alpha", 0.005, 1e-5, 1);
        _warmup = p.Warmup();
        _rest = p.Rest(300);
        _threshold = p.Get("threshold", 0.6, 0, 1);
        _restLevel = p.Get("restLevel", 0.6, 0, 1);
        var seed = p.GetInt("seed", 17, 0, int.MaxValue);
        p.RejectUnknown();
        _r = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)(_s + _d - 1));
        _mask = _r - 1;
        _ring = new float[_r];
        var n = _t * _s;
        _left = new byte[n];
        _right = new byte[n];
        _iparent = new byte[n];
        _imass = new byte[n];
        _dim = new byte[n];
        _cut = new float[n];
        _bmin = new float[n * _d];
        _bmax = new float[n * _d];
        _ifree = new byte[n];
        _ifreeCount = new int[_t];
        _lparent = new byte[n];
        _lcount = new byte[n];
        _lrep = new byte[n];
        _lfree = new byte[n];
        _lfreeCount = new int[_t];
        _slotLeaf = new byte[n];
        _root = new byte[_t];
        _size = new int[_t];
        for (var t = 0; t < _t; t++)
        {
            for (var i = 0; i < _s; i++)
            {
                _ifree[t * _s + i] = (byte)(_s - 1 - i);
                _lfree[t * _s + i] = (byte)(_s - 1 - i);
            }

            _ifreeCount[t] = _s - 1;
            _lfreeCount[t] = _s;
        }

        if (StateSize > 8 * 1024)
        {
            throw new ArgumentException($"detector '{CatalogName}': trees={_t} x samples={_s} x shingle={_d} needs {StateSize} bytes of state, over the 8 KB budget");
        }

        _rng = 0x9E3779B97F4A7C15UL ^ (ulong)seed * 0xD1B54A32D192ED03UL;
        if (_rng == 0) _rng = 1;
        _p = new float[_d];
        _lo = new float[_d];
        _hi = new float[_d];
        _span = new float[_d];
        _nmin = new float[_d];
        _nmax = new float[_d];
    }

    public string Name => CatalogName;
    public double Threshold => _threshold;
    public long Count => _count;

    public int StateSize =>
        _r * 4 + _t * _s * (5 + 4 + 8 * _d + 1) // internal nodes (+ free stack)
        + _t * _s * (3 + 1 + 1) // leaves (+ free stack, slot map)
        + _t * (1 + 4 + 4 + 4) + 8 * 4 + 4;

    public double Next(long timestampMs, double value)
    {
        _count++;
        var k = _count - _d; // index of the shingle ending at this value
        double score = 0;
        if (k >= 0)
        {
            var slot = (int)(k % _s);
            if (k >= _s)
            {
                for (var t = 0; t < _t; t++) Delete(t, slot, k);
            }

            _ring[(int)((_count - 1) & _mask)] = ToFloat(value);
            for (var m = 0; m < _d; m++) _p[m] = _ring[(int)((k + m) & _mask)];
            double cd = 0;
            for (var t = 0; t < _t; t++) cd += Insert(t, slot, k);
            cd /= _t;
            _shingles = k + 1;
            var z = _cdMean > 0 ? cd / _cdMean : 0;
            score = z / (z + _zScale);
            var a = Math.Max(_alpha, 1.0 / (k + 1));
            _cdMean += a * (cd - _cdMean);
        }
        else
        {
            _ring[(int)((_count - 1) & _mask)] = ToFloat(value);
        }

        return _gate.Pass(_count, _warmup, score, _restLevel, _rest);
    }

    /// <summary>
    /// Coordinates are floats: a value beyond ±1e36 is clamped there, so boxes and their spans (sums of differences)
    /// stay finite. A double beyond float's range (3.4e38) became infinite and made a cut impossible (an exception on
    /// every later point).
    /// </summary>
    private static float ToFloat(double value) => (float)Math.Clamp(value, -1e36, 1e36);

    private float NextFloat()
    {
        var x = _rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        _rng = x;
        return (x >> 40) * (1.0f / (1 << 24));
    }

    private int Mass(int b, int id) => id >= LeafBase ? _lcount[b + id - LeafBase] : _imass[b + id];

    private void Bounds(int b, int id, float[] min, float[] max)
    {
        if (id >= LeafBase)
        {
            var rep = _lrep[b + id - LeafBase];
            for (var m = 0; m < _d; m++)
            {
                var v = _ring[(rep + m) & _mask];
                min[m] = v;
                max[m] = v;
            }
        }
        else
        {
            var o = (b + id) * _d;
            for (var m = 0; m < _d; m++)
            {
                min[m] = _bmin[o + m];
                max[m] = _bmax[o + m];
            }
        }
    }

    private int Parent(int b, int id) => id >= LeafBase ? _lparent[b + id - LeafBase] : _iparent[b + id];

    private void SetParent(int b, int id, int parent)
    {
        if (id >= LeafBase) _lparent[b + id - LeafBase] = (byte)parent;
        else _iparent[b + id] = (byte)parent;
    }

    /// <summary>Inserts shingle k (coordinates in _p) into tree t at window slot; returns its CoDisp.</summary>
    private double Insert(int t, int slot, long k)
    {
        var b = t * _s;
        var leaf = _lfree[b + --_lfreeCount[t]];
        var leafId = LeafBase + leaf;
        _lcount[b + leaf] = 1;
        _lrep[b + leaf] = (byte)(k & _mask);
        _slotLeaf[b + slot] = leaf;
        if (_size[t]++ == 0)
        {
            _root[t] = (byte)leafId;
            return 0;
        }

        var d = _d;
        ReadOnlySpan<float> p = _p.AsSpan(0, d);
        Span<float> lo = _lo.AsSpan(0, d), hi = _hi.AsSpan(0, d), span = _span.AsSpan(0, d), leafBox = _nmin.AsSpan(0, d);
        int node = _root[t];
        while (true)
        {
            // the node's box: an internal node's stored box, a leaf's point (read in place, no copy of internal boxes)
            ReadOnlySpan<float> nmin, nmax;
            if (node >= LeafBase)
            {
                var rep = _lrep[b + node - LeafBase];
                for (var m = 0; m < d; m++) leafBox[m] = _ring[(rep + m) & _mask];
                nmin = leafBox;
                nmax = leafBox;
            }
            else
            {
                nmin = _bmin.AsSpan((b + node) * d, d);
                nmax = _bmax.AsSpan((b + node) * d, d);
            }

            float total = 0;
            for (var m = 0; m < d; m++)
            {
                var l = Math.Min(nmin[m], p[m]);
                var h = Math.Max(nmax[m], p[m]);
                lo[m] = l;
                hi[m] = h;
                span[m] = h - l;
                total += h - l;
            }

            if (total <= 0)
            {
                // duplicate of an existing leaf: merge (ancestors' masses were already incremented on the way down)
                var dup = node - LeafBase;
                _lcount[b + dup]++;
                _lfree[b + _lfreeCount[t]++] = leaf;
                _slotLeaf[b + slot] = (byte)dup;
                return CoDisp(b, t, node);
            }

            var r = NextFloat() * total;
            var dim = 0;
            while (dim < d - 1 && (r >= span[dim] || span[dim] <= 0))
            {
                r -= span[dim];
                dim++;
            }

            while (span[dim] <= 0) dim--; // rounding at the end of the range
            var cut = lo[dim] + Math.Max(r, 0);
            if (cut >= hi[dim]) cut = MathF.BitDecrement(hi[dim]);
            if (cut < lo[dim]) cut = lo[dim];

            int left, right;
            if (cut < nmin[dim])
            {
                left = leafId;
                right = node;
            }
            else if (cut >= nmax[dim])
            {
                left = node;
                right = leafId;
            }
            else
            {
                // descend through an internal node: it will contain the point
                var o = (b + node) * d;
                lo.CopyTo(_bmin.AsSpan(o, d));
                hi.CopyTo(_bmax.AsSpan(o, d));
                _imass[b + node]++;
                node = p[_dim[b + node]] <= _cut[b + node] ? _left[b + node] : _right[b + node];
                continue;
            }

            var ni = _ifree[b + --_ifreeCount[t]];
            _left[b + ni] = (byte)left;
            _right[b + ni] = (byte)right;
            _dim[b + ni] = (byte)dim;
            _cut[b + ni] = cut;
            _imass[b + ni] = (byte)(Mass(b, node) + 1);
            var no = (b + ni) * d;
            lo.CopyTo(_bmin.AsSpan(no, d));
            hi.CopyTo(_bmax.AsSpan(no, d));

            if (node == _root[t])
            {
                _root[t] = ni;
            }
            else
            {
                var par = Parent(b, node);
                if (_left[b + par] == node) _left[b + par] = ni;
                else _right[b + par] = ni;
                _iparent[b + ni] = (byte)par;
            }

            SetParent(b, node, ni);
            _lparent[b + leaf] = ni;
            return CoDisp(b, t, leafId);
        }
    }

    private double CoDisp(int b, int t, int id)
    {
        double best = 0;
        var v = id;
        while (v != _root[t])
        {
            var par = Parent(b, v);
            var sib = _left[b + par] == v ? _right[b + par] : _left[b + par];
            var d = (double)Mass(b, sib) / Mass(b, v);
            if (d > best) best = d;
            v = par;
        }

        return best;
    }

    /// <summary>Removes the shingle k - S (the oldest) held at window slot from tree t.</summary>
    private void Delete(int t, int slot, long k)
    {
        var b = t * _s;
        var leaf = _slotLeaf[b + slot];
        var leafId = LeafBase + leaf;
        _size[t]--;
        if (_lcount[b + leaf] > 1)
        {
            _lcount[b + leaf]--;
            for (var v = leafId; v != _root[t];)
            {
                v = Parent(b, v);
                _imass[b + v]--;
            }

            if (_lrep[b + leaf] == (byte)((k - _s) & _mask))
            {
                for (var j = 0; j < _s; j++)
                {
                    if (j == slot || _slotLeaf[b + j] != leaf) continue;
                    var tau = k - ((k - j) % _s);
                    _lrep[b + leaf] = (byte)(tau & _mask);
                    break;
                }
            }

            return;
        }

        _lfree[b + _lfreeCount[t]++] = leaf;
        if (leafId == _root[t]) return;
        var par = _lparent[b + leaf];
        var sib = _left[b + par] == leafId ? _right[b + par] : _left[b + par];
        _ifree[b + _ifreeCount[t]++] = par;
        if (par == _root[t])
        {
            _root[t] = sib;
            return;
        }

        var g = _iparent[b + par];
        if (_left[b + g] == par) _left[b + g] = sib;
        else _right[b + g] = sib;
        SetParent(b, sib, g);
        var boxes = true;
        for (var v = (int)g; ; v = _iparent[b + v])
        {
            _imass[b + v]--;
            if (boxes)
            {
                // An ancestor's box is the union of its children's: once a box is unchanged, every box above it is too.
                var o = (b + v) * _d;
                Bounds(b, _left[b + v], _nmin, _nmax);
                Bounds(b, _right[b + v], _lo, _hi);
                var changed = false;
                for (var m = 0; m < _d; m++)
                {
                    var mn = Math.Min(_nmin[m], _lo[m]);
                    var mx = Math.Max(_nmax[m], _hi[m]);
                    changed |= mn != _bmin[o + m] || mx != _bmax[o + m];
                    _bmin[o + m] = mn;
                    _bmax[o + m] = mx;
                }

                boxes = changed;
            }

            if (v == _root[t]) break;
        }
    }

    public byte[] SaveState()
    {
        return new StateWriter(CatalogName)
            .Write(_count).Write(_shingles).Write((long)_rng).Write(_cdMean).Write(_gate.Left)
            .Write(_ring).Write(_left).Write(_right).Write(_iparent).Write(_imass).Write(_dim).Write(_cut)
            .Write(_bmin).Write(_bmax).Write(_ifree).Write(_ifreeCount)
            .Write(_lparent).Write(_lcount).Write(_lrep).Write(_lfree).Write(_lfreeCount).Write(_slotLeaf)
            .Write(_root).Write(_size).ToArray();
    }

    public void LoadState(ReadOnlySpan<byte> state)
    {
        var r = new StateReader(state, CatalogName);
        _count = r.ReadLong();
        _shingles = r.ReadLong();
        _rng = (ulong)r.ReadLong();
        _cdMean = r.ReadDouble();
        _gate.Left = r.ReadInt();
        r.Read(_ring);
        r.Read(_left);
        r.Read(_right);
        r.Read(_iparent);
        r.Read(_imass);
        r.Read(_dim);
        r.Read(_cut);
        r.Read(_bmin);
        r.Read(_bmax);
        r.Read(_ifree);
        r.Read(_ifreeCount);
        r.Read(_lparent);
        r.Read(_lcount);
        r.Read(_lrep);
        r.Read(_lfree);
        r.Read(_lfreeCount);
        r.Read(_slotLeaf);
        r.Read(_root);
        r.Read(_size);
        r.End();
    }
}
