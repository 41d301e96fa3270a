using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Sensors;

/// <summary>
/// Write-behind for every sensor of this silo with one timer instead of one grain timer per sensor
/// (a grain timer costs ~0.5 KB per activation). A sensor that becomes dirty asks to be checkpointed
/// once, <see cref="SensorPipelineOptions.CheckpointInterval"/> later; the scheduler then calls its
/// <see cref="ISensorGrain.Checkpoint"/>. Deactivation writes a dirty sensor as well, so nothing waits on this at shutdown.
/// </summary>
public sealed class CheckpointScheduler : BackgroundService
{
    private readonly ConcurrentQueue<(GrainId Sensor, long DueTicks)> _queue = new();
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly ILogger<CheckpointScheduler> _logger;
    private readonly IServiceProvider _services;
    private SensorReferences? _sensors;

    public CheckpointScheduler(IOptions<SensorPipelineOptions> options, TimeProvider time, IServiceProvider services, ILogger<CheckpointScheduler> logger)
    {
        _services = services;
        _interval = options.Value.CheckpointInterval;
        _time = time;
        _logger = logger;
    }

    /// <summary>Sensors waiting for their checkpoint.</summary>
    public int Pending => _queue.Count;

    public void Schedule(GrainId sensor)
        => _queue.Enqueue((sensor, _time.GetTimestamp() + (long)(_interval.TotalSeconds * _time.TimestampFrequency)));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var tick = TimeSpan.FromMilliseconds(Math.Clamp(_interval.TotalMilliseconds / 4, 10, 1000));
        using var timer = new PeriodicTimer(tick, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = _time.GetTimestamp();
                // The queue is in due order: every entry waits the same interval.
                while (_queue.TryPeek(out var next) && next.DueTicks <= now && _queue.TryDequeue(out next))
                {
                    _ = CheckpointAsync(next.Sensor);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task CheckpointAsync(GrainId sensor)
    {
        try
        {
            // Resolved late: the scheduler is constructed before the grain runtime is ready.
            _sensors ??= Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<SensorReferences>(_services);
            await _sensors.Get(sensor).Checkpoint();
        }
        catch (Exception ex)
        {
            // The sensor stays dirty and asks again on its next change; deactivation writes it too.
            _logger.LogWarning(ex, "Checkpoint of {Sensor} failed", sensor);
        }
    }
}
