using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Fleet.Gateways.Tests;

/// <summary>
/// A function's settings beside its configuration, over HTTP in Lambda's words: the event invoke config
/// (<c>/functions/{name}/event-invoke-config</c>) and reserved concurrency (<c>/functions/{name}/concurrency</c>).
/// </summary>
public sealed class FunctionSettingsApiTests(FunctionsGatewayHostFixture fixture) : IClassFixture<FunctionsGatewayHostFixture>
{
    private GatewayHost Host => fixture.Host;

    private static StringContent Json(string body) => FunctionsHttp.Json(body);

    private Task<string> Deploy(string prefix, string body) => FunctionsHttp.Deploy(Host, prefix, body);

    private static Task<(HttpStatusCode Status, JsonNode? Body)> Read(HttpResponseMessage response) => FunctionsHttp.Read(response);

    [Fact]
    public async Task The_event_invoke_config_round_trips_in_lambdas_field_names_and_update_merges()
    {
        var name = await Deploy("eic", "return 1;");
        var path = $"/functions/{name}/event-invoke-config";

        var (none, _) = await Read(await Host.Http.GetAsync(path));
        Assert.Equal(HttpStatusCode.NotFound, none); // Lambda: no config yet is ResourceNotFound

        var (put, putBody) = await Read(await Host.Http.PutAsync(path, Json("""{"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 3600}""")));
        Assert.Equal(HttpStatusCode.OK, put);
        Assert.Equal(1, (int)putBody!["MaximumRetryAttempts"]!);
        Assert.Equal(3600, (int)putBody["MaximumEventAgeInSeconds"]!);
        Assert.Equal("$LATEST", (string)putBody["Qualifier"]!);

        var (_, got) = await Read(await Host.Http.GetAsync(path));
        Assert.Equal(1, (int)got!["MaximumRetryAttempts"]!);
        Assert.Equal(3600, (int)got["MaximumEventAgeInSeconds"]!);
        Assert.NotNull(got["LastModified"]);

        // Update (POST) changes only what it is given.
        var (_, updated) = await Read(await Host.Http.PostAsync(path, Json("""{"MaximumRetryAttempts": 0}""")));
        Assert.Equal(0, (int)updated!["MaximumRetryAttempts"]!);
        Assert.Equal(3600, (int)updated["MaximumEventAgeInSeconds"]!);

        // Put replaces: a setting left out is removed.
        var (_, replaced) = await Read(await Host.Http.PutAsync(path, Json("""{"MaximumEventAgeInSeconds": 60}""")));
        Assert.Null(replaced!["MaximumRetryAttempts"]);
        Assert.Equal(60, (int)replaced["MaximumEventAgeInSeconds"]!);

        // A version has its own (none yet); $LATEST is the unqualified function's.
        using (var published = await Host.Http.PostAsync($"/functions/{name}/versions", Json("{}"))) published.EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.NotFound, (await Read(await Host.Http.GetAsync(path + "?Qualifier=1"))).Status);
        Assert.Equal(60, (int)(await Read(await Host.Http.GetAsync(path + "?Qualifier=$LATEST"))).Body!["MaximumEventAgeInSeconds"]!);
        var (versionPut, versionBody) = await Read(await Host.Http.PutAsync(path + "?Qualifier=1", Json("""{"MaximumRetryAttempts": 2}""")));
        Assert.Equal(HttpStatusCode.OK, versionPut);
        Assert.Equal("1", (string)versionBody!["Qualifier"]!);

        Assert.Equal(HttpStatusCode.NoContent, (await Read(await Host.Http.DeleteAsync(path))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Read(await Host.Http.GetAsync(path))).Status);
        Assert.Equal(2, (int)(await Read(await Host.Http.GetAsync(path + "?Qualifier=1"))).Body!["MaximumRetryAttempts"]!);
    }

    [Theory]
    [InlineData("""{"MaximumRetryAttempts": 3}""", "MaximumRetryAttempts must be between 0 and 2")]
    [InlineData("""{"MaximumRetryAttempts": -1}""", "MaximumRetryAttempts must be between 0 and 2")]
    [InlineData("""{"MaximumEventAgeInSeconds": 59}""", "MaximumEventAgeInSeconds must be between 60 and 21,600")]
    [InlineData("""{"MaximumEventAgeInSeconds": 21601}""", "MaximumEventAgeInSeconds must be between 60 and 21,600")]
    [InlineData("""{"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-2:123456789012:dlq"}}}""", "only Lambda function destinations are supported")]
    [InlineData("""{"MaximumRetryAttempts": "two"}""", "the value at $.MaximumRetryAttempts must be an integer")]
    public async Task Invalid_event_invoke_settings_are_a_400_with_the_reason(string body, string reason)
    {
        var name = await Deploy("eic-bad", "return 1;");
        var (status, error) = await Read(await Host.Http.PutAsync($"/functions/{name}/event-invoke-config", Json(body)));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(reason, (string)error!["detail"]!);
        Assert.Equal(HttpStatusCode.NotFound, (await Read(await Host.Http.GetAsync($"/functions/{name}/event-invoke-config"))).Status); // nothing stored
    }

    [Fact]
    public async Task The_event_invoke_config_of_a_missing_function_or_qualifier_is_a_404()
    {
        Assert.Equal(HttpStatusCode.NotFound, (await Read(await Host.Http.PutAsync("/functions/no-such-fn/event-invoke-config", Json("""{"MaximumRetryAttempts": 0}""")))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Read(await Host.Http.GetAsync("/functions/no-such-fn/event-invoke-config"))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Read(await Host.Http.DeleteAsync("/functions/no-such-fn/event-invoke-config"))).Status);
        var name = await Deploy("eic-q", "return 1;");
        Assert.Equal(HttpStatusCode.NotFound, (await Read(await Host.Http.PutAsync($"/functions/{name}/event-invoke-config?Qualifier=live", Json("{}")))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Read(await Host.Http.PutAsync($"/functions/{name}/event-invoke-config?Qualifier=7", Json("{}")))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Read(await Host.Http.PostAsync($"/functions/{name}/event-invoke-config", Json("""{"MaximumRetryAttempts": 0}""")))).Status); // Update needs a config
    }

    [Fact]
    public async Task With_MaximumRetryAttempts_0_a_failing_event_runs_exactly_once()
    {
        var name = await Deploy("eic-once", "throw new Error('always');");
        using (var put = await Host.Http.PutAsync($"/functions/{name}/event-invoke-config", Json("""{"MaximumRetryAttempts": 0}"""))) put.EnsureSuccessStatusCode();

        var once = await Finished(await InvokeEvent(name));
        Assert.Equal("Failed", (string)once["status"]!);
        Assert.Equal(1, (int)once["attempts"]!);

        using (var deleted = await Host.Http.DeleteAsync($"/functions/{name}/event-invoke-config")) deleted.EnsureSuccessStatusCode();
        Assert.Equal(3, (int)(await Finished(await InvokeEvent(name)))["attempts"]!); // the silo's default: two retries
    }

    [Fact]
    public async Task Reserved_concurrency_is_put_got_and_deleted_as_lambdas_function_concurrency()
    {
        var name = await Deploy("conc", "return 1;");
        var path = $"/functions/{name}/concurrency";

        var (unset, unsetBody) = await Read(await Host.Http.GetAsync(path));
        Assert.Equal(HttpStatusCode.OK, unset);
        Assert.Equal("{}", unsetBody!.ToJsonString()); // Lambda: no reserved concurrency, an empty answer

        var (put, putBody) = await Read(await Host.Http.PutAsync(path, Json("""{"ReservedConcurrentExecutions": 5}""")));
        Assert.Equal(HttpStatusCode.OK, put);
        Assert.Equal(5, (int)putBody!["ReservedConcurrentExecutions"]!);
        Assert.Equal(5, (int)(await Read(await Host.Http.GetAsync(path))).Body!["ReservedConcurrentExecutions"]!);
        Assert.Equal(5, (int)(await Host.GetJsonAsync($"/functions/{name}"))["reservedConcurrency"]!);

        // A function-level setting: publishing a version leaves it in place.
        using (var published = await Host.Http.PostAsync($"/functions/{name}/versions", Json("{}"))) published.EnsureSuccessStatusCode();
        Assert.Equal(5, (int)(await Read(await Host.Http.GetAsync(path))).Body!["ReservedConcurrentExecutions"]!);

        Assert.Equal(HttpStatusCode.NoContent, (await Read(await Host.Http.DeleteAsync(path))).Status);
        Assert.Equal("{}", (await Read(await Host.Http.GetAsync(path))).Body!.ToJsonString());
    }

    [Fact]
    public async Task Zero_reserved_concurrency_throttles_every_version_with_lambdas_error()
    {
        var name = await Deploy("conc-off", "return 1;");
        using (var published = await Host.Http.PostAsync($"/functions/{name}/versions", Json("{}"))) published.EnsureSuccessStatusCode();
        using (var put = await Host.Http.PutAsync($"/functions/{name}/concurrency", Json("""{"ReservedConcurrentExecutions": 0}"""))) put.EnsureSuccessStatusCode();

        foreach (var function in new[] { name, name + ":1" })
        {
            var (status, body) = await Read(await Host.Http.PostAsync($"/functions/{function}/invocations", Json("{}")));
            Assert.Equal(HttpStatusCode.TooManyRequests, status);
            Assert.Equal("TooManyRequestsException", (string)body!["errorType"]!);
            Assert.Equal("ReservedFunctionConcurrentInvocationLimitExceeded", (string)body["reason"]!);
        }

        using (var deleted = await Host.Http.DeleteAsync($"/functions/{name}/concurrency")) deleted.EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.OK, (await Read(await Host.Http.PostAsync($"/functions/{name}:1/invocations", Json("{}")))).Status);
    }

    [Theory]
    [InlineData("""{"ReservedConcurrentExecutions": -1}""", "ReservedConcurrentExecutions must be 0 or more")]
    [InlineData("{}", "ReservedConcurrentExecutions is required")]
    public async Task Invalid_reserved_concurrency_is_a_400_with_the_reason(string body, string reason)
    {
        var name = await Deploy("conc-bad", "return 1;");
        var (status, error) = await Read(await Host.Http.PutAsync($"/functions/{name}/concurrency", Json(body)));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(reason, (string)error!["detail"]!);
    }

    [Fact]
    public async Task The_concurrency_of_a_missing_function_is_a_404()
    {
        Assert.Equal(HttpStatusCode.NotFound, (await Read(await Host.Http.PutAsync("/functions/no-such-fn/concurrency", Json("""{"ReservedConcurrentExecutions": 1}""")))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Read(await Host.Http.GetAsync("/functions/no-such-fn/concurrency"))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Read(await Host.Http.DeleteAsync("/functions/no-such-fn/concurrency"))).Status);
    }

    private async Task<string> InvokeEvent(string function)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/functions/{function}/invocations") { Content = Json("{}") };
        request.Headers.Add("X-Amz-Invocation-Type", "Event");
        var (status, body) = await Read(await Host.Http.SendAsync(request));
        Assert.Equal(HttpStatusCode.Accepted, status);
        return (string)body!["requestId"]!;
    }

    private async Task<JsonNode> Finished(string requestId)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            var record = await Host.GetJsonAsync($"/invocations/{requestId}");
            if ((string?)record["status"] is "Succeeded" or "Failed") return record;
            Assert.True(DateTime.UtcNow < deadline, $"{requestId} did not finish: {record.ToJsonString()}");
            await Task.Delay(50);
        }
    }
}
