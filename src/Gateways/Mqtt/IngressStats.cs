using System.Diagnostics.Metrics;
using Fleet.Grains.Readings;

namespace Fleet.Gateways.Mqtt;

/// <summary>This silo's ingress counters (meter "Fleet.Ingress"), shown at GET /ingress.</summary>
public sealed class IngressStats : IDisposable
{
    public const string MeterName = "Fleet.Ingress";
    private readonly Meter _meter = new(MeterName);
    private readonly long[] _rejected = new long[RejectReasons.All.Length];
    private long _publishes;
    private long _readings;
    private long _retries;
    private long _parkedSensors;
    private long _parkedReadings;
    private long _lost;

    public IngressStats()
    {
        _meter.CreateObservableCounter("fleet.ingress.publishes", () => Volatile.Read(ref _publishes), description: "Telemetry publishes accepted");
        _meter.CreateObservableCounter("fleet.ingress.readings", () => Volatile.Read(ref _readings), description: "Readings accepted onto streams");
        _meter.CreateObservableCounter("fleet.ingress.rejected", () =>
            RejectReasons.All.Select(r => new Measurement<long>(Volatile.Read(ref _rejected[(int)r]), new KeyValuePair<string, object?>("reason", r.Name()))),
            description: "Publishes refused, by reason");
        _meter.CreateObservableUpDownCounter("fleet.ingress.parked_readings", () => Volatile.Read(ref _parkedReadings),
            description: "Readings the transport refused, waiting (in order) to be sent again");
        _meter.CreateObservableUpDownCounter("fleet.ingress.parked_sensors", () => Volatile.Read(ref _parkedSensors),
            description: "Sensors with readings the transport refused");
    }

    public long Publishes => Volatile.Read(ref _publishes);
    public long Readings => Volatile.Read(ref _readings);
    public long TransportRetries => Volatile.Read(ref _retries);
    public long ParkedSensors => Volatile.Read(ref _parkedSensors);
    public long ParkedReadings => Volatile.Read(ref _parkedReadings);
    public long Lost => Volatile.Read(ref _lost);
    public long Rejected(RejectReason reason) => Volatile.Read(ref _rejected[(int)reason]);
    public long RejectedTotal => RejectReasons.All.Sum(Rejected);

    /// <summary>Counts what one flush delivered: <paramref name="publishes"/> publishes holding <paramref name="readings"/> readings.</summary>
    public void Accepted(int publishes, int readings)
    {
        Interlocked.Add(ref _publishes, publishes);
        Interlocked.Add(ref _readings, readings);
    }

    public void Reject(RejectReason reason) => Interlocked.Increment(ref _rejected[(int)reason]);

    public void TransportRetry() => Interlocked.Increment(ref _retries);

    /// <summary>Parked readings given up when the host stopped waiting for the transport at shutdown (logged).</summary>
    public void Abandoned(int sensors, int readings)
    {
        Parked(-sensors, -readings);
        Interlocked.Add(ref _lost, readings);
    }

    /// <summary>Sensors and readings parked after a refused send (negative when they leave).</summary>
    public void Parked(int sensors, int readings)
    {
        if (sensors != 0) Interlocked.Add(ref _parkedSensors, sensors);
        if (readings != 0) Interlocked.Add(ref _parkedReadings, readings);
    }

    public IReadOnlyDictionary<string, long> RejectedByReason()
        => RejectReasons.All.ToDictionary(r => r.Name(), Rejected);

    public void Dispose() => _meter.Dispose();
}
