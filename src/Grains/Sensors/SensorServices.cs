using Fleet.Grains.Functions;
using Fleet.Grains.Outbound;
using Fleet.Grains.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Fleet.Grains.Sensors;

/// <summary>
/// What every sensor grain needs from its silo, in one shared object: a sensor holds one reference instead of
/// one per service (sensors are many, ~40 B each adds up). The function ports are absent where no function
/// runtime is hosted (the grain tests).
/// </summary>
public sealed class SensorServices(
    IOptions<SensorPipelineOptions> options,
    IOutboundPort outbound,
    PipelineMetrics metrics,
    TimeProvider time,
    CheckpointScheduler checkpoints,
    IServiceProvider services)
{
    public SensorPipelineOptions Options { get; } = options.Value;
    public IOutboundPort Outbound { get; } = outbound;
    public PipelineMetrics Metrics { get; } = metrics;
    public TimeProvider Time { get; } = time;
    public CheckpointScheduler Checkpoints { get; } = checkpoints;
    public BindingCache? Bindings { get; } = services.GetService<BindingCache>();
    public IFunctionDirectory? Functions => services.GetService<IFunctionDirectory>();
    public IExecutionEnvironmentFactory? Environments => services.GetService<IExecutionEnvironmentFactory>();
}
