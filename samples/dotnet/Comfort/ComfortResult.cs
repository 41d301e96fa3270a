namespace Fleet.Samples.Comfort;

/// <summary>The comfort of the air a sensor measured.</summary>
public sealed record ComfortResult
{
    public string? SensorId { get; init; }

    public long? Seq { get; init; }

    public double TemperatureC { get; init; }

    /// <summary>Converted by the Units layer.</summary>
    public double TemperatureF { get; init; }

    public double Humidity { get; init; }

    /// <summary>Computed by the Units layer.</summary>
    public double DewPointC { get; init; }

    /// <summary><c>comfortable</c>, <c>too-hot</c>, <c>too-cold</c> or <c>muggy</c>.</summary>
    public required string Level { get; init; }

    /// <summary>The limit in force: the <c>COMFORT_MAX_C</c> environment variable.</summary>
    public double MaxC { get; init; }

    public int Anomalies { get; init; }

    /// <summary>Invocations this execution environment has served, this one included: 1 on a cold start, then counting up while warm.</summary>
    public long Invocation { get; init; }

    /// <summary>The warmest temperature this execution environment has seen.</summary>
    public double MaxSeenC { get; init; }

    /// <summary>The layer build that did the conversions.</summary>
    public required string Units { get; init; }

    public required string FunctionVersion { get; init; }
}
