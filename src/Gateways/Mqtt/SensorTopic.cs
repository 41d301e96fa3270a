using Fleet.Grains.Readings;

namespace Fleet.Gateways.Mqtt;

/// <summary>The ingress topic: <c>{prefix}/{sensorId}/telemetry</c>, by default <c>sensors/{sensorId}/telemetry</c>.</summary>
public static class SensorTopic
{
    public const string Suffix = "/telemetry";
    public const int MaxSensorIdLength = 128;

    public static bool TryParse(string topic, string prefix, out string sensorId, out RejectReason reason)
    {
        sensorId = "";
        // prefix + "/" + id + "/telemetry"
        if (topic.Length <= prefix.Length + 1 + Suffix.Length
            || !topic.StartsWith(prefix, StringComparison.Ordinal)
            || topic[prefix.Length] != '/'
            || !topic.EndsWith(Suffix, StringComparison.Ordinal))
        {
            reason = RejectReason.UnknownTopic;
            return false;
        }

        var id = topic.AsSpan(prefix.Length + 1, topic.Length - prefix.Length - 1 - Suffix.Length);
        if (!IsValidSensorId(id))
        {
            reason = RejectReason.BadSensorId;
            return false;
        }

        sensorId = id.ToString();
        reason = default;
        return true;
    }

    /// <summary>1 to 128 characters of [A-Za-z0-9_.:-].</summary>
    public static bool IsValidSensorId(ReadOnlySpan<char> id)
    {
        if (id.Length is 0 or > MaxSensorIdLength) return false;
        foreach (var c in id)
        {
            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' or '-' or '.' or ':';
            if (!ok) return false;
        }

        return true;
    }
}
