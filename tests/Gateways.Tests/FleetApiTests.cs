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

    // --- requests the API cannot bind ------------------------------------------------------------

    [Theory]
    [InlineData("/sensors?limit=abc", "limit")]
    [InlineData("/sensors/s-1/anomalies?limit=1.5", "limit")]
    [InlineData("/outbound/deadletters?limit=many", "limit")]
    public async Task A_query_value_of_the_wrong_type_gets_an_error_body_not_an_empty_400(string path, string parameter)
    {
        var error = await ErrorOf(await Host.Http.GetAsync(path), HttpStatusCode.BadRequest);
        Assert.Equal("bad_request", (string?)error["error"]);
        Assert.StartsWith($"{parameter} must be an integer (got ", (string?)error["detail"]);
    }

    [Theory]
    [InlineData("""{"allowedLatenessMs": "abc"}""", "the value at $.allowedLatenessMs must be an integer")]
    [InlineData("""{"smoothingAlpha": "x"}""", "the value at $.smoothingAlpha must be a number")]
    [InlineData("""{"metrics": [1]}""", "the value at $.metrics must be an object (name: value)")]
    [InlineData("""{"detector": 7}""", "the value at $.detector must be a string")]
    public async Task A_value_of_the_wrong_type_is_named_in_the_apis_words_not_dotnets(string body, string detail)
    {
        var error = await ErrorOf(await Host.Http.PutAsync("/sensors/cfg-words/config", Json(body)), HttpStatusCode.BadRequest);
        Assert.Equal(detail, (string?)error["detail"]);
    }


    [Theory]
    [InlineData("/sensors?limit=0", "limit must be between 1 and 1000 (got 0)")]
    [InlineData("/sensors/s-1/anomalies?limit=-3", "limit must be between 1 and 1000 (got -3)")]
    [InlineData("/outbound/deadletters?limit=5000", "limit must be between 1 and 1000 (got 5000)")]
    [InlineData("/outbound/deadletters?offset=-1", "offset must be 0 or more (got -1)")]
    public async Task A_page_size_out_of_range_is_a_400_that_says_the_range(string path, string detail)
    {
        var error = await ErrorOf(await Host.Http.GetAsync(path), HttpStatusCode.BadRequest);
        Assert.Equal(detail, (string?)error["detail"]);
    }

    [Fact]
    public async Task The_anomalies_of_a_sensor_that_sent_nothing_are_a_404_as_the_sensor_is()
    {
        var error = await ErrorOf(await Host.Http.GetAsync("/sensors/never-sent/anomalies"), HttpStatusCode.NotFound);
        Assert.Equal("unknown_sensor", (string?)error["error"]);

        Assert.Equal(HttpStatusCode.Accepted, (await Host.Http.PostAsync("/sensors/sent-once/readings", Json(GatewayHost.Reading(1, 20)))).StatusCode);
        await Host.WaitForSensorAsync("sent-once", s => s.Counts.Accepted == 1);
        Assert.Equal("[]", await Host.Http.GetStringAsync("/sensors/sent-once/anomalies"));
    }

    [Fact]
    public async Task A_reading_without_seq_shows_seq_null_not_an_internal_value()
    {
        Assert.Equal(HttpStatusCode.Accepted, (await Host.Http.PostAsync("/sensors/no-seq/readings", Json("""{"value": 5}"""))).StatusCode);
        await Host.WaitForSensorAsync("no-seq", s => s.Counts.Accepted == 1);
        var last = (await Host.GetJsonAsync("/sensors/no-seq"))["lastReading"]!.AsObject();
        Assert.True(last.ContainsKey("seq"));
        Assert.Null(last["seq"]);
    }

    [Fact]
    public async Task Health_reports_when_the_process_started_not_when_it_was_first_asked()
    {
        var started = DateTime.Parse((string)(await Host.GetJsonAsync("/health"))["startedAtUtc"]!, null, System.Globalization.DateTimeStyles.RoundtripKind);
        Assert.Equal(System.Diagnostics.Process.GetCurrentProcess().StartTime.ToUniversalTime(), started, TimeSpan.FromSeconds(1));
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
    public async Task A_misspelt_field_is_refused_and_does_not_reset_the_configuration()
    {
        Assert.Equal(HttpStatusCode.OK, (await Host.Http.PutAsync("/sensors/cfg-typo/config", Json("""{"detector": "ewma-z", "allowedLatenessMs": 5000}"""))).StatusCode);

        var error = await ErrorOf(await Host.Http.PutAsync("/sensors/cfg-typo/config", Json("""{"detecter": "fusion"}""")), HttpStatusCode.BadRequest);
        Assert.StartsWith("unknown field 'detecter' at $.detecter; the fields here are detector, detectorParameters, allowedLatenessMs", (string?)error["detail"]);
        error = await ErrorOf(await Host.Http.PutAsync("/sensors/cfg-typo/config", Json("""{"metrics": {"t": {"minimum": 0}}}""")), HttpStatusCode.BadRequest);
        Assert.StartsWith("unknown field 'minimum' at $.metrics.t.minimum", (string?)error["detail"]);

        var config = (await Host.Sensor("cfg-typo").GetSnapshot()).Config!;
        Assert.Equal("ewma-z", config.Detector);
        Assert.Equal(5000, config.AllowedLatenessMs);
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

    // --- POST /sensors/{id}/readings ---------------------------------------------------------------

    [Fact]
    public async Task Readings_posted_over_http_are_accepted()
    {
        var response = await Host.Http.PostAsync("/sensors/http-ok/readings", Json($"[{GatewayHost.Reading(1, 20)},{GatewayHost.Reading(2, 21)}]"));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await Host.WaitForSensorAsync("http-ok", s => s.Counts.Accepted == 2);
    }

    [Fact]
    public async Task A_body_over_the_limit_is_a_413_counted_like_an_mqtt_payload_too_large()
    {
        var before = await Host.RejectedAsync("payload_too_large");
        var body = $"{{\"value\": 1, \"pad\": \"{new string('x', 64 * 1024)}\"}}"; // the default limit is 64 KiB
        var error = await ErrorOf(await Host.Http.PostAsync("/sensors/http-big/readings", Json(body)), HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal("payload_too_large", (string?)error["error"]);
        Assert.Equal($"payload is {Encoding.UTF8.GetByteCount(body)} bytes; at most 65536", (string?)error["detail"]);
        Assert.Equal(before + 1, await Host.RejectedAsync("payload_too_large"));
        await Host.WaitForSensorAsync("http-big", s => s.Counts.RejectedByReason.GetValueOrDefault("payload_too_large") == 1);

        // Right at the limit is fine.
        var fits = $"{{\"value\": 1, \"pad\": \"{new string('x', 64 * 1024 - 23)}\"}}";
        Assert.Equal(64 * 1024, Encoding.UTF8.GetByteCount(fits));
        Assert.Equal(HttpStatusCode.Accepted, (await Host.Http.PostAsync("/sensors/http-big/readings", Json(fits))).StatusCode);
    }

    [Fact]
    public async Task A_streamed_body_without_a_length_is_refused_after_the_limit_not_read_to_its_end()
    {
        var before = await Host.RejectedAsync("payload_too_large");
        const long total = 256L * 1024 * 1024;
        var (status, body, written) = await PostEndlessChunkedBodyAsync("/sensors/http-stream/readings", total);
        Assert.True(status == 413, $"expected 413, got {status}: {body}");
        var error = JsonNode.Parse(body)!;
        Assert.Equal("payload_too_large", (string?)error["error"]);
        Assert.Equal("payload is more than 65536 bytes; at most 65536", (string?)error["detail"]);
        Assert.True(written < total / 4, $"the client sent {written} of {total} bytes before the answer");
        Assert.Equal(before + 1, await Host.RejectedAsync("payload_too_large"));
    }

    /// <summary>
    /// POSTs a chunked body of JSON whitespace over a plain socket, writing until the server answers (or
    /// <paramref name="total"/> bytes are sent); returns the status, the response body and how much was sent.
    /// </summary>
    private async Task<(int Status, string Body, long Written)> PostEndlessChunkedBodyAsync(string path, long total)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(Host.Http.BaseAddress!.Host, Host.Http.BaseAddress.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));

        var reading = ReadResponseAsync(stream);
        long written = 0;
        using var stop = new CancellationTokenSource();
        var writing = Task.Run(async () =>
        {
            var chunk = Encoding.ASCII.GetBytes("10000\r\n" + new string(' ', 0x10000) + "\r\n");
            try
            {
                while (written < total && !reading.IsCompleted)
                {
                    await stream.WriteAsync(chunk, stop.Token);
                    Interlocked.Add(ref written, 0x10000);
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
                // the server answered and closed the connection
            }
        });

        var (status, body) = await reading.WaitAsync(TimeSpan.FromSeconds(60));
        stop.Cancel();
        tcp.Close();
        await writing.WaitAsync(TimeSpan.FromSeconds(10));
        return (status, body, Interlocked.Read(ref written));
    }

    private static async Task<(int Status, string Body)> ReadResponseAsync(Stream stream)
    {
        var received = new List<byte>();
        var buffer = new byte[4096];
        int headerEnd;
        while ((headerEnd = IndexOf(received, "\r\n\r\n"u8)) < 0)
        {
            var n = await stream.ReadAsync(buffer);
            if (n == 0) throw new IOException("the connection closed before a response");
            received.AddRange(buffer.AsSpan(0, n));
        }

        var head = Encoding.ASCII.GetString(received.ToArray(), 0, headerEnd);
        var status = int.Parse(head.Split(' ')[1]);
        var chunked = head.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase);
        var lengthLine = head.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        var length = lengthLine is null ? 0 : int.Parse(lengthLine["Content-Length:".Length..].Trim());
        while (chunked ? IndexOf(received, "\r\n0\r\n\r\n"u8) < 0 : received.Count < headerEnd + 4 + length)
        {
            var n = await stream.ReadAsync(buffer);
            if (n == 0) break;
            received.AddRange(buffer.AsSpan(0, n));
        }

        var rest = Encoding.UTF8.GetString(received.ToArray(), headerEnd + 4, received.Count - headerEnd - 4);
        if (!chunked) return (status, rest[..Math.Min(length, rest.Length)]);
        var body = new StringBuilder();
        while (true) // chunk: size in hex CRLF data CRLF; the last has size 0
        {
            var eol = rest.IndexOf("\r\n", StringComparison.Ordinal);
            var size = Convert.ToInt32(rest[..eol], 16);
            if (size == 0) return (status, body.ToString());
            body.Append(rest, eol + 2, size);
            rest = rest[(eol + 2 + size + 2)..];
        }
    }

    private static int IndexOf(List<byte> bytes, ReadOnlySpan<byte> value)
        => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes).IndexOf(value);

    [Fact]
    public async Task A_reading_with_a_metric_twice_is_refused_over_http()
    {
        var error = await ErrorOf(await Host.Http.PostAsync("/sensors/http-dup/readings", Json("""{"metrics": {"t": 1, "t": 100}}""")), HttpStatusCode.BadRequest);
        Assert.Equal("bad_metric_name", (string?)error["error"]);
        Assert.Equal("metric \"t\" appears twice in one reading", (string?)error["detail"]);
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
