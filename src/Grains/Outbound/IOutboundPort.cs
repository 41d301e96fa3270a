using Fleet.Grains.Sensors;

namespace Fleet.Grains.Outbound;

/// <summary>
/// What the sensor grains need from the outside to send anomalies on. Implemented by the outbound
/// adapters (rate-limited queues per target); <see cref="Send"/> must not block: it enqueues, and an
/// item that cannot be queued is dead-lettered, never dropped.
/// </summary>
public interface IOutboundPort
{
    void Send(Anomaly anomaly);
}
