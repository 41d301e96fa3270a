using System.Globalization;
using Fleet.Functions;
using Fleet.Samples.Units;

namespace Fleet.Samples.Comfort;

/// <summary>
/// Rates the comfort of a room from a reading's <c>temperature</c> (°C) and <c>humidity</c> (% RH), with the
/// conversions of the Units layer. A reading without both metrics yields null, which ends a binding's chain
/// (a filter). The instance lives as long as its execution environment, so its fields carry over from one
/// invocation to the next while the environment is warm.
/// </summary>
public sealed class ComfortIndex : IFunctionHandler<SensorEvent, ComfortResult?>
{
    public const double DefaultMaxC = 26;
    public const double MinC = 18;
    public const double MaxDewPointC = 16;

    // Runs once per execution environment (the cold start). It touches the layer, so a function created
    // without the layer is refused at deploy time with Runtime.MissingDependency instead of failing later.
    private readonly string _units = UnitsInfo.Description;

    // Warm state: kept between invocations of this environment.
    private long _invocations;
    private double _maxSeenC = double.NegativeInfinity;

    public Task<ComfortResult?> HandleAsync(SensorEvent evt, IFunctionContext context)
    {
        var invocation = ++_invocations;
        // A direct invocation may send anything: JSON null is a reading without metrics too.
        if (evt is null || !evt.Metrics.TryGetValue("temperature", out var celsius) || !evt.Metrics.TryGetValue("humidity", out var humidity))
        {
            context.Logger.Info("no temperature and humidity in this reading: filtered", new Dictionary<string, object?>
            {
                ["sensorId"] = evt?.SensorId,
                ["metrics"] = evt is null ? "" : string.Join(",", evt.Metrics.Keys),
            });
            return Task.FromResult<ComfortResult?>(null);
        }

        var maxC = context.Environment.TryGetValue("COMFORT_MAX_C", out var text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var configured)
            ? configured
            : DefaultMaxC;
        _maxSeenC = Math.Max(_maxSeenC, celsius);
        var dewPoint = Psychrometrics.DewPointCelsius(celsius, humidity);
        var level = celsius > maxC ? "too-hot" : celsius < MinC ? "too-cold" : dewPoint > MaxDewPointC ? "muggy" : "comfortable";

        var result = new ComfortResult
        {
            SensorId = evt.SensorId,
            Seq = evt.Seq,
            TemperatureC = celsius,
            TemperatureF = Math.Round(Temperature.CelsiusToFahrenheit(celsius), 2),
            Humidity = humidity,
            DewPointC = Math.Round(dewPoint, 2),
            Level = level,
            MaxC = maxC,
            Anomalies = evt.Anomalies.Count,
            Invocation = invocation,
            MaxSeenC = _maxSeenC,
            Units = _units,
            FunctionVersion = context.FunctionVersion,
        };
        context.Logger.Info($"comfort {level}: {celsius.ToString(CultureInfo.InvariantCulture)} C, dew point {result.DewPointC.ToString(CultureInfo.InvariantCulture)} C", new Dictionary<string, object?>
        {
            ["sensorId"] = evt.SensorId,
            ["invocation"] = invocation,
        });
        return Task.FromResult<ComfortResult?>(result);
    }
}
