using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Fleet.Grains.Functions;
using Fleet.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Fleet.Gateways.Tests;

/// <summary>
/// Lambda's asynchronous invocation destinations (<c>DestinationConfig</c> of the event invoke config), function
/// destinations only: the destination function receives Lambda's invocation record as an asynchronous event of its own.
/// </summary>
public sealed class FunctionDestinationsApiTests(FunctionsGatewayHostFixture fixture) : IClassFixture<FunctionsGatewayHostFixture>
{
    private const string Arn = "arn:aws:lambda:us-east-1:123456789012:function:";

    private GatewayHost Host => fixture.Host;

    private static StringContent Json(string body) => FunctionsHttp.Json(body);

    private Task<string> Deploy(string prefix, string body) => FunctionsHttp.Deploy(Host, prefix, body);

    private static Task<(HttpStatusCode Status, JsonNode? Body)> Read(HttpResponseMessage response) => FunctionsHttp.Read(response);

    private Task Configure(string function, string body) => FunctionsHttp.ConfigureEvents(Host, function, body);

    private Task<string> InvokeEvent(string function, string payload) => FunctionsHttp.InvokeEvent(Host, function, payload);

    private Task<JsonNode> Finished(string requestId) => FunctionsHttp.Finished(Host, requestId);

    /// <summary>The invocation record the destination function received: it echoes its event, so its result is the record.</summary>
    private async Task<(string Function, JsonNode Record)> Delivered(JsonNode source)
    {
        var id = (string?)source["destinationRequestId"];
        Assert.False(id is null, $"no destination for {source.ToJsonString()}");
        var delivered = await Finished(id!);
        Assert.Equal("Succeeded", (string)delivered["status"]!);
        return ((string)delivered["function"]!, JsonNode.Parse((string)delivered["result"]!["payloadJson"]!)!);
    }

    [Fact]
    public async Task An_event_that_succeeds_sends_lambdas_Success_record_to_the_OnSuccess_function()
    {
        var onSuccess = await Deploy("dest-ok", "return event;");
        var onFailure = await Deploy("dest-ko", "return event;");
        var source = await Deploy("src-ok", "return { doubled: event.n * 2 };");
        await Configure(source, $$$$"""{"DestinationConfig": {"OnSuccess": {"Destination": "{{{{Arn}}}}{{{{onSuccess}}}}"}, "OnFailure": {"Destination": "{{{{onFailure}}}}"}}}""");

        var requestId = await InvokeEvent(source, """{"n": 21}""");
        var (function, record) = await Delivered(await Finished(requestId));

        Assert.Equal(onSuccess, function);
        Assert.Equal("1.0", (string)record["version"]!);
        Assert.True(DateTime.TryParse((string)record["timestamp"]!, out _));
        Assert.Equal(requestId, (string)record["requestContext"]!["requestId"]!);
        Assert.Equal($"arn:aws:lambda:us-east-1:000000000000:function:{source}:$LATEST", (string)record["requestContext"]!["functionArn"]!);
        Assert.Equal("Success", (string)record["requestContext"]!["condition"]!);
        Assert.Equal(1, (int)record["requestContext"]!["approximateInvokeCount"]!);
        Assert.Equal(21, (int)record["requestPayload"]!["n"]!);
        Assert.Equal(200, (int)record["responseContext"]!["statusCode"]!);
        Assert.Equal("$LATEST", (string)record["responseContext"]!["executedVersion"]!);
        Assert.Null(record["responseContext"]!["functionError"]);
        Assert.Equal(42, (int)record["responsePayload"]!["doubled"]!);
    }

    [Fact]
    public async Task An_event_that_fails_after_its_retries_sends_RetriesExhausted_with_the_error_to_the_OnFailure_function()
    {
        var onSuccess = await Deploy("dest-ok", "return event;");
        var onFailure = await Deploy("dest-ko", "return event;");
        var source = await Deploy("src-ko", "throw new Error('boom ' + event.n);");
        await Configure(source, $$$$"""{"MaximumRetryAttempts": 1, "DestinationConfig": {"OnSuccess": {"Destination": "{{{{onSuccess}}}}"}, "OnFailure": {"Destination": "{{{{onFailure}}}}:$LATEST"}}}""");

        var requestId = await InvokeEvent(source, """{"n": 7}""");
        var finished = await Finished(requestId);
        Assert.Equal("Failed", (string)finished["status"]!);
        var (function, record) = await Delivered(finished);

        Assert.Equal(onFailure + ":$LATEST", function);
        Assert.Equal(requestId, (string)record["requestContext"]!["requestId"]!);
        Assert.Equal("RetriesExhausted", (string)record["requestContext"]!["condition"]!);
        Assert.Equal(2, (int)record["requestContext"]!["approximateInvokeCount"]!); // the attempt and its one retry
        Assert.Equal(7, (int)record["requestPayload"]!["n"]!);
        Assert.Equal(200, (int)record["responseContext"]!["statusCode"]!);
        Assert.Equal("Unhandled", (string)record["responseContext"]!["functionError"]!);
        Assert.Contains("boom 7", (string)record["responsePayload"]!["errorMessage"]!);
        Assert.Equal("Error", (string)record["responsePayload"]!["errorType"]!);
    }

    [Fact]
    public async Task An_event_discarded_for_its_age_sends_EventAgeExceeded_without_a_response_to_the_OnFailure_function()
    {
        var onFailure = await Deploy("dest-age", "return event;");
        var source = await Deploy("src-age", "return 1;");
        await Configure(source, $$$$"""{"MaximumEventAgeInSeconds": 60, "DestinationConfig": {"OnFailure": {"Destination": "{{{{onFailure}}}}"}}}""");
        var grains = Host.Services.GetRequiredService<IGrainFactory>();
        var storage = Host.Services.GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(StorageNames.Default);

        // An event accepted two minutes ago that no silo ran (its silo was down): older than its 60 s when it is resumed.
        var requestId = Guid.NewGuid().ToString();
        var state = new Orleans.GrainState<InvocationRecordState>(new InvocationRecordState
        {
            Record = new InvocationRecord { RequestId = requestId, Function = source, Status = InvocationStatus.Queued, AcceptedUtc = DateTime.UtcNow.AddMinutes(-2) },
            PayloadJson = """{"n": 3}""",
        });
        await storage.WriteStateAsync("invocation", grains.GetGrain<IInvocationRecordGrain>(requestId).GetGrainId(), state);

        var finished = await Finished(requestId);
        Assert.Equal(0, (int)finished["attempts"]!); // not run
        var (function, record) = await Delivered(finished);
        Assert.Equal(onFailure, function);
        Assert.Equal("EventAgeExceeded", (string)record["requestContext"]!["condition"]!);
        Assert.Equal(0, (int)record["requestContext"]!["approximateInvokeCount"]!);
        Assert.Equal(3, (int)record["requestPayload"]!["n"]!);
        Assert.Null(record["responseContext"]);
        Assert.Null(record["responsePayload"]);
    }

    [Fact]
    public async Task An_event_without_a_destination_for_its_outcome_sends_nothing()
    {
        var onFailure = await Deploy("dest-ko", "return event;");
        var source = await Deploy("src-none", "return 1;");
        await Configure(source, $$$$"""{"DestinationConfig": {"OnFailure": {"Destination": "{{{{onFailure}}}}"}}}""");
        Assert.Null((await Finished(await InvokeEvent(source, "{}")))["destinationRequestId"]);
    }

    [Fact]
    public async Task A_function_that_is_its_own_destination_stops_after_lambdas_loop_depth()
    {
        var self = await Deploy("dest-self", "return 1;");
        await Configure(self, $$$$"""{"DestinationConfig": {"OnSuccess": {"Destination": "{{{{self}}}}"}}}""");

        var id = await InvokeEvent(self, "{}");
        var sent = 0;
        while ((string?)(await Finished(id))["destinationRequestId"] is { } next)
        {
            id = next;
            sent++;
            Assert.True(sent < 100, "the destination loop did not stop");
        }

        Assert.Equal(InvocationLimits.MaxDepth - 1, sent); // 16 events in the chain, the last sends no record
    }

    [Theory]
    [InlineData("arn:aws:sqs:us-east-2:123456789012:dlq", "only Lambda function destinations are supported")]
    [InlineData("arn:aws:sns:us-east-2:123456789012:topic", "only Lambda function destinations are supported")]
    [InlineData("arn:aws:events:us-east-2:123456789012:event-bus/default", "only Lambda function destinations are supported")]
    [InlineData("arn:aws:s3:::bucket", "only Lambda function destinations are supported")]
    [InlineData("arn:aws:lambda:us-east-2:123456789012:layer:x:1", "is not a Lambda function ARN")]
    [InlineData("arn:aws:lambda:nowhere:123456789012:function:x", "is not a Lambda function ARN")]
    [InlineData("not a name", "does not name a function")]
    [InlineData("fn:bad!qualifier", "has an invalid qualifier")]
    public async Task A_destination_that_is_not_a_function_is_a_400_with_the_reason(string destination, string reason)
    {
        var name = await Deploy("dest-bad", "return 1;");
        foreach (var field in new[] { "OnSuccess", "OnFailure" })
        {
            var body = $$$$"""{"DestinationConfig": {"{{{{field}}}}": {"Destination": "{{{{destination}}}}"}}}""";
            var (status, error) = await Read(await Host.Http.PutAsync($"/functions/{name}/event-invoke-config", Json(body)));
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Contains(reason, (string)error!["detail"]!);
            Assert.Contains($"DestinationConfig.{field}.Destination", (string)error["detail"]!);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await Read(await Host.Http.GetAsync($"/functions/{name}/event-invoke-config"))).Status); // nothing stored
    }

    [Fact]
    public async Task The_DestinationConfig_round_trips_in_lambdas_shape_and_update_merges_each_destination()
    {
        var name = await Deploy("dest-rt", "return 1;");
        var path = $"/functions/{name}/event-invoke-config";
        var success = Arn + "on-success:live";

        var (_, put) = await Read(await Host.Http.PutAsync(path, Json($$$$"""{"MaximumRetryAttempts": 0, "DestinationConfig": {"OnSuccess": {"Destination": "{{{{success}}}}"}, "OnFailure": {"Destination": "on-failure"}}}""")));
        Assert.Equal(success, (string)put!["DestinationConfig"]!["OnSuccess"]!["Destination"]!);
        var (_, got) = await Read(await Host.Http.GetAsync(path));
        Assert.Equal(success, (string)got!["DestinationConfig"]!["OnSuccess"]!["Destination"]!);
        Assert.Equal("on-failure", (string)got["DestinationConfig"]!["OnFailure"]!["Destination"]!);
        Assert.Equal(0, (int)got["MaximumRetryAttempts"]!);

        // Update: a destination left out is kept; one given is replaced; the other settings are kept.
        var (_, updated) = await Read(await Host.Http.PostAsync(path, Json("""{"DestinationConfig": {"OnFailure": {"Destination": "other"}}}""")));
        Assert.Equal(success, (string)updated!["DestinationConfig"]!["OnSuccess"]!["Destination"]!);
        Assert.Equal("other", (string)updated["DestinationConfig"]!["OnFailure"]!["Destination"]!);
        Assert.Equal(0, (int)updated["MaximumRetryAttempts"]!);

        // Update: an empty Destination removes that destination (Lambda answers {} for a destination not set).
        var (_, cleared) = await Read(await Host.Http.PostAsync(path, Json("""{"DestinationConfig": {"OnSuccess": {"Destination": ""}}}""")));
        Assert.Equal("{}", cleared!["DestinationConfig"]!["OnSuccess"]!.ToJsonString());
        Assert.Equal("other", (string)cleared["DestinationConfig"]!["OnFailure"]!["Destination"]!);

        // Put replaces: DestinationConfig left out is none, shown as Lambda shows it.
        var (_, replaced) = await Read(await Host.Http.PutAsync(path, Json("""{"MaximumRetryAttempts": 1}""")));
        Assert.Equal("""{"OnSuccess":{},"OnFailure":{}}""", replaced!["DestinationConfig"]!.ToJsonString());
    }

    [Fact]
    public async Task A_qualified_name_in_the_path_is_the_qualifier_and_a_malformed_qualifier_is_a_400()
    {
        // A qualifier without a name is no function (a 400 that says so, not a lookup of an empty name).
        var (nameless, why) = await Read(await Host.Http.GetAsync("/functions/:live/event-invoke-config"));
        Assert.Equal(HttpStatusCode.BadRequest, nameless);
        Assert.Contains("does not name a function", why!.ToJsonString());
        var name = await Deploy("dest-q", "return 1;");
        using (var published = await Host.Http.PostAsync($"/functions/{name}/versions", Json("{}"))) published.EnsureSuccessStatusCode();
        using (var alias = await Host.Http.PutAsJsonAsync($"/functions/{name}/aliases/live", new { functionVersion = "1" })) alias.EnsureSuccessStatusCode();

        var (put, putBody) = await Read(await Host.Http.PutAsync($"/functions/{name}:live/event-invoke-config", Json("""{"MaximumRetryAttempts": 1}""")));
        Assert.Equal(HttpStatusCode.OK, put);
        Assert.Equal("live", (string)putBody!["Qualifier"]!);
        Assert.Equal(name, (string)putBody["FunctionName"]!);
        Assert.Equal(1, (int)(await Read(await Host.Http.GetAsync($"/functions/{name}/event-invoke-config?Qualifier=live"))).Body!["MaximumRetryAttempts"]!);
        Assert.Equal(HttpStatusCode.NotFound, (await Read(await Host.Http.GetAsync($"/functions/{name}/event-invoke-config"))).Status); // $LATEST has none
        Assert.Equal(HttpStatusCode.OK, (await Read(await Host.Http.GetAsync($"/functions/{name}:live/event-invoke-config?Qualifier=live"))).Status); // both, the same
        Assert.Equal(HttpStatusCode.OK, (await Read(await Host.Http.GetAsync($"/functions/{Arn}{name}:live/event-invoke-config"))).Status); // Lambda's ARN form

        var (both, error) = await Read(await Host.Http.GetAsync($"/functions/{name}:live/event-invoke-config?Qualifier=1"));
        Assert.Equal(HttpStatusCode.BadRequest, both);
        Assert.Contains("does not match the specified qualifier", (string)error!["detail"]!);
        Assert.Equal(HttpStatusCode.BadRequest, (await Read(await Host.Http.PutAsync($"/functions/{name}/event-invoke-config?Qualifier=bad!q", Json("{}")))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await Read(await Host.Http.GetAsync($"/functions/{name}:bad!q/event-invoke-config"))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await Read(await Host.Http.DeleteAsync($"/functions/{name}/event-invoke-config?Qualifier=bad!q"))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await Read(await Host.Http.GetAsync("/functions/arn:aws:sqs:us-east-2:123456789012:q/event-invoke-config"))).Status);

        Assert.Equal(HttpStatusCode.NoContent, (await Read(await Host.Http.DeleteAsync($"/functions/{name}:live/event-invoke-config"))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Read(await Host.Http.GetAsync($"/functions/{name}/event-invoke-config?Qualifier=live"))).Status);
    }

    [Fact]
    public async Task Lambdas_partial_arn_names_the_function_in_the_path_and_as_a_destination_and_a_malformed_one_is_a_400()
    {
        const string Partial = "123456789012:function:";
        var onSuccess = await Deploy("dest-partial", "return event;");
        var source = await Deploy("src-partial", "return { doubled: event.n * 2 };");

        var (put, putBody) = await Read(await Host.Http.PutAsync($"/functions/{Partial}{source}/event-invoke-config",
            Json($$$$"""{"DestinationConfig": {"OnSuccess": {"Destination": "{{{{Partial}}}}{{{{onSuccess}}}}"}}}""")));
        Assert.True(put == HttpStatusCode.OK, putBody?.ToJsonString());
        Assert.Equal(source, (string)putBody!["FunctionName"]!);
        Assert.Equal("$LATEST", (string)putBody["Qualifier"]!);
        Assert.Equal(HttpStatusCode.OK, (await Read(await Host.Http.GetAsync($"/functions/{Partial}{source}:$LATEST/event-invoke-config"))).Status);

        // Invoke takes every form too: the partial ARN (asynchronously, its record reaching the partial-ARN destination) and the ARN.
        var (function, record) = await Delivered(await Finished(await InvokeEvent(Partial + source, """{"n": 4}""")));
        Assert.Equal(onSuccess, function);
        Assert.Equal(8, (int)record["responsePayload"]!["doubled"]!);
        var (sync, result) = await Read(await Host.Http.PostAsync($"/functions/arn:aws:lambda:us-west-2:{Partial}{source}:$LATEST/invocations", Json("""{"n": 5}""")));
        Assert.Equal(HttpStatusCode.OK, sync);
        Assert.Equal(10, (int)result!["doubled"]!);

        // Malformed: a 400 that says why, never a lookup of a name that cannot exist.
        foreach (var (method, path) in new[] { (HttpMethod.Get, "event-invoke-config"), (HttpMethod.Post, "invocations") })
        {
            using var request = new HttpRequestMessage(method, $"/functions/12345:function:{source}/{path}") { Content = method == HttpMethod.Post ? Json("{}") : null };
            var (status, error) = await Read(await Host.Http.SendAsync(request));
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Contains("is not a partial function ARN", (string)error!["detail"]!);
        }

        var (bad, why) = await Read(await Host.Http.PutAsync($"/functions/{source}/event-invoke-config",
            Json("""{"DestinationConfig": {"OnFailure": {"Destination": "12345:function:dest"}}}""")));
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.Contains("DestinationConfig.OnFailure.Destination '12345:function:dest' is not a partial function ARN", (string)why!["detail"]!);
    }

    [Fact]
    public async Task A_record_left_unsent_by_a_silo_failure_is_sent_when_the_event_is_next_activated_and_a_resend_is_the_same_event()
    {
        var onSuccess = await Deploy("dest-crash", "return event;");
        var grains = Host.Services.GetRequiredService<IGrainFactory>();
        var storage = Host.Services.GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(StorageNames.Default);

        // What a silo that died after writing the outcome, before the destination accepted the record, leaves in storage.
        var sourceId = Guid.NewGuid().ToString();
        var destinationId = EventDestinations.DestinationRequestId(sourceId);
        var now = DateTime.UtcNow;
        var state = new Orleans.GrainState<InvocationRecordState>(new InvocationRecordState
        {
            Record = new InvocationRecord
            {
                RequestId = sourceId, Function = "src", Status = InvocationStatus.Succeeded, Attempts = 1, AcceptedUtc = now, CompletedUtc = now,
                Result = new InvocationResult { RequestId = sourceId, PayloadJson = "1" }, DestinationRequestId = destinationId,
            },
            Destination = new PendingDestination(destinationId, onSuccess, """{"version":"1.0","requestContext":{"requestId":"x"}}"""),
        });
        await storage.WriteStateAsync("invocation", grains.GetGrain<IInvocationRecordGrain>(sourceId).GetGrainId(), state);

        Assert.Equal(destinationId, (string)(await Finished(sourceId))["destinationRequestId"]!); // activates it: it sends
        var (function, record) = await Delivered(await Finished(sourceId));
        Assert.Equal(onSuccess, function);
        Assert.Equal("x", (string)record["requestContext"]!["requestId"]!);

        // Sending again (a failure after the destination accepted, before that was written) finds the same event.
        var first = await grains.GetGrain<IInvocationRecordGrain>(destinationId).Get();
        var again = await grains.GetGrain<IInvocationRecordGrain>(destinationId).AcceptDestination(onSuccess, "{}", 1);
        Assert.Equal(first!.AcceptedUtc, again.AcceptedUtc);
        Assert.Equal(InvocationStatus.Succeeded, again.Status);
    }
}
