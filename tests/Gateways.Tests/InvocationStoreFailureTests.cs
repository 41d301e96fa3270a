using System.Net;
using Fleet.Grains.Functions;
using Fleet.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Fleet.Gateways.Tests;

/// <summary>
/// A store that refuses the write of a finished event (its outcome, or forgetting a record its destination accepted): the
/// event's memory never runs ahead of the store, and the metrics count what happened, not what was meant to.
/// </summary>
public sealed class InvocationStoreFailureTests : IClassFixture<FunctionsGatewayHostFixture>, IDisposable
{
    private const string DeliveryFailures = FunctionMetricsRecorder.DeliveryFailures;
    private const string Dropped = FunctionMetricsRecorder.Dropped;

    private readonly FunctionMetricsRecorder _metrics = new();
    private readonly FunctionsGatewayHostFixture _fixture;

    public InvocationStoreFailureTests(FunctionsGatewayHostFixture fixture) => _fixture = fixture;

    private GatewayHost Host => _fixture.Host;

    private int Count(string instrument, string function) => _metrics.Of(instrument, function).Count;

    private async Task<InvocationRecordState> Stored(string requestId)
    {
        var grains = Host.Services.GetRequiredService<IGrainFactory>();
        var storage = Host.Services.GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(StorageNames.Default);
        var state = new Orleans.GrainState<InvocationRecordState>(new InvocationRecordState());
        await storage.ReadStateAsync("invocation", grains.GetGrain<IInvocationRecordGrain>(requestId).GetGrainId(), state);
        return state.State!;
    }

    [Fact]
    public async Task An_outcome_the_store_refused_is_not_answered_as_the_events_outcome()
    {
        var name = await FunctionsHttp.Deploy(Host, "rv-ko", "throw new Error('boom');");
        var (status, answer) = await FunctionsHttp.Read(await Host.Http.PutAsync($"/functions/{name}/event-invoke-config", FunctionsHttp.Json("""{"MaximumRetryAttempts": 0}""")));
        Assert.True(status == HttpStatusCode.OK, answer?.ToJsonString());
        var requestId = BrokenGrainStorage.FinishedPrefix + Guid.NewGuid().ToString("n");
        var grain = Host.Services.GetRequiredService<IGrainFactory>().GetGrain<IInvocationRecordGrain>(requestId);

        await grain.Accept(name, "{}"); // stored: the accept is not refused, only the finished record is
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while ((await grain.Get())?.Status is not InvocationStatus.Failed && DateTime.UtcNow < deadline) await Task.Delay(50);

        var answered = (await grain.Get())!;
        var stored = await Stored(requestId);
        Assert.False(answered.Status == InvocationStatus.Failed && stored.Record?.Status != InvocationStatus.Failed,
            $"GET answers {answered.Status} (attempts {answered.Attempts}) while the store holds {stored.Record?.Status} (attempts {stored.Record?.Attempts}); " +
            $"AsyncEventsDropped counted {Count(Dropped, name)} times; nothing writes it again (the reminder sees a finished record), and a reactivation runs the event again");
    }

    [Fact]
    public async Task A_record_its_destination_accepted_is_not_a_destination_delivery_failure_when_the_sources_own_write_fails()
    {
        var source = "rv-src-" + Guid.NewGuid().ToString("n")[..8];
        var destination = await FunctionsHttp.Deploy(Host, "rv-dest", "return 1;");
        var sourceId = BrokenGrainStorage.FinishedPrefix + Guid.NewGuid().ToString("n");
        var destinationId = Guid.NewGuid().ToString();
        var grains = await FunctionsHttp.ResumeFinishedEventWithPendingRecord(Host, sourceId, source, destinationId, destination); // activates it: it sends the record
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (await grains.GetGrain<IInvocationRecordGrain>(destinationId).Get() is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the destination never accepted the record");
            await Task.Delay(50);
        }

        await Task.Delay(1000);
        var stored = await Stored(sourceId);
        Assert.NotNull(stored.Destination); // its own write was refused: still pending in the store, so it is sent again, never lost
        Assert.True(Count(DeliveryFailures, source) == 0,
            $"the destination accepted the record, yet DestinationDeliveryFailures of {source} = {Count(DeliveryFailures, source)}; " +
            $"the store still holds the pending destination: {stored.Destination is not null}");
    }

    public void Dispose() => _metrics.Dispose();
}
