using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace Fleet.Functions.Worker;

/// <summary>
/// The worker's life: read frames from stdin on the main thread, start the function on <c>start</c>, run
/// each <c>invoke</c> on the thread pool (so the loop stays free for <c>invokeResult</c>), exit when stdin
/// closes. Out of memory anywhere ends the process with <see cref="WorkerProtocol.MemoryLimitExitCode"/>.
/// </summary>
internal sealed class WorkerLoop(FrameWriter frames, IReadOnlyList<ConsoleLogWriter> consoles)
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<JsonElement>> _calls = new();
    private long _nextCallId;
    private int _busy;
    private int _exiting;

    private FunctionLoadContext? _loadContext;
    private HandlerBinding? _binding;
    private object? _target;
    private Dictionary<string, string> _environment = new();
    private string _functionName = "";
    private string _functionVersion = "";
    private string _tempDirectory = "";
    private int _memoryMb;

    public FrameWriter Frames => frames;

    public int Run(Stream input)
    {
        try
        {
            while (true)
            {
                using var message = WorkerProtocol.Read(input);
                if (message is null) break;
                var root = message.RootElement;
                switch (WorkerProtocol.TypeOf(root))
                {
                    case WorkerProtocol.Start:
                        Start(root);
                        break;
                    case WorkerProtocol.Invoke:
                        BeginInvoke(root.Clone());
                        break;
                    case WorkerProtocol.InvokeResult:
                        CompleteCall(root);
                        break;
                }
            }
        }
        catch (Exception ex) when (IsOutOfMemory(ex))
        {
            ExitOnMemoryLimit(frames.CurrentRequestId);
        }

        Shutdown();
        return 0;
    }

    /// <summary>stdin closed: the host is done with this environment (or gone). Dispose the handler briefly, then exit.</summary>
    private void Shutdown()
    {
        var target = Interlocked.Exchange(ref _target, null);
        try
        {
            var disposal = target switch
            {
                IAsyncDisposable asyncDisposable => asyncDisposable.DisposeAsync().AsTask(),
                IDisposable disposable => Task.Run(disposable.Dispose),
                _ => Task.CompletedTask,
            };
            disposal.Wait(TimeSpan.FromSeconds(1));
        }
        catch (Exception)
        {
            // The environment is going away; a failing Dispose changes nothing.
        }

        // Foreground threads the function started must not keep the process alive.
        Environment.Exit(0);
    }

    private void Start(JsonElement message)
    {
        var started = Stopwatch.StartNew();
        var handler = message.GetString("handler") ?? "";
        _functionName = message.GetString("functionName") ?? "";
        _functionVersion = message.GetString("functionVersion") ?? "";
        _tempDirectory = message.GetString("tempDirectory") ?? "";
        _memoryMb = message.TryGetProperty("memoryMb", out var mb) && mb.TryGetInt32(out var m) ? m : 0;
        _environment = message.ReadStringMap("environment");
        foreach (var (key, value) in _environment) Environment.SetEnvironmentVariable(key, value);
        var layers = message.TryGetProperty("layerDirectories", out var l) && l.ValueKind == JsonValueKind.Array
            ? l.EnumerateArray().Select(e => e.GetString() ?? "").Where(s => s.Length > 0).ToArray()
            : [];
        try
        {
            _loadContext = new FunctionLoadContext("function", message.GetString("packageDirectory") ?? "", layers, isCollectible: false);
            _binding = HandlerBinding.Resolve(_loadContext, handler);
            _target = _binding.CreateInstance(_loadContext, handler);
            FlushConsoles();
            frames.Send(WorkerProtocol.Started, w => w.WriteNumber("initMs", started.Elapsed.TotalMilliseconds));
        }
        catch (Exception ex) when (IsOutOfMemory(ex))
        {
            ExitOnMemoryLimit(null);
        }
        catch (Exception ex)
        {
            _binding = null;
            FlushConsoles();
            if (ex is FunctionInitException { InnerException: { } thrown } init)
            {
                // The error document as Lambda reports it (LambdaException, its message, the constructor's exception as
                // the cause); exceptionType and stackTrace are the thrown exception's, for the host to rebuild it.
                frames.Send(WorkerProtocol.StartFailed, w =>
                {
                    w.WriteString("errorType", init.ErrorType);
                    w.WriteString("message", init.ErrorMessage);
                    w.WriteBoolean("init", true);
                    w.WriteString("exceptionType", thrown.GetType().FullName);
                    w.WriteString("stackTrace", thrown.StackTrace);
                    if (init.Cause is { } cause)
                    {
                        w.WritePropertyName("cause");
                        WorkerProtocol.WriteErrorDocument(w, cause);
                    }
                });
                return;
            }

            var (errorType, error) = ex switch
            {
                FunctionLoadException load => (load.ErrorType, (Exception)load),
                _ => ("Runtime.StartError", ex),
            };
            frames.Send(WorkerProtocol.StartFailed, w =>
            {
                w.WriteString("errorType", errorType);
                w.WriteString("message", error.Message);
                w.WriteBoolean("init", false);
            });
        }
    }

    private void BeginInvoke(JsonElement message)
    {
        var requestId = message.GetString("requestId") ?? "";
        if (_binding is null)
        {
            SendError(requestId, "Runtime.NotStarted", "the function is not started");
            return;
        }

        if (Interlocked.Exchange(ref _busy, 1) == 1)
        {
            SendError(requestId, "Runtime.Busy", "an invocation is already running in this environment");
            return;
        }

        _ = Task.Run(() => InvokeAsync(requestId, message));
    }

    private async Task InvokeAsync(string requestId, JsonElement message)
    {
        frames.CurrentRequestId = requestId;
        var timeoutMs = message.TryGetProperty("timeoutMs", out var t) && t.TryGetInt64(out var ms) ? Math.Max(1, ms) : 3_000;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(timeoutMs));
        var context = new WorkerContext(
            this,
            requestId,
            message.GetString("functionName") ?? _functionName,
            message.GetString("functionVersion") ?? _functionVersion,
            message.GetString("invokedAlias"),
            message.GetString("invokedFunctionArn"),
            message.GetString("logGroupName"),
            message.GetString("logStreamName"),
            message.TryGetProperty("memoryLimitMb", out var mb) && mb.TryGetInt32(out var m) ? m : _memoryMb,
            DateTime.UtcNow.AddMilliseconds(timeoutMs),
            timeout.Token,
            message.TryGetProperty("environment", out _) ? message.ReadStringMap("environment") : _environment,
            message.GetString("tempDirectory") ?? _tempDirectory);

        string? result = null;
        Exception? failure = null;
        try
        {
            result = await _binding!.InvokeAsync(_target, message.GetString("payload") ?? "null", context);
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        if (failure is not null && IsOutOfMemory(failure)) ExitOnMemoryLimit(requestId);
        try
        {
            FlushConsoles();
            frames.CurrentRequestId = null;
            Volatile.Write(ref _busy, 0);
            if (failure is null)
            {
                frames.Send(WorkerProtocol.Result, w =>
                {
                    w.WriteString("requestId", requestId);
                    w.WriteString("payload", result);
                });
            }
            else
            {
                if (failure is FunctionErrorException own) SendError(requestId, own.ErrorType, failure.Message, failure.StackTrace);
                else
                {
                    // One document, so its bound holds for the cause and the causes together.
                    var document = Fleet.Functions.Loading.FunctionErrorDocument.Of(failure);
                    SendError(requestId, ErrorTypes.Of(failure), failure.Message, failure.StackTrace, failure.GetType().FullName, document.Cause, document.Causes);
                }
            }
        }
        catch (Exception ex) when (IsOutOfMemory(ex))
        {
            ExitOnMemoryLimit(requestId);
        }
    }

    /// <summary>
    /// An <c>error</c> frame: <paramref name="errorType"/> as Lambda reports it, <paramref name="exceptionType"/> the .NET
    /// exception's full name (for the host), <paramref name="cause"/> its inner exception as Lambda's error document nests it.
    /// </summary>
    private void SendError(string? requestId, string errorType, string message, string? stackTrace = null, string? exceptionType = null,
        Fleet.Functions.Loading.FunctionErrorDocument? cause = null, IReadOnlyList<Fleet.Functions.Loading.FunctionErrorDocument>? causes = null)
        => frames.Send(WorkerProtocol.Error, w =>
        {
            if (requestId is not null) w.WriteString("requestId", requestId);
            w.WriteString("errorType", errorType);
            if (exceptionType is not null) w.WriteString("exceptionType", exceptionType);
            w.WriteString("message", message);
            if (stackTrace is not null) w.WriteString("stackTrace", stackTrace);
            if (cause is not null)
            {
                w.WritePropertyName("cause");
                WorkerProtocol.WriteErrorDocument(w, cause);
            }

            WorkerProtocol.WriteCauses(w, causes);
        });

    /// <summary>The handler's <see cref="IFunctionContext.InvokeAsync"/>: the host runs the call and answers with <c>invokeResult</c>.</summary>
    public async Task<JsonElement> InvokeFunctionAsync(string requestId, string function, object? payload, CancellationToken cancellationToken)
    {
        var payloadJson = payload switch
        {
            null => "null",
            JsonElement { ValueKind: JsonValueKind.Undefined } => "null",
            JsonElement element => element.GetRawText(),
            JsonDocument document => document.RootElement.GetRawText(),
            _ => JsonSerializer.Serialize(payload, payload.GetType(), HandlerBinding.Json),
        };
        var callId = Interlocked.Increment(ref _nextCallId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _calls[callId] = reply;
        try
        {
            frames.Send(WorkerProtocol.InvokeFunction, w =>
            {
                w.WriteString("callId", callId);
                w.WriteString("requestId", requestId);
                w.WriteString("function", function);
                w.WriteString("payload", payloadJson);
            });
            using var cancel = cancellationToken.Register(() => reply.TrySetCanceled(cancellationToken));
            var answer = await reply.Task;
            if (answer.GetString("errorType") is { } errorType)
                throw new FunctionInvocationException(function, errorType, answer.GetString("message") ?? "");
            using var result = JsonDocument.Parse(answer.GetString("payload") ?? "null");
            return result.RootElement.Clone();
        }
        finally
        {
            _calls.TryRemove(callId, out _);
        }
    }

    private void CompleteCall(JsonElement message)
    {
        if (message.GetString("callId") is { } callId && _calls.TryGetValue(callId, out var reply))
            reply.TrySetResult(message.Clone());
    }

    private void FlushConsoles()
    {
        foreach (var console in consoles) console.Flush();
    }

    /// <summary>
    /// The managed heap hit DOTNET_GCHeapHardLimit. Tell the host (if a frame still fits), then exit: the
    /// function's state may hold the memory, so this environment cannot serve again.
    /// </summary>
    public void ExitOnMemoryLimit(string? requestId)
    {
        if (Interlocked.Exchange(ref _exiting, 1) == 1)
        {
            Thread.Sleep(Timeout.Infinite);
        }

        try
        {
            GC.Collect();
            SendError(requestId, WorkerProtocol.MemoryLimitExceeded, $"the function exceeded its memory limit of {_memoryMb} MB");
        }
        catch (Exception)
        {
            // The exit code says it as well.
        }

        Environment.Exit(WorkerProtocol.MemoryLimitExitCode);
    }

    public static bool IsOutOfMemory(Exception? ex)
    {
        for (var depth = 0; ex is not null && depth < 16; depth++)
        {
            if (ex is OutOfMemoryException) return true;
            if (ex is AggregateException aggregate && aggregate.InnerExceptions.Any(IsOutOfMemory)) return true;
            ex = ex.InnerException;
        }

        return false;
    }

}
