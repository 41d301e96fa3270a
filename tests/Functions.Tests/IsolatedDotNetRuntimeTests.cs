using System.Diagnostics;
using System.Text.Json;
using Fleet.Functions.Hosting;
using Fleet.Functions.Hosting.Isolated;
using Fleet.Grains.Functions;
using Xunit.Abstractions;

namespace Fleet.Functions.Tests;

/// <summary>The <c>dotnet-process</c> runtime: real worker processes started from the test's output folder.</summary>
public sealed class IsolatedDotNetRuntimeTests(ITestOutputHelper output)
{
    private const string Source = """
        using System;
        using System.Collections.Generic;
        using System.Text.Json;
        using System.Threading;
        using System.Threading.Tasks;
        using Fleet.Functions;

        namespace Tests;

        public sealed class Order
        {
            public string? Name { get; set; }
            public int Quantity { get; set; }
        }

        public sealed class Counter
        {
            private int _count;

            public Task<CountResult> Handle(Order order, IFunctionContext context)
            {
                _count++;
                return Task.FromResult(new CountResult(_count, order.Name, order.Quantity, Environment.ProcessId));
            }
        }

        public sealed record CountResult(int Count, string? Name, int Quantity, int ProcessId);

        public sealed class ContextProbe
        {
            public ContextProbe() => Console.WriteLine("constructed");

            public async Task<Dictionary<string, object?>> Handle(JsonElement evt, IFunctionContext context)
            {
                Console.WriteLine("hello from Console.WriteLine");
                Console.Write("partial ");
                Console.Write("line");
                context.Logger.Info("structured", new Dictionary<string, object?> { ["answer"] = 42, ["who"] = "probe" });
                await Task.Yield();
                GC.Collect();
                return new Dictionary<string, object?>
                {
                    ["requestId"] = context.RequestId,
                    ["functionName"] = context.FunctionName,
                    ["functionVersion"] = context.FunctionVersion,
                    ["alias"] = context.InvokedAlias,
                    ["invokedFunctionArn"] = context.InvokedFunctionArn,
                    ["logGroupName"] = context.LogGroupName,
                    ["logStreamName"] = context.LogStreamName,
                    ["memoryLimitMb"] = context.MemoryLimitMb,
                    ["remainingMs"] = context.RemainingTime.TotalMilliseconds,
                    ["tempDirectory"] = context.TempDirectory,
                    ["tempPath"] = System.IO.Path.GetTempPath(),
                    ["greeting"] = context.Environment.TryGetValue("GREETING", out var g) ? g : null,
                    ["processGreeting"] = Environment.GetEnvironmentVariable("GREETING"),
                    ["heapLimit"] = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes,
                    ["echo"] = evt.GetProperty("x").GetInt32(),
                };
            }
        }

        public sealed class Thrower
        {
            public string Handle(string evt) => throw new InvalidOperationException("bad input: " + evt);
        }

        public sealed class CustomError(string message) : Exception(message);

        public sealed class AggregateThrower
        {
            public string Handle(string evt)
                => throw new AggregateException(new System.IO.IOException("disk full"), new TimeoutException(evt + " did not answer"));
        }

        public sealed class WrappingThrower
        {
            public string Handle(string evt)
            {
                try
                {
                    try { throw new UnauthorizedAccessException("read-only volume"); }
                    catch (Exception e) { throw new System.IO.IOException("disk full", e); }
                }
                catch (Exception e) { throw new InvalidOperationException("could not save " + evt, e); }
            }
        }

        public static class StaticThrower
        {
            public static ValueTask<int> Handle(int n) => ValueTask.FromException<int>(new CustomError("custom " + n));
        }

        public sealed class MemoryHog
        {
            public int Handle(int megabytes)
            {
                var held = new List<byte[]>();
                for (var i = 0; i < megabytes; i++)
                {
                    var block = new byte[1024 * 1024];
                    block[i % block.Length] = 1;
                    held.Add(block);
                }

                return held.Count;
            }
        }

        public sealed class FieldHog
        {
            private readonly List<byte[]> _held = new();

            public void Handle(int megabytes)
            {
                for (var i = 0; i < megabytes; i++) _held.Add(new byte[1024 * 1024]);
            }
        }

        public sealed class Sleeper
        {
            public void Handle(int ignored) => Thread.Sleep(Timeout.Infinite);
        }

        public sealed class Exiter
        {
            public int Handle(int code)
            {
                Environment.Exit(code);
                return 0;
            }
        }

        public sealed class BackgroundCrash
        {
            public void Handle(int ignored)
            {
                new Thread(() => throw new InvalidOperationException("background boom")).Start();
                Thread.Sleep(Timeout.Infinite);
            }
        }

        public sealed class Broken
        {
            public Broken() => throw new InvalidOperationException("cannot initialise", new System.IO.FileNotFoundException("settings.json is missing"));

            public int Handle(int x) => x;
        }

        public sealed class NoDefaultConstructor(int seed)
        {
            public int Handle(int x) => x + seed;
        }

        public sealed class WrongSignature
        {
            public int Handle(int a, int b, int c) => a + b + c;
        }

        public sealed class Caller
        {
            public async Task<object> Handle(JsonElement evt, IFunctionContext context)
            {
                var result = await context.InvokeAsync("callee:prod", new { Value = evt.GetProperty("value").GetInt32() });
                string? failure = null;
                try
                {
                    await context.InvokeAsync("missing", null);
                }
                catch (FunctionInvocationException ex)
                {
                    failure = ex.ErrorType + ": " + ex.ErrorMessage;
                }

                return new { Doubled = result.GetProperty("doubled").GetInt32(), Failure = failure };
            }
        }
        """;

    private static readonly Lazy<byte[]> Functions = new(() => FunctionPackages.Compile("Fn", Source));

    private readonly IsolatedDotNetRuntime _runtime = new();

    [Fact]
    public async Task Invoke_ReturnsTheResult_AndReusesTheInstance_InItsOwnProcess()
    {
        var code = Code("Fn::Tests.Counter::Handle");
        int firstProcess;
        await using (var first = await StartAsync(code))
        {
            var one = Parse(await first.InvokeAsync("""{"NAME":"bolts","quantity":3}""", new TestFunctionContext()));
            var two = Parse(await first.InvokeAsync("""{"name":"nuts"}""", new TestFunctionContext()));

            Assert.Equal(1, one.GetProperty("count").GetInt32());
            Assert.Equal("bolts", one.GetProperty("name").GetString());
            Assert.Equal(3, one.GetProperty("quantity").GetInt32());
            Assert.Equal(2, two.GetProperty("count").GetInt32());
            Assert.Equal(first.ProcessId, one.GetProperty("processId").GetInt32());
            Assert.NotEqual(Environment.ProcessId, first.ProcessId);
            firstProcess = first.ProcessId;
            output.WriteLine($"cold start {first.StartDuration.TotalMilliseconds:0} ms (load + construct in the worker {first.InitDuration.TotalMilliseconds:0} ms)");
        }

        await using var second = await StartAsync(code);
        var fresh = Parse(await second.InvokeAsync("""{"name":"washers"}""", new TestFunctionContext()));
        Assert.Equal(1, fresh.GetProperty("count").GetInt32());
        Assert.Equal(second.ProcessId, fresh.GetProperty("processId").GetInt32());
        Assert.NotEqual(firstProcess, second.ProcessId);
    }

    [Fact]
    public async Task ContextFields_ConsoleOutput_AndLogs_ReachTheHost()
    {
        var temp = Directory.CreateTempSubdirectory("fleet-fn-tmp-").FullName;
        try
        {
            await ProbeContextAsync(temp);
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    private async Task ProbeContextAsync(string temp)
    {
        var environment = new Dictionary<string, string> { ["GREETING"] = "hello" };
        var code = Code("Fn::Tests.ContextProbe::Handle", memoryMb: 256, environment: environment, tempDirectory: temp);
        await using var instance = await StartAsync(code);
        var context = new TestFunctionContext(TimeSpan.FromSeconds(5), temp, environment, memoryLimitMb: 256)
        {
            FunctionName = "probe",
            FunctionVersion = "7",
            InvokedAlias = "prod",
            InvokedFunctionArn = "arn:aws:lambda:eu-west-1:123456789012:function:probe:prod",
            LogGroupName = "/aws/lambda/probe",
            LogStreamName = "2026/05/01/[7]0123456789abcdef0123456789abcdef",
        };

        var result = Parse(await instance.InvokeAsync("""{"x": 5}""", context));

        Assert.Equal(context.RequestId, result.GetProperty("requestId").GetString());
        Assert.Equal("probe", result.GetProperty("functionName").GetString());
        Assert.Equal("7", result.GetProperty("functionVersion").GetString());
        Assert.Equal("prod", result.GetProperty("alias").GetString());
        Assert.Equal("arn:aws:lambda:eu-west-1:123456789012:function:probe:prod", result.GetProperty("invokedFunctionArn").GetString());
        Assert.Equal("/aws/lambda/probe", result.GetProperty("logGroupName").GetString());
        Assert.Equal("2026/05/01/[7]0123456789abcdef0123456789abcdef", result.GetProperty("logStreamName").GetString());
        Assert.Equal(256, result.GetProperty("memoryLimitMb").GetInt32());
        Assert.InRange(result.GetProperty("remainingMs").GetDouble(), 1, 5_000);
        Assert.Equal(temp, result.GetProperty("tempDirectory").GetString());
        Assert.Equal(Path.TrimEndingDirectorySeparator(temp), Path.TrimEndingDirectorySeparator(result.GetProperty("tempPath").GetString()!));
        Assert.Equal("hello", result.GetProperty("greeting").GetString());
        Assert.Equal("hello", result.GetProperty("processGreeting").GetString());
        Assert.Equal(256L * 1024 * 1024, result.GetProperty("heapLimit").GetInt64());
        Assert.Equal(5, result.GetProperty("echo").GetInt32());

        lock (context.Entries)
        {
            // The constructor's output comes with the first invocation.
            Assert.Contains(context.Entries, e => e is { Level: FunctionLogLevel.Information, Message: "constructed" });
            Assert.Contains(context.Entries, e => e is { Level: FunctionLogLevel.Information, Message: "hello from Console.WriteLine" });
            Assert.Contains(context.Entries, e => e is { Level: FunctionLogLevel.Information, Message: "partial line" });
            var structured = Assert.Single(context.Entries, e => e.Message == "structured");
            Assert.Equal(42L, structured.Fields!["answer"]);
            Assert.Equal("probe", structured.Fields["who"]);
        }
    }

    [Fact]
    public async Task HandlerExceptions_SurfaceWithTheirTypeAndMessage_AndTheInstanceServesOn()
    {
        await using var instance = await StartAsync(Code("Fn::Tests.Thrower::Handle"));

        var error = await Assert.ThrowsAsync<FunctionErrorException>(() => instance.InvokeAsync("\"oops\"", new TestFunctionContext()));
        Assert.Equal("InvalidOperationException", error.ErrorType); // Lambda's .NET runtime: the short name
        Assert.Equal("bad input: oops", error.Message);
        Assert.Contains("Thrower.Handle", error.InnerException!.StackTrace);
        Assert.Null(error.Cause); // no inner exception, no cause

        var again = await Assert.ThrowsAsync<FunctionErrorException>(() => instance.InvokeAsync("\"again\"", new TestFunctionContext()));
        Assert.Equal("bad input: again", again.Message);

        var badEvent = await Assert.ThrowsAsync<FunctionErrorException>(() => instance.InvokeAsync("{\"not\":\"a string\"}", new TestFunctionContext()));
        Assert.Equal("Runtime.InvalidEvent", badEvent.ErrorType);

        await using var custom = await StartAsync(Code("Fn::Tests.StaticThrower::Handle"));
        var customError = await Assert.ThrowsAsync<FunctionErrorException>(() => custom.InvokeAsync("4", new TestFunctionContext()));
        Assert.Equal("CustomError", customError.ErrorType);
        Assert.Equal("custom 4", customError.Message);
    }

    [Fact]
    public async Task A_handler_exceptions_inner_exceptions_are_its_cause_nested_as_lambda_reports_them_and_as_in_process()
    {
        var packages = new InMemoryPackages();
        var function = packages.Function(FunctionPackages.Zip(("Fn.dll", Functions.Value)), "Fn::Tests.WrappingThrower::Handle");
        function = function with { Configuration = function.Configuration with { Isolation = FunctionIsolation.Process } };
        await using var environment = packages.Factory(null, _runtime).Create(function, "t");

        var error = (await environment.InvokeAsync(InMemoryPackages.Request("\"report\""))).Error!;

        Assert.Equal(InvocationErrorKind.Unhandled, error.Kind);
        Assert.Equal("InvalidOperationException", error.Type);
        Assert.Equal("could not save report", error.Message);
        Assert.Contains(error.StackTrace!, frame => frame.Contains("Tests.WrappingThrower.Handle", StringComparison.Ordinal));
        var cause = error.Cause!;
        Assert.Equal("IOException", cause.Type);
        Assert.Equal("disk full", cause.Message);
        Assert.Contains(cause.StackTrace!, frame => frame.Contains("Tests.WrappingThrower.Handle", StringComparison.Ordinal));
        Assert.Equal("UnauthorizedAccessException", cause.Cause!.Type);
        Assert.Equal("read-only volume", cause.Cause.Message);
        Assert.Null(cause.Cause.Cause);
        Assert.Null(error.Causes);
    }

    [Fact]
    public async Task An_aggregate_exceptions_inner_exceptions_are_its_causes_as_lambda_reports_them()
    {
        var packages = new InMemoryPackages();
        var function = packages.Function(FunctionPackages.Zip(("Fn.dll", Functions.Value)), "Fn::Tests.AggregateThrower::Handle");
        function = function with { Configuration = function.Configuration with { Isolation = FunctionIsolation.Process } };
        await using var environment = packages.Factory(null, _runtime).Create(function, "t");

        var error = (await environment.InvokeAsync(InMemoryPackages.Request("\"pump\""))).Error!;

        Assert.Equal("AggregateException", error.Type);
        Assert.Equal(["IOException", "TimeoutException"], error.Causes!.Select(c => c.Type).ToArray());
        Assert.Equal("pump did not answer", error.Causes![1].Message);
        Assert.Equal("IOException", error.Cause!.Type);
    }

    [Fact]
    public async Task MemoryLimit_FailsTheFunctionAlone()
    {
        await using (var instance = await StartAsync(Code("Fn::Tests.MemoryHog::Handle", memoryMb: 128)))
        {
            Assert.Equal("16", await instance.InvokeAsync("16", new TestFunctionContext()));
            var clock = Stopwatch.StartNew();
            var error = await Assert.ThrowsAsync<FunctionMemoryLimitException>(() => instance.InvokeAsync("400", new TestFunctionContext(TimeSpan.FromSeconds(10))));
            output.WriteLine($"memory limit reported after {clock.ElapsedMilliseconds} ms: {error.Message}");
            Assert.Contains("128 MB", error.Message);
            Assert.True(await ExitsSoonAsync(instance.ProcessId), "the worker exits after running out of memory");
        }

        // Memory held by the instance itself (a field), so nothing is left to report with: the exit code tells.
        await using (var hog = await StartAsync(Code("Fn::Tests.FieldHog::Handle", memoryMb: 128)))
        {
            var held = await Assert.ThrowsAsync<FunctionMemoryLimitException>(() => hog.InvokeAsync("400", new TestFunctionContext(TimeSpan.FromSeconds(10))));
            output.WriteLine($"memory held in a field: {held.Message}");
            Assert.Contains("128 MB", held.Message);
        }

        // The host is unharmed and starts new environments.
        await using var healthy = await StartAsync(Code("Fn::Tests.Counter::Handle"));
        Assert.Equal(1, Parse(await healthy.InvokeAsync("{}", new TestFunctionContext())).GetProperty("count").GetInt32());
    }

    [Fact]
    public async Task Timeout_KillsAHandlerThatIgnoresCancellation()
    {
        await using var instance = await StartAsync(Code("Fn::Tests.Sleeper::Handle"));
        var clock = Stopwatch.StartNew();

        await Assert.ThrowsAsync<TimeoutException>(() => instance.InvokeAsync("0", new TestFunctionContext(TimeSpan.FromSeconds(1))));

        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        Assert.True(IsGone(instance.ProcessId), "the worker process is killed");
        var after = await Assert.ThrowsAsync<FunctionErrorException>(() => instance.InvokeAsync("0", new TestFunctionContext()));
        Assert.Equal("Runtime.ExitError", after.ErrorType);
    }

    [Fact]
    public async Task WorkerExit_DuringAnInvocation_IsAnExitError()
    {
        await using var instance = await StartAsync(Code("Fn::Tests.Exiter::Handle"));

        var error = await Assert.ThrowsAsync<FunctionErrorException>(() => instance.InvokeAsync("3", new TestFunctionContext()));

        Assert.Equal("Runtime.ExitError", error.ErrorType);
        Assert.Contains("code 3", error.Message);
    }

    [Fact]
    public async Task WorkerCrash_IsAnExitError_WithTheCrashOnStderr()
    {
        await using var instance = await StartAsync(Code("Fn::Tests.BackgroundCrash::Handle"));
        var context = new TestFunctionContext(TimeSpan.FromSeconds(8));

        var error = await Assert.ThrowsAsync<FunctionErrorException>(() => instance.InvokeAsync("0", context));

        output.WriteLine(error.Message);
        Assert.Equal("Runtime.ExitError", error.ErrorType);
        Assert.Contains("background boom", error.Message);
        lock (context.Entries)
            Assert.Contains(context.Entries, e => e.Level == FunctionLogLevel.Warning && e.Message.Contains("background boom", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Fn::Tests.Missing::Handle", "Runtime.HandlerNotFound")]
    [InlineData("Fn::Tests.Counter::Missing", "Runtime.HandlerNotFound")]
    [InlineData("Fn::Tests.WrongSignature::Handle", "Runtime.InvalidSignature")]
    [InlineData("Fn::Tests.NoDefaultConstructor::Handle", "Runtime.InvalidSignature")]
    [InlineData("Missing::Tests.Counter::Handle", "Runtime.AssemblyNotFound")]
    [InlineData("Tests.Counter.Handle", "Runtime.InvalidHandler")]
    public async Task BadHandlers_FailTheStart(string handler, string errorType)
    {
        var error = await Assert.ThrowsAsync<FunctionLoadException>(() => _runtime.StartAsync(Code(handler), CancellationToken.None));

        Assert.Equal(errorType, error.ErrorType);
    }

    [Fact]
    public async Task ConstructorThrows_IsAnInitError()
    {
        var error = await Assert.ThrowsAsync<FunctionInitException>(() => _runtime.StartAsync(Code("Fn::Tests.Broken::Handle"), CancellationToken.None));

        // As Lambda's .NET runtime: a LambdaException, the constructor's exception (short name) its cause, nested as thrown.
        Assert.Equal("LambdaException", error.ErrorType);
        Assert.Equal("An exception was thrown when the constructor for type 'Tests.Broken' was invoked. Check inner exception for more details.", error.ErrorMessage);
        Assert.IsType<InvalidOperationException>(error.InnerException);
        Assert.Contains("cannot initialise", error.Message);
        var cause = error.Cause!;
        Assert.Equal("InvalidOperationException", cause.ErrorType);
        Assert.Equal("cannot initialise", cause.ErrorMessage);
        Assert.Contains(cause.StackTrace!, frame => frame.Contains("Tests.Broken..ctor()", StringComparison.Ordinal));
        Assert.Equal("FileNotFoundException", cause.Cause!.ErrorType);
        Assert.Equal("settings.json is missing", cause.Cause.ErrorMessage);
    }

    [Fact]
    public async Task ConstructorThrows_IsReportedLikeInProcess()
    {
        var packages = new InMemoryPackages();
        var function = packages.Function(FunctionPackages.Zip(("Fn.dll", Functions.Value)), "Fn::Tests.Broken::Handle");
        function = function with { Configuration = function.Configuration with { Isolation = FunctionIsolation.Process } };
        await using var environment = packages.Factory(null, _runtime).Create(function, "t");

        var error = (await environment.InvokeAsync(InMemoryPackages.Request("1"))).Error!;

        Assert.Equal(InvocationErrorKind.Unhandled, error.Kind);
        Assert.Equal("LambdaException", error.Type);
        Assert.Equal("An exception was thrown when the constructor for type 'Tests.Broken' was invoked. Check inner exception for more details.", error.Message);
        Assert.Equal("InvalidOperationException", error.Cause!.Type);
        Assert.Equal("cannot initialise", error.Cause.Message);
        Assert.Contains(error.Cause.StackTrace!, frame => frame.Contains("Tests.Broken..ctor()", StringComparison.Ordinal));
        Assert.Equal("FileNotFoundException", error.Cause.Cause!.Type);
    }

    [Fact]
    public async Task NestedInvocations_AreServedByTheHostContext()
    {
        await using var instance = await StartAsync(Code("Fn::Tests.Caller::Handle"));
        var calls = new List<(string Function, object? Payload)>();
        var context = new TestFunctionContext
        {
            OnInvoke = (function, payload) =>
            {
                lock (calls) calls.Add((function, payload));
                if (function != "callee:prod")
                    return Task.FromException<JsonElement>(new FunctionInvocationException(function, "NotFound", "no such function"));
                var value = ((JsonElement)payload!).GetProperty("value").GetInt32();
                return Task.FromResult(Parse($$"""{"doubled": {{value * 2}}}"""));
            },
        };

        var result = Parse(await instance.InvokeAsync("""{"value": 21}""", context));

        Assert.Equal(42, result.GetProperty("doubled").GetInt32());
        Assert.Equal("NotFound: no such function", result.GetProperty("failure").GetString());
        Assert.Equal(new[] { "callee:prod", "missing" }, calls.Select(c => c.Function));
        Assert.Null(calls[1].Payload);
    }

    [Fact]
    public async Task Dependencies_ComeFromLayers_TheLaterLayerWinning()
    {
        var depV1 = FunctionPackages.Compile("Dep", """namespace Dep; public static class Greeter { public static string Greet(string name) => "v1 " + name; }""");
        var depV2 = FunctionPackages.Compile("Dep", """namespace Dep; public static class Greeter { public static string Greet(string name) => "v2 " + name; }""");
        var uses = FunctionPackages.Compile("Uses", """
            namespace Uses;
            public sealed class Handler
            {
                private readonly string _prefix = Dep.Greeter.Greet("init");
                public string Handle(string name) => _prefix + " | " + Dep.Greeter.Greet(name);
            }
            """, depV1);
        var package = FunctionPackages.Extract(FunctionPackages.Zip(("Uses.dll", uses)));
        var layer1 = FunctionPackages.Extract(FunctionPackages.Zip(("Dep.dll", depV1)));
        var layer2 = FunctionPackages.Extract(FunctionPackages.Zip(("dotnet/Dep.dll", depV2)));

        await using (var one = await StartAsync(Code("Uses::Uses.Handler::Handle", package: package, layers: [layer1])))
        {
            Assert.Equal("\"v1 init | v1 x\"", await one.InvokeAsync("\"x\"", new TestFunctionContext()));
        }

        await using (var both = await StartAsync(Code("Uses::Uses.Handler::Handle", package: package, layers: [layer1, layer2])))
        {
            Assert.Equal("\"v2 init | v2 y\"", await both.InvokeAsync("\"y\"", new TestFunctionContext()));
        }

        var missing = await Assert.ThrowsAsync<FunctionLoadException>(() => _runtime.StartAsync(Code("Uses::Uses.Handler::Handle", package: package), CancellationToken.None));
        Assert.Equal("Runtime.MissingDependency", missing.ErrorType);
        Assert.Contains("'Dep'", missing.Message);
    }

    [Fact]
    public async Task Dispose_EndsTheWorker()
    {
        var instance = await StartAsync(Code("Fn::Tests.Counter::Handle"));
        Assert.False(IsGone(instance.ProcessId));

        await instance.DisposeAsync();

        Assert.True(IsGone(instance.ProcessId));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => instance.InvokeAsync("{}", new TestFunctionContext()));
    }

    [Fact]
    public void HeapHardLimit_IsTheMemoryLimitInHexBytes()
    {
        Assert.Equal("0x8000000", IsolatedDotNetRuntime.HeapHardLimit(128));
        Assert.Equal("0x280000000", IsolatedDotNetRuntime.HeapHardLimit(10_240));
    }

    private async Task<IsolatedFunctionInstance> StartAsync(FunctionCode code)
        => (IsolatedFunctionInstance)await _runtime.StartAsync(code, CancellationToken.None);

    private static FunctionCode Code(
        string handler,
        int memoryMb = 128,
        IReadOnlyDictionary<string, string>? environment = null,
        string? tempDirectory = null,
        string? package = null,
        IReadOnlyList<string>? layers = null)
    {
        var resolved = TestFunctionContext.Resolved(FunctionRuntimes.DotNet, handler, memoryMb: memoryMb, isolation: FunctionIsolation.Process);
        if (environment is not null) resolved = resolved with { Configuration = resolved.Configuration with { Environment = environment } };
        package ??= FunctionPackages.Extract(FunctionPackages.Zip(("Fn.dll", Functions.Value)));
        return new FunctionCode(resolved, package, layers ?? [], tempDirectory ?? "");
    }

    private static JsonElement Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static bool IsGone(int processId)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return process.HasExited;
        }
        catch (ArgumentException)
        {
            return true;
        }
    }

    private static async Task<bool> ExitsSoonAsync(int processId)
    {
        for (var i = 0; i < 50 && !IsGone(processId); i++) await Task.Delay(100);
        return IsGone(processId);
    }
}
