using System.Text.Json;
using Fleet.Grains.Functions;

namespace Fleet.Grains.Tests;

/// <summary>Lambda's invocation record for a destination, built from whatever an event and its function produced.</summary>
public sealed class EventDestinationRecordTests
{
    private static readonly DateTime T0 = new(2026, 11, 25, 12, 0, 0, DateTimeKind.Utc);

    private static InvocationResult Ran(string payloadJson) => new() { RequestId = "r", ExecutedVersion = "$LATEST", PayloadJson = payloadJson };

    private static JsonElement Parse(string json) => JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 2048 }).RootElement;

    /// <summary>
    /// A result nested deeper than the JSON writer allows, or a string with a lone surrogate, once made the record throw
    /// half written, and the event was re-run by its reminder for hours instead of finishing: now such a payload is kept
    /// as a string and the record is whole.
    /// </summary>
    [Theory]
    [InlineData(995)]
    [InlineData(1005)]
    [InlineData(1030)]
    public void A_payload_the_writer_cannot_nest_is_kept_as_a_string_and_the_record_stays_whole(int depth)
    {
        var deep = new string('[', depth) + new string(']', depth);
        var json = EventDestinations.InvocationRecordJson("r", "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST", "Success", 1, T0, deep, Ran(deep));

        var record = Parse(json);
        Assert.Equal("Success", record.GetProperty("requestContext").GetProperty("condition").GetString());
        Assert.Equal(JsonValueKind.String, record.GetProperty("responsePayload").ValueKind);
        Assert.Equal(deep, record.GetProperty("responsePayload").GetString());
        Assert.Equal(JsonValueKind.String, record.GetProperty("requestPayload").ValueKind);
    }

    [Fact]
    public void A_lone_surrogate_in_a_payload_or_an_error_does_not_break_the_record()
    {
        var json = EventDestinations.InvocationRecordJson("r", "arn", "Success", 1, T0, "{\"s\":\"\\ud800\"}", Ran("\"a\\udc00b\""));
        var record = Parse(json);
        Assert.Equal("\"a\\udc00b\"", record.GetProperty("responsePayload").GetString()); // the writer refused it as JSON: kept as its text
        Assert.Equal(JsonValueKind.Object, record.GetProperty("requestContext").ValueKind);

        var failed = InvocationResult.Failed("r", InvocationErrorKind.Unhandled, "Error", "bad \ud800 input", "f", "$LATEST");
        var error = Parse(EventDestinations.InvocationRecordJson("r", "arn", "RetriesExhausted", 3, T0, "1", failed)).GetProperty("responsePayload");
        Assert.Equal("bad \uFFFD input", error.GetProperty("errorMessage").GetString());
    }

    [Fact]
    public void A_nested_payload_within_the_limit_stays_json()
    {
        var json = EventDestinations.InvocationRecordJson("r", "arn", "Success", 1, T0, "{\"a\":[1,{\"b\":null}]}", Ran("{\"ok\":true}"));
        var record = Parse(json);
        Assert.Equal(JsonValueKind.Object, record.GetProperty("requestPayload").ValueKind);
        Assert.True(record.GetProperty("responsePayload").GetProperty("ok").GetBoolean());
    }

    /// <summary>Lambda: over the size limit, the record is sent without its request and response payloads (not dropped).</summary>
    [Fact]
    public void Without_payloads_the_record_keeps_its_context()
    {
        var record = Parse(EventDestinations.InvocationRecordJson("r", "arn", "Success", 2, T0, "{\"big\":1}", Ran("{\"big\":2}"), withPayloads: false));
        Assert.False(record.TryGetProperty("requestPayload", out _));
        Assert.False(record.TryGetProperty("responsePayload", out _));
        Assert.Equal(2, record.GetProperty("requestContext").GetProperty("approximateInvokeCount").GetInt32());
        Assert.Equal(200, record.GetProperty("responseContext").GetProperty("statusCode").GetInt32());
    }
}
