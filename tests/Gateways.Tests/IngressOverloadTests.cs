using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using MQTTnet;
using MQTTnet.Protocol;

namespace Fleet.Gateways.Tests;

/// <summary>
/// A stalled transport (the gate of <see cref="GatedReadingTransport"/>) in front of one producer shard whose queue holds
/// one publish: a QoS 1 publish or an HTTP POST is either refused as overloaded and never delivered, or acknowledged and
/// delivered, never both (a refusal the device answers by sending again must not duplicate readings).
/// </summary>
public sealed class IngressOverloadTests
{
    private static readonly Dictionary<string, string?> Overload = new()
    {
        ["Mqtt:ProducerShards"] = "1",
        ["Mqtt:QueueCapacity"] = "1",
        ["Mqtt:AcceptTimeout"] = "00:00:00.500",
    };

    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static Task<MqttClientPublishResult> PublishAsync(IMqttClient device, string sensorId, string payload)
        => device.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic($"sensors/{sensorId}/telemetry")
            .WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());

    // Readings without seq: the sensor cannot tell a resent one from a new one, so any duplicate would be counted as accepted.
    private static string Unsequenced(double value) => $"{{\"value\":{value}}}";

    [Fact]
    public async Task A_qos1_publish_queued_while_the_transport_stalls_is_acknowledged_not_refused_and_delivered_once()
    {
        await using var host = await GatewayHost.StartAsync(Overload);
        var stalled = host.Gate.Close();
        using var device = await host.ConnectAsync();

        var ack = await PublishAsync(device, "gated-q1", Unsequenced(1));
        Assert.True(ack.IsSuccess, $"refused: {ack.ReasonCode} {ack.ReasonString}");
        await stalled.WaitAsync(Wait);
        await Task.Delay(TimeSpan.FromMilliseconds(800)); // longer than AcceptTimeout: an acknowledged publish stays acknowledged
        Assert.Equal(0, await host.RejectedAsync("overloaded"));

        host.Gate.Open();
        var sensor = await host.WaitForSensorAsync("gated-q1", s => s.Counts.Accepted == 1);
        Assert.Equal(0, sensor.Counts.Rejected);
    }

    [Fact]
    public async Task A_qos1_publish_that_cannot_be_queued_is_refused_overloaded_and_never_delivered()
    {
        await using var host = await GatewayHost.StartAsync(Overload);
        var stalled = host.Gate.Close();
        using var device = await host.ConnectAsync();

        Assert.True((await PublishAsync(device, "gated-q2", Unsequenced(1))).IsSuccess); // taken by the stalled flush
        await stalled.WaitAsync(Wait);
        Assert.True((await PublishAsync(device, "gated-q2", Unsequenced(2))).IsSuccess); // fills the queue
        var refused = await PublishAsync(device, "gated-q2", Unsequenced(3));
        Assert.False(refused.IsSuccess, "a publish that found the queue full was acknowledged");
        Assert.Equal(MqttClientPublishReasonCode.ImplementationSpecificError, refused.ReasonCode);
        Assert.StartsWith("overloaded: the ingress queue stayed full for 500 ms; nothing was queued", refused.ReasonString);
        Assert.Equal(1, await host.RejectedAsync("overloaded"));

        host.Gate.Open();
        await host.WaitForSensorAsync("gated-q2", s => s.Counts.Accepted == 2 && s.Counts.RejectedByReason.GetValueOrDefault("overloaded") == 1);
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        var sensor = await host.Sensor("gated-q2").GetSnapshot();
        Assert.Equal(2, sensor.Counts.Accepted); // the refused reading did not arrive after all
        Assert.Equal(2, sensor.LastReading!.Metrics.Single().Value);

        // The device sends the refused publish again: it arrives once.
        Assert.True((await PublishAsync(device, "gated-q2", Unsequenced(3))).IsSuccess);
        sensor = await host.WaitForSensorAsync("gated-q2", s => s.Counts.Accepted == 3);
        Assert.Equal(3, sensor.LastReading!.Metrics.Single().Value);
        await Task.Delay(TimeSpan.FromMilliseconds(300));
        Assert.Equal(3, (await host.Sensor("gated-q2").GetSnapshot()).Counts.Accepted);
    }

    [Fact]
    public async Task Http_readings_are_accepted_once_queued_or_refused_with_503_overloaded_and_never_delivered()
    {
        await using var host = await GatewayHost.StartAsync(Overload);
        var stalled = host.Gate.Close();
        var post = (double value) => host.Http.PostAsync("/sensors/gated-h/readings", new StringContent(Unsequenced(value), Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Accepted, (await post(1)).StatusCode); // queued while the transport stalls: not a wait without end
        await stalled.WaitAsync(Wait);
        Assert.Equal(HttpStatusCode.Accepted, (await post(2)).StatusCode);
        var refused = await post(3);
        var body = await refused.Content.ReadAsStringAsync();
        Assert.True(refused.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)refused.StatusCode}: {body}");
        var error = JsonNode.Parse(body)!;
        Assert.Equal("overloaded", (string?)error["error"]);
        Assert.Equal("the ingress queue stayed full for 500 ms; nothing was queued, send again later", (string?)error["detail"]);
        Assert.Equal(1, await host.RejectedAsync("overloaded"));

        host.Gate.Open();
        await host.WaitForSensorAsync("gated-h", s => s.Counts.Accepted == 2 && s.Counts.RejectedByReason.GetValueOrDefault("overloaded") == 1);
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        Assert.Equal(2, (await host.Sensor("gated-h").GetSnapshot()).Counts.Accepted);

        Assert.Equal(HttpStatusCode.Accepted, (await post(3)).StatusCode);
        var sensor = await host.WaitForSensorAsync("gated-h", s => s.Counts.Accepted == 3);
        Assert.Equal(3, sensor.LastReading!.Metrics.Single().Value);
    }
}
