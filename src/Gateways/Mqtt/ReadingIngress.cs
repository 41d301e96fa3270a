using System.Threading.Channels;
using Fleet.Grains.Readings;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fleet.Gateways.Mqtt;

/// <summary>
/// The batched producer between the MQTT gateway and the sensor environments (through an <see cref="IReadingTransport"/>). Publishes are queued per
/// shard (a sensor always maps to the same shard, so its readings stay in order); each shard's loop
/// takes everything queued since its last flush and puts it on the streams, one batch per sensor, with
/// at most one flush in flight. Under load batches grow by themselves; when idle a reading leaves at once.
/// A flush the stream provider refuses (e.g. a full queue) is retried with backoff: accepted readings
/// are never dropped, and a full shard queue slows the publishers down instead.
/// </summary>
public sealed class ReadingIngress : BackgroundService
{
    private readonly IReadingTransport _transport;
    private readonly IngressStats _stats;
    private readonly ILogger<ReadingIngress> _logger;
    private readonly MqttGatewayOptions _options;
    private readonly Channel<Pending>[] _shards;

    public ReadingIngress(IReadingTransport transport, IngressStats stats, IOptions<MqttGatewayOptions> options, ILogger<ReadingIngress> logger)
    {
        _transport = transport;
        _stats = stats;
        _logger = logger;
        _options = options.Value;
        _shards = new Channel<Pending>[_options.ProducerShards];
        for (var i = 0; i < _shards.Length; i++)
        {
            _shards[i] = Channel.CreateBounded<Pending>(new BoundedChannelOptions(_options.QueueCapacity)
            {
                SingleReader = true,
                FullMode = BoundedChannelFullMode.Wait,
            });
        }
    }

    private readonly record struct Pending(string SensorId, Reading[] Readings);

    /// <summary>
    /// Queues readings, waiting at most <paramref name="deadline"/> while the shard queue is full. Returns null once
    /// queued, or why nothing was queued (the queue stayed full, or the silo is stopping): a refusal means exactly "not
    /// queued", so a sender that tries again cannot duplicate a reading. The common case (room in the queue) takes no
    /// timer and allocates nothing. Once queued, readings are never dropped: a refused flush is retried, and a graceful
    /// stop drains the queue. (A bounded channel's cancelled write does not write, which is what makes a refusal exact.)
    /// </summary>
    public async ValueTask<string?> TryEnqueueAsync(string sensorId, Reading[] readings, TimeSpan deadline, CancellationToken aborted = default)
    {
        var writer = ShardOf(sensorId).Writer;
        var pending = new Pending(sensorId, readings);
        if (writer.TryWrite(pending)) return null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        if (deadline != Timeout.InfiniteTimeSpan) timeout.CancelAfter(deadline);
        try
        {
            await writer.WriteAsync(pending, timeout.Token);
            return null;
        }
        catch (OperationCanceledException) when (!aborted.IsCancellationRequested)
        {
            return $"the ingress queue stayed full for {ReadingParser.Duration((long)deadline.TotalMilliseconds)}; nothing was queued, send again later";
        }
        catch (ChannelClosedException)
        {
            return "the silo is stopping; nothing was queued, send again later";
        }
    }

    /// <summary>Readings queued and not yet on a stream.</summary>
    public int Backlog => _shards.Sum(s => s.Reader.Count);

    private Channel<Pending> ShardOf(string sensorId)
        => _shards[(int)((uint)StringComparer.Ordinal.GetHashCode(sensorId) % (uint)_shards.Length)];

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
        => Task.WhenAll(_shards.Select(shard => Task.Run(() => PumpAsync(shard.Reader, stoppingToken), CancellationToken.None)));

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // Drain: no new publishes arrive (the MQTT gateway stops first); flush what is queued.
        foreach (var shard in _shards) shard.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    private async Task PumpAsync(ChannelReader<Pending> reader, CancellationToken stoppingToken)
    {
        var groups = new Dictionary<string, List<Reading>>(StringComparer.Ordinal);
        var spare = new Stack<List<Reading>>();
        var flushes = new List<(string SensorId, List<Reading> Readings, Task Task)>();

        while (await reader.WaitToReadAsync(CancellationToken.None))
        {
            var count = 0;
            var publishes = 0;
            while (count < _options.MaxFlushReadings && reader.TryRead(out var pending))
            {
                if (!groups.TryGetValue(pending.SensorId, out var list))
                {
                    list = spare.Count > 0 ? spare.Pop() : new List<Reading>();
                    groups.Add(pending.SensorId, list);
                }

                list.AddRange(pending.Readings);
                count += pending.Readings.Length;
                publishes++;
            }

            await FlushAsync(groups, flushes, stoppingToken);
            _stats.Accepted(publishes, count);
            foreach (var list in groups.Values)
            {
                list.Clear();
                spare.Push(list);
            }

            groups.Clear();
        }
    }

    private async Task FlushAsync(Dictionary<string, List<Reading>> groups, List<(string, List<Reading>, Task)> flushes, CancellationToken stoppingToken)
    {
        foreach (var (sensorId, readings) in groups)
        {
            flushes.Add((sensorId, readings, Send(sensorId, readings)));
        }

        var delay = TimeSpan.FromMilliseconds(5);
        while (flushes.Count > 0)
        {
            try
            {
                await Task.WhenAll(flushes.Select(f => f.Item3));
                flushes.Clear();
                return;
            }
            catch (Exception ex)
            {
                // Keep only what failed and send it again after a pause; what succeeded is not resent.
                var failed = flushes.Where(f => !f.Item3.IsCompletedSuccessfully).ToList();
                flushes.Clear();
                _stats.TransportRetry();
                _logger.LogWarning(ex, "Transport {Transport} refused readings of {Count} sensors; retrying in {Delay}", _transport.Name, failed.Count, delay);
                try
                {
                    await Task.Delay(delay, stoppingToken.IsCancellationRequested ? CancellationToken.None : stoppingToken);
                }
                catch (OperationCanceledException)
                {
                }

                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
                foreach (var (sensorId, readings, _) in failed)
                {
                    flushes.Add((sensorId, readings, Send(sensorId, readings)));
                }
            }
        }
    }

    private Task Send(string sensorId, List<Reading> readings) => _transport.SendAsync(sensorId, readings);
}
