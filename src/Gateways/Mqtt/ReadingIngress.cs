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
/// A send the transport refuses (e.g. a full stream queue, a sensor whose state cannot load) parks that sensor's
/// readings and retries them with backoff while the shard's other sensors flow on: accepted readings are never
/// dropped or reordered, and once parked readings fill the shard's queue capacity the publishers slow down instead.
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

    /// <summary>
    /// A sensor whose readings the transport refused. They wait here, in order, and every later reading of that sensor
    /// queues behind them, so the sensor's order holds; they are sent again with a backoff of their own, while the
    /// shard's other sensors keep flowing. One sensor that cannot take readings (a state it cannot load, a bug) no longer
    /// stalls the shard, and nothing is dropped.
    /// </summary>
    private sealed class Parked(List<Reading> readings)
    {
        public readonly List<Reading> Readings = readings;
        public int Failures;
        public long RetryAt;
    }

    private readonly record struct Send(string SensorId, List<Reading> Readings, Parked? Retry, Task Task);

    private async Task PumpAsync(ChannelReader<Pending> reader, CancellationToken stoppingToken)
    {
        var groups = new Dictionary<string, List<Reading>>(StringComparer.Ordinal);
        var spare = new Stack<List<Reading>>();
        var parked = new Dictionary<string, Parked>(StringComparer.Ordinal);
        var sends = new List<Send>();
        Task<bool>? more = null;
        var open = true;
        var drainLogged = false;

        while (true)
        {
            // Parked readings count against the shard's queue capacity: once they fill it, publishes are not taken (the
            // queue fills and publishers slow down, as with a stalled transport) until the parked sensors drain.
            var taking = open && ParkedReadings(parked) < _options.QueueCapacity;
            if (parked.Count == 0)
            {
                // The common case: nothing parked, wait for publishes alone (no timer, no task).
                if (!open) return;
                if (more is null)
                {
                    open = await reader.WaitToReadAsync(CancellationToken.None);
                }
                else
                {
                    open = await more;
                    more = null;
                }
            }
            else
            {
                if (taking) more ??= reader.WaitToReadAsync(CancellationToken.None).AsTask();
                if (!open && !drainLogged && stoppingToken.IsCancellationRequested)
                {
                    drainLogged = true;
                    _logger.LogWarning("Stopping with {Readings} readings of {Sensors} sensors the transport keeps refusing; retrying them until the host's shutdown timeout",
                        ParkedReadings(parked), parked.Count);
                }

                var wait = parked.Values.Min(p => p.RetryAt) - Environment.TickCount64;
                if (wait > 0)
                {
                    var delay = Task.Delay(TimeSpan.FromMilliseconds(wait));
                    await (taking ? Task.WhenAny(more!, delay) : delay);
                }

                if (more is { IsCompleted: true })
                {
                    open = more.Result;
                    more = null;
                }
            }

            var count = 0;
            var publishes = 0;
            while (taking && count < _options.MaxFlushReadings && reader.TryRead(out var pending))
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

            var delivered = await FlushAsync(groups, parked, sends);
            _stats.Accepted(publishes, delivered);
            foreach (var list in groups.Values)
            {
                list.Clear();
                spare.Push(list);
            }

            groups.Clear();
        }
    }

    private static int ParkedReadings(Dictionary<string, Parked> parked)
    {
        var n = 0;
        foreach (var p in parked.Values) n += p.Readings.Count;
        return n;
    }

    /// <summary>
    /// Sends each sensor's new readings (behind its parked ones, if it has any) and the parked readings whose retry is
    /// due, at most one send per sensor, and waits for all of them. A refused send parks its readings. Returns how many
    /// readings the transport took.
    /// </summary>
    private async Task<int> FlushAsync(Dictionary<string, List<Reading>> groups, Dictionary<string, Parked> parked, List<Send> sends)
    {
        foreach (var (sensorId, readings) in groups)
        {
            if (parked.TryGetValue(sensorId, out var p))
            {
                p.Readings.AddRange(readings);
                _stats.Parked(0, readings.Count);
            }
            else
            {
                sends.Add(new Send(sensorId, readings, null, SendAsync(sensorId, readings)));
            }
        }

        var now = Environment.TickCount64;
        foreach (var (sensorId, p) in parked)
        {
            if (p.RetryAt > now) continue;
            // A long backlog goes in flush-sized pieces, oldest first; the rest follows on the next round.
            var piece = p.Readings.Count <= _options.MaxFlushReadings ? p.Readings : p.Readings.GetRange(0, _options.MaxFlushReadings);
            sends.Add(new Send(sensorId, piece, p, SendAsync(sensorId, piece)));
        }

        if (sends.Count == 0) return 0;
        try
        {
            await Task.WhenAll(sends.Select(s => s.Task));
        }
        catch
        {
            // Each send's outcome is read below.
        }

        var delivered = 0;
        now = Environment.TickCount64;
        foreach (var send in sends)
        {
            if (send.Task.IsCompletedSuccessfully)
            {
                delivered += send.Readings.Count;
                if (send.Retry is { } done)
                {
                    _stats.Parked(0, -send.Readings.Count);
                    if (send.Readings.Count == done.Readings.Count)
                    {
                        parked.Remove(send.SensorId);
                        _stats.Parked(-1, 0);
                        _logger.LogInformation("Transport {Transport} took the parked readings of sensor {Sensor} after {Failures} refusals", _transport.Name, send.SensorId, done.Failures);
                    }
                    else
                    {
                        done.Readings.RemoveRange(0, send.Readings.Count);
                        done.Failures = 0;
                        done.RetryAt = now;
                    }
                }

                continue;
            }

            _stats.TransportRetry();
            var failed = send.Retry;
            if (failed is null)
            {
                // The group's list goes back to the pump's pool, so the parked readings get their own.
                failed = new Parked(new List<Reading>(send.Readings));
                parked.Add(send.SensorId, failed);
                _stats.Parked(1, send.Readings.Count);
            }

            failed.Failures++;
            failed.RetryAt = now + (long)RetryDelay(failed.Failures).TotalMilliseconds;
            // Logged on the first refusal and then at doubling intervals, not once a second for a sensor that stays down.
            if ((failed.Failures & (failed.Failures - 1)) == 0)
            {
                _logger.LogWarning(send.Task.Exception?.GetBaseException(),
                    "Transport {Transport} refused {Count} readings of sensor {Sensor} ({Failures} times so far); they are parked and retried in {Delay}, the sensor's later readings wait behind them",
                    _transport.Name, failed.Readings.Count, send.SensorId, failed.Failures, RetryDelay(failed.Failures));
            }
        }

        sends.Clear();
        return delivered;
    }

    /// <summary>5 ms after the first refusal, doubling to at most 1 s.</summary>
    private static TimeSpan RetryDelay(int failures) => TimeSpan.FromMilliseconds(Math.Min(5 * Math.Pow(2, Math.Min(failures - 1, 20)), 1000));

    private Task SendAsync(string sensorId, List<Reading> readings)
    {
        try
        {
            return _transport.SendAsync(sensorId, readings);
        }
        catch (Exception ex)
        {
            return Task.FromException(ex); // a transport that throws before its first await is refused like one that fails later
        }
    }
}
