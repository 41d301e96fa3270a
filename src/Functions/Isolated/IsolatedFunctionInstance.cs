using System.Diagnostics;
using System.Text.Json;
using Fleet.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace Fleet.Functions.Hosting.Isolated;

/// <summary>
/// One worker process hosting one function instance. A loop reads the worker's frames: answers complete the
/// current operation (the start or the one running invocation), <c>log</c> frames go to the invocation's
/// logger, <c>invokeFunction</c> frames are served with the invocation's <see cref="IFunctionContext.InvokeAsync"/>.
/// When the worker's stdout ends, the process is gone and the current operation fails with why.
/// </summary>
internal sealed class IsolatedFunctionInstance : IFunctionInstance
{
    private const string StartId = "start";
    private const int MaxHeldLogs = 200;
    private const int StderrTailLines = 20;

    private readonly FunctionCode _code;
    private readonly IsolatedDotNetRuntimeOptions _options;
    private readonly ILogger? _logger;
    private readonly Process _process;
    private readonly Stream _input;
    private readonly Stream _output;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly SemaphoreSlim _invokeGate = new(1, 1);
    private readonly Lock _gate = new();
    private readonly Queue<(FunctionLogLevel Level, string Message, IReadOnlyDictionary<string, object?>? Fields)> _heldLogs = new();
    private readonly Queue<string> _stderrTail = new();
    private readonly Task _stderrLoop;
    private readonly Task _readLoop;

    // Guarded by _gate.
    private Operation? _current;
    private bool _exited;
    private int _exitCode;
    private string? _killedBecause;
    private volatile bool _memoryLimitReported;
    private int _disposed;

    private IsolatedFunctionInstance(FunctionCode code, IsolatedDotNetRuntimeOptions options, ILogger? logger, Process process)
    {
        _code = code;
        _options = options;
        _logger = logger;
        _process = process;
        ProcessId = process.Id;
        _input = process.StandardInput.BaseStream;
        _output = process.StandardOutput.BaseStream;
        _stderrLoop = Task.Run(ReadStderrAsync);
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>The worker's process id (tests, diagnostics).</summary>
    public int ProcessId { get; }

    /// <summary>From spawning the process to the constructed handler: the cold start.</summary>
    public TimeSpan StartDuration { get; private set; }

    /// <summary>The worker's own measure of loading and constructing the handler (part of <see cref="StartDuration"/>).</summary>
    public TimeSpan InitDuration { get; private set; }

    private int MemoryMb => _code.Configuration.MemoryMb;

    public static async Task<IsolatedFunctionInstance> StartAsync(
        FunctionCode code, ProcessStartInfo startInfo, IsolatedDotNetRuntimeOptions options, ILogger? logger, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        Process process;
        try
        {
            process = Process.Start(startInfo) ?? throw new InvalidOperationException($"'{startInfo.FileName}' did not start");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"cannot start the isolated .NET worker with '{startInfo.FileName}': {ex.Message}", ex);
        }

        var instance = new IsolatedFunctionInstance(code, options, logger, process);
        try
        {
            await instance.StartWorkerAsync(cancellationToken);
            instance.StartDuration = clock.Elapsed;
            logger?.LogDebug("Worker {ProcessId} started {Function} in {StartMs:0} ms (init {InitMs:0} ms)",
                instance.ProcessId, code.Function.Key, instance.StartDuration.TotalMilliseconds, instance.InitDuration.TotalMilliseconds);
            return instance;
        }
        catch
        {
            await instance.DisposeAsync();
            throw;
        }
    }

    private async Task StartWorkerAsync(CancellationToken cancellationToken)
    {
        var op = Begin(StartId, null, starting: true);
        try
        {
            await TrySendAsync(WorkerProtocol.Start, w =>
            {
                w.WriteString("packageDirectory", _code.PackageDirectory);
                w.WriteStartArray("layerDirectories");
                foreach (var layer in _code.LayerDirectories) w.WriteStringValue(layer);
                w.WriteEndArray();
                w.WriteString("handler", _code.Configuration.Handler);
                w.WriteString("functionName", _code.Function.Name);
                w.WriteString("functionVersion", _code.Function.Version);
                w.WriteNumber("memoryMb", MemoryMb);
                w.WriteStringMap("environment", _code.Configuration.Environment);
                w.WriteString("tempDirectory", _code.TempDirectory);
            });

            JsonElement reply;
            try
            {
                reply = await op.Reply.Task.WaitAsync(_options.StartTimeout, cancellationToken);
            }
            catch (TimeoutException)
            {
                await KillAsync("because it did not start in time");
                throw new TimeoutException($"the function's worker did not start within {_options.StartTimeout.TotalSeconds:0.#} s");
            }
            catch (WorkerExitedException)
            {
                throw ExitException(starting: true);
            }

            switch (WorkerProtocol.TypeOf(reply))
            {
                case WorkerProtocol.Started:
                    if (reply.TryGetProperty("initMs", out var initMs) && initMs.TryGetDouble(out var ms)) InitDuration = TimeSpan.FromMilliseconds(ms);
                    return;
                case WorkerProtocol.StartFailed:
                    var errorType = reply.GetString("errorType") ?? "Runtime.StartError";
                    var message = reply.GetString("message") ?? "";
                    if (reply.TryGetProperty("init", out var init) && init.ValueKind == JsonValueKind.True) throw InitException(reply, errorType, message);
                    throw new FunctionLoadException(errorType, message);
                case WorkerProtocol.Error when reply.GetString("errorType") == WorkerProtocol.MemoryLimitExceeded:
                    throw MemoryLimitException();
                default:
                    throw new FunctionLoadException("Runtime.ProtocolError", $"the worker answered the start with '{WorkerProtocol.TypeOf(reply)}'");
            }
        }
        finally
        {
            End(op);
        }
    }

    /// <summary>
    /// The handler's constructor threw in the worker: Lambda's <c>LambdaException</c>, the constructor's exception its
    /// <c>cause</c>. This worker sends that document; an older one sent the constructor's exception itself (its type as
    /// <c>errorType</c>, the short or, older still, the full name), which becomes the cause here.
    /// </summary>
    private FunctionInitException InitException(JsonElement reply, string errorType, string message)
        => InitException(reply, errorType, message, _code.Configuration.Handler);

    internal static FunctionInitException InitException(JsonElement reply, string errorType, string message, string handler)
    {
        var exceptionType = reply.GetString("exceptionType");
        var stackTrace = reply.GetString("stackTrace");
        if (reply.TryGetProperty("cause", out var sent) && WorkerProtocol.ReadErrorDocument(sent) is { } cause)
        {
            var thrown = IsolatedWorkerException.Recreate(exceptionType ?? cause.ErrorType, cause.ErrorType, cause.ErrorMessage, stackTrace);
            return new FunctionInitException(thrown) { ErrorType = errorType, ErrorMessage = message, Cause = cause };
        }

        var shortName = ShortTypeName(exceptionType ?? errorType);
        var old = IsolatedWorkerException.Recreate(exceptionType ?? errorType, shortName, message, stackTrace);
        var typeName = handler.Split("::") is [_, var type, _] ? type : handler;
        return FunctionInitException.ConstructorThrew(typeName, old, new FunctionErrorDocument(shortName, message, FunctionErrorDocument.StackLines(stackTrace)));
    }

    /// <summary><c>InvalidOperationException</c> for <c>System.InvalidOperationException</c> (and for itself), as Lambda's .NET runtime names a type.</summary>
    private static string ShortTypeName(string name) => name[(name.LastIndexOfAny(['.', '+']) + 1)..];

    public async Task<string> InvokeAsync(string payloadJson, IFunctionContext context)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await _invokeGate.WaitAsync();
        try
        {
            if (context.CancellationToken.IsCancellationRequested)
                throw new TimeoutException("the invocation's time limit passed before it started");
            var op = Begin(context.RequestId, context, starting: false);
            try
            {
                using var timeout = context.CancellationToken.Register(static state => ((Operation)state!).TimeOut(), op);
                var timeoutMs = (long)Math.Clamp(Math.Ceiling(context.RemainingTime.TotalMilliseconds), 1, int.MaxValue);
                await TrySendAsync(WorkerProtocol.Invoke, w =>
                {
                    w.WriteString("requestId", context.RequestId);
                    w.WriteString("payload", payloadJson);
                    w.WriteNumber("timeoutMs", timeoutMs);
                    if (context.InvokedAlias is { } alias) w.WriteString("invokedAlias", alias);
                    w.WriteString("invokedFunctionArn", context.InvokedFunctionArn);
                    w.WriteString("logGroupName", context.LogGroupName);
                    w.WriteString("logStreamName", context.LogStreamName);
                    w.WriteString("functionName", context.FunctionName);
                    w.WriteString("functionVersion", context.FunctionVersion);
                    w.WriteNumber("memoryLimitMb", context.MemoryLimitMb);
                    w.WriteString("tempDirectory", context.TempDirectory);
                    w.WriteStringMap("environment", context.Environment);
                });

                JsonElement reply;
                try
                {
                    reply = await op.Reply.Task;
                }
                catch (OperationCanceledException) when (op.TimedOut)
                {
                    // The handler ignores its cancellation token (or cannot see it): only the process can be stopped.
                    await KillAsync("after the function timed out");
                    throw new TimeoutException($"the function did not finish within its time limit; its worker process ({ProcessId}) was stopped");
                }
                catch (WorkerExitedException)
                {
                    throw ExitException(starting: false);
                }

                return Interpret(reply, context);
            }
            finally
            {
                End(op);
            }
        }
        finally
        {
            _invokeGate.Release();
        }
    }

    private string Interpret(JsonElement reply, IFunctionContext context)
    {
        switch (WorkerProtocol.TypeOf(reply))
        {
            case WorkerProtocol.Result:
                return reply.GetString("payload") ?? "null";
            case WorkerProtocol.Error:
                var errorType = reply.GetString("errorType") ?? "Unhandled";
                var message = reply.GetString("message") ?? "";
                if (errorType == WorkerProtocol.MemoryLimitExceeded) throw MemoryLimitException();
                if (context.CancellationToken.IsCancellationRequested && IsCancellation(reply))
                    throw new TimeoutException($"the function did not finish within its time limit: {message}");
                throw new FunctionErrorException(errorType, message, new IsolatedWorkerException(errorType, message, reply.GetString("stackTrace")))
                {
                    Cause = reply.TryGetProperty("cause", out var cause) ? WorkerProtocol.ReadErrorDocument(cause) : null, // an older worker sends none
                    Causes = WorkerProtocol.ReadCauses(reply),
                };
            default:
                throw new FunctionErrorException("Runtime.ProtocolError", $"the worker answered the invocation with '{WorkerProtocol.TypeOf(reply)}'");
        }
    }

    /// <summary>
    /// True when an <c>error</c> frame reports an <see cref="OperationCanceledException"/> or <see cref="TaskCanceledException"/>
    /// (what a handler that honours its token throws at the timeout). This worker sends <c>errorType</c> as Lambda reports
    /// it (the short name) and <c>exceptionType</c> (the full name); an older worker sends no <c>exceptionType</c> and the
    /// full name as <c>errorType</c>. So: <c>exceptionType</c>, else <c>errorType</c>, by either name.
    /// </summary>
    internal static bool IsCancellation(JsonElement reply)
        => (reply.GetString("exceptionType") ?? reply.GetString("errorType")) is
            "System.OperationCanceledException" or "OperationCanceledException" or "System.Threading.Tasks.TaskCanceledException" or "TaskCanceledException";

    private Operation Begin(string requestId, IFunctionContext? context, bool starting)
    {
        var op = new Operation(requestId, context);
        (FunctionLogLevel Level, string Message, IReadOnlyDictionary<string, object?>? Fields)[] held = [];
        lock (_gate)
        {
            if (_exited) throw ExitException(starting);
            _current = op;
            if (context is not null && _heldLogs.Count > 0)
            {
                held = _heldLogs.ToArray();
                _heldLogs.Clear();
            }
        }

        // What the worker said between invocations (the constructor's output, a background thread's) goes to the next invocation's log.
        foreach (var (level, message, fields) in held) Log(context!, level, message, fields);
        return op;
    }

    private void End(Operation op)
    {
        lock (_gate)
        {
            if (_current == op) _current = null;
        }
    }

    private Exception ExitException(bool starting)
    {
        int exitCode;
        string? killedBecause;
        string stderr;
        lock (_gate)
        {
            exitCode = _exitCode;
            killedBecause = _killedBecause;
            stderr = string.Join(Environment.NewLine, _stderrTail);
        }

        if (killedBecause is not null)
        {
            var stopped = $"the worker process was stopped {killedBecause}";
            return starting ? new FunctionLoadException("Runtime.ExitError", stopped) : new FunctionErrorException("Runtime.ExitError", stopped);
        }

        if (_memoryLimitReported || exitCode == WorkerProtocol.MemoryLimitExitCode
            || stderr.Contains("OutOfMemory", StringComparison.Ordinal) || stderr.Contains("Out of memory", StringComparison.OrdinalIgnoreCase))
            return MemoryLimitException($" (the worker process exited with code {exitCode})");

        var message = $"the worker process exited with code {exitCode} {(starting ? "while starting" : "during the invocation")}"
                      + (stderr.Length > 0 ? $"; its last output: {stderr}" : "");
        return starting ? new FunctionLoadException("Runtime.ExitError", message) : new FunctionErrorException("Runtime.ExitError", message);
    }

    private FunctionMemoryLimitException MemoryLimitException(string detail = "")
    {
        _memoryLimitReported = true;
        return new FunctionMemoryLimitException($"the function exceeded its memory limit of {MemoryMb} MB{detail}");
    }

    private async Task ReadLoopAsync()
    {
        var unreadable = false;
        try
        {
            while (true)
            {
                using var message = await WorkerProtocol.ReadAsync(_output, CancellationToken.None);
                if (message is null) break;
                Dispatch(message.RootElement);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidDataException or JsonException or InvalidOperationException)
        {
            _logger?.LogWarning(ex, "Worker {ProcessId} of {Function}: its output is unreadable", ProcessId, _code.Function.Key);
            unreadable = true;
        }

        // Nothing can be said to a worker whose stdout is broken; don't wait for it to exit by itself.
        if (unreadable) await KillAsync("because its standard output carried something other than protocol frames (raw writes to the process's stdout?)");
        await OnWorkerGoneAsync();
    }

    private void Dispatch(JsonElement message)
    {
        switch (WorkerProtocol.TypeOf(message))
        {
            case WorkerProtocol.Log:
                var level = Enum.TryParse<FunctionLogLevel>(message.GetString("level"), out var l) ? l : FunctionLogLevel.Information;
                Deliver(level, message.GetString("message") ?? "", ReadFields(message));
                break;
            case WorkerProtocol.Started or WorkerProtocol.StartFailed:
                Reply(StartId, message);
                break;
            case WorkerProtocol.Result or WorkerProtocol.Error:
                if (message.GetString("errorType") == WorkerProtocol.MemoryLimitExceeded) _memoryLimitReported = true;
                Reply(message.GetString("requestId"), message);
                break;
            case WorkerProtocol.InvokeFunction:
                Operation? op;
                lock (_gate) op = _current;
                _ = ServeCallAsync(op, message.Clone());
                break;
        }
    }

    private void Reply(string? requestId, JsonElement message)
    {
        Operation? op;
        lock (_gate) op = _current;
        // An answer without a request id (out of memory during the start) is the current operation's.
        if (op is not null && (requestId is null || requestId == op.RequestId)) op.Reply.TrySetResult(message.Clone());
    }

    private void Deliver(FunctionLogLevel level, string message, IReadOnlyDictionary<string, object?>? fields)
    {
        IFunctionContext? context;
        lock (_gate)
        {
            context = _current?.Context;
            if (context is null)
            {
                _heldLogs.Enqueue((level, message, fields));
                if (_heldLogs.Count > MaxHeldLogs) _heldLogs.Dequeue();
            }
        }

        if (context is not null)
        {
            Log(context, level, message, fields);
        }
        else
        {
            _logger?.LogDebug("Worker {ProcessId} of {Function}: {Message}", ProcessId, _code.Function.Key, message);
        }
    }

    private void Log(IFunctionContext context, FunctionLogLevel level, string message, IReadOnlyDictionary<string, object?>? fields)
    {
        try
        {
            context.Logger.Log(level, message, fields);
        }
        catch (Exception ex)
        {
            _logger?.LogWarning(ex, "Worker {ProcessId} of {Function}: the invocation's logger threw", ProcessId, _code.Function.Key);
        }
    }

    private static Dictionary<string, object?>? ReadFields(JsonElement message)
    {
        if (!message.TryGetProperty("fields", out var fields) || fields.ValueKind != JsonValueKind.Object) return null;
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var field in fields.EnumerateObject())
        {
            var v = field.Value;
            result[field.Name] = v.ValueKind switch
            {
                JsonValueKind.String => v.GetString(),
                JsonValueKind.Number => v.TryGetInt64(out var n) ? n : (object)v.GetDouble(),
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                JsonValueKind.Null or JsonValueKind.Undefined => null,
                _ => v.Clone(),
            };
        }

        return result;
    }

    /// <summary>The handler called another function: run the call with the invocation's context and answer with <c>invokeResult</c>.</summary>
    private async Task ServeCallAsync(Operation? op, JsonElement message)
    {
        var callId = message.GetString("callId");
        if (callId is null) return;
        var function = message.GetString("function") ?? "";
        string? payload = null, errorType = null, error = null;
        try
        {
            var context = op?.Context ?? throw new FunctionInvocationException(function, "InvalidRequest", "no invocation is running in this environment");
            object? argument = null;
            if (message.GetString("payload") is { } json)
            {
                using var document = JsonDocument.Parse(json);
                if (document.RootElement.ValueKind != JsonValueKind.Null) argument = document.RootElement.Clone();
            }

            var result = await context.InvokeAsync(function, argument, context.CancellationToken);
            payload = result.ValueKind == JsonValueKind.Undefined ? "null" : result.GetRawText();
        }
        catch (FunctionInvocationException ex)
        {
            (errorType, error) = (ex.ErrorType, ex.ErrorMessage);
        }
        catch (OperationCanceledException ex)
        {
            (errorType, error) = ("Timeout", ex.Message);
        }
        catch (Exception ex)
        {
            (errorType, error) = ("Unhandled", $"{ex.GetType().FullName}: {ex.Message}");
        }

        await TrySendAsync(WorkerProtocol.InvokeResult, w =>
        {
            w.WriteString("callId", callId);
            if (errorType is null)
            {
                w.WriteString("payload", payload);
            }
            else
            {
                w.WriteString("errorType", errorType);
                w.WriteString("message", error);
            }
        });
    }

    /// <summary>Writes a frame; a worker that is gone is reported by the read loop, not here.</summary>
    private async Task TrySendAsync(string type, Action<Utf8JsonWriter> body)
    {
        var frame = WorkerProtocol.Encode(type, body);
        await _writeGate.WaitAsync();
        try
        {
            await _input.WriteAsync(frame);
            await _input.FlushAsync();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The process has exited or is exiting; the read loop sees its end.
        }
        finally
        {
            _writeGate.Release();
        }
    }

    private async Task ReadStderrAsync()
    {
        try
        {
            while (await _process.StandardError.ReadLineAsync() is { } line)
            {
                lock (_gate)
                {
                    _stderrTail.Enqueue(line);
                    if (_stderrTail.Count > StderrTailLines) _stderrTail.Dequeue();
                }

                _logger?.LogWarning("Worker {ProcessId} of {Function} (stderr): {Line}", ProcessId, _code.Function.Key, line);
                Deliver(FunctionLogLevel.Warning, $"[worker stderr] {line}", null);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The process is gone.
        }
    }

    private async Task OnWorkerGoneAsync()
    {
        var exitCode = -1;
        try
        {
            try
            {
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (TimeoutException)
            {
                // stdout closed but the process lives on: it cannot talk any more.
                await KillAsync("because it closed its standard output");
            }

            await _stderrLoop.WaitAsync(TimeSpan.FromSeconds(2));
            exitCode = _process.ExitCode;
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            // Keep exitCode -1.
        }

        Operation? op;
        lock (_gate)
        {
            _exited = true;
            _exitCode = exitCode;
            op = _current;
        }

        if (exitCode != 0 && Volatile.Read(ref _disposed) == 0)
            _logger?.LogInformation("Worker {ProcessId} of {Function} exited with code {ExitCode}", ProcessId, _code.Function.Key, exitCode);
        op?.Reply.TrySetException(new WorkerExitedException());
    }

    private async Task KillAsync(string because)
    {
        lock (_gate) _killedBecause ??= because;
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            // Already gone.
        }

        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            _logger?.LogWarning("Worker {ProcessId} of {Function} did not exit after being killed", ProcessId, _code.Function.Key);
        }
    }

    /// <summary>Closes the worker's stdin (it disposes the handler and exits), then kills it if it lingers.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        try
        {
            _input.Close();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // Already closed.
        }

        var exited = false;
        try
        {
            await _process.WaitForExitAsync().WaitAsync(_options.ShutdownTimeout);
            exited = true;
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            // Still running.
        }

        if (!exited) await KillAsync("on disposal");
        try
        {
            await Task.WhenAll(_readLoop, _stderrLoop).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
            // Nothing more to wait for.
        }

        _process.Dispose();
    }

    private sealed class Operation(string requestId, IFunctionContext? context)
    {
        public string RequestId => requestId;

        /// <summary>The invocation's context; null for the start.</summary>
        public IFunctionContext? Context => context;

        public TaskCompletionSource<JsonElement> Reply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool TimedOut { get; private set; }

        public void TimeOut()
        {
            TimedOut = true;
            Reply.TrySetCanceled();
        }
    }

    private sealed class WorkerExitedException() : Exception("the worker process exited");
}

/// <summary>An exception thrown in the worker process, as far as the host knows it: its type's name, its message and its stack trace.</summary>
public sealed class IsolatedWorkerException(string errorType, string message, string? remoteStackTrace) : Exception($"{errorType}: {message}")
{
    public string ErrorType { get; } = errorType;

    public string? RemoteStackTrace { get; } = remoteStackTrace;

    public override string? StackTrace => RemoteStackTrace ?? base.StackTrace;

    /// <summary>
    /// The worker's exception rebuilt as its own type when <paramref name="exceptionType"/> (its full name) is a framework
    /// exception (so messages name it), else an <see cref="IsolatedWorkerException"/> reporting <paramref name="errorType"/>.
    /// </summary>
    internal static Exception Recreate(string exceptionType, string errorType, string message, string? remoteStackTrace)
    {
        try
        {
            var type = typeof(object).Assembly.GetType(exceptionType, throwOnError: false);
            // (message, inner) is a message on every framework exception; (string) alone is a parameter name on some.
            if (type is not null && typeof(Exception).IsAssignableFrom(type) && !type.IsAbstract
                && type.GetConstructor([typeof(string), typeof(Exception)]) is { } constructor)
                return (Exception)constructor.Invoke([message, null]);
        }
        catch (Exception ex) when (ex is System.Reflection.TargetInvocationException or MissingMethodException or MemberAccessException or ArgumentException)
        {
            // Fall back to the generic carrier.
        }

        return new IsolatedWorkerException(errorType, message, remoteStackTrace);
    }
}
