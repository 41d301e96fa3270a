using Fleet.Gateways.Mqtt;
using Fleet.Grains.Readings;

namespace Fleet.Gateways.Tests;

public sealed class SensorTopicTests
{
    [Theory]
    [InlineData("sensors/abc/telemetry", "sensors", "abc")]
    [InlineData("sensors/dev-1_a.b:c/telemetry", "sensors", "dev-1_a.b:c")]
    [InlineData("sensors/telemetry/telemetry", "sensors", "telemetry")]
    [InlineData("plant_7/X/telemetry", "plant_7", "X")]
    public void Valid_topics_yield_the_sensor_id(string topic, string prefix, string expected)
    {
        Assert.True(SensorTopic.TryParse(topic, prefix, out var id, out _));
        Assert.Equal(expected, id);
    }

    [Fact]
    public void Sensor_id_of_128_characters_is_valid_and_129_is_not()
    {
        var max = new string('s', SensorTopic.MaxSensorIdLength);
        Assert.True(SensorTopic.TryParse($"sensors/{max}/telemetry", "sensors", out var id, out _));
        Assert.Equal(max, id);

        Assert.False(SensorTopic.TryParse($"sensors/{max}x/telemetry", "sensors", out id, out var reason));
        Assert.Equal(RejectReason.BadSensorId, reason);
        Assert.Equal("", id);
    }

    [Theory]
    [InlineData("sensors/abc/status")]
    [InlineData("sensors/abc")]
    [InlineData("sensors/telemetry")]
    [InlineData("sensors//telemetry")]
    [InlineData("other/abc/telemetry")]
    [InlineData("sensorsX/abc/telemetry")]
    [InlineData("Sensors/abc/telemetry")]
    [InlineData("sensors/abc/telemetry/")]
    [InlineData("sensors/abc/Telemetry")]
    [InlineData("")]
    [InlineData("alerts/abc")]
    public void Other_topics_are_unknown(string topic)
    {
        Assert.False(SensorTopic.TryParse(topic, "sensors", out var id, out var reason));
        Assert.Equal(RejectReason.UnknownTopic, reason);
        Assert.Equal("", id);
    }

    [Theory]
    [InlineData("sensors/a/b/telemetry")]
    [InlineData("sensors/a b/telemetry")]
    [InlineData("sensors/a+/telemetry")]
    [InlineData("sensors/#/telemetry")]
    [InlineData("sensors/tëst/telemetry")]
    [InlineData("sensors/a%20/telemetry")]
    public void Topics_with_a_bad_sensor_id_say_so(string topic)
    {
        Assert.False(SensorTopic.TryParse(topic, "sensors", out _, out var reason));
        Assert.Equal(RejectReason.BadSensorId, reason);
    }

    [Theory]
    [InlineData("a", true)]
    [InlineData("Z9_-.:", true)]
    [InlineData("", false)]
    [InlineData("a/b", false)]
    [InlineData("a\u0000", false)]
    [InlineData("ä", false)]
    public void IsValidSensorId_checks_charset_and_length(string id, bool valid)
    {
        Assert.Equal(valid, SensorTopic.IsValidSensorId(id));
    }
}
