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
        if (Volatile.Read(ref _refusingCount) != 0 && _refusing.TryGetValue(sensorId, out var waiting))
            return $"sensor {sensorId} has {waiting} readings the silo cannot deliver yet (its transport refuses them); nothing was queued, send again later";
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

    /// <summary>Sensors with <see cref="MqttGatewayOptions.MaxParkedPerSensor"/> readings parked, whose publishes are refused until they drain.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _refusing = new(StringComparer.Ordinal);
    private int _refusingCount;

    /// <summary>Notes how many readings <paramref name="sensorId"/> has parked (0: none), refusing its publishes at the limit.</summary>
    private void Track(string sensorId, int parked)
    {
        if (parked >= _options.MaxParkedPerSensor)
        {
            if (_refusing.TryAdd(sensorId, parked)) Interlocked.Increment(ref _refusingCount);
            else _refusing[sensorId] = parked;
        }
        else if (_refusing.TryRemove(sensorId, out _))
        {
            Interlocked.Decrement(ref _refusingCount);
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
        try
        {
            await base.StopAsync(cancellationToken);
        }
        finally
        {
            // The host stopped waiting (its shutdown timeout): the pumps give up on what the transport still refuses.
            if (ExecuteTask is { IsCompleted: false }) _abandoned.Cancel();
        }
    }

    private readonly CancellationTokenSource _abandoned = new();

    public override void Dispose()
    {
        base.Dispose();
        _abandoned.Dispose();
    }

    /// <summary>
    /// A sensor whose readings the transport refused. They wait here, in order, and every later reading of that sensor
    /// queues behind them, so the sensor's order holds; they are sent again with a backoff of their own, in the
    /// background (a retry that hangs until a timeout holds up no one else), while the shard's other sensors keep
    /// flowing. One sensor that cannot take readings (a state it cannot load, a bug) no longer stalls the shard, and
    /// nothing is dropped.
    /// </summary>
    private sealed class Parked(List<Reading> readings)
    {
        public readonly List<Reading> Readings = readings;
        public int Failures;
        public long RetryAt;

        /// <summary>The retry in flight (at most one per sensor) and how many of the oldest readings it carries.</summary>
        public Task? Retry;
        public int RetryCount;
    }

    private readonly record struct Send(string SensorId, List<Reading> Readings, Task Task);

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
                if (!open && _abandoned.IsCancellationRequested)
                {
                    foreach (var (sensorId, p) in parked)
                    {
                        Track(sensorId, 0);
                        _logger.LogError("Stopped with {Count} readings of sensor {Sensor} the transport refused {Failures} times (seq {First}..{Last}); they are lost",
                            p.Readings.Count, sensorId, p.Failures, p.Readings[0].Seq, p.Readings[^1].Seq);
                    }

                    _stats.Abandoned(parked.Count, ParkedReadings(parked));
                    return;
                }

                if (!open && !drainLogged && stoppingToken.IsCancellationRequested)
                {
                    drainLogged = true;
                    _logger.LogWarning("Stopping with {Readings} readings of {Sensors} sensors the transport keeps refusing; retrying them until the host's shutdown timeout",
                        ParkedReadings(parked), parked.Count);
                }

                await WaitForParkedAsync(parked, taking ? more : null);
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

            var delivered = parked.Count > 0 ? RetryParked(parked) : 0;
            delivered += await FlushAsync(groups, parked, sends);
            _stats.Accepted(publishes, delivered);
            foreach (var list in groups.Values)
            {
                list.Clear();
                spare.Push(list);
            }

            groups.Clear();
        }
    }

    /// <summary>
    /// Waits until publishes arrive (<paramref name="more"/>, when the shard takes them), a parked sensor's retry is due,
    /// or a retry in flight ends, whichever is first.
    /// </summary>
    private static async Task WaitForParkedAsync(Dictionary<string, Parked> parked, Task<bool>? more)
    {
        var waits = new List<Task>(4);
        var due = long.MaxValue;
        foreach (var p in parked.Values)
        {
            if (p.Retry is { } retry)
            {
                if (retry.IsCompleted) return;
                waits.Add(retry);
            }
            else
            {
                due = Math.Min(due, p.RetryAt);
            }
        }

        if (more is { IsCompleted: true }) return;
        if (more is not null) waits.Add(more);
        using var timer = new CancellationTokenSource();
        if (due != long.MaxValue)
        {
            var wait = due - Environment.TickCount64;
            if (wait <= 0) return;
            waits.Add(Task.Delay(TimeSpan.FromMilliseconds(wait), timer.Token));
        }

        if (waits.Count == 0) return;
        await Task.WhenAny(waits);
        timer.Cancel(); // the delay, if another wait won
    }

    private static int ParkedReadings(Dictionary<string, Parked> parked)
    {
        var n = 0;
        foreach (var p in parked.Values) n += p.Readings.Count;
        return n;
    }

    /// <summary>
    /// Settles the parked sensors' retries that have ended (a success sends the next piece at once; a sensor with nothing
    /// left leaves) and starts the ones that are due, oldest readings first, at most one per sensor and
    /// <see cref="MqttGatewayOptions.MaxFlushReadings"/> per piece. Returns how many readings the transport took.
    /// </summary>
    private int RetryParked(Dictionary<string, Parked> parked)
    {
        var delivered = 0;
        var now = Environment.TickCount64;
        List<string>? recovered = null;
        foreach (var (sensorId, p) in parked)
        {
            if (p.Retry is { IsCompleted: true } retry)
            {
                p.Retry = null;
                if (retry.IsCompletedSuccessfully)
                {
                    delivered += p.RetryCount;
                    p.Readings.RemoveRange(0, p.RetryCount);
                    _stats.Parked(0, -p.RetryCount);
                    Track(sensorId, p.Readings.Count);
                    if (p.Readings.Count == 0)
                    {
                        (recovered ??= []).Add(sensorId);
                        _logger.LogInformation("Transport {Transport} took the parked readings of sensor {Sensor} after {Failures} refusals", _transport.Name, sensorId, p.Failures);
                        continue;
                    }

                    p.RetryAt = now; // the next piece, at once
                }
                else
                {
                    Refused(sensorId, p, retry, now);
                }
            }

            if (p.Retry is null && p.RetryAt <= now)
            {
                // Always a copy: later readings of the sensor are appended to p.Readings while this piece is in flight.
                p.RetryCount = Math.Min(p.Readings.Count, _options.MaxFlushReadings);
                p.Retry = SendAsync(sensorId, p.Readings.GetRange(0, p.RetryCount));
            }
        }

        if (recovered is not null)
        {
            foreach (var sensorId in recovered) parked.Remove(sensorId);
            _stats.Parked(-recovered.Count, 0);
        }

        return delivered;
    }

    private void Refused(string sensorId, Parked p, Task send, long now)
    {
        _stats.TransportRetry();
        p.Failures++;
        p.RetryAt = now + (long)RetryDelay(p.Failures).TotalMilliseconds;
        // Logged on the first refusal and then at doubling intervals, not once a second for a sensor that stays down.
        if ((p.Failures & (p.Failures - 1)) == 0)
        {
            _logger.LogWarning(send.Exception?.GetBaseException(),
                "Transport {Transport} refused {Count} readings of sensor {Sensor} ({Failures} times so far); they are parked and retried in {Delay}, the sensor's later readings wait behind them",
                _transport.Name, p.Readings.Count, sensorId, p.Failures, RetryDelay(p.Failures));
        }
    }

    /// <summary>
    /// Sends each sensor's new readings and waits for them (one flush in flight per shard: a slow transport slows the
    /// shard's publishers down); a parked sensor's new readings join its parked ones instead. A refused send parks its
    /// readings. Returns how many readings the transport took.
    /// </summary>
    private async Task<int> FlushAsync(Dictionary<string, List<Reading>> groups, Dictionary<string, Parked> parked, List<Send> sends)
    {
        foreach (var (sensorId, readings) in groups)
        {
            if (parked.TryGetValue(sensorId, out var p))
            {
                p.Readings.AddRange(readings);
                _stats.Parked(0, readings.Count);
                Track(sensorId, p.Readings.Count);
            }
            else
            {
                sends.Add(new Send(sensorId, readings, SendAsync(sensorId, readings)));
            }
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
        var now = Environment.TickCount64;
        foreach (var send in sends)
        {
            if (send.Task.IsCompletedSuccessfully)
            {
                delivered += send.Readings.Count;
                continue;
            }

            // The group's list goes back to the pump's pool, so the parked readings get their own.
            var p = new Parked(new List<Reading>(send.Readings));
            parked.Add(send.SensorId, p);
            _stats.Parked(1, send.Readings.Count);
            Track(send.SensorId, p.Readings.Count);
            Refused(send.SensorId, p, send.Task, now);
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
