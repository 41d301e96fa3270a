namespace Fleet.Grains.Telemetry;

/// <summary>
/// A lock-free latency histogram in microseconds with ~4% wide log buckets from 1 us to ~100 s:
/// cheap enough to record every reading, precise enough for p50/p99.
/// </summary>
public sealed class LatencyHistogram
{
    private const double Growth = 1.04;
    private static readonly double LogGrowth = Math.Log(Growth);
    private const int Buckets = 480; // 1.04^480 ~ 1.5e8 us
    private long[] _counts = new long[Buckets];

    public void Record(long micros)
    {
        var index = micros <= 1 ? 0 : (int)(Math.Log(micros) / LogGrowth);
        if (index >= Buckets) index = Buckets - 1;
        Interlocked.Increment(ref _counts[index]);
    }

    public long Count
    {
        get
        {
            long total = 0;
            foreach (var c in Volatile.Read(ref _counts)) total += c;
            return total;
        }
    }

    /// <summary>The value (us) at quantile q in [0, 1]; the upper edge of the bucket holding it.</summary>
    public double Quantile(double q)
    {
        var counts = Volatile.Read(ref _counts);
        long total = 0;
        foreach (var c in counts) total += c;
        if (total == 0) return 0;
        var rank = (long)Math.Ceiling(q * total);
        if (rank < 1) rank = 1;
        long seen = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            seen += counts[i];
            if (seen >= rank) return Math.Pow(Growth, i + 1);
        }

        return Math.Pow(Growth, Buckets);
    }

    public void Reset() => Interlocked.Exchange(ref _counts, new long[Buckets]);
}
