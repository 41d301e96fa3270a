using System.ComponentModel.DataAnnotations;
using Fleet.Detectors;

namespace Fleet.Grains.Sensors;

/// <summary>Silo-wide defaults for every sensor's execution environment. Section "Sensors".</summary>
public sealed class SensorPipelineOptions
{
    public const string Section = "Sensors";

    /// <summary>Detector used by sensors that do not name one.</summary>
    [Required]
    public string DefaultDetector { get; set; } = DetectorCatalog.DefaultName;

    /// <summary>Readings whose timestamp is this much older than the newest seen are late and dropped.</summary>
    [Range(0, long.MaxValue)]
    public long AllowedLatenessMs { get; set; } = 60_000;

    /// <summary>Width of the sequence window used to detect duplicates among reordered readings.</summary>
    [Range(1, 64)]
    public int DedupeWindow { get; set; } = 64;

    /// <summary>EWMA smoothing factor for values before detection; 1 disables smoothing.</summary>
    [Range(0.0001, 1.0)]
    public double SmoothingAlpha { get; set; } = 1.0;

    /// <summary>How many distinct metrics one sensor may have (bounds its state).</summary>
    [Range(1, 1024)]
    public int MaxMetricsPerSensor { get; set; } = 32;

    /// <summary>How many recent anomalies a sensor keeps.</summary>
    [Range(1, 10_000)]
    public int RecentAnomalies { get; set; } = 50;

    /// <summary>Write-behind: how often a changed sensor state is persisted (also persisted on deactivation).</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The longest a function bound to a sensor may run per reading (the function's own timeout applies when
    /// shorter): it runs in the sensor's turn, which the next readings wait for.
    /// </summary>
    public TimeSpan FunctionTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
