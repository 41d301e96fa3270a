using Fleet.Grains.Readings;
using Fleet.Grains.Sensors;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fleet.Gateways.Mqtt;

/// <summary>
/// Counts refused publishes per sensor and hands the counts to the sensor grains in batches, so a
/// flood of bad input costs one grain call per sensor per interval, not one per message.
/// </summary>
public sealed class SensorRejectCounter(IGrainFactory grains, IOptions<MqttGatewayOptions> options, ILogger<SensorRejectCounter> logger)
    : BackgroundService
{
    private readonly Lock _lock = new();
    private Dictionary<string, long[]> _pending = new(StringComparer.Ordinal);

    public void Count(string sensorId, RejectReason reason)
    {
        lock (_lock)
        {
            if (!_pending.TryGetValue(sensorId, out var counts))
            {
                counts = new long[RejectReasons.All.Length];
                _pending.Add(sensorId, counts);
            }

            counts[(int)reason]++;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.RejectFlushInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await FlushAsync();
            }
        }
        catch (OperationCanceledException)
        {
        }

        await FlushAsync();
    }

    public async Task FlushAsync()
    {
        Dictionary<string, long[]> batch;
        lock (_lock)
        {
            if (_pending.Count == 0) return;
            batch = _pending;
            _pending = new Dictionary<string, long[]>(StringComparer.Ordinal);
        }

        foreach (var (sensorId, counts) in batch)
        {
            var rejects = RejectReasons.All
                .Where(r => counts[(int)r] > 0)
                .Select(r => new RejectCount(r, counts[(int)r]))
                .ToArray();
            try
            {
                await grains.GetGrain<ISensorGrain>(sensorId).AddRejects(rejects);
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Could not hand reject counts to sensor {SensorId}", sensorId);
            }
        }
    }
}
