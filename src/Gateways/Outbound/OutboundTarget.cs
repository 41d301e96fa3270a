using System.Threading.Channels;
using Fleet.Grains.Outbound;
using Fleet.Grains.Sensors;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Fleet.Gateways.Outbound;

/// <summary>One item on its way to one target; <paramref name="Redriven"/>: a leased dead letter, still in the store until it settles.</summary>
public sealed record OutboundItem(Guid Id, Anomaly Payload, DateTime FirstSubmittedUtc, int PreviousAttempts = 0, bool Redriven = false);

/// <summary>
/// A target's counters. Submitted = Delivered + DeadLettered + Lost + Queued + InFlight + DeadLetterPending (letters
/// on their way to the dead-letter store), up to a moment's overlap while an item moves from one to the next.
/// </summary>
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
    long Lost = 0,
    int DeadLetterPending = 0);

/// <summary>
/// One outbound target on this silo: a bounded queue, workers that take a cluster-wide permit per
/// attempt, and a Polly retry pipeline (exponential backoff with jitter; Retry-After honoured and a 429
/// pauses the whole target, on every silo). Every item ends delivered, dead-lettered or (the store down) counted lost.
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
    private readonly DeadLetterWriter _deadLetters;
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
        // The writer's backlog: as much as the queue, and never under 10,000 letters (a few MB), so a burst of failures
        // waits for the store instead of being counted lost while the store is merely slow.
        _deadLetters = new DeadLetterWriter(name, grains, Math.Max(policy.QueueCapacity, 10_000), policy.DeadLetterStoreTimeout, logger,
            () => Interlocked.Increment(ref _deadLettered), () => Interlocked.Increment(ref _lost));
        // MaxAttempts 1 means no retry (Polly refuses a retry strategy of 0 retries, which once failed the silo's start).
        var retry = new ResiliencePipelineBuilder<SendResult>();
        if (policy.MaxAttempts > 1)
        {
            retry.AddRetry(new RetryStrategyOptions<SendResult>
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
                });
        }

        _retry = retry.Build();
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

    /// <summary>
    /// Leases up to <paramref name="max"/> dead letters (no more than the queue has room for) and queues them again.
    /// They stay in the store until delivered (then removed) or dead-lettered anew (then replaced), so a silo that dies
    /// in between loses none; a lease outlives the longest time an item can spend here, so no second redrive sends them
    /// twice meanwhile.
    /// </summary>
    public async Task<int> RedriveAsync(int max)
    {
        max = Math.Min(max, Policy.QueueCapacity - _queue.Reader.Count);
        if (max <= 0) return 0;
        var store = _grains.GetGrain<IDeadLetterGrain>(Name);
        var letters = await store.Lease(max, Policy.RedriveLease);
        var queued = 0;
        while (queued < letters.Length)
        {
            var letter = letters[queued];
            if (!_queue.Writer.TryWrite(new OutboundItem(letter.Id, letter.Payload, letter.FirstSubmittedUtc, Redriven: true))) break;
            Interlocked.Increment(ref _submitted);
            queued++;
        }

        if (queued < letters.Length) await store.Release(letters[queued..].Select(l => l.Id).ToArray());
        Interlocked.Add(ref _redriven, queued);
        return queued;
    }

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
            Volatile.Read(ref _lost),
            _deadLetters.Pending);
    }

    /// <summary>
    /// Stops taking items; what is still queued after <paramref name="drain"/> is dead-lettered (reason shutdown), and the
    /// dead-letter writes get another <paramref name="drain"/> (what is still unwritten then is counted lost and logged).
    /// </summary>
    public async Task StopAsync(TimeSpan drain)
    {
        _queue.Writer.TryComplete();
        await Task.WhenAny(_workers, Task.Delay(drain));
        _stopping.Cancel();
        await _workers;
        var left = new List<Task>();
        while (_queue.Reader.TryRead(out var item))
        {
            left.Add(DeadLetterAsync(item, item.PreviousAttempts, "shutdown"));
        }

        await _deadLetters.StopAsync(drain);
        await Task.WhenAll(left);
        if (_sender is IAsyncDisposable disposable) await disposable.DisposeAsync(); // a database sink's connection pool
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
                        var wait = Bounded(outcome.RetryAfter) ?? Policy.RetryDelay;
                        Pause(wait);
                        await SharePauseAsync(wait);
                        Interlocked.Increment(ref _throttled);
                    }
                }

                return outcome;
            }, _stopping.Token);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            _ = DeadLetterAsync(item, attempts, "shutdown");
            return;
        }
        catch (Exception ex)
        {
            result = SendResult.Permanent($"{ex.GetType().Name}: {ex.Message}");
        }

        if (result.Delivered)
        {
            Interlocked.Increment(ref _delivered);
            if (item.Redriven) _ = _deadLetters.RemoveAsync(item.Id);
        }
        else
        {
            // Handed to the writer, not waited for: a slow or unavailable dead-letter store must not hold up the
            // deliveries behind this item (the writer's backlog is bounded, and settles every letter within its timeout).
            _ = DeadLetterAsync(item, attempts, result.Error ?? "failed");
        }
    }

    private async Task<SendResult> AttemptAsync(OutboundItem item, CancellationToken token)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(Policy.AttemptTimeout);
        try
        {
            return await _sender.SendAsync(item, timeout.Token);
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

    /// <summary>
    /// The other silos pause too (through the cluster's bucket). Waited for at most a second (this worker pauses anyway);
    /// if it cannot be told, this silo's pause still holds.
    /// </summary>
    private async Task SharePauseAsync(TimeSpan wait)
    {
        try
        {
            await _permits.PauseAsync(wait).WaitAsync(TimeSpan.FromSeconds(1));
        }
        catch (Exception ex)
        {
            _logger.LogWarning(ex, "Could not pause {Target} cluster-wide after a 429; pausing this silo only", Name);
        }
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

    private Task DeadLetterAsync(OutboundItem item, int attempts, string reason)
    {
        var letter = new DeadLetter(item.Id, Name, item.Payload, attempts, reason, item.FirstSubmittedUtc, _time.GetUtcNow().UtcDateTime);
        return item.Redriven ? _deadLetters.ReplaceAsync(letter) : _deadLetters.AddAsync(letter);
    }
}
