namespace Fleet.Gateways.Outbound;

/// <summary>
/// Delivers one item to a target's downstream (one attempt; retries are the target's business). The item's
/// <see cref="OutboundItem.Id"/> is the same on every attempt and every redrive: a downstream that keys on it
/// (a database row, an HTTP Idempotency-Key) sees each anomaly once however often it is sent.
/// </summary>
public interface IOutboundSender
{
    Task<SendResult> SendAsync(OutboundItem item, CancellationToken cancellationToken);
}
