using Xunit;

namespace Fleet.Detectors.Tests;

/// <summary>Detectors that explain their alerts: kind, expected value and the band they would have accepted.</summary>
public class ExplanationTests
{
    private const long Start = 1_396_310_400_000; // 2014-04-01 00:00 UTC
    private const long Step = 300_000;            // 5 minutes: 288 points a day

    public static TheoryData<string> Explaining => new() { "fusion", "fusion-lite", "ewma-z" };

    /// <summary>A flat level with Gaussian noise, or a daily sine of the given amplitude; deterministic.</summary>
    private static double[] Series(int n, int seed, double amplitude = 0, double noise = 1)
    {
        var rng = new Random(seed);
        var v = new double[n];
        for (var i = 0; i < n; i++)
        {
            var g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            v[i] = 50 + amplitude * Math.Sin(2 * Math.PI * i / 288.0) + noise * g;
        }

        return v;
    }

    private static IExplainingDetector Trained(string name, double[] v, int upTo)
    {
        var d = (IExplainingDetector)DetectorCatalog.Create(name);
        for (var i = 0; i < upTo; i++) d.Next(Start + i * Step, v[i]);
        return d;
    }

    private static IExplainingDetector Copy(IExplainingDetector d)
    {
        var copy = (IExplainingDetector)DetectorCatalog.Create(d.Name);
        copy.LoadState(d.SaveState());
        return copy;
    }

    [Theory]
    [MemberData(nameof(Explaining))]
    public void ExplainingGivesTheSameScoresWithoutAllocating(string name)
    {
        var v = Series(20_000, 3, amplitude: 10);
        v[600] += 40; // the first alert inside the warm-up: the explaining path is JIT-compiled before measuring
        v[5_000] += 40;
        v[9_000] -= 25;
        v[15_000] += 200;
        var plain = DetectorCatalog.Create(name);
        var explaining = (IExplainingDetector)DetectorCatalog.Create(name);
        for (var i = 0; i < 1000; i++)
        {
            var s = explaining.Next(Start + i * Step, v[i], out var e);
            Assert.Equal(plain.Next(Start + i * Step, v[i]), s);
            Assert.Equal(s < explaining.Threshold, e == default); // also creates the comparers the loop below uses
        }

        var alerts = 0;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 1000; i < v.Length; i++)
        {
            var s = explaining.Next(Start + i * Step, v[i], out var e);
            if (s != plain.Next(Start + i * Step, v[i])) Assert.Fail($"{name}: row {i} scored {s} explaining, not as without");
            if (s >= explaining.Threshold)
            {
                alerts++;
                if (e.Kind == AnomalyKind.None || !(e.Lower <= e.Expected && e.Expected <= e.Upper)) Assert.Fail($"{name}: row {i}: {e}");
            }
            else if (e != default)
            {
                Assert.Fail($"{name}: row {i} scored {s} below the threshold but was explained: {e}");
            }
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(alerts >= 1, $"{name} raised no alert to explain");
        Assert.Equal(plain.SaveState(), explaining.SaveState());
    }

    [Theory]
    [InlineData("fusion-lite")]
    [InlineData("ewma-z")]
    public void TheBandIsWhereTheAlertsStart(string name)
    {
        // a wide excursion early on, so later deviations stay inside the range seen and only the z decides
        var v = Series(3000, 7);
        for (var i = 200; i < 205; i++) v[i] = 120;
        var d = Trained(name, v, 3000);
        var t = Start + 3000 * Step;

        var first = Copy(d);
        var score = first.Next(t, 80, out var e);
        Assert.True(score >= d.Threshold, $"80 scored {score}");
        Assert.Equal(AnomalyKind.Level, e.Kind);
        Assert.Equal("level", e.KindName);
        Assert.InRange(e.Expected, 49, 51);
        Assert.InRange(e.Upper, e.Expected + 1, 79);
        Assert.InRange(e.Lower, 21, e.Expected - 1);

        // just inside the band: no alert; just outside, on either side: an alert with the same band (below it, the
        // value may also be the lowest so far: fusion then calls it a new extreme)
        var margin = 1e-6 * (e.Upper - e.Lower);
        Assert.True(Copy(d).Next(t, e.Upper - margin, out var inside) < d.Threshold);
        Assert.Equal(default, inside);
        Assert.True(Copy(d).Next(t, e.Lower + margin, out _) < d.Threshold);
        Assert.True(Copy(d).Next(t, e.Upper + margin, out var above) >= d.Threshold);
        Assert.Equal(e, above);
        Assert.True(Copy(d).Next(t, e.Lower - margin, out var below) >= d.Threshold);
        Assert.Equal((e.Expected, e.Lower, e.Upper), (below.Expected, below.Lower, below.Upper));
    }

    [Fact]
    public void FusionSaysWhenAValueIsWrongForTheHourOfTheDay()
    {
        // a daily cycle of 40..60; at the daily peak (hour 6) a reading of 45, ordinary for the series, not for the hour
        var v = Series(288 * 22, 11, amplitude: 10, noise: 0.3);
        var peak = 288 * 20 + 72; // 06:00 on day 21
        var d = Trained("fusion", v, peak);
        var score = d.Next(Start + peak * Step, 45, out var e);

        Assert.True(score >= d.Threshold, $"45 at the peak scored {score}");
        Assert.Equal(AnomalyKind.TimeOfDay, e.Kind);
        Assert.InRange(e.Expected, 59, 61);            // this hour's usual value, not the daily level of ~50
        Assert.InRange(45, double.MinValue, e.Lower);  // below the band this hour accepts
        Assert.InRange(e.Upper, 60, 70);

        // the same reading at the daily trough (hour 18) is ordinary
        var trough = Copy(d);
        for (var i = peak; i < peak + 144; i++) trough.Next(Start + i * Step, v[i - 288]);
        Assert.True(trough.Next(Start + (peak + 144) * Step, 41, out var none) < d.Threshold);
        Assert.Equal(default, none);
    }

    [Theory]
    [InlineData("fusion")]
    [InlineData("fusion-lite")]
    public void FusionSaysWhenAValueIsBeyondEverythingSeen(string name)
    {
        var v = Series(3000, 5);
        var d = Trained(name, v, 3000);
        var max = v.Max();
        var min = v.Min();
        var score = Copy(d).Next(Start + 3000 * Step, max + 2, out var e);

        Assert.True(score >= d.Threshold, $"max + 2 scored {score}");
        Assert.Equal(AnomalyKind.NewExtreme, e.Kind);
        Assert.Equal("new-extreme", e.KindName);
        var tol = 0.02 * (max - min); // spatialTol
        Assert.InRange(e.Upper, max + tol, max + 2);
        Assert.InRange(e.Lower, double.MinValue, min - tol);
        Assert.InRange(e.Expected, 49, 51);

        // the band's upper edge is where the alerts start
        var margin = 1e-6 * (e.Upper - e.Lower);
        Assert.True(Copy(d).Next(Start + 3000 * Step, e.Upper - margin, out _) < d.Threshold);
        Assert.True(Copy(d).Next(Start + 3000 * Step, e.Upper + margin, out var above) >= d.Threshold);
        Assert.Equal(AnomalyKind.NewExtreme, above.Kind);
    }

    /// <summary>
    /// A 40..60 daily cycle with noise over 20 days, with spikes, a dip and a short level shift at different times of
    /// day (so the recurrence damping, which spares large deviations at a repeated time of day, never applies).
    /// </summary>
    private static double[] Eventful()
    {
        var v = Series(288 * 20, 13, amplitude: 10, noise: 0.8);
        (int Day, int Hour, double Delta, int Length)[] events =
            [(3, 1, 60, 1), (5, 5, -45, 1), (8, 9, 90, 1), (11, 13, 30, 24), (14, 17, -70, 1), (17, 21, 40, 3)];
        foreach (var (day, hour, delta, length) in events)
        {
            for (var k = 0; k < length; k++) v[day * 288 + hour * 12 + k] += delta;
        }

        return v;
    }

    /// <summary>Feeds the series; at every alert, probes the state before it with values across the band and beyond.</summary>
    private static (int Alerts, int Inside, int Outside, int SparedOutside) Probe(string name, double[] v, IReadOnlyDictionary<string, double>? p = null)
    {
        var d = (IExplainingDetector)DetectorCatalog.Create(name, p);
        var (alerts, inside, outside, spared) = (0, 0, 0, 0);
        for (var i = 0; i < v.Length; i++)
        {
            var before = d.SaveState();
            var t = Start + i * Step;
            if (d.Next(t, v[i], out var e) < d.Threshold) continue;
            alerts++;
            var width = e.Upper - e.Lower;
            Assert.True(width > 0, $"{name} row {i}: {e}");
            for (var k = -100; k <= 300; k++)
            {
                var x = e.Lower - width + k * width / 100;
                if (Math.Abs(x - e.Lower) < 1e-9 * width || Math.Abs(x - e.Upper) < 1e-9 * width) continue;
                var probe = (IExplainingDetector)DetectorCatalog.Create(name, p);
                probe.LoadState(before);
                var alerted = probe.Next(t, x, out _) >= d.Threshold;
                if (x > e.Lower && x < e.Upper)
                {
                    inside++;
                    if (alerted) Assert.Fail($"{name} row {i}: {x} inside {e} alerted");
                }
                else
                {
                    outside++;
                    if (!alerted) spared++;
                }
            }
        }

        return (alerts, inside, outside, spared);
    }

    [Theory]
    [MemberData(nameof(Explaining))]
    public void NoValueInsideTheBandAlertsAndEveryValueOutsideDoes(string name)
    {
        var (alerts, inside, outside, spared) = Probe(name, Eventful());

        Assert.True(alerts >= 3, $"{name}: {alerts} alerts");
        Assert.True(inside >= 99 * alerts && outside >= 300 * alerts, $"{inside} inside, {outside} outside");
        Assert.Equal(0, spared);
    }

    [Fact]
    public void ARecurringDeviationKeepsTheBandAGuaranteeButMaySpareValuesOutsideIt()
    {
        // the same +35 at 03:00 every day: from the second day the recurrence damping zeroes such a deviation's z,
        // so only a new extreme (or a deviation too small to count as a repeat) alerts there
        var v = Series(288 * 12, 17, amplitude: 10, noise: 0.8);
        for (var day = 2; day < 12; day++) v[day * 288 + 36] += 35 + day;
        var (alerts, inside, _, spared) = Probe("fusion", v);

        Assert.True(alerts >= 2 && inside > 0, $"{alerts} alerts");
        Assert.True(spared > 0, "expected the recurrence damping to spare some values outside the band");
        var (_, _, _, sparedWithoutDamping) = Probe("fusion", v, new Dictionary<string, double> { ["recurDamp"] = 1 });
        Assert.Equal(0, sparedWithoutDamping);
    }

    [Theory]
    [InlineData("fusion")]
    [InlineData("ewma-z")]
    public void AThresholdOfZeroGivesNoBand(string name)
    {
        var d = (IExplainingDetector)DetectorCatalog.Create(name, new Dictionary<string, double> { ["threshold"] = 0, ["warmup"] = 5 });
        var v = Series(50, 3);
        var e = default(AnomalyExplanation);
        for (var i = 0; i < v.Length; i++) d.Next(Start + i * Step, v[i], out e);

        Assert.NotEqual(AnomalyKind.None, e.Kind);
        Assert.True(double.IsNaN(e.Lower) && double.IsNaN(e.Upper), e.ToString());
    }

    [Theory]
    [MemberData(nameof(Explaining))]
    public void TheBandNowIsTheBandAnAlertThenWouldBeExplainedWith(string name)
    {
        var v = Eventful();
        var d = (IExplainingDetector)DetectorCatalog.Create(name);
        Assert.True(double.IsNaN(d.Band(Start).Lower), "no band before the first point");
        var compared = 0;
        for (var i = 0; i < v.Length; i++)
        {
            var t = Start + i * Step;
            var band = d.Band(t);
            Assert.Equal(AnomalyKind.None, band.Kind);
            if (i < 150)
            {
                Assert.True(double.IsNaN(band.Lower) && double.IsNaN(band.Upper), $"row {i}: a band during the warm-up");
            }
            else if (i % 37 == 0)
            {
                // an outlier fed to a copy at this moment is explained with exactly this band (unless it rests after an alert)
                var copy = (IExplainingDetector)DetectorCatalog.Create(name);
                copy.LoadState(d.SaveState());
                if (copy.Next(t, band.Upper + 10 * (band.Upper - band.Lower), out var e) >= d.Threshold)
                {
                    Assert.Equal((band.Lower, band.Upper), (e.Lower, e.Upper));
                    compared++;
                }
            }

            d.Next(t, v[i]);
        }

        Assert.True(compared > 100, $"{compared} comparisons");
    }
}
