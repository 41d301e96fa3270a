namespace Fleet.Samples.Units;

/// <summary>Moist air.</summary>
public static class Psychrometrics
{
    // Magnus formula coefficients over water (Sonntag 1990), good to about 0.35 °C between -45 °C and 60 °C.
    private const double A = 17.62;
    private const double B = 243.12;

    /// <summary>The dew point in °C of air at <paramref name="celsius"/> with <paramref name="relativeHumidity"/> percent relative humidity.</summary>
    public static double DewPointCelsius(double celsius, double relativeHumidity)
    {
        if (relativeHumidity is <= 0 or > 100) throw new ArgumentOutOfRangeException(nameof(relativeHumidity), relativeHumidity, "relative humidity must be in (0, 100] percent");
        var gamma = Math.Log(relativeHumidity / 100) + A * celsius / (B + celsius);
        return B * gamma / (A - gamma);
    }
}
