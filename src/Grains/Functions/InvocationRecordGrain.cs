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
}

/// <summary>One asynchronous invocation (keyed by request id): accepted and stored, then run with Lambda's retries.</summary>
public interface IInvocationRecordGrain : IGrainWithStringKey
{
    /// <summary>Stores the event and starts it; a second call with the same request id changes nothing.</summary>
    Task<InvocationRecord> Accept(string function, string payloadJson);

    Task<InvocationRecord?> Get();
}

[GenerateSerializer]
public sealed class InvocationRecordState
{
    [Id(0)] public InvocationRecord? Record { get; set; }

    [Id(1)] public string? PayloadJson { get; set; }
}

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
    IOptions<AsyncInvocationOptions> options,
    TimeProvider time,
    ILogger<InvocationRecordGrain> logger) : Grain, IInvocationRecordGrain, IRemindable
{
    private const string ResumeReminder = "resume";

    private Task? _running;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Resume an event a previous activation accepted but did not finish.
        if (state.State.Record is { Status: InvocationStatus.Queued or InvocationStatus.Running }) Start();
        return Task.CompletedTask;
    }

    public async Task<InvocationRecord> Accept(string function, string payloadJson)
    {
        if (state.State.Record is { } existing && !Expired(existing)) return existing;
        state.State.Record = new InvocationRecord
        {
            RequestId = this.GetPrimaryKeyString(), Function = function, Status = InvocationStatus.Queued, AcceptedUtc = time.GetUtcNow().UtcDateTime,
        };
        state.State.PayloadJson = payloadJson;
        await state.WriteStateAsync();
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
        => record.CompletedUtc is { } completed && time.GetUtcNow().UtcDateTime >= completed + options.Value.OutcomeRetention;

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
        _running = RunAsync();
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
            var (_, ageLimit) = await SettingsAsync(record.Function);
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
                try
                {
                    result = await invoker.InvokeAsync(record.Function, new InvocationRequest(record.RequestId, payload, null), CancellationToken.None);
                }
                catch (Exception ex)
                {
                    result = InvocationResult.Failed(record.RequestId, InvocationErrorKind.Throttled, "Runtime.SystemError", ex.Message, record.Function);
                }
            }

            var kind = result.Error?.Kind;
            var age = time.GetUtcNow().UtcDateTime - record.AcceptedUtc;
            var (maxRetries, maxEventAge) = kind is null or InvocationErrorKind.NotFound or InvocationErrorKind.InvalidRequest or InvocationErrorKind.EventAgeExceeded
                ? (0, TimeSpan.Zero) // not retried: no need to look the settings up
                : await SettingsAsync(record.Function);
            TimeSpan? wait = kind switch
            {
                null or InvocationErrorKind.NotFound or InvocationErrorKind.InvalidRequest or InvocationErrorKind.EventAgeExceeded => null,
                InvocationErrorKind.Throttled => age + backoff < maxEventAge ? backoff : null,
                _ => ++functionErrors <= maxRetries && age + o.RetryDelay * functionErrors < maxEventAge ? o.RetryDelay * functionErrors : null,
            };
            if (wait is null)
            {
                state.State.Record = record with
                {
                    Status = result.Succeeded ? InvocationStatus.Succeeded : InvocationStatus.Failed,
                    Result = result,
                    CompletedUtc = time.GetUtcNow().UtcDateTime,
                };
                state.State.PayloadJson = null;
                await state.WriteStateAsync();
                await KeepUntilExpiryAsync();
                return;
            }

            if (kind == InvocationErrorKind.Throttled) backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromMinutes(5).Ticks));
            record = record with { FunctionErrors = functionErrors, NextAttemptUtc = time.GetUtcNow().UtcDateTime + wait.Value };
            state.State.Record = record;
            await state.WriteStateAsync(); // the attempt and error counts and the retry's due time survive a crash
            await Task.Delay(wait.Value, time);
        }
    }

    /// <summary>
    /// The retry limit and the maximum event age for <paramref name="function"/> as invoked (<c>name</c>, <c>name:version</c>
    /// or <c>name:alias</c>): that qualifier's event invoke config (Lambda's <c>PutFunctionEventInvokeConfig</c>), each
    /// setting it leaves out being the silo's default. Read at every retry decision, so a change applies to events in flight.
    /// </summary>
    private async Task<(int MaxRetries, TimeSpan MaxEventAge)> SettingsAsync(string function)
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
            config?.MaximumEventAgeInSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : o.MaxEventAge);
    }
}
