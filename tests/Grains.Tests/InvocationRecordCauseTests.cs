using System.Text.Json;
using Fleet.Grains.Functions;

namespace Fleet.Grains.Tests;

/// <summary>The invocation record a destination receives carries the error document whole, its <c>cause</c> included.</summary>
public sealed class InvocationRecordCauseTests
{
    [Fact]
    public void The_response_payload_of_a_constructor_that_threw_is_lambdas_LambdaException_with_its_cause()
    {
        var failed = InvocationResult.Failed("r", InvocationErrorKind.Unhandled, "LambdaException", "An exception was thrown when the constructor for type 'Bad.H' was invoked. Check inner exception for more details.", "f", "$LATEST");
        failed = failed with { Error = failed.Error! with { Cause = new InvocationErrorCause("InvalidOperationException", "no config", ["at Bad.H..ctor()"], new InvocationErrorCause("FileNotFoundException", "settings.json is missing")) } };

        var json = EventDestinations.InvocationRecordJson("r", "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST", "RetriesExhausted", 3, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), "1", failed);

        using var record = JsonDocument.Parse(json);
        var payload = record.RootElement.GetProperty("responsePayload");
        Assert.Equal("LambdaException", payload.GetProperty("errorType").GetString());
        var cause = payload.GetProperty("cause");
        Assert.Equal("InvalidOperationException", cause.GetProperty("errorType").GetString());
        Assert.Equal("no config", cause.GetProperty("errorMessage").GetString());
        Assert.Equal("at Bad.H..ctor()", cause.GetProperty("stackTrace")[0].GetString());
        Assert.Equal("FileNotFoundException", cause.GetProperty("cause").GetProperty("errorType").GetString());
        Assert.False(cause.GetProperty("cause").TryGetProperty("cause", out _));
        Assert.False(payload.TryGetProperty("causes", out _)); // no aggregate, no causes
    }

    [Fact]
    public void The_response_payload_of_an_aggregate_carries_its_inner_exceptions_as_causes()
    {
        var io = new InvocationErrorCause("IOException", "disk full", ["at H.Save()"]);
        var failed = InvocationResult.Failed("r", InvocationErrorKind.Unhandled, "AggregateException", "One or more errors occurred.", "f", "$LATEST");
        failed = failed with { Error = failed.Error! with { Cause = io, Causes = [io, new InvocationErrorCause("TimeoutException", "slow", null, null, [new InvocationErrorCause("ArgumentException", "nested")])] } };

        var json = EventDestinations.InvocationRecordJson("r", "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST", "RetriesExhausted", 3, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), "1", failed);

        using var record = JsonDocument.Parse(json);
        var payload = record.RootElement.GetProperty("responsePayload");
        Assert.Equal("IOException", payload.GetProperty("cause").GetProperty("errorType").GetString());
        var causes = payload.GetProperty("causes");
        Assert.Equal(2, causes.GetArrayLength());
        Assert.Equal(("IOException", "disk full", "at H.Save()"), (causes[0].GetProperty("errorType").GetString(), causes[0].GetProperty("errorMessage").GetString(), causes[0].GetProperty("stackTrace")[0].GetString()));
        Assert.Equal("TimeoutException", causes[1].GetProperty("errorType").GetString());
        Assert.False(causes[1].TryGetProperty("stackTrace", out _));
        Assert.Equal("ArgumentException", causes[1].GetProperty("causes")[0].GetProperty("errorType").GetString());
    }
}
