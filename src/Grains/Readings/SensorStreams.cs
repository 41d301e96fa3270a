namespace Fleet.Grains.Readings;

/// <summary>Names shared by the producer (MQTT gateway) and the consumer (sensor grain).</summary>
public static class SensorStreams
{
    /// <summary>The stream provider readings travel on.</summary>
    public const string Provider = "sensors";

    /// <summary>The stream namespace; the stream key is the sensor id.</summary>
    public const string Namespace = "readings";

    public static StreamId For(string sensorId) => StreamId.Create(Namespace, sensorId);
}
