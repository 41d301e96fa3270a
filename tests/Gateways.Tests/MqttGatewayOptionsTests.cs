using System.Text;
using Fleet.Gateways.Mqtt;
using Fleet.Grains.Readings;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Fleet.Gateways.Tests;

/// <summary>The "Mqtt" section as the silo binds and validates it (AddMqttGateway).</summary>
public sealed class MqttGatewayOptionsTests
{
    private static ServiceProvider Services(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return new ServiceCollection().AddLogging().AddMqttGateway(configuration).BuildServiceProvider();
    }

    [Fact]
    public void MaxClockAhead_defaults_to_a_day()
    {
        using var services = Services([]);
        Assert.Equal(TimeSpan.FromDays(1), services.GetRequiredService<IOptions<MqttGatewayOptions>>().Value.MaxClockAhead);
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("-00:05:00")]
    public void MaxClockAhead_must_be_positive(string value)
    {
        using var services = Services(new() { ["Mqtt:MaxClockAhead"] = value });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<MqttGatewayOptions>>().Value);
        Assert.Contains("Mqtt:MaxClockAhead must be positive", error.Message);
    }

    [Fact]
    public void The_parser_uses_the_configured_MaxClockAhead()
    {
        using var services = Services(new() { ["Mqtt:MaxClockAhead"] = "00:10:00" });
        var parser = services.GetRequiredService<ReadingParser>();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Assert.True(parser.Parse(Encoding.UTF8.GetBytes($"{{\"ts\":{now + 5 * 60_000},\"value\":1}}"), now * 1000).Ok);
        var refused = parser.Parse(Encoding.UTF8.GetBytes($"{{\"ts\":{now + 20 * 60_000},\"value\":1}}"), now * 1000);
        Assert.Equal(RejectReason.BadTimestamp, refused.Reason);
        Assert.Contains("at most 10 min (Mqtt:MaxClockAhead)", refused.Detail);
    }
}
