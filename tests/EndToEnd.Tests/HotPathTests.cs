using System.Text.Json.Nodes;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Fleet.EndToEnd.Tests;

/// <summary>A real silo process, real MQTT devices (mosquitto_pub and MQTTnet), real HTTP.</summary>
public sealed class HotPathTests
{
    [Theory]
    [InlineData("Direct")]
    [InlineData("Streams")]
    public async Task Readings_from_mosquitto_pub_reach_the_sensor_state_over_http(string transport)
    {
        await using var silo = new SiloProcess(new Dictionary<string, string> { ["Silo__Transport"] = transport });
        await silo.StartAsync();
        var values = Enumerable.Range(1, 30).Select(i => 20.0 + i % 5).ToArray();
        await Devices.MosquittoPubAsync(silo.MqttPort, "sensors/room-1/telemetry", values.Select((v, i) => Devices.Reading(i + 1, v)));

        var sensor = await silo.WaitForAsync("/sensors/room-1", s => (long)s["counts"]!["accepted"]! == values.Length);
        Assert.Equal(0, (long)sensor["counts"]!["rejected"]!);
        var metric = sensor["metrics"]!.AsArray().Single()!;
        Assert.Equal("value", (string)metric["name"]!);
        Assert.Equal(values.Length, (long)metric["count"]!);
        Assert.Equal(values.Average(), (double)metric["mean"]!, 9);
        Assert.Equal(values.Max(), (double)metric["max"]!);
        Assert.Equal(30, (long)sensor["lastReading"]!["seq"]!);
        Assert.NotNull(sensor["activatedAtUtc"]);

        var list = await silo.GetJsonAsync("/sensors");
        Assert.Contains("room-1", list["sensorIds"]!.AsArray().Select(n => (string)n!));
        var pipeline = await silo.GetJsonAsync("/stats/pipeline");
        Assert.True((long)pipeline["processed"]! >= values.Length);
    }

    [Fact]
    public async Task Named_metrics_and_batches_are_accepted_and_duplicates_counted()
    {
        await using var silo = new SiloProcess();
        await silo.StartAsync();
        using var device = await Devices.ConnectAsync(silo.MqttPort);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var batch = $"[{{\"ts\":{now},\"seq\":1,\"metrics\":{{\"temperature\":21.5,\"humidity\":40}}}},{{\"ts\":\"{DateTimeOffset.UtcNow:O}\",\"seq\":2,\"metrics\":{{\"temperature\":22.5,\"humidity\":41}}}}]";
        var first = await device.PublishAsync("sensors/multi-1/telemetry", batch);
        Assert.True(first.IsSuccess, first.ReasonString);
        var again = await device.PublishAsync("sensors/multi-1/telemetry", $"{{\"ts\":{now},\"seq\":2,\"metrics\":{{\"temperature\":99}}}}");
        Assert.True(again.IsSuccess);

        var sensor = await silo.WaitForAsync("/sensors/multi-1", s => (long)s["counts"]!["accepted"]! == 2 && (long)s["counts"]!["duplicates"]! == 1);
        var names = sensor["metrics"]!.AsArray().Select(m => (string)m!["name"]!).ToArray();
        Assert.Equal(["humidity", "temperature"], names);
        Assert.Equal(22.0, (double)sensor["metrics"]!.AsArray().Single(m => (string)m!["name"]! == "temperature")!["mean"]!);
    }

    public static TheoryData<string, string, MqttPubAckReasonCode, string> BadInputs => new()
    {
        { "sensors/bad-1/telemetry", "{not json", MqttPubAckReasonCode.PayloadFormatInvalid, "malformed_json" },
        { "sensors/bad-1/telemetry", "{\"ts\":1732450000000}", MqttPubAckReasonCode.PayloadFormatInvalid, "missing_value" },
        { "sensors/bad-1/telemetry", "{\"value\":1e999}", MqttPubAckReasonCode.PayloadFormatInvalid, "non_finite_value" },
        { "sensors/bad-1/telemetry", "{\"value\":\"NaN\"}", MqttPubAckReasonCode.PayloadFormatInvalid, "non_finite_value" },
        { "sensors/bad-1/telemetry", "{\"value\":1e300}", MqttPubAckReasonCode.PayloadFormatInvalid, "value_out_of_range" },
        { "sensors/bad-1/telemetry", "{\"ts\":\"yesterday\",\"value\":1}", MqttPubAckReasonCode.PayloadFormatInvalid, "bad_timestamp" },
        { "sensors/bad-1/telemetry", "{\"seq\":-4,\"value\":1}", MqttPubAckReasonCode.PayloadFormatInvalid, "bad_sequence" },
        { "sensors/bad-1/telemetry", "{\"metrics\":{\"bad name!\":1}}", MqttPubAckReasonCode.PayloadFormatInvalid, "bad_metric_name" },
        { "sensors/bad-1/telemetry", "{\"metrics\":{" + string.Join(",", Enumerable.Range(0, 40).Select(i => $"\"m{i}\":1")) + "}}", MqttPubAckReasonCode.QuotaExceeded, "too_many_metrics" },
        { "sensors/bad-1/telemetry", "{\"value\":1,\"pad\":\"" + new string('x', 70_000) + "\"}", MqttPubAckReasonCode.QuotaExceeded, "payload_too_large" },
        { "sensors/bad id/telemetry", "{\"value\":1}", MqttPubAckReasonCode.TopicNameInvalid, "bad_sensor_id" },
        { "sensors/bad-1/status", "{\"value\":1}", MqttPubAckReasonCode.TopicNameInvalid, "unknown_topic" },
        { "elsewhere/bad-1", "{\"value\":1}", MqttPubAckReasonCode.TopicNameInvalid, "unknown_topic" },
    };

    [Fact]
    public async Task Every_bad_input_is_refused_with_its_reason_counted_and_valid_traffic_on_the_same_connection_flows()
    {
        await using var silo = new SiloProcess();
        await silo.StartAsync();
        using var device = await Devices.ConnectAsync(silo.MqttPort);
        var seq = 0;
        var expectedPerSensor = new Dictionary<string, int>();
        foreach (var row in BadInputs)
        {
            var (topic, payload, code, reason) = ((string)row[0], (string)row[1], (MqttPubAckReasonCode)row[2], (string)row[3]);
            var refused = await device.PublishAsync(topic, payload);
            Assert.Equal((int)code, (int)refused.ReasonCode);
            Assert.StartsWith(reason, refused.ReasonString);
            if (topic == "sensors/bad-1/telemetry") expectedPerSensor[reason] = expectedPerSensor.GetValueOrDefault(reason) + 1;

            // The same connection keeps working for valid readings.
            var ok = await device.PublishAsync("sensors/bad-1/telemetry", Devices.Reading(++seq, 20 + seq));
            Assert.True(ok.IsSuccess, $"{ok.ReasonCode} {ok.ReasonString}");
        }

        Assert.True(device.IsConnected);
        var sensor = await silo.WaitForAsync("/sensors/bad-1", s =>
            (long)s["counts"]!["accepted"]! == seq
            && (long)s["counts"]!["rejected"]! == expectedPerSensor.Values.Sum());
        foreach (var (reason, count) in expectedPerSensor)
        {
            Assert.Equal(count, (long)sensor["counts"]!["rejectedByReason"]![reason]!);
        }

        var ingress = await silo.GetJsonAsync("/ingress");
        Assert.Equal(BadInputs.Count(), (long)ingress["rejected"]!);
        Assert.Equal(1, (long)ingress["rejectedByReason"]!["bad_sensor_id"]!);
        Assert.Equal(2, (long)ingress["rejectedByReason"]!["unknown_topic"]!);
    }

    [Fact]
    public async Task Readings_posted_over_http_take_the_same_path_and_checks()
    {
        await using var silo = new SiloProcess();
        await silo.StartAsync();
        using var ok = await silo.Http.PostAsync("/sensors/web-1/readings",
            new StringContent($"[{Devices.Reading(1, 10)},{Devices.Reading(2, 12)}]", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(System.Net.HttpStatusCode.Accepted, ok.StatusCode);
        using var bad = await silo.Http.PostAsync("/sensors/web-1/readings", new StringContent("{\"value\": \"NaN\"}"));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("non_finite_value", (string)JsonNode.Parse(await bad.Content.ReadAsStringAsync())!["error"]!);

        var sensor = await silo.WaitForAsync("/sensors/web-1", s => (long)s["counts"]!["accepted"]! == 2 && (long)s["counts"]!["rejected"]! == 1);
        Assert.Equal(11.0, (double)sensor["metrics"]![0]!["mean"]!);
        Assert.Equal(1, (long)sensor["counts"]!["rejectedByReason"]!["non_finite_value"]!);
    }

    [Fact]
    public async Task An_mqtt_311_device_keeps_its_connection_after_a_refused_publish()
    {
        await using var silo = new SiloProcess();
        await silo.StartAsync();
        using var device = await Devices.ConnectAsync(silo.MqttPort, MqttProtocolVersion.V311);
        await device.PublishAsync("sensors/old-1/telemetry", "garbage");
        var ok = await device.PublishAsync("sensors/old-1/telemetry", Devices.Reading(1, 5));
        Assert.True(ok.IsSuccess);
        Assert.True(device.IsConnected);
        var sensor = await silo.WaitForAsync("/sensors/old-1", s => (long)s["counts"]!["accepted"]! == 1 && (long)s["counts"]!["rejected"]! == 1);
        Assert.Equal(1, (long)sensor["counts"]!["rejectedByReason"]!["malformed_json"]!);
    }

    [Fact]
    public async Task Sensor_state_survives_a_restart()
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "fleet-e2e-restart-" + Guid.NewGuid().ToString("N"));
        JsonNode before;
        await using (var silo = new SiloProcess(dataDirectory: dataDirectory))
        {
            await silo.StartAsync();
            var config = await silo.PutJsonAsync("/sensors/keep-1/config", new { allowedLatenessMs = 5000, smoothingAlpha = 0.5 });
            Assert.True(config.IsSuccessStatusCode, await config.Content.ReadAsStringAsync());
            await Devices.MosquittoPubAsync(silo.MqttPort, "sensors/keep-1/telemetry", Enumerable.Range(1, 25).Select(i => Devices.Reading(i, i)));
            before = await silo.WaitForAsync("/sensors/keep-1", s => (long)s["counts"]!["accepted"]! == 25);
            await silo.StopAsync(); // graceful: deactivation writes the state behind
        }

        await using (var silo = new SiloProcess(dataDirectory: dataDirectory))
        {
            await silo.StartAsync();
            var after = await silo.GetJsonAsync("/sensors/keep-1");
            Assert.Equal(25, (long)after["counts"]!["accepted"]!);
            Assert.Equal((double)before["metrics"]![0]!["mean"]!, (double)after["metrics"]![0]!["mean"]!);
            Assert.Equal((long)before["metrics"]![0]!["detector"]!["points"]!, (long)after["metrics"]![0]!["detector"]!["points"]!);
            Assert.Equal(0.5, (double)after["config"]!["smoothingAlpha"]!);
            Assert.Contains("keep-1", (await silo.GetJsonAsync("/sensors"))["sensorIds"]!.AsArray().Select(n => (string)n!));

            // A resent reading is still known as a duplicate after the restart; a new one is accepted.
            await Devices.MosquittoPubAsync(silo.MqttPort, "sensors/keep-1/telemetry", [Devices.Reading(25, 25), Devices.Reading(26, 26)]);
            await silo.WaitForAsync("/sensors/keep-1", s => (long)s["counts"]!["accepted"]! == 26 && (long)s["counts"]!["duplicates"]! == 1);
        }

        Directory.Delete(dataDirectory, recursive: true);
    }

    [Fact]
    public async Task Anomalies_are_republished_on_the_alert_topic()
    {
        await using var silo = new SiloProcess();
        await silo.StartAsync();
        using var listener = await Devices.ConnectAsync(silo.MqttPort);
        var alerts = new List<(string Topic, string Payload)>();
        listener.ApplicationMessageReceivedAsync += e =>
        {
            lock (alerts) alerts.Add((e.ApplicationMessage.Topic, e.ApplicationMessage.ConvertPayloadToString()));
            return Task.CompletedTask;
        };
        await listener.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("alerts/#").Build());
        var config = await silo.PutJsonAsync("/sensors/spiky-1/config", new { detector = "ewma-z", detectorParameters = new Dictionary<string, double> { ["warmup"] = 20 } });
        Assert.True(config.IsSuccessStatusCode, await config.Content.ReadAsStringAsync());

        var random = new Random(7);
        var lines = Enumerable.Range(1, 300).Select(i => Devices.Reading(i, i == 250 ? 500 : 20 + random.NextDouble())).ToList();
        await Devices.MosquittoPubAsync(silo.MqttPort, "sensors/spiky-1/telemetry", lines);
        var sensor = await silo.WaitForAsync("/sensors/spiky-1", s => (long)s["counts"]!["anomalies"]! >= 1);
        var anomaly = (await silo.GetJsonAsync("/sensors/spiky-1/anomalies"))[0]!;
        Assert.Equal(250, (long)anomaly["seq"]!);
        Assert.Equal(500, (double)anomaly["value"]!);
        // why: the level the detector expected and the band it would have accepted
        Assert.Equal("level", (string)anomaly["kind"]!);
        Assert.InRange((double)anomaly["expected"]!, 20, 21);
        Assert.InRange((double)anomaly["lower"]!, double.MinValue, 20);
        Assert.InRange((double)anomaly["upper"]!, 21, 500);
        await silo.WaitForAsync("/outbound", o => (long)o.AsArray().Single(t => (string)t!["name"]! == "mqtt-alerts")!["delivered"]! >= 1);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && alerts.Count == 0) await Task.Delay(50);
        lock (alerts)
        {
            var alert = Assert.Single(alerts, a => a.Topic == "alerts/spiky-1");
            var payload = System.Text.Json.Nodes.JsonNode.Parse(alert.Payload)!;
            Assert.Equal(250, (long)payload["seq"]!);
            Assert.Equal((double)anomaly["upper"]!, (double)payload["upper"]!);
        }
    }
}
