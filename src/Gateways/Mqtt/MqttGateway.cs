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
/// <see cref="ReadingIngress"/>; a QoS 1 publish is acknowledged only once the stream provider has
/// accepted it. A refused publish gets a reason (an MQTT 5 reason code and string where the client
/// speaks MQTT 5), is counted per sensor and globally, and leaves the connection open.
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
        if (message.QualityOfServiceLevel == MqttQualityOfServiceLevel.AtMostOnce)
        {
            await _ingress.EnqueueAsync(sensorId, parsed.Readings!);
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(_options.AcceptTimeout);
            await _ingress.AcceptAsync(sensorId, parsed.Readings!, timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Refuse(e, sensorId, RejectReason.Overloaded, "the platform is overloaded; publish again later");
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
