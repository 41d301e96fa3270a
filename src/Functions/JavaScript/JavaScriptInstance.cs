using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Jint;
using Jint.Constraints;
using Jint.Native;
using Jint.Native.Object;
using Jint.Native.Promise;
using Jint.Runtime;
using Jint.Runtime.Interop;

namespace Fleet.Functions.Hosting.JavaScript;

/// <summary>
/// One JavaScript execution environment: one Jint engine whose module state persists between invocations.
/// Every run (the cold start, an invocation) happens synchronously on one thread: the engine is
/// single-threaded, and its memory limit measures the allocations of the thread it runs on.
/// </summary>
/// <remarks>
/// Limits: the memory limit is the function's <c>MemoryMb</c> (Jint's <c>LimitMemory</c>, measured per run
/// into the engine: the handler call, one timer callback, one drain of the promise jobs); the time limit is an
/// <see cref="OperationDeadlineConstraint"/> armed for the whole invocation with the context's remaining time and
/// token (a <see cref="TimeoutException"/> or <see cref="OperationCanceledException"/> that script cannot catch);
/// statements and recursion are capped by <see cref="JavaScriptRuntimeOptions"/>.
/// </remarks>
internal sealed class JavaScriptInstance : IFunctionInstance
{
    private readonly Engine _engine;
    private readonly OperationDeadlineConstraint _deadline;
    private readonly FunctionCode _code;
    private readonly JavaScriptRuntimeOptions _options;
    private readonly int _memoryMb;
    private readonly object _gate = new();
    private readonly List<(FunctionLogLevel Level, string Message)> _initLogs = [];
    private readonly Dictionary<JsValue, JsValue> _unhandledRejections = new(ReferenceEqualityComparer.Instance);
    private readonly List<PendingTimer> _timers = [];
    private readonly List<PendingInvoke> _invokes = [];
    private JavaScriptBootstrap? _bootstrap;
    private CommonJsModules? _modules;
    private JsValue _handler = JsValue.Undefined;
    private int _handlerArity;
    private IFunctionContext? _current;
    private int _nextTimerId;
    private long _timerSequence;
    private bool _busy;
    private bool _disposed;

    private JavaScriptInstance(Engine engine, OperationDeadlineConstraint deadline, FunctionCode code, JavaScriptRuntimeOptions options)
    {
        _engine = engine;
        _deadline = deadline;
        _code = code;
        _options = options;
        _memoryMb = code.Configuration.MemoryMb;
    }

    private JavaScriptBootstrap Bootstrap => _bootstrap ?? throw new InvalidOperationException("the instance is not initialised");

    /// <summary>The cold start, on the calling (engine) thread: create the engine, install the globals, evaluate the handler's module.</summary>
    public static JavaScriptInstance Start(FunctionCode code, HandlerName handler, JavaScriptRuntimeOptions options, CancellationToken cancellationToken)
    {
        var deadline = new OperationDeadlineConstraint();
        var memoryBytes = (long)code.Configuration.MemoryMb * 1024 * 1024;
        var engine = new Engine(o =>
        {
            o.LimitMemory(memoryBytes);
            o.MaxStatements(options.MaxStatements);
            o.Constraints.MaxRecursionDepth = options.MaxRecursionDepth;
            o.Constraints.StackOverflowGuard = true; // recursion the depth count misses (getters, coercions) is a RangeError, not a dead process
            o.Constraint(deadline);
            o.TimeZone = TimeZoneInfo.Utc; // Lambda runs with TZ=UTC
            o.Culture = CultureInfo.InvariantCulture;
        });
        var instance = new JavaScriptInstance(engine, deadline, code, options);
        try
        {
            instance.Initialise(handler, cancellationToken);
            return instance;
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    private void Initialise(HandlerName handler, CancellationToken cancellationToken)
    {
        _deadline.Begin(_options.InitTimeout > TimeSpan.Zero ? _options.InitTimeout : Timeout.InfiniteTimeSpan, cancellationToken);
        try
        {
            _engine.Advanced.PromiseRejectionTracker += OnPromiseRejectionTracked;
            _bootstrap = JavaScriptBootstrap.Install(_engine, CreateHost());
            _modules = new CommonJsModules(_engine, _code.PackageDirectory, _code.LayerDirectories, () => Bootstrap.Parse);
            SetEnvironment(InitialEnvironment(handler));

            var file = _modules.FindHandlerFile(handler.ModulePath, out var esModule);
            if (file is null)
            {
                var why = esModule is not null
                    ? $"{_modules.VirtualPath(esModule)} is an ES module, and the javascript runtime loads CommonJS (.js, .cjs) only"
                    : $"the handler '{handler.Text}' names {CommonJsModules.TaskRoot}/{handler.ModulePath}.js, which is not in the package";
                throw new FunctionLoadException("Runtime.ImportModuleError", $"Error: Cannot find module '{handler.ModulePath}': {why}");
            }

            var exports = _modules.LoadMain(file);
            _engine.Advanced.ProcessTasks();
            ThrowIfUnhandledRejection();

            var target = exports;
            foreach (var name in handler.ExportPath)
            {
                target = target is ObjectInstance o ? o.Get(name) : JsValue.Undefined;
            }

            var label = $"{handler.ModulePath}.{handler.Export}";
            if (target.IsUndefined() || target.IsNull())
                throw new FunctionLoadException("Runtime.HandlerNotFound", $"{label} is undefined or not exported");
            if (!target.IsCallable())
                throw new FunctionLoadException("Runtime.HandlerNotFound", $"{label} is not a function");

            _handler = target;
            var length = target.Get("length");
            _handlerArity = length.IsNumber() ? (int)length.AsNumber() : 0;
        }
        catch (Exception ex) when (ex is not FunctionLoadException)
        {
            _engine.Advanced.ResetCallStack();
            if (ex is JavaScriptException js && _modules?.LoaderErrorType(js.Error) is { } loaderError)
            {
                var (type, message) = JavaScriptErrors.Describe(js.Error, js.Message);
                throw new FunctionLoadException(loaderError, $"{type}: {message}", ex);
            }

            var mapped = ex is FunctionErrorException error ? error : JavaScriptErrors.Translate(ex, _memoryMb, _options.MaxStatements);
            switch (mapped)
            {
                case FunctionErrorException thrown:
                    throw new FunctionInitException(thrown) { ErrorType = thrown.ErrorType };
                case null:
                    throw;
                default:
                    throw mapped;
            }
        }
        finally
        {
            _deadline.End();
        }
    }

    public Task<string> InvokeAsync(string payloadJson, IFunctionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_busy) throw new InvalidOperationException("a JavaScript instance serves one invocation at a time");
            _busy = true;
        }

        return EngineThread.Run(
            () =>
            {
                try
                {
                    return Invoke(payloadJson, context);
                }
                finally
                {
                    EndRun();
                }
            },
            _options.ThreadStackSizeBytes);
    }

    private string Invoke(string payloadJson, IFunctionContext context)
    {
        var token = context.CancellationToken;
        token.ThrowIfCancellationRequested();
        var remaining = context.RemainingTime;
        if (remaining <= TimeSpan.Zero) throw new TimeoutException("the invocation had no time left when the handler was to be called");
        var deadline = Stopwatch.GetTimestamp() + (long)Math.Min(remaining.TotalSeconds * Stopwatch.Frequency, long.MaxValue / 2);

        _current = context;
        FlushInitLogs(context);
        _deadline.Begin(remaining, token);
        try
        {
            _unhandledRejections.Clear();
            SetEnvironment(context.Environment);
            var evt = ParsePayload(payloadJson);
            var jsContext = CreateContext(context);
            var outcome = new Outcome();
            var callback = new ClrFunction(_engine, "callback", (_, args) =>
            {
                var error = args.Length > 0 ? args[0] : JsValue.Undefined;
                if (error.IsNull() || error.IsUndefined()) outcome.Succeed(args.Length > 1 ? args[1] : JsValue.Undefined);
                else outcome.Fail(error);
                return JsValue.Undefined;
            }, 2);

            var returned = _engine.Call(_handler, JsValue.Undefined, [evt, jsContext, callback]);
            if (IsThenable(returned))
            {
                Watch(returned, outcome);
            }
            else if (!(returned.IsUndefined() && _handlerArity >= 3))
            {
                outcome.Succeed(returned); // a callback-style handler (event, context, callback) answers through the callback
            }

            RunUntilSettled(outcome, context, deadline);
            if (outcome.Error is { } thrown) throw JavaScriptErrors.FromThrown(thrown);
            return Stringify(outcome.Value);
        }
        catch (Exception ex)
        {
            _engine.Advanced.ResetCallStack();
            var mapped = ex is FunctionErrorException or FunctionMemoryLimitException ? null : JavaScriptErrors.Translate(ex, _memoryMb, _options.MaxStatements);
            if (mapped is null) throw;
            throw mapped;
        }
        finally
        {
            _deadline.End();
            _current = null;
        }
    }

    /// <summary>
    /// The event loop of one invocation: promise jobs, then answers of <c>context.invoke</c>, then due timers,
    /// until the handler has answered. When nothing is left that could make it answer, the result is
    /// <c>null</c>, as in Lambda when the event loop empties.
    /// </summary>
    private void RunUntilSettled(Outcome outcome, IFunctionContext context, long deadline)
    {
        while (true)
        {
            _engine.Advanced.ProcessTasks();
            ThrowIfUnhandledRejection();
            if (outcome.IsSettled) return;
            if (SettleCompletedInvokes()) continue;
            if (RunDueTimer()) continue;
            if (_invokes.Count == 0 && _timers.Count == 0)
            {
                context.Logger.Log(FunctionLogLevel.Warning, "the handler did not answer (its promise never settled, or it never called its callback) and nothing else is pending: the result is null");
                outcome.Succeed(JsValue.Null);
                return;
            }

            WaitForWork(context, deadline);
        }
    }

    private void WaitForWork(IFunctionContext context, long deadline)
    {
        var token = context.CancellationToken;
        var now = Stopwatch.GetTimestamp();
        var until = deadline;
        foreach (var timer in _timers) until = Math.Min(until, timer.Due);
        var waitMs = (int)Math.Clamp(Math.Ceiling((until - now) * 1000.0 / Stopwatch.Frequency), 0, int.MaxValue);
        if (waitMs > 0)
        {
            try
            {
                if (_invokes.Count > 0) Task.WhenAny(_invokes.Select(i => i.Task)).Wait(waitMs, token);
                else token.WaitHandle.WaitOne(waitMs);
            }
            catch (OperationCanceledException)
            {
                // reported below
            }
        }

        if (token.IsCancellationRequested) throw new OperationCanceledException("the invocation was cancelled while the handler waited", token);
        if (Stopwatch.GetTimestamp() >= deadline) throw new TimeoutException("the invocation ran out of time while the handler waited");
    }

    private bool SettleCompletedInvokes()
    {
        var completed = _invokes.Where(i => i.Task.IsCompleted).ToList();
        foreach (var invoke in completed)
        {
            _invokes.Remove(invoke);
            if (invoke.Task.IsCompletedSuccessfully)
            {
                var element = invoke.Task.Result;
                var json = element.ValueKind == JsonValueKind.Undefined ? "null" : element.GetRawText();
                _engine.Call(invoke.Resolve, JsValue.Undefined, [ParseJson(json)]);
            }
            else
            {
                _engine.Call(invoke.Reject, JsValue.Undefined, [InvokeError(invoke.Function, invoke.Task.Exception?.GetBaseException())]);
            }
        }

        return completed.Count > 0;
    }

    private JsValue InvokeError(string function, Exception? ex)
    {
        var error = _engine.Construct(_engine.Intrinsics.Error, [ex?.Message ?? $"the invocation of {function} was cancelled"]);
        error.Set("name", "FunctionInvocationError");
        error.Set("functionName", function);
        if (ex is FunctionInvocationException failed)
        {
            error.Set("errorType", failed.ErrorType);
            error.Set("errorMessage", failed.ErrorMessage);
        }

        return error;
    }

    private bool RunDueTimer()
    {
        if (_timers.Count == 0) return false;
        var now = Stopwatch.GetTimestamp();
        PendingTimer? next = null;
        foreach (var timer in _timers)
        {
            if (timer.Due <= now && (next is null || timer.Due < next.Due || (timer.Due == next.Due && timer.Sequence < next.Sequence))) next = timer;
        }

        if (next is null) return false;
        if (next.Interval is { } interval)
        {
            next.Due = now + interval;
            next.Sequence = ++_timerSequence;
        }
        else
        {
            _timers.Remove(next);
        }

        _engine.Call(next.Callback, JsValue.Undefined, next.Arguments); // an error a timer throws fails the invocation, as an uncaught exception would in Node
        return true;
    }

    private JsObject CreateHost()
    {
        var host = new JsObject(_engine);
        host.Set("taskRoot", CommonJsModules.TaskRoot);
        host.Set("log", new ClrFunction(_engine, "log", (_, args) =>
        {
            var level = args.Length > 0 && args[0].IsString() ? args[0].AsString() : "info";
            var message = args.Length > 1 && args[1].IsString() ? args[1].AsString() : "";
            Log(level switch
            {
                "error" => FunctionLogLevel.Error,
                "warn" => FunctionLogLevel.Warning,
                "debug" => FunctionLogLevel.Debug,
                "trace" => FunctionLogLevel.Trace,
                _ => FunctionLogLevel.Information,
            }, message);
            return JsValue.Undefined;
        }, 2));
        host.Set("setTimer", new ClrFunction(_engine, "setTimer", (_, args) => SetTimer(args), 4));
        host.Set("clearTimer", new ClrFunction(_engine, "clearTimer", (_, args) =>
        {
            if (args.Length > 0 && args[0].IsNumber())
            {
                var id = args[0].AsNumber();
                _timers.RemoveAll(t => t.Id == id);
            }

            return JsValue.Undefined;
        }, 1));
        return host;
    }

    private JsValue SetTimer(JsValue[] args)
    {
        if (_timers.Count >= _options.MaxPendingTimers)
            throw new JavaScriptException(_engine.Intrinsics.Error, $"too many pending timers (the limit is {_options.MaxPendingTimers})");
        var callback = args[0];
        var ms = args.Length > 1 ? Milliseconds(args[1]) : 0;
        var immediate = ms < 0;
        if (!immediate && (ms < 1 || ms > int.MaxValue || double.IsNaN(ms))) ms = 1; // Node: outside 1 .. 2^31-1 is 1
        var delay = immediate ? 0 : (long)(ms * Stopwatch.Frequency / 1000.0);
        var timerArgs = args.Length > 2 && args[2] is JsArray array
            ? Enumerable.Range(0, (int)array.Length).Select(i => array[i]).ToArray()
            : [];
        var repeat = args.Length > 3 && args[3].IsBoolean() && args[3].AsBoolean();
        var id = ++_nextTimerId;
        _timers.Add(new PendingTimer(id, callback, timerArgs, repeat ? Math.Max(delay, 1) : null)
        {
            Due = Stopwatch.GetTimestamp() + delay,
            Sequence = ++_timerSequence,
        });
        return id;
    }

    private static double Milliseconds(JsValue value)
    {
        if (value.IsNumber()) return value.AsNumber();
        if (value.IsString() && double.TryParse(value.AsString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed)) return parsed;
        return 0;
    }

    private JsValue CreateContext(IFunctionContext context)
    {
        var js = new JsObject(_engine);
        js.Set("awsRequestId", context.RequestId);
        js.Set("functionName", context.FunctionName);
        js.Set("functionVersion", context.FunctionVersion);
        js.Set("invokedAlias", context.InvokedAlias is { } alias ? alias : JsValue.Null);
        js.Set("invokedFunctionArn", context.InvokedFunctionArn);
        js.Set("logGroupName", context.LogGroupName);
        js.Set("logStreamName", context.LogStreamName);
        js.Set("memoryLimitInMB", context.MemoryLimitMb.ToString(CultureInfo.InvariantCulture)); // a string, as in Lambda
        js.Set("tempDirectory", context.TempDirectory);
        js.Set("callbackWaitsForEmptyEventLoop", true);
        js.Set("getRemainingTimeInMillis", new ClrFunction(_engine, "getRemainingTimeInMillis",
            (_, _) => Math.Max(0, Math.Floor(context.RemainingTime.TotalMilliseconds)), 0));
        var hostInvoke = new ClrFunction(_engine, "invoke", (_, args) =>
        {
            var name = args.Length > 0 ? args[0] : JsValue.Undefined;
            if (!name.IsString() || name.AsString().Length == 0)
                throw new JavaScriptException(_engine.Intrinsics.TypeError, "context.invoke: the function name must be a non-empty string");
            var function = name.AsString();
            var payload = args.Length > 1 && args[1].IsString() ? args[1].AsString() : null;
            Task<JsonElement> task;
            try
            {
                object? body = null;
                if (payload is not null)
                {
                    using var doc = JsonDocument.Parse(payload);
                    body = doc.RootElement.Clone();
                }

                task = context.InvokeAsync(function, body, context.CancellationToken);
            }
            catch (Exception ex)
            {
                task = Task.FromException<JsonElement>(ex);
            }

            _invokes.Add(new PendingInvoke(function, task, args[2], args[3]));
            return JsValue.Undefined;
        }, 4);
        js.Set("invoke", _engine.Call(Bootstrap.MakeInvoke, JsValue.Undefined, [hostInvoke]));
        return js;
    }

    private Dictionary<string, string> InitialEnvironment(HandlerName handler)
    {
        var env = new Dictionary<string, string>(_code.Configuration.Environment, StringComparer.Ordinal)
        {
            ["AWS_LAMBDA_FUNCTION_NAME"] = _code.Function.Name,
            ["AWS_LAMBDA_FUNCTION_VERSION"] = _code.Function.Version,
            ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = _memoryMb.ToString(CultureInfo.InvariantCulture),
            ["LAMBDA_TASK_ROOT"] = CommonJsModules.TaskRoot,
            ["_HANDLER"] = handler.Text,
            ["TZ"] = ":UTC",
        };
        return env;
    }

    private void SetEnvironment(IReadOnlyDictionary<string, string> environment)
    {
        var values = new JsObject(_engine);
        foreach (var (key, value) in environment) values.Set(key, value);
        _engine.Call(Bootstrap.SetEnv, JsValue.Undefined, [values]);
    }

    private JsValue ParsePayload(string payloadJson)
    {
        try
        {
            return ParseJson(string.IsNullOrWhiteSpace(payloadJson) ? "{}" : payloadJson);
        }
        catch (JavaScriptException ex)
        {
            throw new FunctionErrorException("Runtime.UnmarshalError", $"the payload is not JSON: {ex.Message}", ex);
        }
    }

    private JsValue ParseJson(string json) => _engine.Call(Bootstrap.Parse, JsValue.Undefined, [json]);

    private string Stringify(JsValue value)
    {
        try
        {
            return _engine.Call(Bootstrap.Stringify, JsValue.Undefined, [value]).AsString();
        }
        catch (JavaScriptException ex)
        {
            var (type, message) = JavaScriptErrors.Describe(ex.Error, ex.Message);
            throw new FunctionErrorException("Runtime.MarshalError", $"the handler's result cannot be converted to JSON: {type}: {message}", ex);
        }
    }

    private bool IsThenable(JsValue value)
        => value is ObjectInstance && _engine.Call(Bootstrap.IsThenable, JsValue.Undefined, [value]).AsBoolean();

    private void Watch(JsValue thenable, Outcome outcome)
    {
        var onFulfilled = new ClrFunction(_engine, "onFulfilled", (_, args) =>
        {
            outcome.Succeed(args.Length > 0 ? args[0] : JsValue.Undefined);
            return JsValue.Undefined;
        }, 1);
        var onRejected = new ClrFunction(_engine, "onRejected", (_, args) =>
        {
            outcome.Fail(args.Length > 0 ? args[0] : JsValue.Undefined);
            return JsValue.Undefined;
        }, 1);
        _engine.Call(Bootstrap.Watch, JsValue.Undefined, [thenable, onFulfilled, onRejected]);
    }

    private void OnPromiseRejectionTracked(object? sender, PromiseRejectionTrackerEventArgs e)
    {
        if (e.Operation == PromiseRejectionOperation.Reject) _unhandledRejections[e.Promise] = e.Value ?? JsValue.Undefined;
        else _unhandledRejections.Remove(e.Promise);
    }

    /// <summary>A rejected promise nobody handled ends the run, as Node (and so Lambda) does.</summary>
    private void ThrowIfUnhandledRejection()
    {
        if (_unhandledRejections.Count == 0) return;
        var reason = _unhandledRejections.Values.First();
        _unhandledRejections.Clear();
        var (type, message) = JavaScriptErrors.Describe(reason);
        throw new FunctionErrorException("Runtime.UnhandledPromiseRejection", $"{type}: {message}", new JavaScriptException(reason));
    }

    private void Log(FunctionLogLevel level, string message)
    {
        if (_current is { } context)
        {
            context.Logger.Log(level, message);
        }
        else if (_initLogs.Count < _options.MaxInitLogLines)
        {
            _initLogs.Add((level, message));
        }
    }

    /// <summary>What the module's top level logged during the cold start goes to the first invocation's log.</summary>
    private void FlushInitLogs(IFunctionContext context)
    {
        if (_initLogs.Count == 0) return;
        var fields = new Dictionary<string, object?> { ["phase"] = "init" };
        foreach (var (level, message) in _initLogs) context.Logger.Log(level, message, fields);
        _initLogs.Clear();
    }

    private void EndRun()
    {
        bool dispose;
        lock (_gate)
        {
            _busy = false;
            dispose = _disposed;
        }

        if (dispose) Release();
    }

    public ValueTask DisposeAsync()
    {
        bool dispose;
        lock (_gate)
        {
            if (_disposed) return ValueTask.CompletedTask;
            _disposed = true;
            dispose = !_busy; // a running invocation releases the engine when it ends
        }

        if (dispose) Release();
        return ValueTask.CompletedTask;
    }

    private void Release()
    {
        _engine.Advanced.PromiseRejectionTracker -= OnPromiseRejectionTracked;
        _timers.Clear();
        _invokes.Clear();
        _handler = JsValue.Undefined;
        _engine.Dispose();
    }

    /// <summary>How the handler answered: first answer wins (a promise, the callback, or a plain return value).</summary>
    private sealed class Outcome
    {
        public bool IsSettled { get; private set; }

        public JsValue Value { get; private set; } = JsValue.Undefined;

        public JsValue? Error { get; private set; }

        public void Succeed(JsValue value)
        {
            if (IsSettled) return;
            IsSettled = true;
            Value = value;
        }

        public void Fail(JsValue error)
        {
            if (IsSettled) return;
            IsSettled = true;
            Error = error;
        }
    }

    private sealed class PendingTimer(int id, JsValue callback, JsValue[] arguments, long? interval)
    {
        public int Id { get; } = id;

        public JsValue Callback { get; } = callback;

        public JsValue[] Arguments { get; } = arguments;

        public long? Interval { get; } = interval;

        public long Due { get; set; }

        public long Sequence { get; set; }
    }

    private sealed record PendingInvoke(string Function, Task<JsonElement> Task, JsValue Resolve, JsValue Reject);
}
