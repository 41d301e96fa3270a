using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Fleet.Gateways.Mqtt;

public static class MqttGatewayExtensions
{
    /// <summary>Adds the embedded MQTT broker, the telemetry ingress and its counters.</summary>
    public static IServiceCollection AddMqttGateway(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<MqttGatewayOptions>()
            .Bind(configuration.GetSection(MqttGatewayOptions.Section))
            .ValidateDataAnnotations()
            .Validate(o => o.AcceptTimeout > TimeSpan.Zero, "Mqtt:AcceptTimeout must be positive")
            .Validate(o => o.MaxClockAhead > TimeSpan.Zero, "Mqtt:MaxClockAhead must be positive")
            .Validate(o => o.RejectFlushInterval > TimeSpan.Zero, "Mqtt:RejectFlushInterval must be positive")
            .Validate(o => o.TopicPrefix != o.AlertTopicPrefix, "Mqtt:TopicPrefix and Mqtt:AlertTopicPrefix must differ")
            .ValidateOnStart();
        services.AddSingleton<IngressStats>();
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<MqttGatewayOptions>>().Value;
            return new ReadingParser(o.MaxMetricsPerReading, o.MaxReadingsPerPublish, o.MaxClockAhead);
        });
        services.AddSingleton<ReadingIngress>();
        services.AddHostedService(sp => sp.GetRequiredService<ReadingIngress>());
        services.AddSingleton<SensorRejectCounter>();
        services.AddHostedService(sp => sp.GetRequiredService<SensorRejectCounter>());
        services.AddSingleton<MqttGateway>();
        services.AddHostedService(sp => sp.GetRequiredService<MqttGateway>());
        return services;
    }
}
