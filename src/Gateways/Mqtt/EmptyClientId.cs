using System.Reflection;
using MQTTnet.Packets;
using MQTTnet.Server;

namespace Fleet.Gateways.Mqtt;

/// <summary>
/// Gives an MQTT 3.1.1 client that connected with an empty client id the id the server assigned.
/// MQTTnet 5.2 keeps the CONNECT packet in a private field of <see cref="ValidatingConnectionEventArgs"/>;
/// when that field is not found (another MQTTnet version) the client is refused as before.
/// </summary>
internal static class EmptyClientId
{
    private static readonly FieldInfo? PacketField = typeof(ValidatingConnectionEventArgs)
        .GetFields(BindingFlags.Instance | BindingFlags.NonPublic)
        .FirstOrDefault(f => f.FieldType == typeof(MqttConnectPacket));

    public static bool Assign(ValidatingConnectionEventArgs e, string clientId)
    {
        if (PacketField?.GetValue(e) is not MqttConnectPacket packet) return false;
        packet.ClientId = clientId;
        return true;
    }
}
