using System.Diagnostics;
using Fleet.Grains.Functions;
using Microsoft.Extensions.Logging;

namespace Fleet.Functions.Hosting;

/// <summary>
/// One warm execution environment of one function version. The first invocation is the cold start: the
/// code is unpacked (once per silo), loaded and constructed, and its duration reported as
/// <see cref="InvocationResult.InitDurationMs"/>. Later invocations reuse the instance. A timeout cancels the
/// token; a handler that ignores it is abandoned, the invocation reported as timed out and the
/// environment marked broken so its owner replaces it. The scratch folder goes when the environment does.
/// </summary>
public sealed class ExecutionEnvironment : IExecutionEnvironment
{
    /// <summary>How close to the deadline a runtime's TimeoutException counts as the invocation's timeout.</summary>
    private static readonly TimeSpan DeadlineSlack = TimeSpan.FromMilliseconds(50);

    private readonly IFunctionRuntime _runtime;
    private readonly CodeCache _code;
    private readonly IFunctionInvoker? _invoker;
    private readonly FunctionsOptions _options;
    private readonly ILogger _logger;
    private readonly string _tempDirectory;
    private readonly AsyncInvocationOptions _arns;
    private IFunctionInstance? _instance;
    private int _busy;
    private bool _disposed;

    public ExecutionEnvironment(
        ResolvedFunction function, string owner, IFunctionRuntime runtime, CodeCache code, IFunctionInvoker? invoker, FunctionsOptions options, ILogger logger,
        AsyncInvocationOptions? arns = null)
    {
        Function = function;
        _arns = arns ?? new AsyncInvocationOptions();
        // Lambda's log stream name: the day the environment started, the version it serves, and its own id.
        LogStreamName = $"{DateTime.UtcNow:yyyy'/'MM'/'dd}/[{function.Version}]{Guid.NewGuid():n}";
        _runtime = runtime;
        _code = code;
        _invoker = invoker;
        _options = options;
        _logger = logger;
        var safeOwner = string.Concat(owner.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_'));
        _tempDirectory = Path.GetFullPath(Path.Combine(options.TempPath, $"{safeOwner}-{function.Name}-{Guid.NewGuid():n}"));
    }

    public ResolvedFunction Function { get; }

    /// <summary>Lambda's log stream of this environment (<c>YYYY/MM/DD/[VERSION]ID</c>), the context's <c>LogStreamName</c>.</summary>
    public string LogStreamName { get; }

    public bool IsWarm => _instance is not null;

    public bool IsBroken { get; private set; }

    public DateTime LastUsedUtc { get; private set; } = DateTime.UtcNow;

    /// <summary>The ARN the caller invoked by, built once per qualifier in a row (a sensor's binding always uses the same one).</summary>
    private string InvokedArn(string? qualifier)
    {
        if (_invokedArn is { } last && string.Equals(last.Qualifier, qualifier, StringComparison.Ordinal)) return last.Arn;
        var arn = EventDestinations.InvokedFunctionArn(Function.Name, qualifier, _arns);
        _invokedArn = new InvokedArnFor(qualifier, arn);
        return arn;
    }

    private sealed record InvokedArnFor(string? Qualifier, string Arn);

    private InvokedArnFor? _invokedArn;

    public async Task<InvocationResult> InvokeAsync(InvocationRequest request)
    {
        if (Interlocked.Exchange(ref _busy, 1) == 1)
            throw new InvalidOperationException("an execution environment serves one invocation at a time");
        try
        {
            return await InvokeCoreAsync(request);
        }
        finally
        {
            LastUsedUtc = DateTime.UtcNow;
            Volatile.Write(ref _busy, 0);
        }
    }

    private async Task<InvocationResult> InvokeCoreAsync(InvocationRequest request)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var config = Function.Configuration;
        if (IsBroken)
            return Fail(request, InvocationErrorKind.Unhandled, "Runtime.EnvironmentBroken", "this environment was recycled; invoke again");
        if (InvocationLimits.TooLarge(request.PayloadJson, InvocationLimits.MaxPayloadBytes))
            return Fail(request, InvocationErrorKind.InvalidRequest, "RequestTooLarge", $"the payload exceeds {InvocationLimits.MaxPayloadBytes} bytes");

        var (failure, initMs) = await EnsureStartedAsync(request);
        if (failure is not null) return failure;

        var logger = new FunctionLogger(_logger, request.RequestId, Function.Name, Function.Version, _options.LogTailBytes);
        var begun = Stopwatch.GetTimestamp();
        var timeout = request.TimeoutMs is { } capMs && TimeSpan.FromMilliseconds(capMs) < config.Timeout ? TimeSpan.FromMilliseconds(capMs) : config.Timeout;
        var deadline = DateTime.UtcNow + timeout;
        using var cts = new CancellationTokenSource(timeout);
        var context = new FunctionContext(
            Function, request, deadline, cts.Token, logger, _tempDirectory, _invoker,
            InvokedArn(request.InvokedQualifier), LogStreamName);
        var instance = _instance!;
        // On the thread pool: a handler that blocks must not hold the caller (a grain's turn, a request thread).
        var run = Task.Run(() => instance.InvokeAsync(request.PayloadJson, context));
        // The environment waits on cts's own timer (not a second one that could fire a tick earlier). A runtime may notice
        // the deadline itself, a moment before that timer fires (the JavaScript engine's deadline constraint): its
        // TimeoutException is the platform's timeout too. Only a TimeoutException well before the deadline is the handler's.
        var expired = Task.Delay(Timeout.Infinite, cts.Token);
        bool TimedOut() => cts.IsCancellationRequested || Stopwatch.GetElapsedTime(begun) >= timeout - DeadlineSlack;
        InvocationResult result;
        try
        {
            if (await Task.WhenAny(run, expired) != run) throw new TimeoutException();
            var payload = await run;
            result = InvocationLimits.TooLarge(payload, InvocationLimits.MaxPayloadBytes)
                ? Fail(request, InvocationErrorKind.Unhandled, "Function.ResponseSizeTooLarge", $"the response exceeds {InvocationLimits.MaxPayloadBytes} bytes")
                : Succeed(request, payload);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException && TimedOut())
        {
            cts.Cancel();
            IsBroken = true; // an abandoned handler may still be running: never reuse this instance
            result = Fail(request, InvocationErrorKind.Timeout, "Timeout", $"Task timed out after {timeout.TotalSeconds:0.00} seconds");
        }
        catch (FunctionMemoryLimitException ex)
        {
            IsBroken = true;
            result = Fail(request, InvocationErrorKind.MemoryLimitExceeded, "MemoryLimitExceeded", ex.Message);
        }
        catch (FunctionErrorException ex)
        {
            IsBroken = ex.ErrorType == "Runtime.ExitError"; // the worker process is gone: the next invocation needs a fresh one
            result = Fail(request, InvocationErrorKind.Unhandled, ex.ErrorType, ex.Message, StackLines(ex.InnerException), CauseOf(ex.Cause), CausesOf(ex.Causes));
        }
        catch (OutOfMemoryException ex)
        {
            IsBroken = true;
            result = Fail(request, InvocationErrorKind.MemoryLimitExceeded, "MemoryLimitExceeded", ex.Message);
        }
        catch (Exception ex)
        {
            // As Lambda's .NET runtime reports it: the exception's inner exception is the document's cause, nested.
            // One document, so its bound (FunctionErrorDocument.MaxDocuments) holds for the cause and the causes together.
            var document = ex is Jint.Runtime.JavaScriptException ? null : FunctionErrorDocument.Of(ex);
            result = Fail(request, InvocationErrorKind.Unhandled, ErrorTypes.Of(ex), ex.Message, StackLines(ex),
                CauseOf(document?.Cause), CausesOf(document?.Causes));
        }

        if (IsBroken && !run.IsCompleted)
        {
            _ = run.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default); // observe the abandoned handler's fault
        }

        return result with
        {
            DurationMs = Stopwatch.GetElapsedTime(begun).TotalMilliseconds,
            InitDurationMs = initMs,
            LogTail = logger.Tail is { Length: > 0 } tail ? tail : null,
        };
    }

    /// <summary>Runs only the cold start (load, construct): how a deploy proves a package before it serves. Null when it succeeded.</summary>
    public async Task<InvocationError?> PrepareAsync()
    {
        var (failure, _) = await EnsureStartedAsync(new InvocationRequest("prepare", "null", null));
        return failure?.Error;
    }

    private async Task<(InvocationResult? Failure, double? InitMs)> EnsureStartedAsync(InvocationRequest request)
    {
        if (_instance is not null) return (null, null);
        var started = Stopwatch.GetTimestamp();
        try
        {
            _instance = await StartAsync();
            return (null, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception ex)
        {
            IsBroken = true;
            var failed = ex switch
            {
                FunctionLoadException load => Fail(request, InvocationErrorKind.InvalidPackage, load.ErrorType, load.Message),
                FunctionInitException init => Fail(request, InvocationErrorKind.Unhandled, init.ErrorType, init.ErrorMessage, cause: CauseOf(init.Cause)),
                FunctionMemoryLimitException mem => Fail(request, InvocationErrorKind.MemoryLimitExceeded, "MemoryLimitExceeded", mem.Message),
                TimeoutException or OperationCanceledException => Fail(request, InvocationErrorKind.Timeout, "Runtime.InitTimeout", $"the cold start took longer than {_options.InitTimeout.TotalSeconds:0.#} s"),
                FunctionValidationException bad => Fail(request, InvocationErrorKind.InvalidPackage, "Runtime.InvalidPackage", bad.Message),
                _ => Fail(request, InvocationErrorKind.Unhandled, ErrorTypes.Of(ex), ex.Message),
            };
            _logger.LogWarning("Cold start of {Function}:{Version} failed: {ErrorType} {Message}{Cause}", Function.Name, Function.Version, failed.Error!.Type, failed.Error.Message,
                failed.Error.Cause is { } cause ? $" Cause: {cause.Type}: {cause.Message}" : "");
            return (failed with { InitDurationMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds }, null);
        }
    }

    private async Task<IFunctionInstance> StartAsync()
    {
        Directory.CreateDirectory(_tempDirectory);
        using var cts = new CancellationTokenSource(_options.InitTimeout);
        var code = await _code.GetAsync(Function, _tempDirectory, cts.Token);
        // The runtime may run the function's constructor: on the thread pool, bounded by the init timeout.
        var start = Task.Run(() => _runtime.StartAsync(code, cts.Token), cts.Token);
        try
        {
            return await start.WaitAsync(_options.InitTimeout);
        }
        catch (TimeoutException)
        {
            // Abandoned: an instance that still arrives is disposed, so its load context or worker does not leak.
            _ = start.ContinueWith(static t => t.Result.DisposeAsync().AsTask(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            throw;
        }
    }

    private InvocationResult Succeed(InvocationRequest request, string payload)
        => new() { RequestId = request.RequestId, FunctionName = Function.Name, ExecutedVersion = Function.Version, PayloadJson = payload };

    private InvocationResult Fail(InvocationRequest request, InvocationErrorKind kind, string type, string message, string[]? stackTrace = null,
        InvocationErrorCause? cause = null, InvocationErrorCause[]? causes = null)
    {
        var failed = InvocationResult.Failed(request.RequestId, kind, type, message, Function.Name, Function.Version);
        return stackTrace is null && cause is null && causes is null
            ? failed
            : failed with { Error = failed.Error! with { StackTrace = stackTrace, Cause = cause, Causes = causes } };
    }

    /// <summary>An error document's <c>cause</c>, nested, as an invocation's outcome carries it.</summary>
    internal static InvocationErrorCause? CauseOf(FunctionErrorDocument? cause)
        => cause is null ? null : new InvocationErrorCause(cause.ErrorType, cause.ErrorMessage, cause.StackTrace?.ToArray(), CauseOf(cause.Cause), CausesOf(cause.Causes));

    /// <summary>An error document's <c>causes</c> (an aggregate's inner exceptions), as an invocation's outcome carries them.</summary>
    internal static InvocationErrorCause[]? CausesOf(IReadOnlyList<FunctionErrorDocument>? causes)
        => causes is { Count: > 0 } ? causes.Select(c => CauseOf(c)!).ToArray() : null;

    /// <summary>
    /// The handler's stack, one frame a line, as Lambda's error document carries it (<c>stackTrace</c>): the .NET frames
    /// of an in-process handler, the worker's for an isolated one, the script's for JavaScript; at most 50 lines.
    /// </summary>
    internal static string[]? StackLines(Exception? error)
    {
        var text = error switch
        {
            null => null,
            Jint.Runtime.JavaScriptException js => js.JavaScriptStackTrace,
            _ => error.StackTrace,
        };
        if (string.IsNullOrWhiteSpace(text)) return null;
        var lines = text.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return lines.Length == 0 ? null : lines[..Math.Min(lines.Length, 50)];
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        var instance = _instance;
        _instance = null;
        if (instance is not null)
        {
            try
            {
                await instance.DisposeAsync();
            }
            catch (Exception ex)
            {
                _logger.LogWarning(ex, "Disposing an environment of {Function}:{Version} failed", Function.Name, Function.Version);
            }
        }

        try
        {
            if (Directory.Exists(_tempDirectory)) Directory.Delete(_tempDirectory, recursive: true);
        }
        catch (IOException ex)
        {
            _logger.LogWarning(ex, "Could not remove the scratch folder {Folder}", _tempDirectory);
        }
    }
}
