using Fleet.Grains.Functions;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Fleet.Grains.Tests;

/// <summary>
/// A function's definition and an asynchronous event's record written by commit f196083, before destinations existed
/// (Fixtures/function-state-f196083.b64: a function with event invoke configs for $LATEST and the alias "live";
/// Fixtures/invocation-state-f196083.b64: an event waiting for its retry), load with today's code: no destinations, no
/// destination pending, everything else as written.
/// </summary>
public sealed class FunctionStateCompatibilityTests
{
    private static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(b => b.AddAssembly(typeof(FunctionState).Assembly))
        .BuildServiceProvider()
        .GetRequiredService<Serializer>();

    private static T Stored<T>(string fixture)
        => Serializer.Deserialize<T>(Convert.FromBase64String(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", fixture)).Trim()))!;

    [Fact]
    public void A_definition_written_before_destinations_loads_with_its_settings_and_none()
    {
        var definition = Stored<FunctionState>("function-state-f196083.b64").Definition!;

        Assert.Equal("compat-fn", definition.Name);
        var latest = definition.EventInvokeConfigOf(null)!;
        Assert.Equal((1, 600), (latest.MaximumRetryAttempts, latest.MaximumEventAgeInSeconds));
        Assert.Equal(0, definition.EventInvokeConfigOf("live")!.MaximumRetryAttempts);
        Assert.All(definition.EventInvokeConfigs!.Values, c => Assert.Null(c.OnSuccess));
        Assert.All(definition.EventInvokeConfigs!.Values, c => Assert.Null(c.OnFailure));

        // And with a destination added, it is written and read back.
        var withDestination = new FunctionState
        {
            Definition = definition with
            {
                EventInvokeConfigs = new Dictionary<string, EventInvokeConfig> { ["live"] = definition.EventInvokeConfigOf("live")! with { OnFailure = "on-failure:live" } },
            },
        };
        var again = Serializer.Deserialize<FunctionState>(Serializer.SerializeToArray(withDestination))!;
        Assert.Equal("on-failure:live", again.Definition!.EventInvokeConfigOf("live")!.OnFailure);
    }

    [Fact]
    public void An_event_written_before_destinations_loads_as_it_was_with_no_destination_pending()
    {
        var state = Stored<InvocationRecordState>("invocation-state-f196083.b64");

        var record = state.Record!;
        Assert.Equal(("11111111-2222-3333-4444-555555555555", "compat-fn:live", InvocationStatus.Queued), (record.RequestId, record.Function, record.Status));
        Assert.Equal((1, 1), (record.Attempts, record.FunctionErrors));
        Assert.Equal(new DateTime(2026, 11, 25, 12, 1, 0, DateTimeKind.Utc), record.NextAttemptUtc);
        Assert.Equal("{\"n\":1}", state.PayloadJson);
        Assert.Null(record.DestinationRequestId);
        Assert.Equal(0, state.ChainDepth);
        Assert.Null(state.Destination);
    }
}
