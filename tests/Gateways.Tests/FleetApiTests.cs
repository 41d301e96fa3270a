using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using MQTTnet;

namespace Fleet.Gateways.Tests;

/// <summary>The HTTP API and the MQTT ingress of a real in-process silo (Kestrel, the embedded broker, Orleans).</summary>
public sealed class FleetApiTests(GatewayHostFixture fixture) : IClassFixture<GatewayHostFixture>
{
    private GatewayHost Host => fixture.Host;

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task<JsonNode> ErrorOf(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: '{body}'");
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.ToString());
        var error = JsonNode.Parse(body)!;
        Assert.False(string.IsNullOrWhiteSpace((string?)error["error"]), body);
        Assert.False(string.IsNullOrWhiteSpace((string?)error["detail"]), body);
        return error;
    }

    // --- PUT /sensors/{id}/config ----------------------------------------------------------------

    [Fact]
    public async Task A_null_metric_rule_is_a_400_that_names_the_metric()
    {
        var response = await Host.Http.PutAsync("/sensors/cfg-null/config", Json("""{"metrics": {"humidity": {"min": 0}, "t": null}}"""));
        var error = await ErrorOf(response, HttpStatusCode.BadRequest);
        Assert.Equal("invalid_config", (string?)error["error"]);
        Assert.Contains("metric 't'", (string?)error["detail"]);
    }

    [Theory]
    [InlineData("""{"allowedLatenessMs": "abc"}""", "$.allowedLatenessMs")]
    [InlineData("""{"smoothingAlpha": [0.5]}""", "$.smoothingAlpha")]
    [InlineData("""{"detector": 7}""", "$.detector")]
    [InlineData("""{"metrics": {"t": {"min": "low"}}}""", "$.metrics.t.min")]
    [InlineData("""{"metrics": [1, 2]}""", "$.metrics")]
    [InlineData("""{"detectorParameters": {"threshold": null}}""", "$.detectorParameters.threshold")]
    [InlineData("""{"allowedLatenessMs": 5000""", "$")]
    [InlineData("""{"allowedLatenessMs": 5000}}""", "")]
    [InlineData("""not json""", "")]
    [InlineData("", "")]
    public async Task A_body_that_is_not_a_config_gets_an_error_body_with_the_json_error(string body, string path)
    {
        var response = await Host.Http.PutAsync("/sensors/cfg-bad/config", Json(body));
        var error = await ErrorOf(response, HttpStatusCode.BadRequest);
        Assert.Equal("malformed_json", (string?)error["error"]);
        Assert.Contains(path, (string?)error["detail"]);
    }

    [Theory]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("42")]
    public async Task A_body_that_is_not_an_object_is_a_400(string body)
    {
        var error = await ErrorOf(await Host.Http.PutAsync("/sensors/cfg-shape/config", Json(body)), HttpStatusCode.BadRequest);
        Assert.Equal("malformed_json", (string?)error["error"]);
    }

    [Fact]
    public async Task A_refused_config_leaves_the_sensor_configured_as_before()
    {
        var ok = await Host.Http.PutAsync("/sensors/cfg-keep/config", Json("""{"allowedLatenessMs": 5000, "metrics": {"t": {"min": -40, "max": 125}}}"""));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);

        await ErrorOf(await Host.Http.PutAsync("/sensors/cfg-keep/config", Json("""{"metrics": {"t": null}}""")), HttpStatusCode.BadRequest);
        await ErrorOf(await Host.Http.PutAsync("/sensors/cfg-keep/config", Json("""{"allowedLatenessMs": "abc"}""")), HttpStatusCode.BadRequest);
        await ErrorOf(await Host.Http.PutAsync("/sensors/cfg-keep/config", Json("""{"allowedLatenessMs": -1}""")), HttpStatusCode.BadRequest);

        var config = (await Host.Sensor("cfg-keep").GetSnapshot()).Config!;
        Assert.Equal(5000, config.AllowedLatenessMs);
        Assert.Equal(125, config.Metrics!["t"].Max);
    }

    [Fact]
    public async Task A_bad_sensor_id_is_refused_before_the_body_is_read()
    {
        var error = await ErrorOf(await Host.Http.PutAsync("/sensors/bad%20id/config", Json("not json")), HttpStatusCode.BadRequest);
        Assert.Equal("bad_sensor_id", (string?)error["error"]);
    }

    // --- MQTT: a reading from the future ---------------------------------------------------------------

    [Fact]
    public async Task A_reading_from_the_future_is_refused_and_does_not_make_later_readings_late()
    {
        using var device = await Host.ConnectAsync();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var future = await device.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic("sensors/clock-1/telemetry")
            .WithPayload(GatewayHost.Reading(1, 20, now + 3 * 86_400_000L))
            .WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());
        Assert.False(future.IsSuccess, "a reading three days ahead was accepted");
        Assert.StartsWith("bad_timestamp: ts is 3 days ahead of the server's clock; at most 1 day", future.ReasonString);

        for (var seq = 2; seq <= 4; seq++)
        {
            var ok = await device.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic("sensors/clock-1/telemetry")
                .WithPayload(GatewayHost.Reading(seq, 20 + seq))
                .WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce)
                .Build());
            Assert.True(ok.IsSuccess, ok.ReasonString);
        }

        var sensor = await Host.WaitForSensorAsync("clock-1", s => s.Counts.Accepted == 3 && s.Counts.Rejected == 1);
        Assert.Equal(0, sensor.Counts.Late);
        Assert.Equal(1, sensor.Counts.RejectedByReason["bad_timestamp"]);
        Assert.Equal(4, sensor.LastReading!.Seq);
    }
}
