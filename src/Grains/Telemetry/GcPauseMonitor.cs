using Microsoft.Extensions.Hosting;

namespace Fleet.Grains.Telemetry;

/// <summary>One garbage collection's pause as the runtime reported it.</summary>
/// <remarks><paramref name="PromotedBytes"/> is what survived the collection (copied or kept), the usual cause of a long pause.</remarks>
public sealed record GcPause(long Index, int Generation, string Kind, double PauseMs, long PromotedBytes, long HeapBytes, DateTime AtUtc);

/// <summary>
/// Watches the runtime's garbage collections (polling <see cref="GC.GetGCMemoryInfo(GCKind)"/> every 10 ms for
/// ephemeral, full blocking and background collections) and keeps the recent pauses, so a latency tail can be
/// laid beside the pauses that caused it (<c>GET /stats/pipeline</c>). Diagnostics only: nothing per message.
/// </summary>
public sealed class GcPauseMonitor : BackgroundService
{
    private const int Keep = 256;
    private readonly Lock _gate = new();
    private readonly Queue<GcPause> _recent = new();
    private readonly long[] _lastIndex = new long[3];

    public IReadOnlyList<GcPause> Recent
    {
        get
        {
            lock (_gate) return _recent.ToArray();
        }
    }

    public void Reset()
    {
        lock (_gate) _recent.Clear();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var kinds = new[] { GCKind.Ephemeral, GCKind.FullBlocking, GCKind.Background };
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            for (var k = 0; k < kinds.Length; k++)
            {
                var info = GC.GetGCMemoryInfo(kinds[k]);
                if (info.Index == 0 || info.Index == _lastIndex[k]) continue;
                _lastIndex[k] = info.Index;
                var pause = 0.0;
                foreach (var d in info.PauseDurations) pause += d.TotalMilliseconds;
                lock (_gate)
                {
                    if (_recent.Count == Keep) _recent.Dequeue();
                    _recent.Enqueue(new GcPause(info.Index, info.Generation, kinds[k].ToString(), pause, info.PromotedBytes, info.HeapSizeBytes, DateTime.UtcNow));
                }
            }
        }
    }
}
