namespace Fleet.Detectors;

/// <summary>
/// NAB's windowed Gaussian baseline, re-derived: the score is 1 - Q(|x - mean| / std), NAB's one-sided normal tail, under a normal
/// fitted to the last <c>window</c> points, refitted every <c>step</c> points (NAB: 6400 and 100; growing
/// window until full). The window is kept as per-step block statistics (count, mean, M2), merged exactly
/// (Chan et al.), so the state is window/step blocks instead of window values.
/// </summary>
public sealed class WindowedGaussianDetector : IAnomalyDetector
{
    public const string CatalogName = "windowed-gaussian";
    private readonly int _blocks;
    private readonly int _step;
    private readonly double _threshold;
    private readonly double[] _blockMean;
    private readonly double[] _blockM2;
    private int _filledBlocks; // full blocks in the window
    private int _head;         // ring index of the oldest full block
    private double _curMean, _curM2;
    private int _curCount;
    private double _mean, _std = 1;
    private long _count;

    public WindowedGaussianDetector(int window = 6400, int step = 100, double threshold = 1.0)
    {
        if (step < 1 || window < step || window % step != 0) throw new ArgumentException("window must be a positive multiple of step");
        _step = step;
        _blocks = window / step;
        _threshold = threshold;
        _blockMean = new double[_blocks];
        _blockM2 = new double[_blocks];
    }

    public static WindowedGaussianDetector Create(IReadOnlyDictionary<string, double>? parameters)
    {
        var p = new ParameterReader(CatalogName, parameters);
        var window = p.GetInt("window", 6400, 2, 1_000_000);
        var step = p.GetInt("step", 100, 1, 1_000_000);
        var threshold = p.Get("threshold", 1.0, 0, 1);
        p.RejectUnknown();
        if (window % step != 0) throw new ArgumentException($"detector '{CatalogName}': window ({window}) must be a multiple of step ({step})");
        return new WindowedGaussianDetector(window, step, threshold);
    }

    public string Name => CatalogName;
    public double Threshold => _threshold;
    public long Count => _count;
    public int StateSize => _blocks * 2 * sizeof(double) + 8 * sizeof(double);

    public double Next(long timestampMs, double value)
    {
        var score = 0.0;
        if (_count > 0)
        {
            var z = Math.Abs(value - _mean) / _std;
            score = 1.0 - Normal.UpperTail(z);
        }

        _count++;
        // Add to the current block.
        _curCount++;
        var d = value - _curMean;
        _curMean += d / _curCount;
        _curM2 += d * (value - _curMean);
        if (_filledBlocks < _blocks)
        {
            // Growing phase: NAB refits after every point until the window is full.
            Refit(includeCurrent: true);
            if (_curCount == _step) CloseBlock();
        }
        else if (_curCount == _step)
        {
            CloseBlock();
            Refit(includeCurrent: false);
        }

        return Math.Clamp(score, 0.0, 1.0);
    }

    private void CloseBlock()
    {
        var slot = (_head + _filledBlocks) % _blocks;
        if (_filledBlocks == _blocks)
        {
            slot = _head;
            _head = (_head + 1) % _blocks;
        }
        else
        {
            _filledBlocks++;
        }

        _blockMean[slot] = _curMean;
        _blockM2[slot] = _curM2;
        _curMean = 0;
        _curM2 = 0;
        _curCount = 0;
    }

    private void Refit(bool includeCurrent)
    {
        double n = 0, mean = 0, m2 = 0;
        for (var i = 0; i < _filledBlocks; i++)
        {
            Merge(ref n, ref mean, ref m2, _step, _blockMean[i], _blockM2[i]);
        }

        if (includeCurrent && _curCount > 0) Merge(ref n, ref mean, ref m2, _curCount, _curMean, _curM2);
        _mean = mean;
        var std = n > 0 ? Math.Sqrt(m2 / n) : 0;
        _std = std == 0 ? 0.000001 : std;
    }

    private static void Merge(ref double n, ref double mean, ref double m2, double nb, double meanB, double m2B)
    {
        var total = n + nb;
        var delta = meanB - mean;
        mean += delta * nb / total;
        m2 += m2B + delta * delta * n * nb / total;
        n = total;
    }

    public byte[] SaveState() => new StateWriter(CatalogName)
        .Write(_blockMean).Write(_blockM2).Write(_filledBlocks).Write(_head)
        .Write(_curMean).Write(_curM2).Write(_curCount).Write(_mean).Write(_std).Write(_count).ToArray();

    public void LoadState(ReadOnlySpan<byte> state)
    {
        var r = new StateReader(state, CatalogName);
        r.Read(_blockMean);
        r.Read(_blockM2);
        _filledBlocks = r.ReadInt();
        _head = r.ReadInt();
        _curMean = r.ReadDouble();
        _curM2 = r.ReadDouble();
        _curCount = r.ReadInt();
        _mean = r.ReadDouble();
        _std = r.ReadDouble();
        _count = r.ReadLong();
        r.End();
    }
}
