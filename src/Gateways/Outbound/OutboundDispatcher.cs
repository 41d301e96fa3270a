using Fleet.Gateways.Mqtt;
using Fleet.Grains.Outbound;
using Fleet.Grains.Sensors;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fleet.Gateways.Outbound;

/// <summary>
/// The grains' <see cref="IOutboundPort"/>: every anomaly goes to every enabled target, each with its own
/// queue, rate limit, retries and dead letters. Also serves the HTTP API (stats, redrive).
/// </summary>
public sealed class OutboundDispatcher : IOutboundPort, IHostedService
{
    private readonly Dictionary<string, OutboundTarget> _targets = new(StringComparer.OrdinalIgnoreCase);
    private readonly IGrainFactory _grains;
    private readonly TimeProvider _time;

    public OutboundDispatcher(
        IOptions<OutboundOptions> options,
        IOptions<MqttGatewayOptions> mqtt,
        IGrainFactory grains,
        IHttpClientFactory http,
        MqttGateway gateway,
        TimeProvider time,
        ILoggerFactory loggers)
    {
        _grains = grains;
        _time = time;
        foreach (var (name, target) in options.Value.Targets.Where(t => t.Value.Enabled))
        {
            IOutboundSender sender = target.Kind switch
            {
                OutboundKind.Mqtt => new MqttAlertSender(gateway, mqtt.Value.AlertTopicPrefix),
                OutboundKind.Postgres => new PostgresSender(target.ConnectionString!, target.Table, target.CreateTable),
                _ => new WebhookSender(http.CreateClient($"outbound-{name}"), target.Url!),
            };
            _targets.Add(name, new OutboundTarget(name, target.Kind, OutboundPolicy.From(target), sender, grains, time, loggers.CreateLogger($"Fleet.Outbound.{name}")));
        }
    }

    public IReadOnlyCollection<OutboundTarget> Targets => _targets.Values;

    public bool TryGetTarget(string name, out OutboundTarget target) => _targets.TryGetValue(name, out target!);

    public void Send(Anomaly anomaly)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        foreach (var target in _targets.Values)
        {
            target.Submit(new OutboundItem(Guid.NewGuid(), anomaly, now));
        }
    }

    /// <summary>Queues up to <paramref name="max"/> of a target's dead letters again (see <see cref="OutboundTarget.RedriveAsync"/>).</summary>
    public Task<int> RedriveAsync(OutboundTarget target, int max) => target.RedriveAsync(max);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var target in _targets.Values) target.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
        => Task.WhenAll(_targets.Values.Select(t => t.StopAsync(TimeSpan.FromSeconds(5))));
}
