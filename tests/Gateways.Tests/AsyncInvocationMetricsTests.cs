using System.Net;
using System.Text.Json.Nodes;
using Fleet.Grains.Functions;
using Fleet.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Fleet.Gateways.Tests;

/// <summary>
/// Lambda's asynchronous invocation metrics as OpenTelemetry instruments of <see cref="FunctionMetrics.MeterName"/>:
/// <c>AsyncEventsReceived</c>, <c>AsyncEventAge</c>, <c>AsyncEventsDropped</c> and <c>DestinationDeliveryFailures</c>,
/// tagged with the function's name (each test's functions have names of their own, so hosts in parallel do not mix).
/// </summary>
public sealed class AsyncInvocationMetricsTests : IClassFixture<FunctionsGatewayHostFixture>, IDisposable
{
    private const string Received = FunctionMetricsRecorder.Received;
    private const string Age = FunctionMetricsRecorder.Age;
    private const string Dropped = FunctionMetricsRecorder.Dropped;
    private const string DeliveryFailures = FunctionMetricsRecorder.DeliveryFailures;

    private readonly FunctionMetricsRecorder _metrics = new();
    private readonly FunctionsGatewayHostFixture _fixture;

    private GatewayHost Host => _fixture.Host;

    public AsyncInvocationMetricsTests(FunctionsGatewayHostFixture fixture) => _fixture = fixture;

    private List<(double Value, Dictionary<string, object?> Tags)> Of(string instrument, string function) => _metrics.Of(instrument, function);

    private double Sum(string instrument, string function) => _metrics.Sum(instrument, function);

    private Task Configure(string function, string body) => FunctionsHttp.ConfigureEvents(Host, function, body);

    private Task<string> InvokeEvent(string function, string payload = "{}") => FunctionsHttp.InvokeEvent(Host, function, payload);

    private Task<JsonNode> Finished(string requestId) => FunctionsHttp.Finished(Host, requestId);

    /// <summary>Waits until <paramref name="done"/> holds (metrics are recorded as the event's grain moves on, a moment after its state shows it).</summary>
    private static async Task Eventually(Func<bool> done, Func<string> what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, what());
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task An_event_that_succeeds_is_received_once_aged_once_and_not_dropped()
    {
        var name = await FunctionsHttp.Deploy(Host, "m-ok", "return 1;");

        Assert.Equal("Succeeded", (string)(await Finished(await InvokeEvent(name + ":$LATEST")))["status"]!);
        await Eventually(() => Of(Age, name).Count == 1, () => "no AsyncEventAge for the attempt");

        Assert.Equal(1, Sum(Received, name)); // tagged with the function's name, not the qualifier it was invoked with
        Assert.InRange(Of(Age, name)[0].Value, 0, 20_000);
        Assert.Empty(Of(Dropped, name));
        Assert.Empty(Of(DeliveryFailures, name));
    }

    [Fact]
    public async Task An_event_that_exhausts_its_retries_is_aged_at_each_attempt_and_dropped_even_with_an_OnFailure_destination()
    {
        var onFailure = await FunctionsHttp.Deploy(Host, "m-dest", "return event;");
        var name = await FunctionsHttp.Deploy(Host, "m-ko", "throw new Error('boom');");
        await Configure(name, $$$$"""{"MaximumRetryAttempts": 1, "DestinationConfig": {"OnFailure": {"Destination": "{{{{onFailure}}}}"}}}""");

        var finished = await Finished(await InvokeEvent(name));
        Assert.Equal("Failed", (string)finished["status"]!);
        Assert.Equal(2, (int)finished["functionErrors"]!); // the attempt and its retry both failed: the outcome says so
        Assert.Equal("Succeeded", (string)(await Finished((string)finished["destinationRequestId"]!))["status"]!);
        await Eventually(() => Of(Dropped, name).Count == 1, () => "the event was not counted as dropped");

        Assert.Equal(1, Sum(Received, name));
        var ages = Of(Age, name).Select(m => m.Value).ToList();
        Assert.Equal(2, ages.Count); // the attempt and its retry
        Assert.True(ages[1] >= ages[0] + 40, $"the retry's age ({ages[1]} ms) includes its 50 ms wait after the first attempt ({ages[0]} ms)");
        // Lambda: "If you configure a dead-letter queue or OnFailure target, events are sent there before being dropped."
        Assert.Equal("RetriesExhausted", Of(Dropped, name)[0].Tags["condition"]);
        Assert.Empty(Of(DeliveryFailures, name));

        // The destination function receives the record as an asynchronous event of its own.
        Assert.Equal(1, Sum(Received, onFailure));
        Assert.Single(Of(Age, onFailure));
        Assert.Empty(Of(Dropped, onFailure));
    }

    [Fact]
    public async Task An_event_discarded_for_its_age_is_dropped_as_EventAgeExceeded_without_an_age_for_an_attempt()
    {
        var name = await FunctionsHttp.Deploy(Host, "m-old", "return 1;");
        await Configure(name, """{"MaximumEventAgeInSeconds": 60}""");
        var grains = Host.Services.GetRequiredService<IGrainFactory>();
        var storage = Host.Services.GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(StorageNames.Default);

        // An event accepted two minutes ago that no silo ran (its silo was down): older than its 60 s when it is resumed.
        var requestId = Guid.NewGuid().ToString();
        var state = new Orleans.GrainState<InvocationRecordState>(new InvocationRecordState
        {
            Record = new InvocationRecord { RequestId = requestId, Function = name, Status = InvocationStatus.Queued, AcceptedUtc = DateTime.UtcNow.AddMinutes(-2) },
            PayloadJson = "{}",
        });
        await storage.WriteStateAsync("invocation", grains.GetGrain<IInvocationRecordGrain>(requestId).GetGrainId(), state);

        Assert.Equal(0, (int)(await Finished(requestId))["attempts"]!);
        await Eventually(() => Of(Dropped, name).Count == 1, () => "the event was not counted as dropped");
        Assert.Equal("EventAgeExceeded", Of(Dropped, name)[0].Tags["condition"]);
        Assert.Empty(Of(Age, name)); // never attempted
    }

    [Fact]
    public async Task A_record_its_destination_does_not_accept_is_a_destination_delivery_failure_of_the_source_function()
    {
        var source = "m-src-" + Guid.NewGuid().ToString("n")[..8];
        var destination = await FunctionsHttp.Deploy(Host, "m-dest-unreachable", "return 1;"); // it exists; its event's store is down

        // A finished event whose record is still to be sent, to an event id whose storage is down: the destination cannot accept it.
        var sourceId = Guid.NewGuid().ToString();
        var destinationId = BrokenGrainStorage.Prefix + Guid.NewGuid().ToString("n");
        var grains = await FunctionsHttp.ResumeFinishedEventWithPendingRecord(Host, sourceId, source, destinationId, destination); // activates it: it tries to send
        // Each of the sender's five attempts fails: a destination whose store refused the record has not accepted it, and
        // does not answer a repeated send as if it had (it once kept the unstored record and did, so the record was lost).
        await Eventually(() => Sum(DeliveryFailures, source) >= 5, () => $"DestinationDeliveryFailures of the source function: {Sum(DeliveryFailures, source)}, not 5");
        Assert.Null(await grains.GetGrain<IInvocationRecordGrain>(destinationId).Get());
        Assert.Empty(Of(Received, destination)); // never stored, so never received
    }

    [Fact]
    public async Task A_record_whose_destination_function_does_not_exist_is_a_delivery_failure_not_an_event_of_a_missing_function()
    {
        var source = "m-src-" + Guid.NewGuid().ToString("n")[..8];
        var missing = "m-gone-" + Guid.NewGuid().ToString("n")[..8];
        var sourceId = Guid.NewGuid().ToString();
        var destinationId = Guid.NewGuid().ToString();
        var grains = await FunctionsHttp.ResumeFinishedEventWithPendingRecord(Host, sourceId, source, destinationId, missing); // activates it: it tries to send
        await Eventually(() => Sum(DeliveryFailures, source) >= 5, () => $"DestinationDeliveryFailures of the source function: {Sum(DeliveryFailures, source)}, not 5");
        Assert.Null(await grains.GetGrain<IInvocationRecordGrain>(destinationId).Get());
        Assert.Empty(Of(Received, missing));
    }

    [Fact]
    public async Task A_throttled_attempt_has_no_event_age_it_invoked_nothing_and_the_event_waits_Queued()
    {
        var name = await FunctionsHttp.Deploy(Host, "m-off", "return 1;");
        var (status, answer) = await FunctionsHttp.Read(await Host.Http.PutAsync($"/functions/{name}/concurrency", FunctionsHttp.Json("""{"ReservedConcurrentExecutions": 0}""")));
        Assert.True(status == HttpStatusCode.OK, answer?.ToJsonString());

        var requestId = await InvokeEvent(name);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            using var response = await Host.Http.GetAsync($"/invocations/{requestId}");
            var record = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            // Throttled twice (the retry after a throttle waits 1 s), and back in the queue for the next attempt.
            if ((int?)record["attempts"] >= 2 && (string?)record["status"] == "Queued" && record["nextAttemptUtc"] is not null) break;
            Assert.True(DateTime.UtcNow < deadline, $"not throttled twice and queued again: {record.ToJsonString()}");
            await Task.Delay(50);
        }

        Assert.Equal(1, Sum(Received, name));
        Assert.Empty(Of(Age, name));
    }

    public void Dispose() => _metrics.Dispose();
}
