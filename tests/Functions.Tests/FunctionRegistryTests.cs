using Microsoft.Extensions.DependencyInjection;
using System.Text.Json;
using Fleet.Functions.Hosting;
using Fleet.Grains.Functions;
using Fleet.Grains.Readings;
using Fleet.Grains.Sensors;

namespace Fleet.Functions.Tests;

/// <summary>Deploy, version, alias, invoke and bind functions on a real (in-process) silo with durable state.</summary>
[Collection(FunctionsCluster.Name)]
public sealed class FunctionRegistryTests(FunctionsClusterFixture fixture)
{
    private static byte[] Echo(string assembly, string tag) => FunctionPackages.Zip(($"{assembly}.dll", FunctionPackages.Compile(assembly, $$"""
        using Fleet.Functions;
        namespace {{assembly}};
        public class H
        {
            private int _calls;
            public object Handle(JsonElementHolder e, IFunctionContext c) => new { tag = "{{tag}}", calls = ++_calls, version = c.FunctionVersion, alias = c.InvokedAlias };
        }
        public sealed class JsonElementHolder { }
        """)));

    private static FunctionConfiguration Config(string name, string assembly, IReadOnlyDictionary<string, string>? env = null, int? reserved = null)
        => new() { Name = name, Runtime = FunctionRuntimes.DotNet, Handler = $"{assembly}::{assembly}.H::Handle", Environment = env ?? new Dictionary<string, string>(), ReservedConcurrency = reserved };

    /// <summary>Deploys a .NET function whose handler is <c>{assembly}::{assembly}.H::Handle</c>, compiled from <paramref name="source"/>.</summary>
    private Task<FunctionDefinition> Deploy(string name, string assembly, string source, int? reserved = null)
        => fixture.Deployer.DeployAsync(
            new FunctionConfiguration { Name = name, Runtime = FunctionRuntimes.DotNet, Handler = $"{assembly}::{assembly}.H::Handle", ReservedConcurrency = reserved },
            FunctionPackages.Zip(($"{assembly}.dll", FunctionPackages.Compile(assembly, source))));

    private async Task<JsonElement> Invoke(string function, string payload = "{}")
    {
        var result = await fixture.Pool.InvokeAsync(function, new InvocationRequest(Guid.NewGuid().ToString(), payload, null), CancellationToken.None);
        Assert.True(result.Succeeded, $"{result.Error?.Kind} {result.Error?.Type}: {result.Error?.Message}");
        return JsonDocument.Parse(result.PayloadJson!).RootElement;
    }

    /// <summary>
    /// Lambda's context fields of a .NET handler (ILambdaContext's InvokedFunctionArn, LogGroupName, LogStreamName): the ARN
    /// is the one the caller used, its qualifier included, through the pool and in a sensor's environment alike.
    /// </summary>
    [Fact]
    public async Task The_context_has_the_invoked_function_arn_and_lambdas_log_names()
    {
        var suffix = Guid.NewGuid().ToString("n")[..8];
        var name = "arn-" + suffix;
        await Deploy(name, "ArnProbe", """
                using Fleet.Functions;
                namespace ArnProbe;
                public sealed class Evt { }
                public class H { public object Handle(Evt e, IFunctionContext c) => new { arn = c.InvokedFunctionArn, group = c.LogGroupName, stream = c.LogStreamName, version = c.FunctionVersion }; }
                """);
        var grain = fixture.Client.GetGrain<IFunctionGrain>(name);
        await grain.PublishVersion(null);
        await grain.PutAlias("live", new AliasRequest("1"));
        for (var silo = 0; silo < 2; silo++) fixture.ServicesOf(silo).GetRequiredService<FunctionResolver>().Invalidate(name);

        var arn = $"arn:aws:lambda:us-east-1:000000000000:function:{name}";
        var unqualified = await Invoke(name);
        Assert.Equal(arn, unqualified.GetProperty("arn").GetString());
        Assert.Equal($"/aws/lambda/{name}", unqualified.GetProperty("group").GetString());
        Assert.Matches(@"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$", unqualified.GetProperty("stream").GetString());
        Assert.Equal(arn + ":1", (await Invoke($"{name}:1")).GetProperty("arn").GetString());
        Assert.Equal(arn + ":1", (await Invoke($"{name}:01")).GetProperty("arn").GetString());
        Assert.Equal(arn + ":$LATEST", (await Invoke($"{name}:$LATEST")).GetProperty("arn").GetString());
        var viaAlias = await Invoke($"{name}:live");
        Assert.Equal(arn + ":live", viaAlias.GetProperty("arn").GetString());
        Assert.Matches(@"^\d{4}/\d{2}/\d{2}/\[1\][0-9a-f]{32}$", viaAlias.GetProperty("stream").GetString());

        // Bound to a sensor by its alias: the same ARN, in the sensor's own environment.
        var sensor = "arn-sensor-" + suffix;
        var table = await fixture.Client.GetGrain<IFunctionBindingsGrain>(0).Put(new FunctionBinding
        {
            Name = "arn-" + suffix, TopicFilter = $"sensors/{sensor}/telemetry", Functions = [$"{name}:live"],
        });
        for (var silo = 0; silo < 2; silo++) fixture.ServicesOf(silo).GetRequiredService<BindingCache>().Apply(table);
        var sensorGrain = fixture.Client.GetGrain<ISensorGrain>(sensor);
        await sensorGrain.Ingest([new Reading(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), 1, [new MetricValue("t", 20)], 0)]);
        var bound = Assert.Single((await sensorGrain.GetSnapshot()).Functions!.Bindings);
        Assert.True(bound.LastResult is not null, $"{bound.LastError?.Type}: {bound.LastError?.Message}");
        using (var last = JsonDocument.Parse(bound.LastResult))
            Assert.Equal(arn + ":live", last.RootElement.GetProperty("arn").GetString());

        table = await fixture.Client.GetGrain<IFunctionBindingsGrain>(0).Delete("arn-" + suffix);
        for (var silo = 0; silo < 2; silo++) fixture.ServicesOf(silo).GetRequiredService<BindingCache>().Apply(table);
    }

    [Fact]
    public async Task Deploy_invoke_publish_alias_switch_and_weighted_alias()
    {
        var name = "fn-" + Guid.NewGuid().ToString("n")[..8];
        await fixture.Deployer.DeployAsync(Config(name, "EchoA"), Echo("EchoA", "one"));
        var latest = await Invoke(name);
        Assert.Equal("one", latest.GetProperty("tag").GetString());
        Assert.Equal("$LATEST", latest.GetProperty("version").GetString());

        var grain = fixture.Client.GetGrain<IFunctionGrain>(name);
        var v1 = await grain.PublishVersion("first");
        Assert.Equal(1, v1.Version);
        Assert.Equal(1, (await grain.PublishVersion(null)).Version); // nothing changed: Lambda returns the last version

        await fixture.Deployer.DeployAsync(Config(name, "EchoB"), Echo("EchoB", "two"));
        var v2 = await grain.PublishVersion("second");
        Assert.Equal(2, v2.Version);
        Assert.Equal("two", (await Invoke(name)).GetProperty("tag").GetString());
        Assert.Equal("one", (await Invoke($"{name}:1")).GetProperty("tag").GetString());

        await grain.PutAlias("live", new AliasRequest("1"));
        fixture.Services.GetRequiredService<FunctionResolver>().Invalidate(name);
        var viaAlias = await Invoke($"{name}:live");
        Assert.Equal("one", viaAlias.GetProperty("tag").GetString());
        Assert.Equal("live", viaAlias.GetProperty("alias").GetString());

        await grain.PutAlias("live", new AliasRequest("2"));
        fixture.Services.GetRequiredService<FunctionResolver>().Invalidate(name);
        Assert.Equal("two", (await Invoke($"{name}:live")).GetProperty("tag").GetString());

        await grain.PutAlias("live", new AliasRequest("1", AdditionalVersionWeights: new Dictionary<string, double> { ["2"] = 0.3 }));
        fixture.Services.GetRequiredService<FunctionResolver>().Invalidate(name);
        var tags = new List<string>();
        for (var i = 0; i < 300; i++) tags.Add((await Invoke($"{name}:live")).GetProperty("version").GetString()!);
        var share = tags.Count(t => t == "2") / 300.0;
        Assert.InRange(share, 0.2, 0.4); // 30% canary, ±10 points (binomial sd ~2.6 points)
        Assert.Equal(300, tags.Count(t => t is "1" or "2"));
    }

    [Fact]
    public async Task A_function_deployed_through_one_silo_serves_on_the_other()
    {
        var name = "both-" + Guid.NewGuid().ToString("n")[..8];
        await fixture.ServicesOf(0).GetRequiredService<FunctionDeployer>().DeployAsync(Config(name, "EchoX"), Echo("EchoX", "x"));
        var other = fixture.ServicesOf(1).GetRequiredService<FunctionPool>();
        var result = await other.InvokeAsync(name, new InvocationRequest("r", "{}", null), CancellationToken.None);

        Assert.True(result.Succeeded, result.Error?.Message);
        Assert.Contains("\"tag\":\"x\"", result.PayloadJson);
        Assert.NotNull(result.InitDurationMs); // a cold start on the second silo, from the cluster's copy of the code
    }

    [Fact]
    public async Task Versions_and_aliases_follow_Lambda_rules()
    {
        var name = "rules-" + Guid.NewGuid().ToString("n")[..8];
        await fixture.Deployer.DeployAsync(Config(name, "EchoR"), Echo("EchoR", "r"));
        var grain = fixture.Client.GetGrain<IFunctionGrain>(name);
        await grain.PublishVersion(null);

        await Assert.ThrowsAsync<FunctionValidationException>(() => grain.PutAlias("123", new AliasRequest("1")));
        await Assert.ThrowsAsync<FunctionNotFoundException>(() => grain.PutAlias("x", new AliasRequest("9")));
        await Assert.ThrowsAsync<FunctionValidationException>(() => grain.PutAlias("x", new AliasRequest("$LATEST", AdditionalVersionWeights: new Dictionary<string, double> { ["1"] = 0.5 })));
        await Assert.ThrowsAsync<FunctionValidationException>(() => grain.PutAlias("x", new AliasRequest("1", AdditionalVersionWeights: new Dictionary<string, double> { ["1"] = 0.5 })));
        // An alias may start with a digit (not be all digits); a version may be written with leading zeros.
        await grain.PutAlias("1beta", new AliasRequest("01"));
        fixture.Services.GetRequiredService<FunctionResolver>().Invalidate(name);
        Assert.Equal("1", (await Invoke($"{name}:1beta")).GetProperty("version").GetString());
        await Assert.ThrowsAsync<FunctionConflictException>(() => grain.Delete("1"));
        await grain.DeleteAlias("1beta");
        await grain.PutAlias("prod", new AliasRequest("1"));
        await Assert.ThrowsAsync<FunctionConflictException>(() => grain.Delete("1"));
        await grain.DeleteAlias("prod");
        await grain.Delete("1");
        Assert.Empty((await grain.Get())!.Versions);

        var missing = await fixture.Pool.InvokeAsync($"{name}:prod", new InvocationRequest("r", "{}", null), CancellationToken.None);
        Assert.Equal(InvocationErrorKind.NotFound, missing.Error?.Kind);
        var none = await fixture.Pool.InvokeAsync("no-such-function", new InvocationRequest("r", "{}", null), CancellationToken.None);
        Assert.Equal(InvocationErrorKind.NotFound, none.Error?.Kind);
    }

    [Fact]
    public async Task A_bad_package_is_refused_and_the_previous_code_keeps_serving()
    {
        var name = "keep-" + Guid.NewGuid().ToString("n")[..8];
        await fixture.Deployer.DeployAsync(Config(name, "Good"), Echo("Good", "good"));
        Assert.Equal("good", (await Invoke(name)).GetProperty("tag").GetString());

        var notAZip = await Assert.ThrowsAsync<FunctionValidationException>(() => fixture.Deployer.DeployAsync(Config(name, "Good"), FunctionPackages.Text("garbage")));
        Assert.Contains("not a zip", notAZip.Message);
        var throwing = FunctionPackages.Zip(("Bad.dll", FunctionPackages.Compile("Bad", "namespace Bad; public class H { public H() => throw new System.IO.IOException(\"config missing\"); public int Handle(int x) => x; }")));
        var refused = await Assert.ThrowsAsync<FunctionDeployException>(() => fixture.Deployer.DeployAsync(Config(name, "Bad"), throwing));
        Assert.Equal("LambdaException", refused.Error.Type); // as Lambda's .NET runtime: the constructor's exception is the cause
        Assert.Equal("IOException", refused.Error.Cause?.Type);
        Assert.Contains("config missing", refused.Error.Cause!.Message);
        Assert.Contains("Cause: IOException: config missing", refused.Message); // the refusal says what the constructor threw
        var wrongHandler = await Assert.ThrowsAsync<FunctionDeployException>(() => fixture.Deployer.DeployAsync(Config(name, "Good") with { Handler = "Good::Good.Nope::Handle" }, null));
        Assert.Equal("Runtime.HandlerNotFound", wrongHandler.Error.Type);

        Assert.Equal("good", (await Invoke(name)).GetProperty("tag").GetString());
        Assert.Equal("Good::Good.H::Handle", (await fixture.Client.GetGrain<IFunctionGrain>(name).Get())!.Configuration.Handler);
    }

    [Fact]
    public async Task Invalid_configurations_are_refused_with_every_reason()
    {
        var config = new FunctionConfiguration
        {
            Name = "bad name!", Runtime = "python", Handler = "", TimeoutSeconds = 901, MemoryMb = 64,
            Environment = new Dictionary<string, string> { ["1BAD"] = new string('x', 5000) },
            Layers = ["a:1", "b:1", "c:1", "d:1", "e:1", "f:1"],
        };
        var errors = FunctionValidation.Errors(config);
        Assert.Contains(errors, e => e.StartsWith("name must be"));
        Assert.Contains(errors, e => e.StartsWith("runtime must be one of"));
        Assert.Contains(errors, e => e.StartsWith("handler is required"));
        Assert.Contains(errors, e => e.StartsWith("timeout must be between 1 and 900"));
        Assert.Contains(errors, e => e.StartsWith("memorySize must be between 128"));
        Assert.Contains(errors, e => e.Contains("environment variable name '1BAD'"));
        Assert.Contains(errors, e => e.Contains("at most 4096 are allowed"));
        Assert.Contains(errors, e => e.StartsWith("at most 5 layers"));
        Assert.Empty(FunctionValidation.Errors(Config("ok", "Ok")));
        // Lambda's key pattern [a-zA-Z]([a-zA-Z0-9_])+ wants two characters at least
        Assert.Contains(FunctionValidation.Errors(Config("ok", "Ok") with { Environment = new Dictionary<string, string> { ["A"] = "1" } }), e => e.Contains("environment variable name 'A'"));
        Assert.Empty(FunctionValidation.Errors(Config("ok", "Ok") with { Environment = new Dictionary<string, string> { ["A1"] = "1" } }));
        Assert.Contains(FunctionValidation.Errors(Config("ok", "Ok") with { Handler = "index.handler" }), e => e.Contains("Assembly::Namespace.Type::Method"));
        Assert.Contains(FunctionValidation.Errors(Config("ok", "Ok") with { Runtime = "javascript", Handler = "Ok::Ok.H::Handle" }), e => e.Contains("file.export"));
        await Assert.ThrowsAsync<FunctionNotFoundException>(() => fixture.Deployer.DeployAsync(Config("needs-layer", "Ok") with { Layers = ["missing-layer:1"] }, Echo("Ok", "ok")));
    }

    [Fact]
    public async Task A_function_calls_another_through_its_context()
    {
        var suffix = Guid.NewGuid().ToString("n")[..8];
        var callee = "callee-" + suffix;
        await Deploy(callee, "Callee", "namespace Callee; public class H { public int Handle(int x) => x * 10; }");
        var caller = "caller-" + suffix;
        await Deploy(caller, "Caller", $$"""
                using Fleet.Functions;
                namespace Caller;
                public class H
                {
                    public async Task<int> Handle(int x, IFunctionContext c)
                    {
                        var r = await c.InvokeAsync("{{callee}}", x + 1);
                        try { await c.InvokeAsync("no-such-function", 1); return -1; }
                        catch (FunctionInvocationException e) when (e.ErrorType == "NotFound") { return r.GetInt32() + 1; }
                    }
                }
                """);

        Assert.Equal(31, (await Invoke(caller, "2")).GetInt32());
    }

    [Fact]
    public async Task Reserved_concurrency_throttles_what_is_beyond_it()
    {
        var name = "slow-" + Guid.NewGuid().ToString("n")[..8];
        await Deploy(name, "Slow", "namespace Slow; public class H { public async Task<int> Handle(int x) { await Task.Delay(500); return x; } }", reserved: 1);
        var first = fixture.Pool.InvokeAsync(name, new InvocationRequest("a", "1", null), CancellationToken.None);
        await Task.Delay(100);
        var second = await fixture.Pool.InvokeAsync(name, new InvocationRequest("b", "2", null), CancellationToken.None);

        Assert.Equal(InvocationErrorKind.Throttled, second.Error?.Kind);
        Assert.Equal("ReservedFunctionConcurrentInvocationLimitExceeded", second.Error!.Type);
        Assert.True((await first).Succeeded);
    }

    private const string SlowSource = "namespace Slow; public class H { public async Task<int> Handle(int x) { await Task.Delay(1500); return x; } }";

    private Task<InvocationResult> InvokeOn(int silo, string function, string payload = "1")
        => fixture.ServicesOf(silo).GetRequiredService<FunctionPool>().InvokeAsync(function, new InvocationRequest(Guid.NewGuid().ToString(), payload, null), CancellationToken.None);

    /// <summary>Polls an asynchronous invocation until it has finished (Succeeded or Failed).</summary>
    private async Task<InvocationRecord> Poll(string id)
    {
        for (var i = 0; i < 200; i++)
        {
            var record = await fixture.Client.GetGrain<IInvocationRecordGrain>(id).Get();
            if (record is { Status: InvocationStatus.Succeeded or InvocationStatus.Failed }) return record;
            await Task.Delay(50);
        }

        throw new TimeoutException($"{id} did not finish");
    }

    /// <summary>Waits until the function's first invocation holds its permit (a slow machine may take a while to get there).</summary>
    private async Task HoldsPermit(string function)
    {
        var counter = fixture.Client.GetGrain<IFunctionConcurrencyGrain>(function);
        for (var i = 0; i < 200 && await counter.InUse() == 0; i++) await Task.Delay(10);
        Assert.Equal(1, await counter.InUse());
    }

    /// <summary>Lambda counts a function's concurrency across the whole function: one silo's invocation uses up the other's.</summary>
    [Fact]
    public async Task Reserved_concurrency_is_counted_across_the_cluster()
    {
        var name = "slow-cluster-" + Guid.NewGuid().ToString("n")[..8];
        await Deploy(name, "Slow", SlowSource);
        await fixture.Client.GetGrain<IFunctionGrain>(name).PutConcurrency(1);
        for (var silo = 0; silo < 2; silo++) fixture.ServicesOf(silo).GetRequiredService<FunctionResolver>().Invalidate(name);

        var first = InvokeOn(0, name);
        await HoldsPermit(name);
        var second = await InvokeOn(1, name);

        Assert.Equal(InvocationErrorKind.Throttled, second.Error?.Kind);
        Assert.Equal("ReservedFunctionConcurrentInvocationLimitExceeded", second.Error!.Type);
        Assert.True((await first).Succeeded);
        Assert.True((await InvokeOn(1, name)).Succeeded); // the permit came back
    }

    /// <summary>Reserved concurrency is the function's, not a version's: set after publishing, it limits the version, and versions count together.</summary>
    [Fact]
    public async Task Reserved_concurrency_applies_to_every_version_together()
    {
        var name = "slow-versions-" + Guid.NewGuid().ToString("n")[..8];
        await Deploy(name, "Slow", SlowSource);
        var grain = fixture.Client.GetGrain<IFunctionGrain>(name);
        await grain.PublishVersion(null);
        await grain.PutAlias("live", new AliasRequest("1"));
        await grain.PutConcurrency(1);
        for (var silo = 0; silo < 2; silo++) fixture.ServicesOf(silo).GetRequiredService<FunctionResolver>().Invalidate(name);
        Assert.Null((await grain.Get())!.Versions[0].Configuration.ReservedConcurrency); // not part of the version

        var version = InvokeOn(0, name + ":1");
        await HoldsPermit(name);
        var alias = await InvokeOn(1, name + ":live");
        var latest = await InvokeOn(0, name);
        Assert.Equal(InvocationErrorKind.Throttled, alias.Error?.Kind);
        Assert.Equal(InvocationErrorKind.Throttled, latest.Error?.Kind);
        Assert.True((await version).Succeeded);

        // Deleting the limit lifts it for every version.
        await grain.PutConcurrency(null);
        for (var silo = 0; silo < 2; silo++) fixture.ServicesOf(silo).GetRequiredService<FunctionResolver>().Invalidate(name);
        var both = await Task.WhenAll(InvokeOn(0, name + ":1"), InvokeOn(1, name + ":live"), InvokeOn(0, name));
        Assert.All(both, r => Assert.True(r.Succeeded, r.Error?.Message));
    }

    /// <summary>A limit above 0 applies to invocations bound to sensors too, counted with every other invocation of the function.</summary>
    [Fact]
    public async Task Reserved_concurrency_throttles_sensor_bound_invocations_beyond_it()
    {
        var suffix = Guid.NewGuid().ToString("n")[..8];
        var name = "slow-bound-" + suffix;
        await Deploy(name, "SlowBound", """
                namespace SlowBound;
                public sealed class Evt { public string? SensorId { get; set; } }
                public class H { public async Task<object> Handle(Evt e) { await Task.Delay(1500); return new { sensor = e.SensorId }; } }
                """);
        await fixture.Client.GetGrain<IFunctionGrain>(name).PutConcurrency(1);
        for (var silo = 0; silo < 2; silo++) fixture.ServicesOf(silo).GetRequiredService<FunctionResolver>().Invalidate(name);
        var table = BindingTable.Empty;
        for (var i = 0; i < 3; i++)
        {
            table = await fixture.Client.GetGrain<IFunctionBindingsGrain>(0).Put(new FunctionBinding
            {
                Name = $"limited-{suffix}-{i}", TopicFilter = $"sensors/limited-{suffix}-{i}/telemetry", Functions = [name],
            });
        }

        for (var silo = 0; silo < 2; silo++) fixture.ServicesOf(silo).GetRequiredService<BindingCache>().Apply(table);

        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var sensors = Enumerable.Range(0, 3).Select(i => fixture.Client.GetGrain<ISensorGrain>($"limited-{suffix}-{i}")).ToArray();
        await Task.WhenAll(sensors.Select(s => s.Ingest([new Reading(now, 1, [new MetricValue("t", 20)], 0)])));

        var bindings = new List<BindingStatusView>();
        foreach (var sensor in sensors) bindings.Add(Assert.Single((await sensor.GetSnapshot()).Functions!.Bindings));
        Assert.Equal(1, bindings.Sum(b => b.Completed));
        Assert.Equal(2, bindings.Sum(b => b.Errors));
        Assert.All(bindings.Where(b => b.Errors > 0), b => Assert.Equal("ReservedFunctionConcurrentInvocationLimitExceeded", b.LastError!.Type));

        // Once the first is done its permit is back: the next reading runs.
        var throttled = sensors[bindings.FindIndex(b => b.Errors > 0)];
        await throttled.Ingest([new Reading(now + 1000, 2, [new MetricValue("t", 21)], 0)]);
        Assert.Equal(1, Assert.Single((await throttled.GetSnapshot()).Functions!.Bindings).Completed);

        for (var i = 0; i < 3; i++) table = await fixture.Client.GetGrain<IFunctionBindingsGrain>(0).Delete($"limited-{suffix}-{i}");
        for (var silo = 0; silo < 2; silo++) fixture.ServicesOf(silo).GetRequiredService<BindingCache>().Apply(table);
    }

    /// <summary>A permit is a lease: one whose silo died (never released) comes back when the lease ends.</summary>
    [Fact]
    public async Task A_concurrency_permit_never_released_expires_with_its_lease()
    {
        var counter = fixture.Client.GetGrain<IFunctionConcurrencyGrain>("lease-" + Guid.NewGuid().ToString("n")[..8]);
        Assert.True(await counter.TryAcquire("crashed", 1, TimeSpan.FromSeconds(2)));
        Assert.False(await counter.TryAcquire("next", 1, TimeSpan.FromSeconds(10)));
        Assert.Equal(1, await counter.InUse());
        await Task.Delay(2500);
        Assert.True(await counter.TryAcquire("next", 1, TimeSpan.FromSeconds(10)));
        await counter.Release("next");
        Assert.Equal(0, await counter.InUse());
    }

    /// <summary>State of the release that kept reserved concurrency in each version's configuration loads as a function-level limit.</summary>
    [Fact]
    public void A_definition_with_reserved_concurrency_in_its_configurations_is_migrated_to_the_function()
    {
        var config = new FunctionConfiguration { Name = "old", Runtime = FunctionRuntimes.DotNet, Handler = "A::A.H::Handle", ReservedConcurrency = 4 };
        var code = new CodeReference("00", 1);
        var old = new FunctionDefinition
        {
            Configuration = config, Code = code, Layers = [], RevisionId = "r", LastModifiedUtc = DateTime.UtcNow,
            Versions = [new FunctionVersion(1, config with { ReservedConcurrency = 2 }, code, [], "r1", null, DateTime.UtcNow)],
        };

        var migrated = old.Migrated();
        Assert.Equal(2, migrated.ReservedConcurrentExecutions); // the strictest of $LATEST's (4) and version 1's (2), for the whole function
        Assert.Null(migrated.Configuration.ReservedConcurrency);
        Assert.Null(migrated.Versions[0].Configuration.ReservedConcurrency);
        Assert.Equal(2, migrated.Resolve("1", 0)!.Value.Function.ReservedConcurrency); // the version obeys the function's limit
        Assert.Same(migrated, migrated.Migrated());
    }

    [Fact]
    public async Task Asynchronous_invocations_are_stored_run_and_retried_twice_on_error()
    {
        var suffix = Guid.NewGuid().ToString("n")[..8];
        var ok = "async-ok-" + suffix;
        await Deploy(ok, "AsyncOk", "namespace AsyncOk; public class H { public int Handle(int x) => x + 1; }");
        var failing = "async-fail-" + suffix;
        await Deploy(failing, "AsyncFail", "namespace AsyncFail; public class H { public int Handle(int x) => throw new System.InvalidOperationException(\"always\"); }");

        var good = await fixture.Client.GetGrain<IInvocationRecordGrain>("req-ok-" + suffix).Accept(ok, "41");
        var bad = await fixture.Client.GetGrain<IInvocationRecordGrain>("req-bad-" + suffix).Accept(failing, "1");
        Assert.Equal(InvocationStatus.Queued, good.Status);

        var done = await Poll("req-ok-" + suffix);
        Assert.Equal(InvocationStatus.Succeeded, done.Status);
        Assert.Equal("42", done.Result!.PayloadJson);
        Assert.Equal(1, done.Attempts);

        var failed = await Poll("req-bad-" + suffix);
        Assert.Equal(InvocationStatus.Failed, failed.Status);
        Assert.Equal(3, failed.Attempts); // the first try and Lambda's two retries
        Assert.Equal("InvalidOperationException", failed.Result!.Error!.Type);

    }

    /// <summary>
    /// An event resumed after it outlived its maximum event age (here: stored 7 hours ago, as after a long outage, against
    /// the default 6 hours) is discarded as Lambda discards it: failed with EventAgeExceeded, and the handler never runs.
    /// </summary>
    [Fact]
    public async Task An_event_older_than_its_maximum_age_is_discarded_not_run()
    {
        var suffix = Guid.NewGuid().ToString("n")[..8];
        var name = "async-old-" + suffix;
        await Deploy(name, "AsyncOld", "namespace AsyncOld; public class H { public int Handle(int x) => x + 1; }");
        var id = "req-old-" + suffix;
        var grain = fixture.Client.GetGrain<IInvocationRecordGrain>(id);
        var storage = fixture.ServicesOf(0).GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(Fleet.Grains.Storage.StorageNames.Default);
        var stored = new Orleans.GrainState<InvocationRecordState>(new InvocationRecordState
        {
            Record = new InvocationRecord { RequestId = id, Function = name, Status = InvocationStatus.Queued, AcceptedUtc = DateTime.UtcNow.AddHours(-7) },
            PayloadJson = "1",
        });
        await storage.WriteStateAsync("invocation", grain.GetGrainId(), stored);

        var record = await Poll(id); // the activation resumes the stored event
        Assert.Equal(InvocationStatus.Failed, record.Status);
        Assert.Equal((InvocationErrorKind.EventAgeExceeded, 0), (record.Result!.Error!.Kind, record.Attempts));

        // A fresh event of the same function runs.
        var fresh = "req-fresh-" + suffix;
        await fixture.Client.GetGrain<IInvocationRecordGrain>(fresh).Accept(name, "1");
        record = await Poll(fresh);
        Assert.Equal(("2", 1), (record.Result?.PayloadJson, record.Attempts));
    }

    /// <summary>
    /// Lambda's event invoke config: a function's (or one version's or alias's) MaximumRetryAttempts replaces the silo's
    /// default of 2 for its asynchronous invocations; a qualifier without one keeps the default.
    /// </summary>
    [Fact]
    public async Task An_event_invoke_config_sets_the_retries_of_the_functions_asynchronous_invocations()
    {
        var suffix = Guid.NewGuid().ToString("n")[..8];
        var name = "async-config-" + suffix;
        await Deploy(name, "AsyncConfig", "namespace AsyncConfig; public class H { public int Handle(int x) => throw new System.InvalidOperationException(\"always\"); }");
        var grain = fixture.Client.GetGrain<IFunctionGrain>(name);
        await grain.PublishVersion(null);
        await grain.PutAlias("live", new AliasRequest("1"));

        await grain.PutEventInvokeConfig(null, maximumRetryAttempts: 0, maximumEventAgeInSeconds: null, merge: false);
        await grain.PutEventInvokeConfig("live", maximumRetryAttempts: 1, maximumEventAgeInSeconds: 120, merge: false);
        var merged = await grain.PutEventInvokeConfig("live", maximumRetryAttempts: null, maximumEventAgeInSeconds: 600, merge: true);
        Assert.Equal((1, 600), (merged.MaximumRetryAttempts, merged.MaximumEventAgeInSeconds)); // Update keeps what it is not given
        foreach (var resolver in new[] { 0, 1 }.Select(i => fixture.ServicesOf(i).GetRequiredService<FunctionResolver>())) resolver.Invalidate(name);

        var unqualified = await Accept(name, "1");
        var alias = await Accept(name + ":live", "1");
        var version = await Accept(name + ":1", "1"); // version 1 itself has no config: the silo's default, 2 retries

        Assert.Equal(1, (await Poll(unqualified)).Attempts); // MaximumRetryAttempts 0: exactly once
        Assert.Equal(2, (await Poll(alias)).Attempts);
        Assert.Equal(3, (await Poll(version)).Attempts);

        // Deleting the config restores the default; out-of-range values are refused.
        await grain.DeleteEventInvokeConfig(null);
        foreach (var resolver in new[] { 0, 1 }.Select(i => fixture.ServicesOf(i).GetRequiredService<FunctionResolver>())) resolver.Invalidate(name);
        Assert.Equal(3, (await Poll(await Accept(name, "1"))).Attempts);
        await Assert.ThrowsAsync<FunctionValidationException>(() => grain.PutEventInvokeConfig(null, 3, null, false));
        await Assert.ThrowsAsync<FunctionValidationException>(() => grain.PutEventInvokeConfig(null, null, 59, false));
        await Assert.ThrowsAsync<FunctionValidationException>(() => grain.PutEventInvokeConfig(null, null, 21_601, false));
        await Assert.ThrowsAsync<FunctionNotFoundException>(() => grain.PutEventInvokeConfig("nope", 1, null, false));
        await Assert.ThrowsAsync<FunctionNotFoundException>(() => grain.PutEventInvokeConfig(null, 1, null, merge: true)); // nothing to update

        // The alias's config goes with the alias.
        await grain.DeleteAlias("live");
        Assert.Null((await grain.Get())!.EventInvokeConfigOf("live"));

        async Task<string> Accept(string function, string payload)
        {
            var id = "req-" + Guid.NewGuid().ToString("n");
            await fixture.Client.GetGrain<IInvocationRecordGrain>(id).Accept(function, payload);
            return id;
        }

    }

    [Fact]
    public async Task A_bound_chain_runs_in_the_sensors_warm_environment_and_a_null_result_filters()
    {
        var suffix = Guid.NewGuid().ToString("n")[..8];
        var enrich = "enrich-" + suffix;
        await Deploy(enrich, "Enrich", """
                using System.Text.Json;
                using Fleet.Functions;
                namespace Enrich;
                public sealed record Evt(string SensorId, long Timestamp, Dictionary<string, double> Metrics);
                public class H
                {
                    private int _seen; // warm: counts every reading this sensor's environment saw
                    public object Handle(Evt e, IFunctionContext c) => new { sensor = e.SensorId, t = e.Metrics["t"], seen = ++_seen, tmp = c.TempDirectory };
                }
                """);
        var filter = "hot-only-" + suffix;
        await Deploy(filter, "HotOnly", """
                namespace HotOnly;
                public sealed record In(string Sensor, double T, int Seen);
                public class H { public In? Handle(In e) => e.T > 30 ? e : null; }
                """);

        var sensor = "bound-" + suffix;
        var table = await fixture.Client.GetGrain<IFunctionBindingsGrain>(0).Put(new FunctionBinding
        {
            Name = "b-" + suffix, TopicFilter = $"sensors/{sensor}/telemetry", Functions = [enrich, filter],
        });
        for (var silo = 0; silo < 2; silo++) fixture.ServicesOf(silo).GetRequiredService<BindingCache>().Apply(table);

        var grain = fixture.Client.GetGrain<ISensorGrain>(sensor);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var values = new[] { 20.0, 35.0, 25.0, 40.0 };
        await grain.Ingest(values.Select((v, i) => new Reading(now + i * 1000, i + 1, [new MetricValue("t", v)], 0)).ToArray());

        var snapshot = await grain.GetSnapshot();
        var binding = Assert.Single(snapshot.Functions!.Bindings);
        Assert.Equal(4, binding.Runs);
        Assert.Equal(2, binding.Completed);
        Assert.Equal(2, binding.Filtered);
        Assert.Equal(0, binding.Errors);
        using var last = JsonDocument.Parse(binding.LastResult!);
        Assert.Equal(40, last.RootElement.GetProperty("t").GetDouble());
        Assert.Equal(4, last.RootElement.GetProperty("seen").GetInt32()); // one warm instance saw every reading

        var environments = snapshot.Functions.Environments;
        Assert.Equal(2, environments.Length);
        var enrichEnv = environments.Single(e => e.Function == enrich);
        Assert.Equal(1, enrichEnv.ColdStarts);
        Assert.Equal(4, enrichEnv.Invocations);
        Assert.True(enrichEnv.Warm);

        // Deleting the binding reclaims the sensor's environments (and their scratch folders) at its next reading.
        var emptied = await fixture.Client.GetGrain<IFunctionBindingsGrain>(0).Delete("b-" + suffix);
        for (var silo = 0; silo < 2; silo++) fixture.ServicesOf(silo).GetRequiredService<BindingCache>().Apply(emptied);
        await grain.Ingest([new Reading(now + 10_000, 10, [new MetricValue("t", 33)], 0)]);
        var unbound = await grain.GetSnapshot();
        Assert.Empty(unbound.Functions!.Environments);
        Assert.Empty(unbound.Functions.Bindings);

        // Another sensor's environment is its own: cold, counting from one.
        var other = "unbound-" + suffix;
        await fixture.Client.GetGrain<ISensorGrain>(other).Ingest([new Reading(now, 1, [new MetricValue("t", 50)], 0)]);
        Assert.Null((await fixture.Client.GetGrain<ISensorGrain>(other).GetSnapshot()).Functions);
    }
}
