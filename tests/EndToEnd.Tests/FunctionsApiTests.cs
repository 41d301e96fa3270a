using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Fleet.Functions.Tests;

namespace Fleet.EndToEnd.Tests;

/// <summary>
/// Direct invocation over HTTP against a real silo: every typed error (Timeout, MemoryLimitExceeded in
/// JavaScript and in an isolated worker, Unhandled, Throttled, NotFound), bad deploys refused while the
/// previous code serves, and the silo alive afterwards.
/// </summary>
public sealed class FunctionsApiTests
{
    private static string DotNet(string assembly, string body)
        => Convert.ToBase64String(FunctionPackages.Zip(($"{assembly}.dll", FunctionPackages.Compile(assembly, $"namespace {assembly}; public class H {{ {body} }}"))));

    private static object Function(string assembly, string method, string body, int timeout = 3, int memory = 128, string isolation = "in-process", int? reserved = null)
        => new { runtime = "dotnet", handler = $"{assembly}::{assembly}.H::{method}", timeout, memorySize = memory, isolation, reservedConcurrency = reserved, zipFile = DotNet(assembly, body) };

    private static async Task<(HttpResponseMessage Response, JsonNode? Body)> Invoke(SiloProcess silo, string function, string payload = "{}", string? type = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/functions/{function}/invocations") { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        if (type is not null) request.Headers.Add("X-Invocation-Type", type);
        request.Headers.Add("X-Log-Type", "Tail");
        var response = await silo.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private static string? Header(HttpResponseMessage response, string name)
        => response.Headers.TryGetValues(name, out var values) ? values.Single() : null;

    [Fact]
    public async Task Every_invocation_error_is_typed_and_the_silo_lives_on()
    {
        await using var silo = new SiloProcess();
        await silo.StartAsync();

        // Success, with the executed version, the request id and the log tail.
        (await silo.PutJsonAsync("/functions/double", Function("Twice", "Handle", "public int Handle(int x, Fleet.Functions.IFunctionContext c) { c.Logger.Info(\"doubling\"); return x * 2; }"))).EnsureSuccessStatusCode();
        var (ok, okBody) = await Invoke(silo, "double", "21");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(42, (int)okBody!);
        Assert.Equal("$LATEST", Header(ok, "X-Executed-Version"));
        Assert.False(string.IsNullOrEmpty(Header(ok, "X-Request-Id")));
        Assert.Contains("doubling", Encoding.UTF8.GetString(Convert.FromBase64String(Header(ok, "X-Log-Result")!)));

        // Timeout: a handler that ignores cancellation is abandoned after the function's timeout.
        (await silo.PutJsonAsync("/functions/sleepy", Function("Sleepy", "Handle", "public int Handle(int x) { System.Threading.Thread.Sleep(30_000); return x; }", timeout: 1))).EnsureSuccessStatusCode();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var (timedOut, timeoutBody) = await Invoke(silo, "sleepy", "1");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
        Assert.Equal(HttpStatusCode.OK, timedOut.StatusCode); // Lambda: a function error is a 200 with X-Function-Error
        Assert.Equal("Unhandled", Header(timedOut, "X-Function-Error")); // Lambda's header value for any function error
        Assert.Equal("Timeout", (string)timeoutBody!["errorKind"]!);
        Assert.Contains("timed out after 1.00 seconds", (string)timeoutBody["errorMessage"]!);

        // Unhandled: the exception's type and message.
        (await silo.PutJsonAsync("/functions/thrower", Function("Thrower", "Handle", "public int Handle(int x) => throw new System.InvalidOperationException(\"sensor offline\");"))).EnsureSuccessStatusCode();
        var (threw, threwBody) = await Invoke(silo, "thrower", "1");
        Assert.Equal("Unhandled", Header(threw, "X-Function-Error"));
        Assert.Equal("Unhandled", (string)threwBody!["errorKind"]!);
        Assert.Equal("InvalidOperationException", (string)threwBody["errorType"]!); // as Lambda's .NET runtime: the short name
        Assert.Equal("sensor offline", (string)threwBody["errorMessage"]!);
        Assert.Contains(threwBody["stackTrace"]!.AsArray(), frame => ((string)frame!).Contains(".Handle(", StringComparison.Ordinal)); // as Lambda's error document
        Assert.Equal("Unhandled", Header(threw, "X-Amz-Function-Error")); // Lambda's own header names too

        // A client written against Lambda's Invoke: X-Amz-Invocation-Type and X-Amz-Log-Type, read back in X-Amz-* headers.
        using (var lambdaStyle = new HttpRequestMessage(HttpMethod.Post, "/functions/double/invocations") { Content = new StringContent("4", Encoding.UTF8, "application/json") })
        {
            lambdaStyle.Headers.Add("X-Amz-Invocation-Type", "RequestResponse");
            lambdaStyle.Headers.Add("X-Amz-Log-Type", "Tail");
            using var amz = await silo.Http.SendAsync(lambdaStyle);
            Assert.Equal("8", await amz.Content.ReadAsStringAsync());
            Assert.Equal("$LATEST", Header(amz, "X-Amz-Executed-Version"));
            Assert.Contains("doubling", Encoding.UTF8.GetString(Convert.FromBase64String(Header(amz, "X-Amz-Log-Result")!)));
            Assert.Equal(Header(amz, "X-Request-Id"), Header(amz, "x-amzn-RequestId"));
        }

        using (var dryRun = new HttpRequestMessage(HttpMethod.Post, "/functions/double/invocations"))
        {
            dryRun.Headers.Add("X-Amz-Invocation-Type", "DryRun");
            Assert.Equal(HttpStatusCode.NoContent, (await silo.Http.SendAsync(dryRun)).StatusCode);
        }

        // MemoryLimitExceeded in an isolated worker: the worker fails alone.
        (await silo.PutJsonAsync("/functions/hog", Function("Hog", "Handle",
            "private readonly System.Collections.Generic.List<byte[]> _held = new(); public int Handle(int mb) { for (var i = 0; i < mb; i++) { var b = new byte[1 << 20]; b[i % b.Length] = 1; _held.Add(b); } return _held.Count; }",
            timeout: 30, isolation: "process"))).EnsureSuccessStatusCode();
        var (small, smallBody) = await Invoke(silo, "hog", "10");
        Assert.Equal(10, (int)smallBody!);
        Assert.Null(Header(small, "X-Function-Error"));
        var (hog, hogBody) = await Invoke(silo, "hog", "400");
        Assert.Equal("Unhandled", Header(hog, "X-Function-Error"));
        Assert.Equal("MemoryLimitExceeded", (string)hogBody!["errorKind"]!);
        Assert.Contains("128", (string)hogBody["errorMessage"]!);

        // MemoryLimitExceeded in JavaScript.
        var js = Convert.ToBase64String(FunctionPackages.Zip(("index.js", FunctionPackages.Text(
            "exports.handler = async (event) => { const keep = []; for (let i = 0; i < 1e7; i++) keep.push('x'.repeat(1024) + i); return keep.length; };"))));
        (await silo.PutJsonAsync("/functions/js-hog", new { runtime = "javascript", handler = "index.handler", memorySize = 128, timeout = 30, zipFile = js })).EnsureSuccessStatusCode();
        var (jsHog, jsHogBody) = await Invoke(silo, "js-hog");
        Assert.Equal("Unhandled", Header(jsHog, "X-Function-Error"));
        Assert.Equal("MemoryLimitExceeded", (string)jsHogBody!["errorKind"]!);

        // Throttled: no concurrency reserved.
        (await silo.PutJsonAsync("/functions/closed", Function("Closed", "Handle", "public int Handle(int x) => x;", reserved: 0))).EnsureSuccessStatusCode();
        var (throttled, throttledBody) = await Invoke(silo, "closed", "1");
        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.Equal("Throttled", (string)throttledBody!["errorKind"]!);
        Assert.Equal("TooManyRequestsException", (string)throttledBody["errorType"]!); // Lambda's type, with its reason
        Assert.Equal("ReservedFunctionConcurrentInvocationLimitExceeded", (string)throttledBody["reason"]!);

        // NotFound: no function, no alias.
        Assert.Equal(HttpStatusCode.NotFound, (await Invoke(silo, "no-such-function")).Response.StatusCode);
        var (noAlias, noAliasBody) = await Invoke(silo, "double:prod", "1");
        Assert.Equal(HttpStatusCode.NotFound, noAlias.StatusCode);
        Assert.Equal("NotFound", (string)noAliasBody!["errorKind"]!);

        // An asynchronous event over Lambda's 1 MB is refused with 413.
        var big = "\"" + new string('x', 1_100_000) + "\"";
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await Invoke(silo, "double", big, type: "Event")).Response.StatusCode);

        // The silo lives on: healthy, and the first function still answers.
        Assert.Equal(HttpStatusCode.OK, (await silo.Http.GetAsync("/health")).StatusCode);
        Assert.Equal(8, (int)(await Invoke(silo, "double", "4")).Body!);

        // This silo's counters per function.
        var stats = await silo.GetJsonAsync("/functions/sleepy");
        Assert.Equal(1, (int)stats["stats"]!["errorsByKind"]!["Timeout"]!);
    }

    [Fact]
    public async Task Bad_deploys_are_refused_with_a_clear_error_while_the_previous_code_serves()
    {
        await using var silo = new SiloProcess();
        await silo.StartAsync();
        (await silo.PutJsonAsync("/functions/steady", Function("Steady", "Handle", "public string Handle(int x) => \"v1\";"))).EnsureSuccessStatusCode();

        async Task<JsonNode> Refused(HttpResponseMessage response)
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        }

        var notZip = await Refused(await silo.Http.PutAsync("/functions/steady/code", new ByteArrayContent(Encoding.UTF8.GetBytes("not a zip at all"))));
        Assert.Contains("not a zip", (string)notZip["detail"]!);

        var noHandler = await Refused(await silo.PutJsonAsync("/functions/steady", Function("Steady", "Missing", "public string Handle(int x) => \"v2\";")));
        Assert.Equal("Runtime.HandlerNotFound", (string)noHandler["error"]!);

        var signature = await Refused(await silo.PutJsonAsync("/functions/steady", Function("Steady", "Handle", "public string Handle(int x, int y, int z) => \"v2\";")));
        Assert.Equal("Runtime.InvalidSignature", (string)signature["error"]!);

        var ctor = await Refused(await silo.PutJsonAsync("/functions/steady", Function("Steady", "Handle", "public H() => throw new System.IO.FileNotFoundException(\"settings.json\"); public string Handle(int x) => \"v2\";")));
        Assert.Contains("FileNotFoundException", (string)ctor["error"]! + (string)ctor["detail"]!);

        var invalid = await Refused(await silo.PutJsonAsync("/functions/steady", new { runtime = "dotnet", handler = "x", timeout = 0, memorySize = 64 }));
        Assert.Contains("timeout must be between 1 and 900", (string)invalid["detail"]!);
        Assert.Contains("memorySize must be between 128", (string)invalid["detail"]!);

        var (still, body) = await Invoke(silo, "steady", "1");
        Assert.Equal(HttpStatusCode.OK, still.StatusCode);
        Assert.Equal("v1", (string)body!);

        // An asynchronous invocation: 202 with an id, the outcome fetched later.
        var (accepted, acceptedBody) = await Invoke(silo, "steady", "1", type: "Event");
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var id = (string)acceptedBody!["requestId"]!;
        var record = await silo.WaitForAsync($"/invocations/{id}", r => (string?)r["status"] == "Succeeded");
        Assert.Equal("\"v1\"", (string)record["result"]!["payloadJson"]!);
    }

    [Fact]
    public async Task Functions_versions_aliases_layers_and_bindings_survive_a_restart()
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "fleet-e2e-fn-restart-" + Guid.NewGuid().ToString("N"));
        var shared = FunctionPackages.Compile("Shared", "namespace Shared; public static class Greeting { public static string Of(string s) => \"hello \" + s; }");
        var app = FunctionPackages.Compile("Greeter", "namespace Greeter; public class H { public string Handle(string name) => Shared.Greeting.Of(name); }", shared);
        await using (var silo = new SiloProcess(dataDirectory: dataDirectory))
        {
            await silo.StartAsync();
            (await silo.Http.PostAsync("/layers/shared/versions?compatibleRuntimes=dotnet", new ByteArrayContent(FunctionPackages.Zip(("dotnet/Shared.dll", shared))))).EnsureSuccessStatusCode();
            (await silo.PutJsonAsync("/functions/greeter", new
            {
                runtime = "dotnet", handler = "Greeter::Greeter.H::Handle", layers = new[] { "shared:1" },
                zipFile = Convert.ToBase64String(FunctionPackages.Zip(("Greeter.dll", app))),
            })).EnsureSuccessStatusCode();
            (await silo.Http.PostAsJsonAsync("/functions/greeter/versions", new { description = "first" })).EnsureSuccessStatusCode();
            (await silo.PutJsonAsync("/functions/greeter/aliases/live", new { functionVersion = "1" })).EnsureSuccessStatusCode();
            (await silo.PutJsonAsync("/bindings/greet-all", new { topicFilter = "sensors/+/telemetry", functions = new[] { "greeter:live" } })).EnsureSuccessStatusCode();
            (await silo.PutJsonAsync("/functions/greeter/event-invoke-config?Qualifier=live", new { MaximumRetryAttempts = 0, MaximumEventAgeInSeconds = 300 })).EnsureSuccessStatusCode();
            (await silo.PutJsonAsync("/functions/greeter/concurrency", new { ReservedConcurrentExecutions = 7 })).EnsureSuccessStatusCode();
            Assert.Equal("hello ada", (string)(await Invoke(silo, "greeter:live", "\"ada\"")).Body!);
            await silo.StopAsync();
        }

        // The unpacked code is only a cache: without it the zips come back from the durable store.
        Directory.Delete(Path.Combine(dataDirectory, "functions", "code"), recursive: true);
        await using (var silo = new SiloProcess(dataDirectory: dataDirectory))
        {
            await silo.StartAsync();
            var (response, body) = await Invoke(silo, "greeter:live", "\"bob\"");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("hello bob", (string)body!);
            Assert.Equal("1", Header(response, "X-Executed-Version"));
            var function = await silo.GetJsonAsync("/functions/greeter");
            Assert.Equal(["$LATEST", "1"], function["versions"]!.AsArray().Select(v => (string)v!["version"]!));
            Assert.Equal("live", (string)function["aliases"]![0]!["name"]!);
            var bindings = (await silo.GetJsonAsync("/bindings")).AsArray();
            Assert.Contains(bindings, b => (string)b!["name"]! == "greet-all");
            var eventConfig = await silo.GetJsonAsync("/functions/greeter/event-invoke-config?Qualifier=live");
            Assert.Equal((0, 300), ((int)eventConfig["MaximumRetryAttempts"]!, (int)eventConfig["MaximumEventAgeInSeconds"]!));
            Assert.Equal(7, (int)(await silo.GetJsonAsync("/functions/greeter/concurrency"))["ReservedConcurrentExecutions"]!);
        }

        Directory.Delete(dataDirectory, recursive: true);
    }

    [Fact]
    public async Task An_accepted_asynchronous_event_survives_a_silo_crash()
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "fleet-e2e-fn-crash-" + Guid.NewGuid().ToString("N"));
        var marker = Path.Combine(dataDirectory, "ran.txt");
        var settings = new Dictionary<string, string> { ["Functions__Async__ResumePeriod"] = "00:00:03" };
        string requestId;
        await using (var silo = new SiloProcess(settings, dataDirectory))
        {
            await silo.StartAsync();
            (await silo.PutJsonAsync("/functions/slow-writer", Function("SlowWriter", "Handle",
                "public string Handle(string path) { System.Threading.Thread.Sleep(4000); System.IO.File.WriteAllText(path, \"done\"); return \"written\"; }",
                timeout: 10))).EnsureSuccessStatusCode();
            var (accepted, body) = await Invoke(silo, "slow-writer", System.Text.Json.JsonSerializer.Serialize(marker), type: "Event");
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
            requestId = (string)body!["requestId"]!;
            await silo.KillAsync(); // before the handler's 4 s are up
        }

        Assert.False(File.Exists(marker));
        await using (var silo = new SiloProcess(settings, dataDirectory))
        {
            await silo.StartAsync();
            // Nobody asks for the event: its durable reminder wakes it.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (!File.Exists(marker) && DateTime.UtcNow < deadline) await Task.Delay(250);
            Assert.True(File.Exists(marker), "the event did not run after the restart");
            var record = await silo.WaitForAsync($"/invocations/{requestId}", r => (string?)r["status"] == "Succeeded");
            Assert.Equal("\"written\"", (string)record["result"]!["payloadJson"]!);
        }

        Directory.Delete(dataDirectory, recursive: true);
    }

    /// <summary>
    /// Destinations with the silo's real storage: the settings survive a restart, and an event accepted before a crash
    /// runs after it and still sends Lambda's invocation record to its OnSuccess function.
    /// </summary>
    [Fact]
    public async Task An_event_accepted_before_a_crash_sends_its_record_to_the_OnSuccess_function_after_the_restart()
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "fleet-e2e-fn-dest-" + Guid.NewGuid().ToString("N"));
        var settings = new Dictionary<string, string> { ["Functions__Async__ResumePeriod"] = "00:00:03" };
        const string destination = "arn:aws:lambda:us-east-1:123456789012:function:record-keeper";
        string requestId;
        await using (var silo = new SiloProcess(settings, dataDirectory))
        {
            await silo.StartAsync();
            (await silo.PutJsonAsync("/functions/slow-ok", Function("SlowOk", "Handle",
                "public string Handle(string s) { System.Threading.Thread.Sleep(4000); return \"slept \" + s; }", timeout: 10))).EnsureSuccessStatusCode();
            (await silo.PutJsonAsync("/functions/record-keeper", new
            {
                runtime = "javascript", handler = "index.handler",
                zipFile = Convert.ToBase64String(FunctionPackages.Zip(("index.js", Encoding.UTF8.GetBytes("exports.handler = async (event) => event;")))),
            })).EnsureSuccessStatusCode();
            (await silo.PutJsonAsync("/functions/slow-ok/event-invoke-config", new { DestinationConfig = new { OnSuccess = new { Destination = destination } } })).EnsureSuccessStatusCode();
            var (accepted, body) = await Invoke(silo, "slow-ok", "\"ada\"", type: "Event");
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
            requestId = (string)body!["requestId"]!;
            await silo.KillAsync(); // before the handler's 4 s are up
        }

        await using (var silo = new SiloProcess(settings, dataDirectory))
        {
            await silo.StartAsync();
            var config = await silo.GetJsonAsync("/functions/slow-ok/event-invoke-config");
            Assert.Equal(destination, (string)config["DestinationConfig"]!["OnSuccess"]!["Destination"]!);
            // Nobody asks for the event: its durable reminder wakes it, and it sends its record when it has run.
            var source = await silo.WaitForAsync($"/invocations/{requestId}", r => (string?)r["status"] == "Succeeded" && r["destinationRequestId"] is not null, TimeSpan.FromSeconds(60));
            var delivered = await silo.WaitForAsync($"/invocations/{(string)source["destinationRequestId"]!}", r => (string?)r["status"] == "Succeeded");
            Assert.Equal("record-keeper", (string)delivered["function"]!);
            var record = JsonNode.Parse((string)delivered["result"]!["payloadJson"]!)!;
            Assert.Equal("Success", (string)record["requestContext"]!["condition"]!);
            Assert.Equal(requestId, (string)record["requestContext"]!["requestId"]!);
            Assert.Equal("ada", (string)record["requestPayload"]!);
            Assert.Equal("slept ada", (string)record["responsePayload"]!);
        }

        Directory.Delete(dataDirectory, recursive: true);
    }

    /// <summary>Reserved concurrency 0 is Lambda's way to turn a function off: invocations bound to sensors are throttled too.</summary>
    [Fact]
    public async Task A_function_with_zero_reserved_concurrency_is_throttled_when_bound_to_a_sensor()
    {
        await using var silo = new SiloProcess();
        await silo.StartAsync();
        (await silo.PutJsonAsync("/functions/off", Function("Off", "Handle", "public string Handle(string e) => \"ran\";", reserved: 0))).EnsureSuccessStatusCode();
        (await silo.PutJsonAsync("/bindings/off-all", new { topicFilter = "sensors/+/telemetry", functions = new[] { "off" } })).EnsureSuccessStatusCode();
        await Task.Delay(1500); // the silo's binding table refreshes at most once a second
        using (var posted = await silo.Http.PostAsync("/sensors/off-1/readings", new StringContent(Devices.Reading(1, 20))))
        {
            Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
        }

        var sensor = await silo.WaitForAsync("/sensors/off-1", s => s["functions"]?["bindings"]?.AsArray().FirstOrDefault() is { } b
            && (long)b["completed"]! + (long)b["filtered"]! + (long)b["errors"]! == 1); // the run has ended
        var status = sensor["functions"]!["bindings"]!.AsArray().Single()!;
        Assert.True((long)status["errors"]! == 1 && (long)status["completed"]! == 0, status.ToJsonString());
        Assert.Equal("ReservedFunctionConcurrentInvocationLimitExceeded", (string)status["lastError"]!["type"]!);
        Assert.Empty(sensor["functions"]!["environments"]!.AsArray()); // never started
    }

    /// <summary>
    /// A limit above 0 applies to sensor-bound invocations too, counted with the function's every other invocation: with
    /// reserved concurrency 1 and a slow bound function, of three sensors' readings arriving at once one runs, two are throttled;
    /// a direct invocation meanwhile is throttled too.
    /// </summary>
    [Fact]
    public async Task Reserved_concurrency_above_zero_throttles_sensor_bound_invocations_beyond_it()
    {
        await using var silo = new SiloProcess();
        await silo.StartAsync();
        (await silo.PutJsonAsync("/functions/one-at-a-time", Function("OneAtATime", "Handle", "public string Handle(System.Text.Json.JsonElement e) { System.Threading.Thread.Sleep(8000); return \"ran\"; }", timeout: 15))).EnsureSuccessStatusCode();
        (await silo.PutJsonAsync("/functions/one-at-a-time/concurrency", new { ReservedConcurrentExecutions = 1 })).EnsureSuccessStatusCode();
        (await silo.PutJsonAsync("/bindings/one-at-a-time", new { topicFilter = "sensors/+/telemetry", functions = new[] { "one-at-a-time" } })).EnsureSuccessStatusCode();
        await Task.Delay(1500); // the silo's binding table refreshes at most once a second

        var sensors = new[] { "limit-1", "limit-2", "limit-3" };
        var posts = await Task.WhenAll(sensors.Select(s => silo.Http.PostAsync($"/sensors/{s}/readings", new StringContent(Devices.Reading(1, 20)))));
        Assert.All(posts, p => Assert.Equal(HttpStatusCode.Accepted, p.StatusCode));
        await Task.Delay(2000); // a bound invocation has taken the permit (it then runs for 8 s)
        var (direct, directBody) = await Invoke(silo, "one-at-a-time", "{}"); // while the bound one runs
        Assert.Equal(HttpStatusCode.TooManyRequests, direct.StatusCode);
        Assert.Equal("ReservedFunctionConcurrentInvocationLimitExceeded", (string)directBody!["reason"]!);

        var statuses = new List<JsonNode>();
        foreach (var sensor in sensors)
        {
            var state = await silo.WaitForAsync($"/sensors/{sensor}", s => s["functions"]?["bindings"]?.AsArray().FirstOrDefault() is { } b
                && (long)b["completed"]! + (long)b["filtered"]! + (long)b["errors"]! == 1, TimeSpan.FromSeconds(30));
            statuses.Add(state["functions"]!["bindings"]!.AsArray().Single()!);
        }

        Assert.Equal(1, statuses.Sum(s => (long)s["completed"]!));
        Assert.Equal(2, statuses.Sum(s => (long)s["errors"]!));
        Assert.All(statuses.Where(s => (long)s["errors"]! > 0), s => Assert.Equal("ReservedFunctionConcurrentInvocationLimitExceeded", (string)s["lastError"]!["type"]!));
    }

    /// <summary>
    /// Lambda retries an erroring asynchronous event at most twice. The count of function errors was kept only in
    /// memory: a silo failure between retries reset it, and the event ran up to three more times.
    /// </summary>
    [Fact]
    public async Task A_silo_crash_between_retries_does_not_reset_the_retry_limit()
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "fleet-e2e-fn-retry-" + Guid.NewGuid().ToString("N"));
        var runs = Path.Combine(dataDirectory, "runs.txt");
        var settings = new Dictionary<string, string>
        {
            ["Functions__Async__ResumePeriod"] = "00:00:02",
            ["Functions__Async__RetryDelay"] = "00:00:04",
        };
        string requestId;
        await using (var silo = new SiloProcess(settings, dataDirectory))
        {
            await silo.StartAsync();
            (await silo.PutJsonAsync("/functions/always-fails", Function("AlwaysFails", "Handle",
                "public string Handle(string path) { System.IO.File.AppendAllText(path, \"run\\n\"); throw new System.InvalidOperationException(\"no\"); }"))).EnsureSuccessStatusCode();
            var (accepted, body) = await Invoke(silo, "always-fails", System.Text.Json.JsonSerializer.Serialize(runs), type: "Event");
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
            requestId = (string)body!["requestId"]!;
            await silo.WaitForAsync($"/invocations/{requestId}", r => (long?)r["functionErrors"] == 1); // the first run failed and was stored
            await silo.KillAsync(); // during the 4 s before the first retry
        }

        await using (var silo = new SiloProcess(settings, dataDirectory))
        {
            await silo.StartAsync();
            var record = await silo.WaitForAsync($"/invocations/{requestId}", r => (string?)r["status"] == "Failed", TimeSpan.FromSeconds(60));
            Assert.Equal(3, (long)record["attempts"]!);
            Assert.Equal(3, File.ReadAllLines(runs).Length); // the first run and two retries, not three more after the restart
        }

        Directory.Delete(dataDirectory, recursive: true);
    }

    [Fact]
    public async Task A_finished_asynchronous_outcome_is_deleted_from_storage_after_its_retention()
    {
        var settings = new Dictionary<string, string>
        {
            ["Functions__Async__ResumePeriod"] = "00:00:02",
            ["Functions__Async__OutcomeRetention"] = "00:00:04",
        };
        await using var silo = new SiloProcess(settings);
        await silo.StartAsync();
        (await silo.PutJsonAsync("/functions/short-lived", Function("ShortLived", "Handle", "public string Handle(int x) => \"ok\";"))).EnsureSuccessStatusCode();
        var (accepted, body) = await Invoke(silo, "short-lived", "1", type: "Event");
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var id = (string)body!["requestId"]!;
        var record = await silo.WaitForAsync($"/invocations/{id}", r => (string?)r["status"] == "Succeeded");
        Assert.Equal("\"ok\"", (string)record["result"]!["payloadJson"]!);
        Assert.Equal(1, StoredRecords(silo, id));

        // Nobody reads it again: the reminder deletes the stored record once the retention has passed.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(45);
        while (StoredRecords(silo, id) > 0 && DateTime.UtcNow < deadline) await Task.Delay(500);
        Assert.Equal(0, StoredRecords(silo, id));
        using var gone = await silo.Http.GetAsync($"/invocations/{id}");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    /// <summary>Rows of the silo's SQLite grain storage that belong to the invocation record <paramref name="requestId"/>.</summary>
    private static long StoredRecords(SiloProcess silo, string requestId)
    {
        using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(silo.DataDirectory, "fleet.db")};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var count = db.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM grain_state WHERE grain_id LIKE $id";
        count.Parameters.AddWithValue("$id", "%" + requestId + "%");
        return (long)count.ExecuteScalar()!;
    }
}
