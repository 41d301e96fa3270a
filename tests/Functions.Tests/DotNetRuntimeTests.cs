using System.Runtime.CompilerServices;
using System.Runtime.Loader;
using Fleet.Grains.Functions;

namespace Fleet.Functions.Tests;

/// <summary>The in-process .NET runtime through real execution environments: packages compiled with Roslyn and zipped.</summary>
public sealed class DotNetRuntimeTests
{
    private const string CounterSource = """
        using Fleet.Functions;
        namespace Demo;
        public sealed record Input(string Name);
        public sealed record Output(string Greeting, int Calls, string Version, string RequestId, string Env, string Tmp);
        public sealed class Greeter : IFunctionHandler<Input, Output>
        {
            private int _calls; // a Lambda global: kept between warm invocations
            public Task<Output> HandleAsync(Input evt, IFunctionContext context)
            {
                _calls++;
                context.Logger.Info($"hello {evt.Name}");
                System.IO.File.WriteAllText(System.IO.Path.Combine(context.TempDirectory, "scratch.txt"), "x");
                return Task.FromResult(new Output($"hello {evt.Name}", _calls, context.FunctionVersion, context.RequestId,
                    context.Environment.TryGetValue("GREETING", out var g) ? g : "", context.TempDirectory));
            }
        }
        """;

    private static byte[] Package(string assembly, string source, params (string, byte[])[] extra)
        => FunctionPackages.Zip([($"{assembly}.dll", FunctionPackages.Compile(assembly, source)), .. extra]);

    [Fact]
    public async Task Cold_start_then_warm_reuse_keeps_fields_and_the_scratch_folder_goes_with_the_environment()
    {
        var packages = new InMemoryPackages();
        var function = packages.Function(Package("Demo", CounterSource), "Demo::Demo.Greeter::HandleAsync", environment: new Dictionary<string, string> { ["GREETING"] = "hi" });
        var environment = packages.Factory().Create(function, "sensor-1");

        var first = await environment.InvokeAsync(InMemoryPackages.Request("""{"name":"ada"}"""));
        var second = await environment.InvokeAsync(InMemoryPackages.Request("""{"name":"bob"}"""));

        Assert.True(first.Succeeded, first.Error?.Message);
        Assert.NotNull(first.InitDurationMs);
        Assert.Null(second.InitDurationMs);
        Assert.Contains("\"calls\":1", first.PayloadJson);
        Assert.Contains("\"calls\":2", second.PayloadJson);
        Assert.Contains("\"greeting\":\"hello bob\"", second.PayloadJson);
        Assert.Contains("\"env\":\"hi\"", second.PayloadJson);
        Assert.Contains("\"version\":\"$LATEST\"", second.PayloadJson);
        Assert.Contains("hello bob", second.LogTail);
        var tmp = System.Text.Json.JsonDocument.Parse(second.PayloadJson!).RootElement.GetProperty("tmp").GetString()!;
        Assert.True(File.Exists(Path.Combine(tmp, "scratch.txt")));

        // A second environment is cold and starts over.
        await using (var other = packages.Factory().Create(function, "sensor-2"))
        {
            var fresh = await other.InvokeAsync(InMemoryPackages.Request("""{"name":"eve"}"""));
            Assert.Contains("\"calls\":1", fresh.PayloadJson);
            Assert.NotNull(fresh.InitDurationMs);
        }

        await environment.DisposeAsync();
        Assert.False(Directory.Exists(tmp));
    }

    [Fact]
    public async Task Method_handlers_of_every_accepted_shape_serve()
    {
        var packages = new InMemoryPackages();
        var zip = Package("Shapes", """
            using Fleet.Functions;
            namespace Shapes;
            public class H
            {
                public static int Double(int x) => x * 2;
                public async Task<string> Upper(string s, IFunctionContext c) { await Task.Yield(); return s.ToUpperInvariant(); }
                public void Nothing(System.Text.Json.JsonElement e) { }
                public ValueTask<int> Length(int[] xs) => ValueTask.FromResult(xs.Length);
            }
            """);
        async Task<string?> Run(string handler, string json)
        {
            await using var env = packages.Factory().Create(packages.Function(zip, handler), "t");
            var result = await env.InvokeAsync(InMemoryPackages.Request(json));
            Assert.True(result.Succeeded, result.Error?.Message);
            return result.PayloadJson;
        }

        Assert.Equal("42", await Run("Shapes::Shapes.H::Double", "21"));
        Assert.Equal("\"ABC\"", await Run("Shapes::Shapes.H::Upper", "\"abc\""));
        Assert.Equal("null", await Run("Shapes::Shapes.H::Nothing", "{}"));
        Assert.Equal("3", await Run("Shapes::Shapes.H::Length", "[1,2,3]"));
    }

    [Fact]
    public async Task A_handler_that_ignores_cancellation_is_abandoned_reported_as_timed_out_and_its_environment_recycled()
    {
        var packages = new InMemoryPackages();
        var zip = Package("Stuck", """
            namespace Stuck;
            public class H { public int Handle(int x) { System.Threading.Thread.Sleep(10_000); return x; } }
            """);
        var environment = packages.Factory().Create(packages.Function(zip, "Stuck::Stuck.H::Handle", timeoutSeconds: 1), "t");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var result = await environment.InvokeAsync(InMemoryPackages.Request("1"));
        watch.Stop();

        Assert.Equal(InvocationErrorKind.Timeout, result.Error?.Kind);
        Assert.Contains("timed out after 1.00 seconds", result.Error!.Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.True(environment.IsBroken);
        await environment.DisposeAsync();
    }

    [Fact]
    public async Task A_handlers_own_timeout_exception_before_the_deadline_is_its_error_not_a_platform_timeout()
    {
        var packages = new InMemoryPackages();
        var zip = Package("OwnTimeout", """
            namespace OwnTimeout;
            public class H { public int Handle(int x) => throw new System.TimeoutException("the downstream call timed out"); }
            """);
        await using var environment = packages.Factory().Create(packages.Function(zip, "OwnTimeout::OwnTimeout.H::Handle", timeoutSeconds: 30), "t");
        var result = await environment.InvokeAsync(InMemoryPackages.Request("1"));

        Assert.Equal(InvocationErrorKind.Unhandled, result.Error?.Kind);
        Assert.Equal("TimeoutException", result.Error!.Type);
        Assert.Equal("the downstream call timed out", result.Error.Message);
        Assert.False(environment.IsBroken);
    }

    [Fact]
    public async Task A_handler_exception_is_reported_with_its_type_and_message_and_the_environment_stays_warm()
    {
        var packages = new InMemoryPackages();
        var zip = Package("Thrower", """
            namespace Thrower;
            public class H { public int Handle(int x) => x < 0 ? throw new System.ArgumentOutOfRangeException(nameof(x), "must be positive") : x; }
            """);
        await using var environment = packages.Factory().Create(packages.Function(zip, "Thrower::Thrower.H::Handle"), "t");
        var failed = await environment.InvokeAsync(InMemoryPackages.Request("-1"));
        var ok = await environment.InvokeAsync(InMemoryPackages.Request("5"));

        Assert.Equal(InvocationErrorKind.Unhandled, failed.Error?.Kind);
        Assert.Equal("ArgumentOutOfRangeException", failed.Error!.Type); // Lambda's .NET runtime: the short name
        Assert.Contains("must be positive", failed.Error.Message);
        Assert.Contains(failed.Error.StackTrace!, line => line.StartsWith("at Thrower.H.Handle", StringComparison.Ordinal)); // Lambda's stackTrace, a frame a line
        Assert.Null(failed.Error.Cause); // no inner exception, no cause
        Assert.False(environment.IsBroken);
        Assert.Equal("5", ok.PayloadJson);
        Assert.Null(ok.InitDurationMs);
    }

    [Fact]
    public async Task A_handler_exceptions_inner_exceptions_are_its_cause_nested_as_lambdas_dotnet_runtime_reports_them()
    {
        // Lambda's .NET runtime writes an exception's InnerException as the error document's "cause", recursively.
        var packages = new InMemoryPackages();
        var zip = Package("Wrapper", """
            namespace Wrapper;
            public class H
            {
                public async System.Threading.Tasks.Task<int> Handle(int x)
                {
                    await System.Threading.Tasks.Task.Yield();
                    try { throw new System.IO.IOException("disk full", new System.UnauthorizedAccessException("read-only volume")); }
                    catch (System.Exception e) { throw new System.InvalidOperationException("could not save " + x, e); }
                }
            }
            """);
        await using var environment = packages.Factory().Create(packages.Function(zip, "Wrapper::Wrapper.H::Handle"), "t");

        var error = (await environment.InvokeAsync(InMemoryPackages.Request("7"))).Error!;

        Assert.Equal(InvocationErrorKind.Unhandled, error.Kind);
        Assert.Equal("InvalidOperationException", error.Type);
        Assert.Equal("could not save 7", error.Message);
        Assert.Contains(error.StackTrace!, line => line.Contains("Wrapper.H", StringComparison.Ordinal));
        var cause = error.Cause!;
        Assert.Equal("IOException", cause.Type);
        Assert.Equal("disk full", cause.Message);
        Assert.Contains(cause.StackTrace!, line => line.Contains("Wrapper.H", StringComparison.Ordinal));
        Assert.Equal("UnauthorizedAccessException", cause.Cause!.Type);
        Assert.Equal("read-only volume", cause.Cause.Message);
        Assert.Null(cause.Cause.StackTrace); // never thrown: no stack, as Lambda's document leaves it out
        Assert.Null(cause.Cause.Cause);
        Assert.Null(error.Causes);
        Assert.False(environment.IsBroken);
    }

    [Fact]
    public async Task An_aggregate_exceptions_inner_exceptions_are_lambdas_causes_its_first_the_cause()
    {
        // Lambda's .NET runtime: an AggregateException's InnerExceptions as "causes" (its InnerException, the first, as "cause").
        var packages = new InMemoryPackages();
        var zip = Package("Fan", """
            namespace Fan;
            public class H
            {
                public int Handle(int x)
                {
                    var io = System.Threading.Tasks.Task.Run(() => throw new System.IO.IOException("disk full"));
                    var slow = System.Threading.Tasks.Task.Run(() => throw new System.TimeoutException("sensor " + x + " did not answer"));
                    System.Threading.Tasks.Task.WaitAll(io, slow);
                    return x;
                }
            }
            """);
        await using var environment = packages.Factory().Create(packages.Function(zip, "Fan::Fan.H::Handle"), "t");

        var error = (await environment.InvokeAsync(InMemoryPackages.Request("3"))).Error!;

        Assert.Equal("AggregateException", error.Type);
        Assert.Equal(["IOException", "TimeoutException"], error.Causes!.Select(c => c.Type).Order().ToArray());
        Assert.Contains(error.Causes!, c => c.Message == "sensor 3 did not answer" && c.StackTrace is { Length: > 0 });
        Assert.Equal(error.Causes![0].Type, error.Cause!.Type); // the aggregate's InnerException is its first
    }

    public static TheoryData<string, string, string, InvocationErrorKind, string> BadPackages => new()
    {
        { "no such assembly", "Nope::Bad.H::Handle", "namespace Bad; public class H { public int Handle(int x) => x; }", InvocationErrorKind.InvalidPackage, "Runtime.AssemblyNotFound" },
        { "no such type", "Bad::Bad.Missing::Handle", "namespace Bad; public class H { public int Handle(int x) => x; }", InvocationErrorKind.InvalidPackage, "Runtime.HandlerNotFound" },
        { "no such method", "Bad::Bad.H::Missing", "namespace Bad; public class H { public int Handle(int x) => x; }", InvocationErrorKind.InvalidPackage, "Runtime.HandlerNotFound" },
        { "wrong signature", "Bad::Bad.H::Handle", "namespace Bad; public class H { public int Handle(int x, string y, int z) => x; }", InvocationErrorKind.InvalidPackage, "Runtime.InvalidSignature" },
        { "second parameter not a context", "Bad::Bad.H::Handle", "namespace Bad; public class H { public int Handle(int x, string y) => x; }", InvocationErrorKind.InvalidPackage, "Runtime.InvalidSignature" },
        { "no parameterless constructor", "Bad::Bad.H::Handle", "namespace Bad; public class H { public H(int a) { } public int Handle(int x) => x; }", InvocationErrorKind.InvalidPackage, "Runtime.InvalidSignature" },
        { "constructor throws", "Bad::Bad.H::Handle", "namespace Bad; public class H { public H() => throw new System.InvalidOperationException(\"no config\"); public int Handle(int x) => x; }", InvocationErrorKind.Unhandled, "LambdaException" },
    };

    [Theory]
    [MemberData(nameof(BadPackages))]
    public async Task A_package_that_cannot_serve_fails_its_cold_start_with_a_clear_error(string why, string handler, string source, InvocationErrorKind kind, string type)
    {
        var packages = new InMemoryPackages();
        await using var environment = (Fleet.Functions.Hosting.ExecutionEnvironment)packages.Factory().Create(packages.Function(Package("Bad", source), handler), "t");
        var error = await environment.PrepareAsync();

        Assert.True(error is not null, why);
        Assert.Equal(kind, error!.Kind);
        Assert.Equal(type, error.Type);
        Assert.True(environment.IsBroken);
        Assert.Equal(0, packages.DotNet.LoadedVersions);
    }

    [Fact]
    public async Task A_constructor_that_throws_is_a_LambdaException_whose_cause_is_the_constructors_exception_as_in_lambda()
    {
        // Lambda's C# errors: "If your constructor throws an exception, the error type is also of type LambdaException, but the
        // exception thrown during construction is provided in the cause property", its inner exceptions nested as causes.
        var packages = new InMemoryPackages();
        const string Source = "namespace Bad; public class H { public H() => throw new System.InvalidOperationException(\"no config\", new System.IO.FileNotFoundException(\"settings.json is missing\")); public int Handle(int x) => x; }";
        await using var environment = packages.Factory().Create(packages.Function(Package("Bad", Source), "Bad::Bad.H::Handle"), "t");

        var result = await environment.InvokeAsync(InMemoryPackages.Request("1"));

        var error = result.Error!;
        Assert.Equal(InvocationErrorKind.Unhandled, error.Kind);
        Assert.Equal("LambdaException", error.Type);
        Assert.Equal("An exception was thrown when the constructor for type 'Bad.H' was invoked. Check inner exception for more details.", error.Message);
        Assert.Null(error.StackTrace);
        var cause = error.Cause!;
        Assert.Equal("InvalidOperationException", cause.Type);
        Assert.Equal("no config", cause.Message);
        Assert.Contains(cause.StackTrace!, frame => frame.Contains("Bad.H..ctor()", StringComparison.Ordinal));
        Assert.Equal("FileNotFoundException", cause.Cause!.Type);
        Assert.Equal("settings.json is missing", cause.Cause.Message);
        Assert.Null(cause.Cause.Cause);
    }

    [Fact]
    public async Task A_missing_dependency_is_named()
    {
        var packages = new InMemoryPackages();
        var dependency = FunctionPackages.Compile("Helpers", "namespace Helpers; public static class Text { public static string Shout(string s) => s + \"!\"; }");
        var app = FunctionPackages.Compile("App", "namespace App; public class H { private readonly string _x = Helpers.Text.Shout(\"a\"); public string Handle(string s) => Helpers.Text.Shout(s); }", dependency);
        // The package holds App.dll but not Helpers.dll.
        await using var environment = (Fleet.Functions.Hosting.ExecutionEnvironment)packages.Factory().Create(packages.Function(FunctionPackages.Zip(("App.dll", app)), "App::App.H::Handle"), "t");
        var error = await environment.PrepareAsync();

        Assert.Equal(InvocationErrorKind.InvalidPackage, error?.Kind);
        Assert.Equal("Runtime.MissingDependency", error!.Type);
        Assert.Contains("Helpers", error.Message);
    }

    [Fact]
    public async Task Not_a_zip_is_refused()
    {
        var packages = new InMemoryPackages();
        var function = packages.Function(FunctionPackages.Text("this is not a zip"), "A::B.C::D");
        await using var environment = (Fleet.Functions.Hosting.ExecutionEnvironment)packages.Factory().Create(function, "t");
        var error = await environment.PrepareAsync();

        Assert.Equal(InvocationErrorKind.InvalidPackage, error?.Kind);
        Assert.Contains("not a zip", error!.Message);
    }

    [Fact]
    public async Task Layers_resolve_in_order_the_later_layer_wins_and_the_package_wins_over_every_layer()
    {
        var packages = new InMemoryPackages();
        static byte[] SharedV(string version) => FunctionPackages.Compile("Shared", $"namespace Shared; public static class Info {{ public static string Version => \"{version}\"; }}");
        var app = FunctionPackages.Compile("App", "namespace App; public class H { public string Handle(int x) => Shared.Info.Version; }", SharedV("compile"));
        var layer1 = FunctionPackages.Zip(("dotnet/Shared.dll", SharedV("layer1")));
        var layer2 = FunctionPackages.Zip(("dotnet/Shared.dll", SharedV("layer2")));

        async Task<string?> Run(byte[] zip, params byte[][] layers)
        {
            await using var env = packages.Factory().Create(packages.Function(zip, "App::App.H::Handle", layers: layers), "t");
            var result = await env.InvokeAsync(InMemoryPackages.Request("1"));
            Assert.True(result.Succeeded, result.Error?.Message);
            return result.PayloadJson;
        }

        var appOnly = FunctionPackages.Zip(("App.dll", app));
        Assert.Equal("\"layer2\"", await Run(appOnly, layer1, layer2));
        Assert.Equal("\"layer1\"", await Run(appOnly, layer2, layer1));
        Assert.Equal("\"package\"", await Run(FunctionPackages.Zip(("App.dll", app), ("Shared.dll", SharedV("package"))), layer1, layer2));
    }

    [Fact]
    public async Task A_version_no_longer_used_unloads_so_100_redeploys_do_not_grow_the_silo()
    {
        var packages = new InMemoryPackages();
        var weak = await DeployAndRun(packages, 100);

        for (var i = 0; i < 10 && weak.Any(w => w.IsAlive); i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.Equal(0, packages.DotNet.LoadedVersions);
        Assert.Equal(0, weak.Count(w => w.IsAlive));
        // Only this test's contexts: other test classes load functions in parallel in the same process.
        var left = AssemblyLoadContext.All.Count(c => c.Name?.StartsWith(RedeployName + ":", StringComparison.Ordinal) == true);
        Assert.True(left == 0, $"{left} load contexts of '{RedeployName}' left after 100 redeploys");
    }

    private const string RedeployName = "redeploy-unload";

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<List<WeakReference>> DeployAndRun(InMemoryPackages packages, int redeploys)
    {
        var weak = new List<WeakReference>();
        for (var i = 0; i < redeploys; i++)
        {
            var zip = Package("Redeploy", $"namespace Redeploy; public class H {{ public int Handle(int x) => x + {i}; }}");
            var environment = packages.Factory().Create(packages.Function(zip, "Redeploy::Redeploy.H::Handle", name: RedeployName), "t");
            var result = await environment.InvokeAsync(InMemoryPackages.Request("1"));
            Assert.Equal((1 + i).ToString(), result.PayloadJson);
            weak.Add(new WeakReference(AssemblyLoadContext.All.Last(c => c.Name?.StartsWith(RedeployName + ":$LATEST", StringComparison.Ordinal) == true)));
            await environment.DisposeAsync();
        }

        return weak;
    }
}

/// <summary>The built-in steps are ordinary SDK functions: packaged as a zip, they deploy and run like any user's.</summary>
public sealed class BuiltInFunctionTests
{
    private static byte[] BuiltInPackage()
    {
        var dir = AppContext.BaseDirectory;
        return FunctionPackages.Zip(
            ("Fleet.Functions.BuiltIn.dll", File.ReadAllBytes(Path.Combine(dir, "Fleet.Functions.BuiltIn.dll"))),
            ("Fleet.Detectors.dll", File.ReadAllBytes(Path.Combine(dir, "Fleet.Detectors.dll"))));
    }

    [Fact]
    public async Task The_builtin_detector_deployed_as_a_zip_finds_a_spike_in_JSON_events()
    {
        var packages = new InMemoryPackages();
        var function = packages.Function(BuiltInPackage(), "Fleet.Functions.BuiltIn::Fleet.Functions.BuiltIn.Detect::HandleAsync",
            environment: new Dictionary<string, string> { ["DETECTOR"] = "ewma-z" });
        await using var environment = packages.Factory().Create(function, "t");
        System.Text.Json.JsonElement last = default;
        for (var i = 0; i < 200; i++)
        {
            var value = i == 150 ? 500.0 : 20 + Math.Sin(i / 5.0);
            var ts = 1_700_000_000_000L + i * 1000;
            var json = "{\"sensorId\":\"s1\",\"timestamp\":" + ts + ",\"seq\":" + i + ",\"metrics\":{\"t\":" + value.ToString(System.Globalization.CultureInfo.InvariantCulture) + "}}";
            var result = await environment.InvokeAsync(InMemoryPackages.Request(json));
            Assert.True(result.Succeeded, result.Error?.Message);
            var root = System.Text.Json.JsonDocument.Parse(result.PayloadJson!).RootElement;
            if (i == 150) last = root.Clone();
        }

        var anomaly = Assert.Single(last.GetProperty("anomalies").EnumerateArray());
        Assert.Equal("t", anomaly.GetProperty("metric").GetString());
        Assert.Equal("ewma-z", anomaly.GetProperty("detector").GetString());
        Assert.Equal(500, last.GetProperty("metrics").GetProperty("t").GetDouble());
        Assert.Equal("level", anomaly.GetProperty("kind").GetString());
        Assert.InRange(anomaly.GetProperty("expected").GetDouble(), 19, 21);
        Assert.InRange(anomaly.GetProperty("upper").GetDouble(), 21, 500);
    }

    [Fact]
    public void An_event_with_explained_anomalies_round_trips_through_its_json_form()
    {
        var evt = new Fleet.Functions.Sensors.SensorEvent().Reset("s1", 1_700_000_000_000, 3);
        evt.Metrics.Add(new Fleet.Functions.Sensors.SensorMetric("t", 95));
        evt.Anomalies.Add(new Fleet.Functions.Sensors.SensorAnomaly("t", 95, 0.93, "fusion") { Kind = "time-of-day", Expected = 21.5, Lower = 12.25, Upper = 30.75 });
        evt.Anomalies.Add(new Fleet.Functions.Sensors.SensorAnomaly("t", 95, 0.8, "rcf"));

        var json = System.Text.Json.JsonSerializer.Serialize(evt);
        var back = System.Text.Json.JsonSerializer.Deserialize<Fleet.Functions.Sensors.SensorEvent>(json, System.Text.Json.JsonSerializerOptions.Web)!;

        Assert.Equal(evt.Anomalies, back.Anomalies);
        Assert.DoesNotContain("\"kind\":null", json); // a detector that gives no explanation adds no fields
    }

    [Fact]
    public async Task The_builtin_preprocess_deployed_as_a_zip_drops_a_duplicate()
    {
        var packages = new InMemoryPackages();
        var function = packages.Function(BuiltInPackage(), "Fleet.Functions.BuiltIn::Fleet.Functions.BuiltIn.Preprocess::HandleAsync");
        await using var environment = packages.Factory().Create(function, "t");
        const string evt = """{"sensorId":"s1","timestamp":1700000000000,"seq":7,"metrics":{"t":1}}""";
        var first = await environment.InvokeAsync(InMemoryPackages.Request(evt));
        var again = await environment.InvokeAsync(InMemoryPackages.Request(evt));

        Assert.Contains("\"seq\":7", first.PayloadJson);
        Assert.Equal("null", again.PayloadJson);
    }
}
