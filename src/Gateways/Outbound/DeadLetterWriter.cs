using System.Threading.Channels;
using Fleet.Grains.Outbound;
using Microsoft.Extensions.Logging;

namespace Fleet.Gateways.Outbound;

/// <summary>
/// One target's writes to its dead-letter store, batched: one loop takes whatever is waiting (up to
/// <see cref="DeadLetterGrain.SegmentCapacity"/>) and makes one store call per kind, so an outage that dead-letters
/// every alert costs a write per batch, not per alert. A store that stays down is retried for
/// <c>storeTimeout</c>; then a new letter is counted lost and logged whole (the log is its only copy), while a
/// redriven letter that could not be updated or removed simply stays in the store (a later redrive may send it again).
/// </summary>
internal sealed class DeadLetterWriter
{
    private enum Kind { Add, Replace, Remove }

    private readonly record struct Op(Kind Kind, DeadLetter? Letter, Guid Id, TaskCompletionSource Done);

    private readonly Channel<Op> _ops = Channel.CreateUnbounded<Op>(new UnboundedChannelOptions { SingleReader = true });
    private readonly string _target;
    private readonly IGrainFactory _grains;
    private readonly TimeSpan _storeTimeout;
    private readonly ILogger _logger;
    private readonly Action _stored;
    private readonly Action _lost;
    private readonly Task _loop;

    public DeadLetterWriter(string target, IGrainFactory grains, TimeSpan storeTimeout, ILogger logger, Action stored, Action lost)
    {
        _target = target;
        _grains = grains;
        _storeTimeout = storeTimeout;
        _logger = logger;
        _stored = stored;
        _lost = lost;
        _loop = Task.Run(LoopAsync);
    }

    private IDeadLetterGrain Store => _grains.GetGrain<IDeadLetterGrain>(_target);

    /// <summary>A new dead letter; completes once it is stored (or counted lost).</summary>
    public Task AddAsync(DeadLetter letter) => Enqueue(Kind.Add, letter, letter.Id);

    /// <summary>A redriven letter that failed again: stored anew, its old copy removed.</summary>
    public Task ReplaceAsync(DeadLetter letter) => Enqueue(Kind.Replace, letter, letter.Id);

    /// <summary>A redriven letter that was delivered: removed from the store.</summary>
    public Task RemoveAsync(Guid id) => Enqueue(Kind.Remove, null, id);

    /// <summary>Writes what is waiting, then stops.</summary>
    public Task StopAsync()
    {
        _ops.Writer.TryComplete();
        return _loop;
    }

    private Task Enqueue(Kind kind, DeadLetter? letter, Guid id)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_ops.Writer.TryWrite(new Op(kind, letter, id, done)))
        {
            // Only after StopAsync: nothing will write it any more.
            if (kind != Kind.Remove) Lose(letter!, new InvalidOperationException("the outbound target has stopped"));
            done.SetResult();
        }

        return done.Task;
    }

    private async Task LoopAsync()
    {
        var batch = new List<Op>(DeadLetterGrain.SegmentCapacity);
        while (await _ops.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < DeadLetterGrain.SegmentCapacity && _ops.Reader.TryRead(out var op)) batch.Add(op);
            foreach (var group in batch.GroupBy(o => o.Kind))
            {
                await WriteAsync(group.Key, group.ToList());
            }

            foreach (var op in batch) op.Done.TrySetResult();
        }
    }

    private async Task WriteAsync(Kind kind, List<Op> ops)
    {
        var giveUp = DateTime.UtcNow + _storeTimeout;
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

                if (kind != Kind.Remove)
                {
                    foreach (var op in ops)
                    {
                        _stored();
                        _logger.LogWarning("Dead-lettered {Id} for {Target} after {Attempts} attempts: {Reason}", op.Id, _target, op.Letter!.Attempts, op.Letter.Reason);
                    }
                }

                return;
            }
            catch (Exception ex) when (DateTime.UtcNow + delay < giveUp)
            {
                _logger.LogWarning(ex, "Could not write {Count} dead-letter change(s) ({Kind}) for {Target}; retrying", ops.Count, kind, _target);
                await Task.Delay(delay);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
            catch (Exception ex)
            {
                foreach (var op in ops)
                {
                    switch (kind)
                    {
                        case Kind.Add:
                            Lose(op.Letter!, ex);
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

                return;
            }
        }
    }

    private void Lose(DeadLetter letter, Exception ex)
    {
        _lost();
        _logger.LogError(ex, "LOST outbound item {Id} for {Target} after {Attempts} attempts ({Reason}): the dead-letter store is unavailable. Payload: {Payload}",
            letter.Id, _target, letter.Attempts, letter.Reason, letter.Payload);
    }
}
