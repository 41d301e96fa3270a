using System.Buffers.Binary;

namespace Fleet.Detectors;

/// <summary>
/// Robust exponentially weighted z-score: tracks an EWMA of the value and of the absolute deviation,
/// scores |x - mean| / (1.25 * mad) through a logistic squashing into [0, 1].
/// </summary>
public sealed class EwmaZScoreDetector : IAnomalyDetector
{
    public const string CatalogName = "ewma-z";
    private readonly double _alpha;
    private readonly double _zAtHalf;
    private readonly int _warmup;
    private double _mean;
    private double _mad;
    private long _count;

    public EwmaZScoreDetector(double alpha = 0.02, double zAtHalf = 4.0, int warmup = 30, double threshold = 0.9)
    {
        if (alpha is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(alpha), "alpha must be in (0, 1)");
        if (zAtHalf <= 0) throw new ArgumentOutOfRangeException(nameof(zAtHalf), "zAtHalf must be positive");
        _alpha = alpha;
        _zAtHalf = zAtHalf;
        _warmup = Math.Max(1, warmup);
        Threshold = threshold;
    }

    public string Name => CatalogName;
    public double Threshold { get; }
    public long Count => _count;
    public int StateSize => 3 * sizeof(double);

    public double Next(long timestampMs, double value)
    {
        _count++;
        if (_count == 1)
        {
            _mean = value;
            _mad = 0;
            return 0;
        }

        var deviation = Math.Abs(value - _mean);
        var scale = 1.25 * _mad + 1e-9 * (Math.Abs(_mean) + 1);
        var score = 0.0;
        if (_count > _warmup)
        {
            var z = deviation / scale;
            // logistic in z: 0.5 at zAtHalf, ~1 well beyond it.
            score = 1.0 / (1.0 + Math.Exp(-(z - _zAtHalf) * 1.5));
        }

        // Winsorise the update so one outlier does not drag the baseline.
        var clipped = Math.Min(deviation, 6 * scale + 1e-12);
        var signed = value >= _mean ? clipped : -clipped;
        _mean += _alpha * signed;
        _mad += _alpha * (clipped - _mad);
        return score;
    }

    public byte[] SaveState()
    {
        var bytes = new byte[3 * sizeof(double)];
        BinaryPrimitives.WriteDoubleLittleEndian(bytes, _mean);
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(8), _mad);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(16), _count);
        return bytes;
    }

    public void LoadState(ReadOnlySpan<byte> state)
    {
        if (state.Length != 24) throw new ArgumentException("state is not an ewma-z state", nameof(state));
        _mean = BinaryPrimitives.ReadDoubleLittleEndian(state);
        _mad = BinaryPrimitives.ReadDoubleLittleEndian(state[8..]);
        _count = BinaryPrimitives.ReadInt64LittleEndian(state[16..]);
    }
}
