using Fleet.Grains.Sensors;

namespace Fleet.Gateways.Outbound;

/// <summary>Delivers one item to a target's downstream (one attempt; retries are the target's business).</summary>
public interface IOutboundSender
{
    Task<SendResult> SendAsync(Anomaly anomaly, CancellationToken cancellationToken);
}
