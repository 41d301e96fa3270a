using System.Threading.Channels;
using Fleet.Grains.Outbound;
using Microsoft.Extensions.Logging;

namespace Fleet.Gateways.Outbound;

/// <summary>
/// One target's writes to its dead-letter store, batched: one loop takes whatever is waiting (up to
/// <see cref="DeadLetterGrain.SegmentCapacity"/>) and makes one store call per kind, so an outage that dead-letters
/// every alert costs a write per batch, not per alert. Each change is retried while the store is down until
/// <c>storeTimeout</c> after it was handed over; then a new letter is counted lost and logged whole (the log is its
/// only copy), while a redriven letter that could not be updated or removed simply stays in the store (a later redrive
/// may send it again). A backlog beyond <c>capacity</c> is not kept in memory: it is counted lost at once.
/// </summary>
internal sealed class DeadLetterWriter
{
    private enum Kind { Add, Replace, Remove }

    private sealed record Op(Kind Kind, DeadLetter? Letter, Guid Id, DateTime GiveUpAt)
    {
        public readonly TaskCompletionSource Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private readonly Channel<Op> _ops;
    private readonly string _target;
    private readonly IGrainFactory _grains;
    private readonly TimeSpan _storeTimeout;
    private readonly ILogger _logger;
    private readonly Action _stored;
    private readonly Action _lost;
    private readonly Task _loop;
    private List<Op> _current = new();
    private volatile bool _abandoned;
    private int _pending;

    /// <summary>Letters handed over and not yet stored or counted lost.</summary>
    public int Pending => Volatile.Read(ref _pending);

    public DeadLetterWriter(string target, IGrainFactory grains, int capacity, TimeSpan storeTimeout, ILogger logger, Action stored, Action lost)
    {
        _target = target;
        _grains = grains;
        _storeTimeout = storeTimeout;
        _logger = logger;
        _stored = stored;
        _lost = lost;
        _ops = Channel.CreateBounded<Op>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        _loop = Task.Run(LoopAsync);
    }

    private IDeadLetterGrain Store => _grains.GetGrain<IDeadLetterGrain>(_target);

    /// <summary>A new dead letter; completes once it is stored (or counted lost).</summary>
    public Task AddAsync(DeadLetter letter) => Enqueue(Kind.Add, letter, letter.Id);

    /// <summary>A redriven letter that failed again: stored anew, its old copy removed.</summary>
    public Task ReplaceAsync(DeadLetter letter) => Enqueue(Kind.Replace, letter, letter.Id);

    /// <summary>A redriven letter that was delivered: removed from the store.</summary>
    public Task RemoveAsync(Guid id) => Enqueue(Kind.Remove, null, id);

    /// <summary>
    /// Writes what is waiting, for at most <paramref name="drain"/>; whatever is still unwritten then is settled as if
    /// the store were down (a new letter counted lost and logged whole) rather than vanish with the process.
    /// </summary>
    public async Task StopAsync(TimeSpan drain)
    {
        _ops.Writer.TryComplete();
        if (await Task.WhenAny(_loop, Task.Delay(drain)) == _loop) return;
        _abandoned = true;
        foreach (var op in Volatile.Read(ref _current)) GiveUp(op, new TimeoutException("the silo is stopping"));
        while (_ops.Reader.TryRead(out var op)) GiveUp(op, new TimeoutException("the silo is stopping"));
    }

    private Task Enqueue(Kind kind, DeadLetter? letter, Guid id)
    {
        var op = new Op(kind, letter, id, DateTime.UtcNow + _storeTimeout);
        if (kind != Kind.Remove) Interlocked.Increment(ref _pending);
        if (!_ops.Writer.TryWrite(op))
        {
            // A backlog this long means the store has been down for a while (or the silo is stopping): not kept in memory.
            GiveUp(op, new InvalidOperationException(_abandoned || _ops.Reader.Completion.IsCompleted
                ? "the outbound target has stopped"
                : "the dead-letter store is not keeping up (writer backlog full)"));
        }

        return op.Done.Task;
    }

    private async Task LoopAsync()
    {
        while (await _ops.Reader.WaitToReadAsync())
        {
            var batch = new List<Op>(DeadLetterGrain.SegmentCapacity);
            while (batch.Count < DeadLetterGrain.SegmentCapacity && _ops.Reader.TryRead(out var op)) batch.Add(op);
            Volatile.Write(ref _current, batch);
            foreach (var group in batch.GroupBy(o => o.Kind))
            {
                await WriteAsync(group.Key, group.ToList());
            }
        }
    }

    private async Task WriteAsync(Kind kind, List<Op> ops)
    {
        // Retried until the batch's oldest change has waited storeTimeout: once the store has been down that long, a
        // backlog behind it gets one attempt per batch, so it is settled quickly instead of a timeout per batch.
        var giveUpAt = ops.Min(o => o.GiveUpAt);
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                switch (kind)
                {
                    case Kind.Add: await Store.Add(ops.Select(o => o.Letter!).ToArray()); break;
                    case Kind.Replace: await Store.Replace(ops.Select(o => o.Letter!).ToArray()); break;
                    default: await Store.Remove(ops.Select(o => o.Id).ToArray()); break;
                }

                foreach (var op in ops)
                {
                    if (!op.Done.TrySetResult()) continue; // already settled (the silo stopped meanwhile)
                    if (kind == Kind.Remove) continue;
                    _stored();
                    Interlocked.Decrement(ref _pending);
                    _logger.LogWarning("Dead-lettered {Id} for {Target} after {Attempts} attempts: {Reason}", op.Id, _target, op.Letter!.Attempts, op.Letter.Reason);
                }

                return;
            }
            catch (Exception ex) when (!_abandoned && DateTime.UtcNow + delay < giveUpAt)
            {
                _logger.LogWarning(ex, "Could not write {Count} dead-letter change(s) ({Kind}) for {Target}; retrying", ops.Count, kind, _target);
                await Task.Delay(delay);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
            catch (Exception ex)
            {
                foreach (var op in ops) GiveUp(op, ex);
                return;
            }
        }
    }

    /// <summary>Settles a change that could not be written (once: a change settled elsewhere is left alone).</summary>
    private void GiveUp(Op op, Exception ex)
    {
        if (!op.Done.TrySetResult()) return;
        if (op.Kind != Kind.Remove) Interlocked.Decrement(ref _pending);
        switch (op.Kind)
        {
            case Kind.Add:
                _lost();
                _logger.LogError(ex, "LOST outbound item {Id} for {Target} after {Attempts} attempts ({Reason}): the dead-letter store could not take it. Payload: {Payload}",
                    op.Id, _target, op.Letter!.Attempts, op.Letter.Reason, op.Letter.Payload);
                break;
            case Kind.Replace:
                // The old copy is still stored (and its lease runs out): not lost, only not updated.
                _stored();
                _logger.LogError(ex, "Dead letter {Id} for {Target} failed again ({Reason}) but could not be updated: it stays in the store as before", op.Id, _target, op.Letter!.Reason);
                break;
            default:
                _logger.LogError(ex, "Redriven dead letter {Id} for {Target} was delivered but could not be removed from the store: a later redrive may send it again", op.Id, _target);
                break;
        }
    }
}
