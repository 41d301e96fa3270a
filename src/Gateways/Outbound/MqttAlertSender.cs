using System.Text.Json;
using Fleet.Gateways.Mqtt;
using Fleet.Grains.Sensors;
using MQTTnet;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace Fleet.Gateways.Outbound;

/// <summary>Republishes anomalies on the embedded broker at {AlertTopicPrefix}/{sensorId} (QoS 1).</summary>
public sealed class MqttAlertSender(MqttGateway gateway, string topicPrefix) : IOutboundSender
{
    public async Task<SendResult> SendAsync(OutboundItem item, CancellationToken cancellationToken)
    {
        var anomaly = item.Payload;
        if (!gateway.Server.IsStarted)
        {
            return SendResult.Transient("the MQTT broker is not running");
        }

        var message = new MqttApplicationMessageBuilder()
            .WithTopic($"{topicPrefix}/{anomaly.SensorId}")
            .WithPayload(JsonSerializer.SerializeToUtf8Bytes(anomaly, OutboundJson.Options))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        await gateway.Server.InjectApplicationMessage(new InjectedMqttApplicationMessage(message), cancellationToken);
        return SendResult.Ok;
    }
}

internal static class OutboundJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
}
