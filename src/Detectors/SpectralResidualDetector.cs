namespace Fleet.Detectors;

/// <summary>
/// Spectral residual (Ren et al., KDD 2019), online: on the last <c>window</c> values, the saliency map is
/// |IDFT(exp(log|F| - mean_q(log|F|) + i arg F))|; the point's raw score is (S_last - mean S) / mean S, squashed to
/// r / (r + half). Silent for <c>warmup</c> points and for <c>rest</c> points after an alert. O(window^2) per point with
/// precomputed twiddles, no allocation per point.
/// </summary>
public sealed class SpectralResidualDetector : IAnomalyDetector
{
    public const string CatalogName = "spectral-residual";
    private readonly int _w, _q, _rest, _warmup;
    private readonly double _half, _threshold;
    private readonly double[] _ring, _cos, _sin, _re, _im, _amp, _sal;
    private int _pos;
    private long _count;
    private RestGate _gate;

    public SpectralResidualDetector(IReadOnlyDictionary<string, double>? parameters = null)
    {
        var p = new ParameterReader(CatalogName, parameters);
        _w = p.GetInt("window", 32, 8, 256);
        _q = p.GetInt("q", 3, 1, 32);
        _half = p.Get("half", 3, 1e-3, 1e3);
        _rest = p.Rest(300);
        _warmup = p.Warmup();
        _threshold = p.Get("threshold", 0.75, 0, 1);
        p.RejectUnknown();
        _ring = new double[_w];
        _cos = new double[_w];
        _sin = new double[_w];
        for (var k = 0; k < _w; k++)
        {
            _cos[k] = Math.Cos(2 * Math.PI * k / _w);
            _sin[k] = Math.Sin(2 * Math.PI * k / _w);
        }

        _re = new double[_w];
        _im = new double[_w];
        _amp = new double[_w];
        _sal = new double[_w];
    }

    public string Name => CatalogName;
    public double Threshold => _threshold;
    public long Count => _count;
    public int StateSize => _w * sizeof(double) + 4 * sizeof(long);

    public double Next(long timestampMs, double value)
    {
        _ring[_pos] = value;
        _pos = (_pos + 1) % _w;
        _count++;
        if (_count < _w) return 0;

        var n = _w;
        // DFT of the window in time order (oldest first).
        for (var k = 0; k < n; k++)
        {
            double re = 0, im = 0;
            for (var t = 0; t < n; t++)
            {
                var x = _ring[(_pos + t) % n];
                var idx = (k * t) % n;
                re += x * _cos[idx];
                im -= x * _sin[idx];
            }

            _re[k] = re;
            _im[k] = im;
            _amp[k] = Math.Sqrt(re * re + im * im);
        }

        // Spectral residual: log amplitude minus its local mean, keep the phase.
        for (var k = 0; k < n; k++)
        {
            double sum = 0;
            var cnt = 0;
            for (var j = k - _q / 2; j <= k + (_q - 1) / 2; j++)
            {
                if (j < 0 || j >= n) continue;
                sum += Math.Log(_amp[j] + 1e-8);
                cnt++;
            }

            var logA = Math.Log(_amp[k] + 1e-8);
            var mag = Math.Exp(logA - sum / cnt);
            var scale = _amp[k] > 1e-12 ? mag / _amp[k] : 0;
            _sal[k] = scale; // temporarily the per-frequency factor
        }

        // Saliency = |IDFT(F * factor)|, only its mean and last value are needed.
        double mean = 0, last = 0;
        for (var t = 0; t < n; t++)
        {
            double re = 0, im = 0;
            for (var k = 0; k < n; k++)
            {
                var idx = (k * t) % n;
                var fr = _re[k] * _sal[k];
                var fi = _im[k] * _sal[k];
                re += fr * _cos[idx] - fi * _sin[idx];
                im += fr * _sin[idx] + fi * _cos[idx];
            }

            var s = Math.Sqrt(re * re + im * im) / n;
            mean += s;
            if (t == n - 1) last = s;
        }

        mean /= n;
        var r = mean > 1e-12 ? Math.Max(0, (last - mean) / mean) : 0;
        var score = r / (r + _half);
        return _gate.Pass(_count, _warmup, score, _threshold, _rest);
    }

    public byte[] SaveState() => new StateWriter(CatalogName).Write(_ring).Write(_pos).Write(_count).Write(_gate.Left).ToArray();

    public void LoadState(ReadOnlySpan<byte> state)
    {
        var r = new StateReader(state, CatalogName);
        r.Read(_ring);
        _pos = r.ReadInt();
        _count = r.ReadLong();
        _gate.Left = r.ReadInt();
        r.End();
    }
}
