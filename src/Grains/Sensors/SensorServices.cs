using Fleet.Grains.Functions;
using Fleet.Grains.Outbound;
using Fleet.Grains.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Fleet.Grains.Readings;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
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
    public FunctionConcurrency? Concurrency => services.GetService<FunctionConcurrency>();

    private readonly ILogger _log = services.GetService<ILoggerFactory>()?.CreateLogger("Fleet.Grains.Sensors.SensorGrain") ?? NullLogger.Instance;

    /// <summary>Logs an internal error the pipeline isolated (the reading failed, or one metric's detection did).</summary>
    public void ReportError(string sensorId, Reading reading, Exception? error)
        => _log.LogError(error, "Sensor {SensorId}: internal error on the reading at {TimestampMs} (seq {Seq}); skipped and counted, the sensor goes on", sensorId, reading.TimestampMs, reading.Seq);
}
