using System.Buffers;
using Fleet.Grains.Readings;
using Fleet.Grains.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace Fleet.Gateways.Mqtt;

/// <summary>
/// The embedded MQTT broker (MQTTnet) and the telemetry ingress. Every publish to
/// <c>sensors/{id}/telemetry</c> is checked (topic, size, JSON) and its readings are handed to
/// <see cref="ReadingIngress"/>; a QoS 1 publish is acknowledged once its readings are queued there (from where
/// they are never dropped), or refused as <c>overloaded</c> when the queue stays full for <c>Mqtt:AcceptTimeout</c>,
/// and then nothing of it was queued. A refused publish gets a reason (an MQTT 5 reason code and string where the
/// client speaks MQTT 5), is counted per sensor and globally, and leaves the connection open.
/// </summary>
public sealed class MqttGateway : IHostedService, IAsyncDisposable
{
    private readonly MqttGatewayOptions _options;
    private readonly ReadingIngress _ingress;
    private readonly IngressStats _stats;
    private readonly SensorRejectCounter _rejects;
    private readonly ILogger<MqttGateway> _logger;
    private readonly ReadingParser _parser;
    private readonly MqttServer _server;
    private readonly string _topicPrefix;

    public MqttGateway(
        IOptions<MqttGatewayOptions> options,
        ReadingIngress ingress,
        IngressStats stats,
        SensorRejectCounter rejects,
        ReadingParser parser,
        ILogger<MqttGateway> logger)
    {
        _options = options.Value;
        _ingress = ingress;
        _stats = stats;
        _rejects = rejects;
        _logger = logger;
        _topicPrefix = _options.TopicPrefix;
        _parser = parser;
        var serverOptions = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointPort(_options.Port)
            .Build();
        _server = new MqttServerFactory().CreateMqttServer(serverOptions);
        _server.ValidatingConnectionAsync += OnConnecting;
        _server.InterceptingPublishAsync += OnPublishAsync;
    }

    /// <summary>The broker, for the outbound MQTT adapter (alerts are injected into it).</summary>
    public MqttServer Server => _server;

    public int Port => _options.Port;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _server.StartAsync();
        _logger.LogInformation("MQTT broker listening on port {Port}; devices publish to {Prefix}/{{sensorId}}/telemetry", _options.Port, _topicPrefix);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server.IsStarted)
        {
            await _server.StopAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        _server.Dispose();
    }

    private static Task OnConnecting(ValidatingConnectionEventArgs e)
    {
        // MQTT 3.1.1 and 5 let a client with a clean session send an empty client id and have the server
        // assign one [MQTT-3.1.3-6]; mosquitto_pub does this. MQTTnet assigns AssignedClientIdentifier for
        // MQTT 5 only, so for 3.1.1 the id is set on the CONNECT packet itself.
        if (string.IsNullOrEmpty(e.ClientId) && e.CleanSession != false)
        {
            var assigned = "auto-" + Guid.NewGuid().ToString("N");
            e.AssignedClientIdentifier = assigned;
            EmptyClientId.Assign(e, assigned);
        }

        return Task.CompletedTask;
    }

    private async Task OnPublishAsync(InterceptingPublishEventArgs e)
    {
        // Messages the silo itself injects (alerts) have no client id; let them through.
        if (string.IsNullOrEmpty(e.ClientId))
        {
            return;
        }

        var message = e.ApplicationMessage;
        if (!SensorTopic.TryParse(message.Topic, _topicPrefix, out var sensorId, out var topicReason))
        {
            if (_options.RelayOtherTopics
                && topicReason == RejectReason.UnknownTopic
                && !message.Topic.StartsWith(_topicPrefix + "/", StringComparison.Ordinal)
                && !message.Topic.StartsWith(_options.AlertTopicPrefix + "/", StringComparison.Ordinal))
            {
                return; // an ordinary broker topic, relayed as any broker would
            }

            Refuse(e, null, topicReason, topicReason == RejectReason.BadSensorId
                ? "sensor ids are 1-128 characters of [A-Za-z0-9_.:-]"
                : $"telemetry topics are {_topicPrefix}/{{sensorId}}/telemetry");
            return;
        }

        var payload = message.Payload;
        if (payload.Length > _options.MaxPayloadBytes)
        {
            Refuse(e, sensorId, RejectReason.PayloadTooLarge, $"payload is {payload.Length} bytes; at most {_options.MaxPayloadBytes}");
            return;
        }

        var parsed = _parser.Parse(payload, UnixTime.NowMicros());
        if (!parsed.Ok)
        {
            Refuse(e, sensorId, parsed.Reason, parsed.Detail!);
            return;
        }

        e.ProcessPublish = _options.RelayTelemetry;

        // QoS 1 and 2: a publish is either refused and not queued, or queued and acknowledged, never both. A refused
        // publish is sent again by the device, and readings without seq cannot be told from duplicates downstream, so
        // refusing readings that are then delivered anyway (what waiting for the transport with a deadline did: the
        // deadline could expire after the readings were queued) duplicates them.
        // The deadline therefore covers only getting into the queue (ReadingIngress.TryEnqueueAsync). Once queued,
        // readings are never dropped (the ingress retries the transport until it takes them, and a graceful stop drains
        // the queue), so the publish is acknowledged right away instead of after the transport took it: a deadline on
        // that wait is the defect above, and no deadline would let a stalled transport hold the device's session (and its
        // in-flight window) for as long as it stalls. Backpressure still reaches devices: a full queue delays the PUBACK
        // by up to AcceptTimeout and then refuses as overloaded. QoS 0 waits for room without a deadline.
        var deadline = message.QualityOfServiceLevel == MqttQualityOfServiceLevel.AtMostOnce ? Timeout.InfiniteTimeSpan : _options.AcceptTimeout;
        if (await _ingress.TryEnqueueAsync(sensorId, parsed.Readings!, deadline) is { } refusal)
        {
            Refuse(e, sensorId, RejectReason.Overloaded, refusal);
        }
    }


    private void Refuse(InterceptingPublishEventArgs e, string? sensorId, RejectReason reason, string detail)
    {
        e.ProcessPublish = false;
        e.Response.ReasonCode = reason switch
        {
            RejectReason.UnknownTopic or RejectReason.BadSensorId => MqttPubAckReasonCode.TopicNameInvalid,
            RejectReason.PayloadTooLarge or RejectReason.TooManyMetrics or RejectReason.BatchTooLarge => MqttPubAckReasonCode.QuotaExceeded,
            RejectReason.Overloaded => MqttPubAckReasonCode.ImplementationSpecificError,
            _ => MqttPubAckReasonCode.PayloadFormatInvalid,
        };
        e.Response.ReasonString = $"{reason.Name()}: {detail}";
        _stats.Reject(reason);
        if (sensorId is not null)
        {
            _rejects.Count(sensorId, reason);
        }

        _logger.LogDebug("Refused publish from {ClientId} to {Topic}: {Reason}: {Detail}", e.ClientId, e.ApplicationMessage.Topic, reason.Name(), detail);
    }
}
