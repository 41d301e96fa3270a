using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fleet.EndToEnd.Tests;

/// <summary>
/// samples/README.md's walkthrough against a real silo process: each sample is packaged with its one
/// command, then deployed, invoked, versioned, aliased, shifted, invoked asynchronously and bound to a
/// sensor over HTTP and MQTT, exactly as a user would.
/// </summary>
public sealed class FunctionSamplesTests
{
    private const string ComfortHandler = "Fleet.Samples.Comfort::Fleet.Samples.Comfort.ComfortIndex::HandleAsync";
    private static readonly TimeSpan PackagingTimeout = TimeSpan.FromMinutes(3);
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task The_dotnet_samples_package_deploy_with_their_layer_version_shift_run_async_and_bind_to_a_sensor()
    {
        await using var silo = new SiloProcess();
        var started = silo.StartAsync();

        // --- 1. one command per sample produces its zip --------------------------------------------------
        var layerZip = await PackageAsync("publish samples/dotnet/Units.Layer -c Release", "samples/dotnet/Units.Layer/bin/units-layer.zip");
        var comfortZip = await PackageAsync("publish samples/dotnet/Comfort -c Release", "samples/dotnet/Comfort/bin/comfort.zip");

        Assert.Equal(["dotnet/Fleet.Samples.Units.dll", "dotnet/Fleet.Samples.Units.pdb"], Entries(layerZip).Where(e => !e.EndsWith('/')).Order().ToArray());
        var comfortEntries = Entries(comfortZip);
        Assert.Contains("Fleet.Samples.Comfort.dll", comfortEntries);
        Assert.DoesNotContain(comfortEntries, e => e.Contains("Fleet.Samples.Units", StringComparison.Ordinal)); // comes from the layer
        Assert.DoesNotContain(comfortEntries, e => e.Contains("Fleet.Functions.Sdk", StringComparison.Ordinal)); // the platform's own copy

        await started;

        // --- 2. the layer ---------------------------------------------------------------------------------
        using (var published = await silo.Http.PostAsync("/layers/units/versions?description=unit%20conversions&compatibleRuntimes=dotnet", Zip(layerZip)))
        {
            var layer = await Json(published, HttpStatusCode.Created);
            Assert.Equal("units", (string)layer["name"]!);
            Assert.Equal(1, (int)layer["version"]!);
            Assert.Equal(["dotnet"], layer["compatibleRuntimes"]!.AsArray().Select(r => (string)r!));
            Assert.Equal(new FileInfo(layerZip).Length, (long)layer["codeSize"]!);
        }

        // Without the layer the package cannot serve (its handler needs Fleet.Samples.Units): refused at deploy.
        using (var refused = await silo.PutJsonAsync("/functions/comfort-without-layer", ComfortFunction(comfortZip, maxC: "25", layers: [])))
        {
            var error = await Json(refused, HttpStatusCode.BadRequest);
            Assert.Equal("Runtime.MissingDependency", (string)error["error"]!);
            Assert.Contains("Fleet.Samples.Units", (string)error["detail"]!);
        }

        using (var missing = await silo.Http.GetAsync("/functions/comfort-without-layer"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        // --- 3. the .NET function with the layer, invoked synchronously; warm reuse -------------------------
        using (var created = await silo.PutJsonAsync("/functions/comfort", ComfortFunction(comfortZip, maxC: "25", layers: ["units:1"])))
        {
            var function = await Json(created, HttpStatusCode.Created);
            Assert.Equal("dotnet", (string)function["runtime"]!);
            Assert.Equal(["units:1"], function["layers"]!.AsArray().Select(l => (string)l!));
            Assert.Equal("25", (string)function["environment"]!["COMFORT_MAX_C"]!);
            Assert.Equal(new FileInfo(comfortZip).Length, (long)function["codeSize"]!);
        }

        var hot = await InvokeAsync(silo, "comfort", Event("lab-1", 1, temperature: 30, humidity: 60, anomalies: 1), tail: true);
        var r1 = hot.Result!;
        Assert.Equal("lab-1", (string)r1["sensorId"]!);
        Assert.Equal(30, (double)r1["temperatureC"]!);
        Assert.Equal(86, (double)r1["temperatureF"]!);                                   // the layer's Celsius -> Fahrenheit
        Assert.Equal(Math.Round(DewPoint(30, 60), 2), (double)r1["dewPointC"]!);          // the layer's dew point
        Assert.Equal("Fleet.Samples.Units 1.0.0", (string)r1["units"]!);                  // loaded from the layer
        Assert.Equal(25, (double)r1["maxC"]!);                                            // COMFORT_MAX_C
        Assert.Equal("too-hot", (string)r1["level"]!);                                    // 30 > COMFORT_MAX_C
        Assert.Equal(1, (int)r1["anomalies"]!);
        Assert.Equal(1, (long)r1["invocation"]!);                                         // a cold start
        Assert.Equal("$LATEST", (string)r1["functionVersion"]!);
        Assert.Equal("$LATEST", hot.ExecutedVersion);
        Assert.Contains($"{hot.RequestId}\tINFORMATION\tcomfort too-hot: 30 C, dew point {(double)r1["dewPointC"]!:0.##} C", hot.LogTail); // context.Logger, X-Log-Type: Tail

        var warm = await InvokeAsync(silo, "comfort", Event("lab-1", 2, temperature: 22, humidity: 40));
        var r2 = warm.Result!;
        Assert.Equal(2, (long)r2["invocation"]!);                                         // the same environment, warm
        Assert.Equal(30, (double)r2["maxSeenC"]!);                                        // its running max survived
        Assert.Equal("comfortable", (string)r2["level"]!);
        Assert.Equal(71.6, (double)r2["temperatureF"]!);
        Assert.NotEqual(hot.RequestId, warm.RequestId);

        var filtered = await InvokeAsync(silo, "comfort", new { sensorId = "lab-1", metrics = new Dictionary<string, double> { ["temperature"] = 21 } });
        Assert.Equal("null", filtered.Body);                                              // no humidity: a filter's null

        // --- 4. version 1, alias live -> 1, a new configuration, version 2, 50 % of live to 2 ---------------
        using (var v1 = await silo.Http.PostAsJsonAsync("/functions/comfort/versions", new { description = "max 25 C" }, Web))
        {
            var version = await Json(v1, HttpStatusCode.Created);
            Assert.Equal("1", (string)version["version"]!);
            Assert.Equal(ComfortHandler, (string)version["handler"]!);
        }

        using (var alias = await silo.PutJsonAsync("/functions/comfort/aliases/live", new { functionVersion = "1" }))
        {
            var live = await Json(alias, HttpStatusCode.OK);
            Assert.Equal("1", (string)live["functionVersion"]!);
        }

        var viaAlias = await InvokeAsync(silo, "comfort", Event("lab-1", 3, temperature: 27, humidity: 50), qualifier: "live");
        Assert.Equal("1", viaAlias.ExecutedVersion);
        Assert.Equal("1", (string)viaAlias.Result!["functionVersion"]!);
        Assert.Equal("too-hot", (string)viaAlias.Result["level"]!);                         // 27 > 25 in version 1

        using (var updated = await silo.PutJsonAsync("/functions/comfort", ComfortFunction(zip: null, maxC: "30", layers: ["units:1"])))
        {
            var function = await Json(updated, HttpStatusCode.OK);
            Assert.Equal("30", (string)function["environment"]!["COMFORT_MAX_C"]!);
            Assert.Equal(new FileInfo(comfortZip).Length, (long)function["codeSize"]!);   // no zipFile: the code stays
        }

        using (var v2 = await silo.Http.PostAsJsonAsync("/functions/comfort/versions", new { description = "max 30 C" }, Web))
        {
            Assert.Equal("2", (string)(await Json(v2, HttpStatusCode.Created))["version"]!);
        }

        using (var alias = await silo.PutJsonAsync("/functions/comfort/aliases/live",
                   new { functionVersion = "1", routingConfig = new { additionalVersionWeights = new Dictionary<string, double> { ["2"] = 0.5 } } }))
        {
            var live = await Json(alias, HttpStatusCode.OK);
            Assert.Equal(0.5, (double)live["additionalVersionWeights"]!["2"]!);
        }

        var executed = new Dictionary<string, int>();
        for (var i = 0; i < 40; i++)
        {
            var shifted = await InvokeAsync(silo, "comfort", Event("lab-1", 100 + i, temperature: 27, humidity: 50), qualifier: "live");
            var version = shifted.ExecutedVersion!;
            executed[version] = executed.GetValueOrDefault(version) + 1;
            Assert.Equal(version, (string)shifted.Result!["functionVersion"]!);
            // Each version runs with its own configuration: 25 C in version 1, 30 C in version 2.
            Assert.Equal(version == "1" ? 25 : 30, (double)shifted.Result["maxC"]!);
            Assert.Equal(version == "1" ? "too-hot" : "comfortable", (string)shifted.Result["level"]!);
        }

        Assert.Equal(["1", "2"], executed.Keys.Order().ToArray()); // P(only one version in 40 at 50 %) = 2^-39
        Assert.Equal(40, executed.Values.Sum());

        // --- 5. an asynchronous invocation ----------------------------------------------------------------
        string requestId;
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/functions/comfort/invocations?qualifier=2") { Content = JsonContent.Create(Event("lab-3", 1, 24, 55), options: Web) })
        {
            request.Headers.Add("X-Invocation-Type", "Event");
            using var accepted = await silo.Http.SendAsync(request);
            var body = await Json(accepted, HttpStatusCode.Accepted);
            requestId = (string)body["requestId"]!;
            Assert.Equal($"/invocations/{requestId}", accepted.Headers.Location?.OriginalString);
        }

        var record = await silo.WaitForAsync($"/invocations/{requestId}", r => r["completedUtc"] is not null);
        // The status by name, as the 202 answered it ("Queued") and as README shows it.
        Assert.True(record["status"]?.GetValueKind() == JsonValueKind.String && (string)record["status"]! == "Succeeded", $"status should be \"Succeeded\": {record.ToJsonString()}");
        Assert.True((bool)record["result"]!["succeeded"]!);
        Assert.Equal("comfort:2", (string)record["function"]!);
        Assert.Equal(1, (int)record["attempts"]!);
        Assert.Equal("2", (string)record["result"]!["executedVersion"]!);
        var asyncResult = JsonNode.Parse((string)record["result"]!["payloadJson"]!)!;
        Assert.Equal("lab-3", (string)asyncResult["sensorId"]!);
        Assert.Equal("comfortable", (string)asyncResult["level"]!);
        Assert.Equal(30, (double)asyncResult["maxC"]!);

        // --- 6. a binding: the function runs in the sensor's own environment on every reading ---------------
        using (var bound = await silo.PutJsonAsync("/bindings/room-7-comfort", new { topicFilter = "sensors/room-7/telemetry", functions = new[] { "comfort" } }))
        {
            var binding = await Json(bound, HttpStatusCode.OK);
            Assert.Equal("sensors/room-7/telemetry", (string)binding["topicFilter"]!);
        }

        using (var device = await Devices.ConnectAsync(silo.MqttPort))
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            string[] readings =
            [
                $"{{\"ts\":{now},\"seq\":1,\"metrics\":{{\"temperature\":23.5,\"humidity\":45}}}}",
                $"{{\"ts\":{now + 1},\"seq\":2,\"metrics\":{{\"temperature\":24}}}}", // no humidity: filtered
                $"{{\"ts\":{now + 2},\"seq\":3,\"metrics\":{{\"temperature\":31.5,\"humidity\":50}}}}",
                $"{{\"ts\":{now + 3},\"seq\":4,\"metrics\":{{\"temperature\":26,\"humidity\":55}}}}",
            ];
            foreach (var reading in readings)
            {
                var ack = await device.PublishAsync("sensors/room-7/telemetry", reading);
                Assert.True(ack.IsSuccess, $"{ack.ReasonCode} {ack.ReasonString}");
            }

            var elsewhere = await device.PublishAsync("sensors/room-8/telemetry", $"{{\"ts\":{now},\"seq\":1,\"metrics\":{{\"temperature\":23,\"humidity\":45}}}}");
            Assert.True(elsewhere.IsSuccess);
        }

        var sensor = await silo.WaitForAsync("/sensors/room-7", s => s["functions"]?["bindings"]?.AsArray().FirstOrDefault()?["runs"] is { } runs && (long)runs == 4);
        var status = sensor["functions"]!["bindings"]!.AsArray().Single()!;
        Assert.Equal("room-7-comfort", (string)status["binding"]!);
        Assert.Equal(["comfort"], status["functions"]!.AsArray().Select(f => (string)f!));
        Assert.Equal(3, (long)status["completed"]!);
        Assert.Equal(1, (long)status["filtered"]!);
        Assert.Equal(0, (long)status["errors"]!);
        Assert.Null(status["lastError"]);
        var last = JsonNode.Parse((string)status["lastResult"]!)!;
        Assert.Equal("room-7", (string)last["sensorId"]!);
        Assert.Equal(4, (long)last["seq"]!);
        Assert.Equal(78.8, (double)last["temperatureF"]!);
        Assert.Equal(Math.Round(DewPoint(26, 55), 2), (double)last["dewPointC"]!);
        Assert.Equal(30, (double)last["maxC"]!);                                          // $LATEST's configuration
        Assert.Equal("$LATEST", (string)last["functionVersion"]!);
        Assert.Equal(4, (long)last["invocation"]!);                                       // one warm environment for all four readings
        Assert.Equal(31.5, (double)last["maxSeenC"]!);                                    // its running max over the sensor's readings
        var environment = sensor["functions"]!["environments"]!.AsArray().Single()!;
        Assert.Equal("comfort", (string)environment["function"]!);
        Assert.Equal("$LATEST", (string)environment["version"]!);
        Assert.True((bool)environment["warm"]!);
        Assert.Equal(4, (long)environment["invocations"]!);
        Assert.Equal(1, (long)environment["coldStarts"]!);
        Assert.Equal(4, (long)sensor["counts"]!["accepted"]!);

        var other = await silo.WaitForAsync("/sensors/room-8", s => (long)s["counts"]!["accepted"]! == 1);
        Assert.Null(other["functions"]);                                                  // the filter names room-7 only
    }

    [Fact]
    public async Task The_javascript_sample_packages_deploys_and_runs_with_its_helper_module_environment_and_context()
    {
        await using var silo = new SiloProcess();
        var started = silo.StartAsync();
        var thresholdZip = await PackageAsync("build samples/javascript/threshold/threshold.proj", "samples/javascript/threshold/bin/threshold.zip");
        Assert.Equal(["index.js", "lib/format.js"], Entries(thresholdZip).Where(e => !e.EndsWith('/')).Order().ToArray());
        await started;

        using (var created = await silo.PutJsonAsync("/functions/threshold", new
               {
                   runtime = "javascript",
                   handler = "index.handler",
                   environment = new Dictionary<string, string> { ["THRESHOLD"] = "28" },
                   zipFile = Convert.ToBase64String(await File.ReadAllBytesAsync(thresholdZip)),
               }))
        {
            var function = await Json(created, HttpStatusCode.Created);
            Assert.Equal("javascript", (string)function["runtime"]!);
        }

        var js = await InvokeAsync(silo, "threshold", Event("lab-2", 1, temperature: 30.456, humidity: 50), tail: true);
        var jr = js.Result!;
        Assert.Equal("threshold", (string)jr["functionName"]!);                            // context.functionName
        Assert.Equal(js.RequestId, (string)jr["requestId"]!);                              // context.awsRequestId
        Assert.True((bool)jr["alert"]!);                                                   // 30.456 > THRESHOLD
        Assert.Equal(28, (double)jr["threshold"]!);
        Assert.Equal(30.46, (double)jr["value"]!);                                         // lib/format's round
        Assert.Equal("lab-2: temperature 30.46 is above the threshold 28", (string)jr["message"]!);
        Assert.Equal(1, (int)jr["invocations"]!);
        Assert.Contains("lab-2: temperature 30.46 is above the threshold 28", js.LogTail); // console.log

        var jsWarm = await InvokeAsync(silo, "threshold", Event("lab-2", 2, temperature: 20, humidity: 50));
        Assert.False((bool)jsWarm.Result!["alert"]!);
        Assert.Equal(2, (int)jsWarm.Result["invocations"]!);                               // module scope kept warm
    }

    /// <summary>Runs a sample's packaging command from the repository root, as the README shows it, and returns the zip.</summary>
    private static async Task<string> PackageAsync(string arguments, string zip)
    {
        var start = new ProcessStartInfo("dotnet", arguments)
        {
            WorkingDirectory = SiloProcess.RepoRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // No build servers left behind holding this process's pipes (MSBuild reads properties from the environment).
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment["UseSharedCompilation"] = "false";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        // The test host may run under an MSBuild-launched process; let the child dotnet find its own SDK.
        foreach (var name in (string[])["MSBuildSDKsPath", "MSBuildExtensionsPath", "MSBUILD_EXE_PATH", "MSBuildLoadMicrosoftTargetsReadOnly", "VSTEST_HOST_DEBUG"])
        {
            start.Environment.Remove(name);
        }

        var path = Path.Combine(SiloProcess.RepoRoot, zip);
        if (File.Exists(path))
        {
            File.Delete(path); // the command must produce it, not an earlier run (a fresh clone has no bin/ at all)
        }

        var output = new StringBuilder();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start dotnet {arguments}");
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(PackagingTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {arguments} did not finish within {PackagingTimeout}:\n{output}");
        }

        Assert.True(process.ExitCode == 0, $"dotnet {arguments} failed ({process.ExitCode}):\n{output}");
        Assert.True(File.Exists(path), $"dotnet {arguments} produced no {zip}:\n{output}");
        return path;
    }

    private static string[] Entries(string zip)
    {
        using var archive = ZipFile.OpenRead(zip);
        return archive.Entries.Select(e => e.FullName).ToArray();
    }

    private static ByteArrayContent Zip(string path)
    {
        var content = new ByteArrayContent(File.ReadAllBytes(path));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/zip");
        return content;
    }

    private static object ComfortFunction(string? zip, string maxC, string[] layers) => new
    {
        runtime = "dotnet",
        handler = ComfortHandler,
        timeout = 10,
        memorySize = 256,
        environment = new Dictionary<string, string> { ["COMFORT_MAX_C"] = maxC },
        layers,
        description = "comfort index from temperature and humidity",
        zipFile = zip is null ? null : Convert.ToBase64String(File.ReadAllBytes(zip)),
    };

    /// <summary>The event a bound function receives from a sensor.</summary>
    private static object Event(string sensorId, long seq, double temperature, double humidity, int anomalies = 0) => new
    {
        sensorId,
        topic = $"sensors/{sensorId}/telemetry",
        timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        seq,
        metrics = new Dictionary<string, double> { ["temperature"] = temperature, ["humidity"] = humidity },
        anomalies = Enumerable.Range(0, anomalies).Select(_ => new { metric = "temperature", value = temperature, score = 0.99, detector = "ewma-z" }).ToArray(),
    };

    /// <summary>Magnus formula (Sonntag 1990), computed here independently of the layer.</summary>
    private static double DewPoint(double celsius, double relativeHumidity)
    {
        var gamma = Math.Log(relativeHumidity / 100) + 17.62 * celsius / (243.12 + celsius);
        return 243.12 * gamma / (17.62 - gamma);
    }

    private sealed record Invocation(HttpStatusCode Status, string Body, string RequestId, string? ExecutedVersion, string LogTail)
    {
        public JsonNode? Result => JsonNode.Parse(Body);
    }

    /// <summary>A synchronous invocation that must succeed: 200 without X-Function-Error.</summary>
    private static async Task<Invocation> InvokeAsync(SiloProcess silo, string function, object payload, string? qualifier = null, bool tail = false)
    {
        var path = $"/functions/{function}/invocations" + (qualifier is null ? "" : $"?qualifier={Uri.EscapeDataString(qualifier)}");
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(payload, options: Web) };
        request.Headers.Add("X-Invocation-Type", "RequestResponse");
        if (tail) request.Headers.Add("X-Log-Type", "Tail");
        using var response = await silo.Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK && !response.Headers.Contains("X-Function-Error"),
            $"POST {path}: {(int)response.StatusCode} {string.Join(",", response.Headers.Where(h => h.Key.StartsWith("X-", StringComparison.Ordinal)).Select(h => $"{h.Key}={string.Join(";", h.Value)}"))} {body}\nsilo output:\n{silo.Output}");
        var logTail = response.Headers.TryGetValues("X-Log-Result", out var log) ? Encoding.UTF8.GetString(Convert.FromBase64String(log.Single())) : "";
        return new Invocation(
            response.StatusCode,
            body,
            response.Headers.GetValues("X-Request-Id").Single(),
            response.Headers.TryGetValues("X-Executed-Version", out var version) ? version.Single() : null,
            logTail);
    }

    private static async Task<JsonNode> Json(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.PathAndQuery}: expected {(int)expected}, got {(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!;
    }
}
