using Fleet.Grains.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Functions;

public enum InvocationStatus
{
    Queued,
    Running,
    Succeeded,
    Failed,
}

/// <summary>An asynchronous invocation as its caller can fetch it.</summary>
[GenerateSerializer, Immutable]
public sealed record InvocationRecord
{
    [Id(0)] public required string RequestId { get; init; }

    [Id(1)] public required string Function { get; init; }

    [Id(2)] public required InvocationStatus Status { get; init; }

    [Id(3)] public int Attempts { get; init; }

    [Id(4)] public InvocationResult? Result { get; init; }

    [Id(5)] public DateTime AcceptedUtc { get; init; }

    [Id(6)] public DateTime? CompletedUtc { get; init; }

    /// <summary>Function errors so far (timeouts, unhandled errors): stored, so a silo failure between retries does not reset the limit.</summary>
    [Id(7)] public int FunctionErrors { get; init; }

    /// <summary>When the next attempt is due (a retry's delay, kept across a silo failure); null when none is waiting.</summary>
    [Id(8)] public DateTime? NextAttemptUtc { get; init; }

    /// <summary>
    /// The request id of the event that carries this event's invocation record to its destination function (Lambda's
    /// <c>DestinationConfig</c>), once one is due; fetch it with <c>GET /invocations/{id}</c>. Null when none was configured.
    /// </summary>
    [Id(9)] public string? DestinationRequestId { get; init; }
}

/// <summary>One asynchronous invocation (keyed by request id): accepted and stored, then run with Lambda's retries.</summary>
public interface IInvocationRecordGrain : IGrainWithStringKey
{
    /// <summary>Stores the event and starts it; a second call with the same request id changes nothing.</summary>
    Task<InvocationRecord> Accept(string function, string payloadJson);

    /// <summary>
    /// <see cref="Accept"/> for an invocation record sent to a destination: <paramref name="chainDepth"/> counts the
    /// destinations before it, so a loop of destinations (a function whose destination leads back to it) stops.
    /// </summary>
    Task<InvocationRecord> AcceptDestination(string function, string payloadJson, int chainDepth);

    Task<InvocationRecord?> Get();
}

[GenerateSerializer]
public sealed class InvocationRecordState
{
    [Id(0)] public InvocationRecord? Record { get; set; }

    [Id(1)] public string? PayloadJson { get; set; }

    /// <summary>How many destinations led to this event (0: invoked by a caller).</summary>
    [Id(2)] public int ChainDepth { get; set; }

    /// <summary>
    /// The invocation record still to be sent to a destination: written with the outcome and cleared once the destination
    /// has accepted it, so a silo failure in between sends it again (to the same request id: at most a repeat, never a loss).
    /// </summary>
    [Id(3)] public PendingDestination? Destination { get; set; }
}

/// <summary>An invocation record on its way to a destination function.</summary>
[GenerateSerializer, Immutable]
public sealed record PendingDestination(
    [property: Id(0)] string RequestId,
    [property: Id(1)] string Function,
    [property: Id(2)] string PayloadJson);

/// <summary>
/// Accepts an event durably (the caller's 202 means it is stored), runs it in the silo's pool, and on a
/// function error retries it the function's <c>MaximumRetryAttempts</c> (its event invoke config, by default
/// <see cref="AsyncInvocationOptions.MaxRetries"/>) times, waiting
/// <see cref="AsyncInvocationOptions.RetryDelay"/> and then twice that, as Lambda does. Not-found and
/// invalid requests are not retried.
/// </summary>
public sealed class InvocationRecordGrain(
    [PersistentState("invocation", StorageNames.Default)] IPersistentState<InvocationRecordState> state,
    IFunctionInvoker invoker,
    IFunctionDirectory directory,
    IAsyncInvocationMetrics metrics,
    IOptions<AsyncInvocationOptions> options,
    TimeProvider time,
    ILogger<InvocationRecordGrain> logger) : Grain, IInvocationRecordGrain, IRemindable
{
    private const string ResumeReminder = "resume";

    private Task? _running;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Resume an event a previous activation accepted but did not finish.
        if (state.State.Record is { Status: InvocationStatus.Queued or InvocationStatus.Running } || state.State.Destination is not null) Start();
        return Task.CompletedTask;
    }

    public Task<InvocationRecord> Accept(string function, string payloadJson) => AcceptDestination(function, payloadJson, 0);

    public async Task<InvocationRecord> AcceptDestination(string function, string payloadJson, int chainDepth)
    {
        if (state.State.Record is { } existing && !Expired(existing)) return existing;
        var before = (state.State.Record, state.State.PayloadJson, state.State.ChainDepth, state.State.Destination);
        state.State.Record = new InvocationRecord
        {
            RequestId = this.GetPrimaryKeyString(), Function = function, Status = InvocationStatus.Queued, AcceptedUtc = time.GetUtcNow().UtcDateTime,
        };
        state.State.PayloadJson = payloadJson;
        state.State.ChainDepth = chainDepth;
        state.State.Destination = null;
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // Not stored, so not accepted: leave no record in memory that the caller's retry (a destination's sender tries
            // again) would take for a stored one, answering "accepted" for an event that never runs.
            (state.State.Record, state.State.PayloadJson, state.State.ChainDepth, state.State.Destination) = before;
            throw;
        }

        metrics.EventReceived(function); // Lambda's AsyncEventsReceived: stored, so the caller's 202 holds
        var accepted = state.State.Record;
        await KeepAliveAsync();
        Start();
        return accepted;
    }

    public async Task<InvocationRecord?> Get()
    {
        if (state.State.Record is { } record && Expired(record))
        {
            await PurgeAsync();
            return null;
        }

        return state.State.Record;
    }

    /// <summary>A finished event's outcome older than <see cref="AsyncInvocationOptions.OutcomeRetention"/>.</summary>
    private bool Expired(InvocationRecord record)
        => state.State.Destination is null && record.CompletedUtc is { } completed && time.GetUtcNow().UtcDateTime >= completed + options.Value.OutcomeRetention;

    /// <summary>Deletes the record from storage and drops its reminder; the request id is then unknown.</summary>
    private async Task PurgeAsync()
    {
        await state.ClearStateAsync();
        await DropReminderAsync();
        DeactivateOnIdle();
    }

    private async Task DropReminderAsync()
    {
        try
        {
            if (await this.GetReminder(ResumeReminder) is { } reminder) await this.UnregisterReminder(reminder);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogDebug(ex, "Removing the reminder of {RequestId} failed; it removes itself at its next tick", this.GetPrimaryKeyString());
        }
    }

    /// <summary>
    /// A durable reminder wakes this record after a silo failure, so an accepted event is never left behind; once
    /// the event has finished, the same reminder is re-armed to delete its outcome when the retention ends. Where no
    /// reminder service runs (tests), events still run, but only while the silo lives.
    /// </summary>
    private Task KeepAliveAsync()
        => ArmReminderAsync(options.Value.ResumePeriod, options.Value.ResumePeriod, LogLevel.Warning, "it resumes only while this silo lives");

    /// <summary>The finished outcome's reminder now fires when its retention ends, to delete it.</summary>
    private Task KeepUntilExpiryAsync()
    {
        var o = options.Value;
        var period = o.OutcomeRetention > o.ResumePeriod ? o.OutcomeRetention : o.ResumePeriod; // at least the reminder minimum
        return ArmReminderAsync(o.OutcomeRetention, period, LogLevel.Debug, "its outcome is deleted when next read after the retention");
    }

    private async Task ArmReminderAsync(TimeSpan due, TimeSpan period, LogLevel level, string withoutIt)
    {
        try
        {
            await this.RegisterOrUpdateReminder(ResumeReminder, due, period);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.Log(level, ex, "No reminder for asynchronous invocation {RequestId}: {WithoutIt}", this.GetPrimaryKeyString(), withoutIt);
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        switch (state.State.Record)
        {
            case { Status: InvocationStatus.Queued or InvocationStatus.Running }:
            case not null when state.State.Destination is not null:
                Start(); // no-op when already running here
                return;
            case { } record when !Expired(record):
                return; // a finished outcome, kept until its retention ends
            case null:
                await DropReminderAsync();
                return;
            default:
                await PurgeAsync();
                return;
        }
    }

    private void Start()
    {
        if (_running is { IsCompleted: false }) return;
        _running = state.State.Record is { Status: InvocationStatus.Queued or InvocationStatus.Running } ? RunAsync() : DeliverAsync();
    }

    /// <summary>
    /// Lambda's retry rules for asynchronous invocation: a function error (timeout, memory, unhandled) is retried
    /// <see cref="AsyncInvocationOptions.MaxRetries"/> times, waiting <see cref="AsyncInvocationOptions.RetryDelay"/>
    /// and then twice that; a throttle or a system error is retried with backoff from 1 s up to 5 min; either only while
    /// the event is younger than <see cref="AsyncInvocationOptions.MaxEventAge"/>; a missing function or an invalid
    /// request is not retried. The error count and the next attempt's time are stored, so a silo failure resumes them.
    /// </summary>
    private async Task RunAsync()
    {
        var o = options.Value;
        var record = state.State.Record!;
        var payload = state.State.PayloadJson ?? "null";
        var functionErrors = record.FunctionErrors; // resumed after a silo failure: the retries already spent stay spent
        var backoff = TimeSpan.FromSeconds(1);
        if (record.NextAttemptUtc is { } due && due > time.GetUtcNow().UtcDateTime) await Task.Delay(due - time.GetUtcNow().UtcDateTime, time);
        while (true)
        {
            // Lambda discards an event that is already older than its maximum age (here: resumed after a long silo outage,
            // or after waiting out throttles) instead of running it late; it is not an attempt.
            var (_, ageLimit, _) = await SettingsAsync(record.Function);
            var tooOld = time.GetUtcNow().UtcDateTime - record.AcceptedUtc >= ageLimit;
            record = record with { Status = InvocationStatus.Running, Attempts = record.Attempts + (tooOld ? 0 : 1), NextAttemptUtc = null };
            state.State.Record = record;
            DelayDeactivation(TimeSpan.FromSeconds(FunctionValidation.MaxTimeoutSeconds) + o.RetryDelay * 3 + TimeSpan.FromMinutes(10));
            InvocationResult result;
            if (tooOld)
            {
                result = InvocationResult.Failed(record.RequestId, InvocationErrorKind.EventAgeExceeded, "EventAgeExceeded",
                    $"the event is older than its maximum event age ({ageLimit.TotalSeconds:0} s) and was not run", record.Function);
            }
            else
            {
                var attemptAge = time.GetUtcNow().UtcDateTime - record.AcceptedUtc;
                try
                {
                    result = await invoker.InvokeAsync(record.Function, new InvocationRequest(record.RequestId, payload, null), CancellationToken.None);
                }
                catch (Exception ex)
                {
                    result = InvocationResult.Failed(record.RequestId, InvocationErrorKind.Throttled, "Runtime.SystemError", ex.Message, record.Function);
                }

                // Lambda's AsyncEventAge: from accepting the event to when the function is invoked (grows with each retry and
                // throttle); an attempt that was throttled or found no function invoked nothing.
                if (result.Error?.Kind is not (InvocationErrorKind.Throttled or InvocationErrorKind.NotFound or InvocationErrorKind.InvalidRequest))
                    metrics.EventAge(record.Function, attemptAge);
            }

            var kind = result.Error?.Kind;
            var age = time.GetUtcNow().UtcDateTime - record.AcceptedUtc;
            var (maxRetries, maxEventAge, _) = kind is null or InvocationErrorKind.NotFound or InvocationErrorKind.InvalidRequest or InvocationErrorKind.EventAgeExceeded
                ? (0, TimeSpan.Zero, null) // not retried: no need to look the settings up
                : await SettingsAsync(record.Function);
            TimeSpan? wait = kind switch
            {
                null or InvocationErrorKind.NotFound or InvocationErrorKind.InvalidRequest or InvocationErrorKind.EventAgeExceeded => null,
                InvocationErrorKind.Throttled => age + backoff < maxEventAge ? backoff : null,
                _ => ++functionErrors <= maxRetries && age + o.RetryDelay * functionErrors < maxEventAge ? o.RetryDelay * functionErrors : null,
            };
            if (wait is null)
            {
                var completed = time.GetUtcNow().UtcDateTime;
                // Lambda's conditions: Success; EventAgeExceeded for an event discarded for its age (before an attempt, while
                // throttled, or when a retry would come too late); RetriesExhausted for one that failed every attempt it had.
                var condition = result.Succeeded ? EventDestinations.Success
                    : kind is InvocationErrorKind.EventAgeExceeded or InvocationErrorKind.Throttled ? EventDestinations.EventAgeExceeded
                    : kind is InvocationErrorKind.NotFound or InvocationErrorKind.InvalidRequest || functionErrors > maxRetries ? EventDestinations.RetriesExhausted
                    : EventDestinations.EventAgeExceeded;
                var destination = await DestinationOfAsync(record, condition, result, payload, completed);
                var finished = record with
                {
                    FunctionErrors = functionErrors,
                    Status = result.Succeeded ? InvocationStatus.Succeeded : InvocationStatus.Failed,
                    Result = result,
                    CompletedUtc = completed,
                    DestinationRequestId = destination?.RequestId,
                };
                if (!await StoreOutcomeAsync(record, finished, destination)) return;
                // Lambda's AsyncEventsDropped: every event that did not run successfully, whether or not it has an OnFailure
                // destination ("events are sent there before being dropped").
                if (!result.Succeeded) metrics.EventDropped(record.Function, condition);
                await DeliverAsync();
                return;
            }

            if (kind == InvocationErrorKind.Throttled) backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromMinutes(5).Ticks));
            // Between attempts the event waits in the queue again: Queued, with the time of its next attempt.
            record = record with { Status = InvocationStatus.Queued, FunctionErrors = functionErrors, NextAttemptUtc = time.GetUtcNow().UtcDateTime + wait.Value };
            state.State.Record = record;
            await state.WriteStateAsync(); // the attempt and error counts and the retry's due time survive a crash
            await Task.Delay(wait.Value, time);
        }
    }

    /// <summary>
    /// Stores the finished outcome and the record still to send with it (written together), retrying a store that refuses
    /// with backoff. Until it is stored, memory keeps the running event, so GET never answers an outcome the store does
    /// not have, and the reminder or a new activation finds the event unfinished; only if this activation ends first does
    /// the event run again (at least once, as Lambda's queue). False when a write conflict showed that another activation
    /// has written the record: this one then steps aside.
    /// </summary>
    private Task<bool> StoreOutcomeAsync(InvocationRecord running, InvocationRecord finished, PendingDestination? destination)
    {
        var payload = state.State.PayloadJson;
        return StoreAsync(
            () => (state.State.Record, state.State.PayloadJson, state.State.Destination) = (finished, null, destination),
            () => (state.State.Record, state.State.PayloadJson, state.State.Destination) = (running, payload, null),
            int.MaxValue, $"its outcome ({finished.Status})");
    }

    /// <summary>
    /// Applies a change to the state and stores it. A store that refuses is tried again with backoff (200 ms doubling to
    /// 1 min), up to <paramref name="attempts"/> times; after each refusal <paramref name="restore"/> puts memory back as the
    /// store has it, so nothing is answered that is not stored. False when it gave up, or when a write conflict showed that
    /// another activation has written the record (this one then steps aside).
    /// </summary>
    private async Task<bool> StoreAsync(Action apply, Action restore, int attempts, string what)
    {
        var backoff = TimeSpan.FromMilliseconds(200);
        for (var attempt = 1; ; attempt++)
        {
            apply();
            try
            {
                await state.WriteStateAsync();
                return true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                restore();
                if (ex is Orleans.Storage.InconsistentStateException)
                {
                    logger.LogWarning(ex, "Asynchronous invocation {RequestId}: storing {What} found the record written elsewhere; this activation steps aside", this.GetPrimaryKeyString(), what);
                    DeactivateOnIdle();
                    return false;
                }

                if (attempt >= attempts)
                {
                    logger.LogWarning(ex, "Asynchronous invocation {RequestId}: storing {What} failed {Attempt} times; the resume reminder tries again", this.GetPrimaryKeyString(), what, attempt);
                    return false;
                }

                if ((attempt & (attempt - 1)) == 0) // the first refusal, then at doubling intervals
                    logger.LogWarning(ex, "Asynchronous invocation {RequestId}: storing {What} failed ({Attempt} times so far); trying again in {Delay}", this.GetPrimaryKeyString(), what, attempt, backoff);
                DelayDeactivation(backoff + TimeSpan.FromMinutes(1));
                await Task.Delay(backoff, time);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromMinutes(1).Ticks));
            }
        }
    }

    /// <summary>
    /// The retry limit and the maximum event age for <paramref name="function"/> as invoked (<c>name</c>, <c>name:version</c>
    /// or <c>name:alias</c>): that qualifier's event invoke config (Lambda's <c>PutFunctionEventInvokeConfig</c>), each
    /// setting it leaves out being the silo's default. Read at every retry decision, so a change applies to events in flight.
    /// </summary>
    private async Task<(int MaxRetries, TimeSpan MaxEventAge, EventInvokeConfig? Config)> SettingsAsync(string function)
    {
        var o = options.Value;
        var (name, qualifier) = FunctionDefinition.Split(function);
        EventInvokeConfig? config = null;
        try
        {
            config = FunctionValidation.IsValidName(name) && await directory.GetAsync(name) is { } definition ? definition.EventInvokeConfigOf(qualifier) : null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Reading the event invoke config of {Function} failed; the defaults apply to {RequestId}", function, this.GetPrimaryKeyString());
        }

        return (
            config?.MaximumRetryAttempts ?? o.MaxRetries,
            config?.MaximumEventAgeInSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : o.MaxEventAge,
            config);
    }

    /// <summary>
    /// The invocation record for the destination of <paramref name="condition"/> (OnSuccess for Success, OnFailure otherwise)
    /// in the event invoke config of the function as invoked, read now; null when none is configured, or when this event is
    /// itself at the end of <see cref="InvocationLimits.MaxDepth"/> destinations (a loop: Lambda's recursive loop detection
    /// also stops after about 16), or when the record is over the asynchronous payload limit.
    /// </summary>
    private async Task<PendingDestination?> DestinationOfAsync(InvocationRecord record, string condition, InvocationResult result, string payload, DateTime completed)
    {
        var (_, _, config) = await SettingsAsync(record.Function);
        if ((condition == EventDestinations.Success ? config?.OnSuccess : config?.OnFailure) is not { Length: > 0 } destination) return null;
        if (state.State.ChainDepth + 1 >= InvocationLimits.MaxDepth)
        {
            logger.LogWarning("Asynchronous invocation {RequestId} of {Function} is the {Depth}th destination in a row: its {Condition} record is not sent to {Destination} (a destination loop)",
                record.RequestId, record.Function, state.State.ChainDepth, condition, destination);
            return null;
        }

        string function;
        try
        {
            function = EventDestinations.ParseFunction(destination, "destination");
        }
        catch (FunctionValidationException ex)
        {
            logger.LogWarning(ex, "Asynchronous invocation {RequestId}: the destination of {Function} is not valid; its record is not sent", record.RequestId, record.Function);
            metrics.DestinationDeliveryFailed(record.Function); // a misconfigured destination
            return null;
        }

        // Lambda's record carries the response only when the function ran: not for an event discarded before an attempt or throttled.
        var ran = result.Error?.Kind is InvocationErrorKind.EventAgeExceeded or InvocationErrorKind.Throttled or InvocationErrorKind.NotFound or InvocationErrorKind.InvalidRequest ? null : result;
        string json;
        try
        {
            var arn = EventDestinations.FunctionArn(record.Function, options.Value);
            json = EventDestinations.InvocationRecordJson(record.RequestId, arn, condition, record.Attempts, completed, payload, ran);
            if (InvocationLimits.TooLarge(json, InvocationLimits.MaxEventPayloadBytes))
            {
                // As Lambda: over the limit, the record goes without its request and response payloads.
                logger.LogWarning("Asynchronous invocation {RequestId}: its {Condition} record is over {Limit:N0} bytes; it is sent to {Destination} without the payloads",
                    record.RequestId, condition, InvocationLimits.MaxEventPayloadBytes, destination);
                json = EventDestinations.InvocationRecordJson(record.RequestId, arn, condition, record.Attempts, completed, payload, ran, withPayloads: false);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Never in the way of the outcome: an event whose record cannot be built is still finished (and not re-run).
            logger.LogError(ex, "Asynchronous invocation {RequestId}: its {Condition} record could not be built; nothing is sent to {Destination}", record.RequestId, condition, destination);
            metrics.DestinationDeliveryFailed(record.Function);
            return null;
        }

        return new PendingDestination(EventDestinations.DestinationRequestId(record.RequestId), function, json);
    }

    /// <summary>
    /// Sends the pending invocation record to its destination as an asynchronous event of its own (durable, retried with
    /// the destination's settings), then forgets it; the record's request id is derived from this one, so a resend after
    /// a failure here finds the event already accepted. While it is pending the resume reminder stays armed; once it is
    /// sent (or when there is none) the reminder is re-armed to delete the outcome after its retention.
    /// </summary>
    private async Task DeliverAsync()
    {
        var backoff = TimeSpan.FromMilliseconds(200);
        for (var attempt = 1; state.State.Destination is { } pending; attempt++)
        {
            try
            {
                // A destination function that does not exist (deleted, or never deployed) is a misconfigured resource: a
                // delivery failure of the source, not an event accepted under a name nothing answers to.
                var (name, _) = FunctionDefinition.Split(pending.Function);
                if (await directory.GetAsync(name) is null)
                    throw new InvalidOperationException($"the destination function {pending.Function} does not exist");
                await GrainFactory.GetGrain<IInvocationRecordGrain>(pending.RequestId).AcceptDestination(pending.Function, pending.PayloadJson, state.State.ChainDepth + 1);
            }
            catch (Exception ex) when (ex is not OperationCanceledException && attempt < 5)
            {
                DeliveryFailed();
                logger.LogWarning(ex, "Sending the record of {RequestId} to its destination {Destination} failed; trying again", this.GetPrimaryKeyString(), pending.Function);
                await Task.Delay(backoff, time);
                backoff *= 2;
                continue;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                DeliveryFailed();
                if (state.State.Record?.CompletedUtc is { } done && time.GetUtcNow().UtcDateTime - done > options.Value.MaxEventAge)
                {
                    // Tried for as long as an event may wait: a delivery failure, logged with the record, and the outcome
                    // then expires as usual instead of being kept (and retried) for good.
                    logger.LogError(ex, "Gave up sending the record of {RequestId} to its destination {Destination} after {Age}: {Record}",
                        this.GetPrimaryKeyString(), pending.Function, options.Value.MaxEventAge, pending.PayloadJson);
                    if (!await ClearDestinationAsync(pending)) return;
                    break;
                }

                logger.LogError(ex, "Sending the record of {RequestId} to its destination {Destination} failed; the resume reminder tries again", this.GetPrimaryKeyString(), pending.Function);
                await KeepAliveAsync();
                return;
            }

            // Delivered. Forgetting it is this record's own write: a failure there is no delivery failure, and the record
            // stays pending (in memory as in the store), so sending it again finds the destination's event already accepted.
            if (!await ClearDestinationAsync(pending))
            {
                await KeepAliveAsync();
                return;
            }
        }

        await KeepUntilExpiryAsync();
    }

    /// <summary>
    /// Stores that the record no longer has <paramref name="pending"/> to send, retrying a refused write a few times; on
    /// failure memory keeps it pending, as the store does, and false is returned (the resume reminder tries again).
    /// </summary>
    private Task<bool> ClearDestinationAsync(PendingDestination pending)
        => StoreAsync(() => state.State.Destination = null, () => state.State.Destination = pending, 5, $"that its record was sent to {pending.Function} (the destination keeps one event)");

    /// <summary>Lambda's DestinationDeliveryFailures, counted for the source function at each failed attempt to send its record.</summary>
    private void DeliveryFailed()
    {
        if (state.State.Record is { } record) metrics.DestinationDeliveryFailed(record.Function);
    }
}
