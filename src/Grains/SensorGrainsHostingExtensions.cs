using Fleet.Grains.Sensors;
using Fleet.Grains.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Fleet.Grains;

public static class SensorGrainsHostingExtensions
{
    /// <summary>
    /// Registers what the sensor grains need besides storage, streams and an <see cref="Outbound.IOutboundPort"/>:
    /// pipeline options (validated at start), metrics and a clock.
    /// </summary>
    public static IServiceCollection AddSensorGrains(this IServiceCollection services, IConfiguration? configuration = null)
    {
        var options = services.AddOptions<SensorPipelineOptions>();
        if (configuration is not null)
        {
            options.Bind(configuration.GetSection(SensorPipelineOptions.Section));
        }

        options.ValidateDataAnnotations()
            .Validate(o => Fleet.Detectors.DetectorCatalog.Exists(o.DefaultDetector), "Sensors:DefaultDetector names no known detector")
            .Validate(o => o.CheckpointInterval > TimeSpan.Zero, "Sensors:CheckpointInterval must be positive")
            .ValidateOnStart();
        services.TryAddSingleton<PipelineMetrics>();
        services.TryAddSingleton<GcPauseMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<GcPauseMonitor>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<SensorReferences>();
        services.TryAddSingleton<CheckpointScheduler>();
        services.TryAddSingleton<SensorServices>();
        services.AddHostedService(sp => sp.GetRequiredService<CheckpointScheduler>());
        return services;
    }
}
