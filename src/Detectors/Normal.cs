namespace Fleet.Detectors;

/// <summary>Normal-distribution helpers (allocation-free).</summary>
internal static class Normal
{
    /// <summary>P(|Z| &gt;= z) for a standard normal Z, z &gt;= 0.</summary>
    public static double TwoSidedTail(double z) => Erfc(z / Math.Sqrt(2.0));

    /// <summary>P(Z &gt;= z) for a standard normal Z.</summary>
    public static double UpperTail(double z) => 0.5 * Erfc(z / Math.Sqrt(2.0));

    /// <summary>Complementary error function (Numerical Recipes erfcc, relative error &lt; 1.2e-7).</summary>
    public static double Erfc(double x)
    {
        var z = Math.Abs(x);
        var t = 1.0 / (1.0 + 0.5 * z);
        var ans = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
                  t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
                  t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? ans : 2.0 - ans;
    }
}
