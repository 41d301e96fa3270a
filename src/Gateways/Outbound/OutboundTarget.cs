using System.Threading.Channels;
using Fleet.Grains.Outbound;
using Fleet.Grains.Sensors;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Fleet.Gateways.Outbound;

/// <summary>One item on its way to one target.</summary>
public sealed record OutboundItem(Guid Id, Anomaly Payload, DateTime FirstSubmittedUtc, int PreviousAttempts = 0);

/// <summary>A target's counters. Submitted = Delivered + DeadLettered + Queued + InFlight, always.</summary>
public sealed record OutboundTargetStats(
    string Name,
    string Kind,
    double RatePerSecond,
    int Burst,
    long Submitted,
    long Delivered,
    long DeadLettered,
    int Queued,
    int InFlight,
    long Attempts,
    long Retries,
    long Throttled,
    long FailedAttempts,
    long Redriven,
    DateTime? PausedUntilUtc,
    long Lost = 0);

/// <summary>
/// One outbound target on this silo: a bounded queue, workers that take a cluster-wide permit per
/// attempt, and a Polly retry pipeline (exponential backoff with jitter; Retry-After honoured and a 429
/// pauses the whole target). Every item ends delivered or dead-lettered.
/// </summary>
public sealed class OutboundTarget
{
    private readonly IOutboundSender _sender;
    private readonly IGrainFactory _grains;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Channel<OutboundItem> _queue;
    private readonly ClusterPermits _permits;
    private readonly ResiliencePipeline<SendResult> _retry;
    private readonly CancellationTokenSource _stopping = new();
    private Task _workers = Task.CompletedTask;
    private long _submitted, _delivered, _deadLettered, _attempts, _retries, _throttled, _failed, _redriven, _lost;
    private int _inFlight;
    private long _pausedUntilTicks;

    public OutboundTarget(string name, OutboundKind kind, OutboundPolicy policy, IOutboundSender sender, IGrainFactory grains, TimeProvider time, ILogger logger)
    {
        Name = name;
        Kind = kind;
        Policy = policy;
        _sender = sender;
        _grains = grains;
        _time = time;
        _logger = logger;
        _queue = Channel.CreateBounded<OutboundItem>(new BoundedChannelOptions(policy.QueueCapacity) { FullMode = BoundedChannelFullMode.Wait });
        _permits = new ClusterPermits(grains, name, policy.Rate);
        _retry = new ResiliencePipelineBuilder<SendResult>()
            .AddRetry(new RetryStrategyOptions<SendResult>
            {
                MaxRetryAttempts = policy.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = policy.RetryDelay,
                MaxDelay = policy.MaxRetryDelay,
                ShouldHandle = new PredicateBuilder<SendResult>()
                    .HandleResult(r => !r.Delivered && r.Retryable)
                    .Handle<HttpRequestException>()
                    .Handle<TimeoutException>()
                    .Handle<Orleans.Runtime.OrleansException>(), // the cluster's rate-limit grain briefly unreachable: retry, not give up
                DelayGenerator = args => ValueTask.FromResult(Bounded(args.Outcome.Result.RetryAfter)),
                OnRetry = _ =>
                {
                    Interlocked.Increment(ref _retries);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    public string Name { get; }
    public OutboundKind Kind { get; }
    public OutboundPolicy Policy { get; }

    public void Start()
    {
        _workers = Task.WhenAll(Enumerable.Range(0, Policy.MaxConcurrency).Select(_ => Task.Run(WorkAsync)));
    }

    /// <summary>Queues an item; a full queue dead-letters it (reason queue_full) rather than dropping or blocking.</summary>
    public void Submit(OutboundItem item)
    {
        Interlocked.Increment(ref _submitted);
        if (!_queue.Writer.TryWrite(item))
        {
            _ = DeadLetterAsync(item, item.PreviousAttempts, "queue_full");
        }
    }

    public void Redriven(int count) => Interlocked.Add(ref _redriven, count);

    public OutboundTargetStats Stats()
    {
        var paused = new DateTime(Volatile.Read(ref _pausedUntilTicks), DateTimeKind.Utc);
        return new OutboundTargetStats(
            Name,
            Kind.ToString().ToLowerInvariant(),
            Policy.Rate.PermitsPerSecond,
            Policy.Rate.Burst,
            Volatile.Read(ref _submitted),
            Volatile.Read(ref _delivered),
            Volatile.Read(ref _deadLettered),
            _queue.Reader.Count,
            Volatile.Read(ref _inFlight),
            Volatile.Read(ref _attempts),
            Volatile.Read(ref _retries),
            Volatile.Read(ref _throttled),
            Volatile.Read(ref _failed),
            Volatile.Read(ref _redriven),
            paused > _time.GetUtcNow().UtcDateTime ? paused : null,
            Volatile.Read(ref _lost));
    }

    /// <summary>Stops taking items; what is still queued after <paramref name="drain"/> is dead-lettered (reason shutdown).</summary>
    public async Task StopAsync(TimeSpan drain)
    {
        _queue.Writer.TryComplete();
        await Task.WhenAny(_workers, Task.Delay(drain));
        _stopping.Cancel();
        await _workers;
        while (_queue.Reader.TryRead(out var left))
        {
            await DeadLetterAsync(left, left.PreviousAttempts, "shutdown");
        }
    }

    private async Task WorkAsync()
    {
        try
        {
            while (await _queue.Reader.WaitToReadAsync(_stopping.Token))
            {
                while (_queue.Reader.TryRead(out var item))
                {
                    Interlocked.Increment(ref _inFlight);
                    try
                    {
                        await DeliverAsync(item);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException || !_stopping.IsCancellationRequested)
                    {
                        // DeliverAsync ends every item delivered or dead-lettered (or counted lost); anything else must not
                        // end this worker, or the queue behind it would stall for good.
                        _logger.LogError(ex, "Outbound worker of {Target}: unexpected error on {Id}", Name, item.Id);
                    }
                    finally
                    {
                        Interlocked.Decrement(ref _inFlight);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
    }

    private async Task DeliverAsync(OutboundItem item)
    {
        var attempts = item.PreviousAttempts;
        SendResult result;
        try
        {
            result = await _retry.ExecuteAsync(async token =>
            {
                await WaitWhilePausedAsync(token);
                await _permits.AcquireAsync(token);
                attempts++;
                Interlocked.Increment(ref _attempts);
                var outcome = await AttemptAsync(item, token);
                if (!outcome.Delivered)
                {
                    Interlocked.Increment(ref _failed);
                    if (outcome.Throttled)
                    {
                        Interlocked.Increment(ref _throttled);
                        Pause(Bounded(outcome.RetryAfter) ?? Policy.RetryDelay);
                    }
                }

                return outcome;
            }, _stopping.Token);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            await DeadLetterAsync(item, attempts, "shutdown");
            return;
        }
        catch (Exception ex)
        {
            result = SendResult.Permanent($"{ex.GetType().Name}: {ex.Message}");
        }

        if (result.Delivered)
        {
            Interlocked.Increment(ref _delivered);
        }
        else
        {
            await DeadLetterAsync(item, attempts, result.Error ?? "failed");
        }
    }

    private async Task<SendResult> AttemptAsync(OutboundItem item, CancellationToken token)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(Policy.AttemptTimeout);
        try
        {
            return await _sender.SendAsync(item.Payload, timeout.Token);
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            return SendResult.Transient($"timeout after {Policy.AttemptTimeout.TotalMilliseconds:0} ms");
        }
    }

    /// <summary>
    /// A downstream's Retry-After, honoured up to <see cref="OutboundPolicy.MaxRetryDelay"/>: a "retry after 60 days"
    /// must not stall the target (or overflow a timer). Zero, negative or a date in the past: the normal backoff.
    /// </summary>
    private TimeSpan? Bounded(TimeSpan? retryAfter)
        => retryAfter is not { } wait || wait <= TimeSpan.Zero ? null : wait > Policy.MaxRetryDelay ? Policy.MaxRetryDelay : wait;

    private void Pause(TimeSpan wait)
    {
        var until = _time.GetUtcNow().UtcDateTime.Add(wait).Ticks;
        long current;
        do
        {
            current = Volatile.Read(ref _pausedUntilTicks);
            if (current >= until) return;
        }
        while (Interlocked.CompareExchange(ref _pausedUntilTicks, until, current) != current);
    }

    private async Task WaitWhilePausedAsync(CancellationToken token)
    {
        while (true)
        {
            var wait = new DateTime(Volatile.Read(ref _pausedUntilTicks), DateTimeKind.Utc) - _time.GetUtcNow().UtcDateTime;
            if (wait <= TimeSpan.Zero) return;
            await Task.Delay(wait, token);
        }
    }

    private async Task DeadLetterAsync(OutboundItem item, int attempts, string reason)
    {
        var letter = new DeadLetter(item.Id, Name, item.Payload, attempts, reason, item.FirstSubmittedUtc, _time.GetUtcNow().UtcDateTime);
        var delay = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await _grains.GetGrain<IDeadLetterGrain>(Name).Add([letter]);
                Interlocked.Increment(ref _deadLettered);
                _logger.LogWarning("Dead-lettered {Id} for {Target} after {Attempts} attempts: {Reason}", item.Id, Name, attempts, reason);
                return;
            }
            catch (Exception ex) when (attempt < 10)
            {
                _logger.LogWarning(ex, "Could not store dead letter {Id} for {Target}; retrying", item.Id, Name);
                await Task.Delay(delay);
                delay *= 2;
            }
            catch (Exception ex)
            {
                // The dead-letter store stayed down for ~50 s: the item cannot be kept. Count it and log it whole (the
                // log is then its only copy) rather than throw, which ended the worker and stalled the queue behind it.
                Interlocked.Increment(ref _lost);
                _logger.LogError(ex, "LOST outbound item {Id} for {Target} after {Attempts} attempts ({Reason}): the dead-letter store is unavailable. Payload: {Payload}",
                    item.Id, Name, attempts, reason, item.Payload);
                return;
            }
        }
    }
}
