using Xunit;

namespace Fleet.Detectors.Tests;

public class DetectorTests
{
    public static IEnumerable<object[]> AllDetectors => DetectorCatalog.Names.Select(n => new object[] { n });

    private const long Start = 1_396_310_400_000; // 2014-04-01
    private const long Step = 300_000;            // 5 minutes

    /// <summary>Noisy daily pattern with a random walk component; deterministic.</summary>
    private static double[] Series(int n, int seed, double noise = 1.0)
    {
        var rng = new Random(seed);
        var v = new double[n];
        double walk = 0;
        for (var i = 0; i < n; i++)
        {
            walk += 0.01 * Gauss(rng);
            v[i] = 50 + 10 * Math.Sin(2 * Math.PI * i / 288.0) + walk + noise * Gauss(rng);
        }

        return v;
    }

    private static double Gauss(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    [Fact]
    public void CatalogHasDefaultAndLight()
    {
        Assert.True(DetectorCatalog.Exists(DetectorCatalog.DefaultName));
        Assert.True(DetectorCatalog.Exists(DetectorCatalog.LightName));
        Assert.Equal(DetectorCatalog.DefaultName, DetectorCatalog.Create(DetectorSpec.Default).Name);
        Assert.True(DetectorCatalog.Create(DetectorCatalog.LightName).StateSize <= 64);
    }

    [Theory]
    [MemberData(nameof(AllDetectors))]
    public void ScoresStayInUnitInterval(string name)
    {
        var d = DetectorCatalog.Create(name);
        Assert.Equal(name, d.Name, ignoreCase: true);
        var v = Series(3000, 1);
        v[2000] = 1e6;
        v[2100] = -1e6;
        for (var i = 2200; i < 2300; i++) v[i] = 0; // flat stretch
        for (var i = 0; i < v.Length; i++)
        {
            var s = d.Next(Start + i * Step, v[i]);
            Assert.InRange(s, 0.0, 1.0);
        }

        Assert.Equal(3000, d.Count);
    }

    [Theory]
    [MemberData(nameof(AllDetectors))]
    public void SaveAndLoadContinuesIdentically(string name)
    {
        var v = Series(3000, 2);
        v[1800] += 80;
        var reference = DetectorCatalog.Create(name);
        var expected = v.Select((x, i) => reference.Next(Start + i * Step, x)).ToArray();

        var first = DetectorCatalog.Create(name);
        for (var i = 0; i < 1234; i++) first.Next(Start + i * Step, v[i]);
        var state = first.SaveState();
        var restored = DetectorCatalog.Create(name);
        restored.LoadState(state);
        Assert.Equal(first.Count, restored.Count);
        for (var i = 1234; i < v.Length; i++)
        {
            Assert.Equal(expected[i], restored.Next(Start + i * Step, v[i]));
        }

        Assert.Equal(reference.SaveState(), restored.SaveState());
    }

    [Theory]
    [MemberData(nameof(AllDetectors))]
    public void LoadRejectsForeignState(string name)
    {
        var d = DetectorCatalog.Create(name);
        Assert.Throws<ArgumentException>(() => d.LoadState(new byte[] { 1, 2, 3 }));
    }

    [Theory]
    [MemberData(nameof(AllDetectors))]
    public void DoesNotAllocatePerPoint(string name)
    {
        var d = DetectorCatalog.Create(name);
        var v = Series(20_000, 3);
        v[15_000] += 200;
        for (var i = 0; i < 1000; i++) d.Next(Start + i * Step, v[i]); // warm up the JIT and lazy state
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 1000; i < v.Length; i++) d.Next(Start + i * Step, v[i]);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }

    [Theory]
    [MemberData(nameof(AllDetectors))]
    public void StateFitsTheBudget(string name)
    {
        var d = DetectorCatalog.Create(name);
        Assert.InRange(d.StateSize, 0, 8 * 1024);
        Assert.InRange(d.SaveState().Length, 0, 8 * 1024 + 256);
    }

    [Theory]
    [InlineData("fusion")]
    [InlineData("fusion-cad")]
    [InlineData("ensemble")]
    [InlineData("ewma-z")]
    public void ClearSpikeScoresHighAndNoiseDoesNotAlert(string name)
    {
        var d = DetectorCatalog.Create(name);
        var v = Series(4000, 4);
        var alerts = 0;
        for (var i = 0; i < 3000; i++)
        {
            if (d.Next(Start + i * Step, v[i]) >= d.Threshold) alerts++;
        }

        Assert.Equal(0, alerts);
        var spike = d.Next(Start + 3000 * Step, v[3000] + 100);
        Assert.True(spike >= d.Threshold, $"spike scored {spike}, threshold {d.Threshold}");
    }

    [Theory]
    [InlineData("fusion")]
    [InlineData("ensemble")]
    [InlineData("ewma-z")]
    [InlineData("windowed-gaussian")]
    [InlineData("rcf")]
    [InlineData("relative-entropy")]
    [InlineData("cad")]
    [InlineData("fusion-cad")]
    public void FlatSeriesDoesNotAlert(string name)
    {
        var d = DetectorCatalog.Create(name);
        for (var i = 0; i < 3000; i++)
        {
            Assert.True(d.Next(Start + i * Step, 45.0) < d.Threshold);
        }
    }

    [Fact]
    public void UnknownDetectorIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => DetectorCatalog.Create("no-such-detector"));
        Assert.Contains("no-such-detector", e.Message);
        Assert.Contains(DetectorCatalog.DefaultName, e.Message);
    }

    [Theory]
    [MemberData(nameof(AllDetectors))]
    public void UnknownParameterIsRejected(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => DetectorCatalog.Create(name, new Dictionary<string, double> { ["bogus"] = 1 }));
        Assert.Contains("bogus", e.Message);
    }

    [Theory]
    [InlineData("ensemble", "alphaSlow", 0.0)]
    [InlineData("ensemble", "threshold", 1.5)]
    [InlineData("ensemble", "season", 7)]
    [InlineData("ewma-z", "alpha", 1.0)]
    [InlineData("ewma-z", "rest", -1)]
    [InlineData("windowed-gaussian", "step", 0)]
    [InlineData("windowed-gaussian", "window", 650)]
    [InlineData("spectral-residual", "window", 4)]
    [InlineData("fusion", "tailP", 1.0)]
    [InlineData("fusion", "spatial", 2)]
    [InlineData("fusion", "rest", -1)]
    [InlineData("fusion", "wEntropy", 0.5 + 1)]
    [InlineData("rcf", "trees", 0)]
    [InlineData("rcf", "samples", 200)]
    [InlineData("rcf", "shingle", 0)]
    [InlineData("rcf", "trees", 2.5)]
    [InlineData("rcf", "trees", 8)] // over the 8 KB budget
    [InlineData("relative-entropy", "bins", 1)]
    [InlineData("relative-entropy", "window", 4)]
    [InlineData("relative-entropy", "confidence", 1)]
    [InlineData("cad", "bins", 1)]
    [InlineData("cad", "order", 0)]
    [InlineData("cad", "order", 17)]
    [InlineData("cad", "tableBits", 13)] // 16 KB table: over the budget
    [InlineData("cad", "extend", 2)]
    [InlineData("cad", "epoch", 3)]
    [InlineData("cad", "min", double.NaN)]
    [InlineData("relative-entropy", "max", double.NaN)]
    [InlineData("relative-entropy", "regrow", -2)]
    [InlineData("fusion-cad", "wCad", 1.5)]
    [InlineData("fusion-cad", "mode", 5)]
    [InlineData("fusion-cad", "bins", 2.5)]
    [InlineData("fusion-cad", "cadFloor", 1)]
    [InlineData("fusion-cad", "dampBelow", 0.5)] // fusion-cad2 only
    [InlineData("fusion-cad2", "mode", 6)]
    [InlineData("fusion-cad2", "dampBelow", 1.5)]
    public void BadParameterValueIsRejected(string name, string key, double value)
    {
        Assert.ThrowsAny<ArgumentException>(() => DetectorCatalog.Create(new DetectorSpec(name, new Dictionary<string, double> { [key] = value })));
    }

    [Theory]
    [InlineData("cad")]
    [InlineData("relative-entropy")]
    public void KnownRangeMustBeAnInterval(string name)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => DetectorCatalog.Create(name, new Dictionary<string, double> { ["min"] = 5, ["max"] = 5 }));
        Assert.Contains("'min'", e.Message);
        Assert.ThrowsAny<ArgumentException>(() => DetectorCatalog.Create("fusion", new Dictionary<string, double> { ["min"] = 0, ["max"] = 1 }));
    }

    /// <summary>
    /// With a known range (a sensor's datasheet range, or NAB's file min/max) the binning detectors bin against it from
    /// the first point: small noise that stays inside one bin never alerts, and a jump to another bin inside the range
    /// alerts although it does not widen the range. Without the range the same noise spans the learned range's bins.
    /// </summary>
    [Theory]
    [InlineData("cad")]
    [InlineData("relative-entropy")]
    public void KnownRangeBinsAgainstTheRange(string name)
    {
        var ranged = DetectorCatalog.Create(name, new Dictionary<string, double> { ["min"] = 0, ["max"] = 100 });
        var learned = DetectorCatalog.Create(name);
        var rng = new Random(3);
        double rangedMax = 0, learnedMax = 0;
        for (var i = 0; i < 2000; i++)
        {
            var v = 36 + 4 * rng.NextDouble(); // 36..40: one bin of 0..100 for cad (12 bins) and relative-entropy (5 bins)
            var r = ranged.Next(Start + i * Step, v);
            var l = learned.Next(Start + i * Step, v);
            if (i >= 300)
            {
                rangedMax = Math.Max(rangedMax, r);
                learnedMax = Math.Max(learnedMax, l);
            }
        }

        Assert.True(rangedMax < ranged.Threshold, $"{name}: in-bin noise scored {rangedMax} with a known range");
        Assert.True(learnedMax > rangedMax, $"{name}: the learned range should resolve the noise into several bins ({learnedMax} vs {rangedMax})");
        var jump = 0.0;
        for (var i = 2000; i < 2060; i++) jump = Math.Max(jump, ranged.Next(Start + i * Step, 80 + rng.NextDouble()));
        Assert.True(jump >= ranged.Threshold, $"{name}: a jump to another bin inside the known range scored {jump}");
    }

    /// <summary>
    /// relative-entropy drops its stored hypotheses once the running range has grown by more than regrow (default
    /// 25%) since they were started: they were binned with the old range. A small widening keeps them (the bins barely
    /// move and a stored hypothesis still explains the window); with regrow=0 any widening drops them, so the same
    /// window is news once, is learned, and then stays quiet.
    /// </summary>
    [Fact]
    public void RelativeEntropyDropsHypothesesWhenTheRangeWidensEnough()
    {
        double Run(double? regrow, out double after)
        {
            var p = new Dictionary<string, double> { ["rest"] = 0, ["warmup"] = 1 };
            if (regrow is { } g) p["regrow"] = g;
            var d = DetectorCatalog.Create("relative-entropy", p);
            var rng = new Random(11);
            for (var i = 0; i < 400; i++) d.Next(Start + i * Step, 10 * rng.NextDouble());
            var atWidening = d.Next(Start + 400 * Step, 10.2); // 2% above the range
            after = 0;
            for (var i = 401; i < 600; i++) after = Math.Max(after, d.Next(Start + i * Step, 10 * rng.NextDouble()));
            return atWidening;
        }

        Assert.True(Run(null, out _) < 1, "a 2% widening should keep the stored hypotheses");
        Assert.True(Run(-1, out _) < 1, "regrow < 0 never drops them");
        Assert.Equal(1.0, Run(0, out var relearned));
        Assert.True(relearned < 1, $"after relearning the window once, the same noise scored {relearned}");
    }

    /// <summary>fusion-lite is fusion without the hour-of-day slots: the same scores as fusion with season=0, in a fifth of the state.</summary>
    [Fact]
    public void FusionLiteIsFusionWithoutHourSlots()
    {
        var lite = DetectorCatalog.Create(FusionDetector.LiteName);
        var noSlots = DetectorCatalog.Create(FusionDetector.CatalogName, new Dictionary<string, double> { ["season"] = 0 });
        var v = Series(4000, 13);
        v[3000] += 60;
        for (var i = 0; i < v.Length; i++) Assert.Equal(noSlots.Next(Start + i * Step, v[i]), lite.Next(Start + i * Step, v[i]));
        Assert.True(lite.StateSize <= 128, $"fusion-lite state {lite.StateSize} B");
        Assert.True(lite.StateSize * 5 <= DetectorCatalog.Create(FusionDetector.CatalogName).StateSize);
        Assert.ThrowsAny<ArgumentException>(() => DetectorCatalog.Create(FusionDetector.LiteName, new Dictionary<string, double> { ["season"] = 2 }));
    }

    [Fact]
    public void ParametersChangeBehaviour()
    {
        var d = DetectorCatalog.Create("ensemble", new Dictionary<string, double> { ["threshold"] = 0.9 });
        Assert.Equal(0.9, d.Threshold);
    }

    [Fact]
    public void DefaultIsFusionAndLightIsEwma()
    {
        Assert.Equal("fusion", DetectorCatalog.DefaultName);
        Assert.Equal("ewma-z", DetectorCatalog.LightName);
        Assert.Contains("rcf", DetectorCatalog.Names);
        Assert.Contains("relative-entropy", DetectorCatalog.Names);
    }

    /// <summary>rcf and relative-entropy have no "never alert on noise" guarantee; check the spike stands out.</summary>
    [Theory]
    [InlineData("rcf")]
    [InlineData("relative-entropy")]
    [InlineData("fusion")]
    [InlineData("cad")]
    [InlineData("fusion-cad")]
    public void SpikeStandsOutOfNoise(string name)
    {
        var d = DetectorCatalog.Create(name, new Dictionary<string, double> { ["rest"] = 0 });
        var v = Series(4000, 5);
        var noise = new List<double>();
        for (var i = 0; i < 3000; i++)
        {
            var s = d.Next(Start + i * Step, v[i]);
            if (i >= 1000) noise.Add(s);
        }

        noise.Sort();
        var p99 = noise[(int)(0.99 * noise.Count)];
        var best = 0.0;
        for (var i = 3000; i < 3005; i++) best = Math.Max(best, d.Next(Start + i * Step, v[i] + (i == 3000 ? 100 : 0)));
        Assert.True(best >= d.Threshold, $"{name}: spike scored {best}, threshold {d.Threshold}");
        Assert.True(best > p99, $"{name}: spike scored {best}, noise p99 {p99}");
    }

    [Theory]
    [InlineData("fusion", "wEntropy", 0.6)]
    [InlineData("fusion", "tailP", 0)]
    [InlineData("fusion", "recurDamp", 1)]
    [InlineData("fusion", "tailExtrap", 0)]
    [InlineData("rcf", "trees", 2)]
    [InlineData("rcf", "shingle", 1)]
    [InlineData("relative-entropy", "hypotheses", 4)]
    [InlineData("cad", "extend", 1)]
    [InlineData("cad", "order", 16)]
    [InlineData("cad", "epoch", 1)]
    [InlineData("cad", "epoch", 0)]
    [InlineData("cad", "tableBits", 4)] // tiny table: constant replacement of facts
    [InlineData("fusion-cad", "mode", 0)]
    [InlineData("fusion-cad", "mode", 2)]
    [InlineData("fusion-cad", "mode", 4)]
    [InlineData("fusion-cad2", "dampBelow", 0.75)]
    public void VariantsContinueIdenticallyAfterLoadWithoutAllocating(string name, string key, double value)
    {
        var p = new Dictionary<string, double> { [key] = value };
        var v = Series(6000, 6);
        v[4000] += 60;
        for (var i = 2500; i < 2600; i++) v[i] = 45; // flat stretch: duplicate shingles for rcf
        var reference = DetectorCatalog.Create(name, p);
        var expected = v.Select((x, i) => reference.Next(Start + i * Step, x)).ToArray();
        var first = DetectorCatalog.Create(name, p);
        for (var i = 0; i < 2550; i++) first.Next(Start + i * Step, v[i]);
        var restored = DetectorCatalog.Create(name, p);
        restored.LoadState(first.SaveState());
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 2550; i < v.Length; i++)
        {
            var s = restored.Next(Start + i * Step, v[i]);
            if (s != expected[i]) Assert.Fail($"{name} {key}={value}: row {i} scored {s}, expected {expected[i]}");
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(reference.SaveState(), restored.SaveState());
        Assert.InRange(restored.StateSize, 0, 8 * 1024);
    }

    /// <summary>
    /// A nightly job: a spike to the same height at about 03:00 every day (within +-25 minutes). Without recurrence
    /// damping (recurDamp=1) fusion alerts on it again and again; by default it alerts the first night only, and still
    /// alerts on the same spike at another time of day, also after its state was saved and loaded.
    /// </summary>
    [Fact]
    public void FusionAlertsOnceOnANightlyJobAndStillOnOtherSpikes()
    {
        const int PerDay = 288; // 5-minute rows
        var v = Series(12 * PerDay, 9);
        var top = v.Max() + 60; // the job pegs the metric at the same height every night: no new extremes after the first
        var nightly = new List<int>();
        var rng = new Random(3);
        for (var day = 1; day < 12; day++)
        {
            var at = day * PerDay + 36 + rng.Next(-5, 6); // 03:00 +- 25 min (Start is midnight UTC)
            v[at] = top;
            nightly.Add(at);
        }

        var other = 10 * PerDay + 170; // 14:10 on day 10
        v[other] = top;

        int[] Alerts(IAnomalyDetector d, int from, int to) =>
            Enumerable.Range(from, to - from).Where(i => d.Next(Start + i * Step, v[i]) >= d.Threshold).ToArray();

        var plain = Alerts(DetectorCatalog.Create("fusion", new Dictionary<string, double> { ["recurDamp"] = 1 }), 0, v.Length);
        Assert.True(nightly.Count(plain.Contains) >= 8, $"fusion without damping alerted on {nightly.Count(plain.Contains)} of {nightly.Count} nightly spikes");

        var p = new Dictionary<string, double>(); // the default damps repeats (recurDamp 0)
        var first = DetectorCatalog.Create("fusion", p);
        var early = Alerts(first, 0, 6 * PerDay);
        var restored = DetectorCatalog.Create("fusion", p);
        restored.LoadState(first.SaveState());
        var late = Alerts(restored, 6 * PerDay, v.Length);
        var damped = early.Concat(late).ToArray();
        Assert.Equal([nightly[0]], nightly.Where(damped.Contains).ToArray());
        Assert.Contains(other, damped);
    }

    /// <summary>
    /// The first readings of a cold start (no level, no spread yet: every one is a huge deviation) are not remembered
    /// as a routine: a spike two days later at the same time of day still alerts. Before the fix the warm-up's minutes
    /// filled the recurrence memory and zeroed any large deviation within an hour of the sensor's start time of day.
    /// </summary>
    [Fact]
    public void FusionDoesNotTakeItsWarmUpForARecurringJob()
    {
        const int PerDay = 288; // 5-minute rows from midnight UTC
        var v = Series(4 * PerDay, 11);
        v[0] = 0; // a device that reports 0 before its first real reading
        v[2] = 120;
        var top = v.Max() + 40;
        v[PerDay + 144] = top; // noon on day 1: the running maximum, so the later spike is not a new extreme
        var spike = 2 * PerDay + 3; // 00:15 on day 2, the time of day the sensor started
        v[spike] = top - 10;

        var d = DetectorCatalog.Create("fusion");
        var scores = v.Select((x, i) => d.Next(Start + i * Step, x)).ToArray();
        Assert.True(v[spike] < v.Take(spike).Max()); // not a new extreme: only its z can make it alert
        Assert.True(scores[spike] >= d.Threshold, $"the spike at the start's time of day scored {scores[spike]}");
    }

    /// <summary>
    /// Bursty counts (Pareto-tailed noise around a level, like tweet volumes): with the heavy-tail calibration fusion
    /// raises far fewer alerts than without it, and a burst ten times the largest so far still alerts.
    /// </summary>
    [Fact]
    public void FusionCalibratesHeavyTailsAndStillAlertsOnAnOutsizedBurst()
    {
        var rng = new Random(5);
        var v = new double[8000];
        for (var i = 0; i < v.Length; i++) v[i] = 100 + 10 * (Math.Pow(1 - rng.NextDouble(), -1 / 1.5) - 1); // Pareto, alpha 1.5
        var burst = 7000;
        v[burst] = 100 + 10 * v.Take(burst).Max();

        int Alerts(IAnomalyDetector d) => Enumerable.Range(0, burst).Count(i => d.Next(Start + i * Step, v[i]) >= d.Threshold);

        var light = DetectorCatalog.Create("fusion", new Dictionary<string, double> { ["tailExtrap"] = 0 });
        var heavy = DetectorCatalog.Create("fusion");
        var lightAlerts = Alerts(light);
        var heavyAlerts = Alerts(heavy);
        Assert.True(heavyAlerts * 2 <= lightAlerts, $"alerts before the burst: {heavyAlerts} calibrated, {lightAlerts} without");
        Assert.True(heavy.Next(Start + burst * Step, v[burst]) >= heavy.Threshold);
    }

    [Fact]
    public void FusionLoadsAStateSavedBeforeTheRecurrenceMemoryAndTheTailRatio()
    {
        // The layout before 2026-11-25 ended where these two additions now start: the recurrence memory (a 4-byte
        // length, 8 minutes, the next slot: 40 bytes) and the 90% quantile (8 bytes).
        LoadsStateWithoutItsLastBytes("fusion", 3000, 11, 48);
    }

    /// <summary>
    /// A state saved before the detector's last additions (its last <paramref name="newBytes"/> bytes cut off) loads,
    /// keeps what it had, and is saved again with the additions.
    /// </summary>
    private static IAnomalyDetector LoadsStateWithoutItsLastBytes(string name, int points, int seed, int newBytes)
    {
        var d = DetectorCatalog.Create(name);
        var v = Series(points, seed);
        for (var i = 0; i < v.Length; i++) d.Next(Start + i * Step, v[i]);
        var saved = d.SaveState();
        var older = saved.AsSpan(0, saved.Length - newBytes).ToArray();
        var restored = DetectorCatalog.Create(name);
        restored.LoadState(older);
        Assert.Equal(d.Count, restored.Count);
        Assert.Equal(saved.Length, restored.SaveState().Length); // and from now on saves the additions
        Assert.Equal(older, restored.SaveState().AsSpan(0, older.Length).ToArray()); // with the state it had
        return restored;
    }

    /// <summary>The number of stored hypotheses and the saved range fields, read from relative-entropy's state layout.</summary>
    private static (double Lo, double Hi, int Hypotheses, double BinnedRange) EntropyState(IAnomalyDetector d)
    {
        var state = d.SaveState();
        var o = "relative-entropy".Length + 1 + sizeof(long); // tag, count
        return (BitConverter.ToDouble(state, o), BitConverter.ToDouble(state, o + 8), BitConverter.ToInt32(state, o + 16),
            BitConverter.ToDouble(state, state.Length - 8));
    }

    [Fact]
    public void RelativeEntropyDropsItsHypothesesOnlyPastTheRegrowFactor()
    {
        var d = DetectorCatalog.Create("relative-entropy", new Dictionary<string, double> { ["rest"] = 0, ["warmup"] = 1 });
        var rng = new Random(5);
        var i = 0;
        for (; i < 300; i++) d.Next(Start + i * Step, i == 0 ? 0 : i == 1 ? 10 : 10 * rng.NextDouble());
        var before = EntropyState(d);
        Assert.True(before.Hypotheses >= 1);
        Assert.Equal(10, before.BinnedRange, 9);

        d.Next(Start + i++ * Step, 12.4); // +24%: kept
        Assert.True(EntropyState(d).Hypotheses >= before.Hypotheses);
        Assert.Equal(10, EntropyState(d).BinnedRange, 9);

        d.Next(Start + i++ * Step, 12.6); // +26% since they were started: dropped, and the new window starts afresh
        var after = EntropyState(d);
        Assert.Equal(1, after.Hypotheses);
        Assert.Equal(12.6, after.BinnedRange, 9);
    }

    [Fact]
    public void RelativeEntropyLoadsAStateSavedBeforeTheRegrowRule()
    {
        // The addition: the range the hypotheses were started at (8 bytes, last).
        var restored = LoadsStateWithoutItsLastBytes("relative-entropy", 1000, 12, 8);
        var (lo, hi, _, binned) = EntropyState(restored);
        Assert.Equal(hi - lo, binned); // an older state's hypotheses count as started at its current range
    }

    [Fact]
    public void RcfStateCannotBeLoadedWithOtherParameters()
    {
        var a = DetectorCatalog.Create("rcf");
        for (var i = 0; i < 500; i++) a.Next(Start + i * Step, Math.Sin(i));
        var b = DetectorCatalog.Create("rcf", new Dictionary<string, double> { ["trees"] = 2 });
        Assert.Throws<ArgumentException>(() => b.LoadState(a.SaveState()));
    }

    [Fact]
    public void CadAndFusionCadAreInTheCatalog()
    {
        Assert.Contains("cad", DetectorCatalog.Names);
        Assert.Contains("fusion-cad", DetectorCatalog.Names);
        Assert.InRange(DetectorCatalog.Create("cad").StateSize, 1024, 8 * 1024);
        Assert.InRange(DetectorCatalog.Create("fusion-cad").StateSize, 1024, 8 * 1024);
    }

    [Fact]
    public void FusionCad2NeverDampingBelowOneIsFusionCad()
    {
        var v = Series(4000, 7);
        v[3000] += 50;
        var a = DetectorCatalog.Create("fusion-cad");
        var b = DetectorCatalog.Create("fusion-cad2", new Dictionary<string, double> { ["dampBelow"] = 1 });
        Assert.Equal("fusion-cad2", b.Name);
        for (var i = 0; i < v.Length; i++) Assert.Equal(a.Next(Start + i * Step, v[i]), b.Next(Start + i * Step, v[i]));
        Assert.Throws<ArgumentException>(() => a.LoadState(b.SaveState()));
    }

    /// <summary>A repeating pattern becomes known; a new value transition after it is novel for cad.</summary>
    [Fact]
    public void CadLearnsARepeatingPatternAndFlagsANewTransition()
    {
        var d = DetectorCatalog.Create("cad", new Dictionary<string, double> { ["rest"] = 0 });
        double[] pattern = [0, 10, 20, 30, 20, 10];
        var late = 0.0;
        for (var i = 0; i < 3000; i++)
        {
            var s = d.Next(Start + i * Step, pattern[i % pattern.Length]);
            if (i >= 1000) late = Math.Max(late, s);
        }

        Assert.True(late < d.Threshold, $"known pattern scored {late}");
        Assert.Equal(0.0, late);
        var jump = d.Next(Start + 3000 * Step, 30); // 0 -> 30 never happened
        Assert.True(jump >= d.Threshold, $"new transition scored {jump}");
    }

    [Fact]
    public void CadStateCannotBeLoadedWithOtherParameters()
    {
        var a = DetectorCatalog.Create("cad");
        for (var i = 0; i < 500; i++) a.Next(Start + i * Step, Math.Sin(i));
        var b = DetectorCatalog.Create("cad", new Dictionary<string, double> { ["tableBits"] = 10 });
        Assert.Throws<ArgumentException>(() => b.LoadState(a.SaveState()));
        var c = DetectorCatalog.Create("fusion-cad", new Dictionary<string, double> { ["tableBits"] = 10 });
        Assert.Throws<ArgumentException>(() => c.LoadState(DetectorCatalog.Create("fusion-cad").SaveState()));
    }

    // --- inputs a real sensor sends (found in review) --------------------------------------------------------

    /// <summary>A sensor at 20 (noise 0.1) reading 20 + shift from <paramref name="shiftAt"/> on, with optional glitches, in units of <paramref name="unit"/>.</summary>
    private static int AlertsOnShift(string detector, double unit, int? glitchAt, double glitch, int shiftAt, double shift, long start = Start)
    {
        var rng = new Random(3);
        var d = DetectorCatalog.Create(detector);
        var alerts = 0;
        for (var i = 0; i < shiftAt + 50; i++)
        {
            var v = (20 + 0.1 * Gauss(rng) + (i >= shiftAt ? shift : 0)) * unit;
            if (i == glitchAt) v = glitch * unit;
            if (d.Next(start + i * Step, v) >= d.Threshold && i >= shiftAt) alerts++;
        }

        return alerts;
    }

    /// <summary>
    /// One glitch (a reading of 1000 from a sensor at 20) once widened fusion's range for good, and with it the scale floor
    /// (1% of the range, 9.8 here against a noise of 0.1): a later shift of 20 noise sds went unseen forever.
    /// </summary>
    [Theory]
    [InlineData("fusion")]
    [InlineData("fusion-lite")]
    public void OneGlitchDoesNotDeafenFusionForGood(string detector)
    {
        Assert.True(AlertsOnShift(detector, 1, glitchAt: null, 0, shiftAt: 3000, shift: 2) >= 1); // the shift alone alerts
        Assert.True(AlertsOnShift(detector, 1, glitchAt: 1000, 1000, shiftAt: 3000, shift: 2) >= 1, "the shift after a glitch went unseen");
        Assert.True(AlertsOnShift(detector, 1, glitchAt: 1000, 1000, shiftAt: 20000, shift: 2) >= 1, "the shift long after a glitch went unseen");
    }

    /// <summary>
    /// fusion's scale floor was 1e-9 in absolute terms, so a series in small units (1e-12: farads, kilograms per cubic
    /// metre) was judged as if flat. The floor is relative now: the same series in any unit gives the same alerts.
    /// </summary>
    [Theory]
    [InlineData(1e-12)]
    [InlineData(1e-9)]
    [InlineData(1e9)]
    public void FusionJudgesASeriesTheSameInAnyUnit(double unit)
    {
        var inUnits = AlertsOnShift("fusion", unit, glitchAt: null, 0, shiftAt: 3000, shift: 2);
        Assert.True(inUnits >= 1);
        Assert.Equal(AlertsOnShift("fusion", 1, glitchAt: null, 0, shiftAt: 3000, shift: 2), inUnits);
    }

    /// <summary>A timestamp before 1970 fell into the next hour's slot (integer division truncates toward zero).</summary>
    [Fact]
    public void HourOfDaySlotsHoldBefore1970()
    {
        const long Days100 = 100L * 86_400_000;
        var v = Series(6 * 288, 21);
        for (var i = 0; i < v.Length; i++) v[i] += 30 * Math.Sin(2 * Math.PI * (i % 288) / 288.0); // a daily cycle
        double[] Scores(long start)
        {
            var d = DetectorCatalog.Create("fusion");
            return v.Select((x, i) => d.Next(start + i * Step, x)).ToArray(); // on the hour and every 5 minutes after
        }

        Assert.Equal(Scores(Start), Scores(Start - 200 * Days100)); // the same times of day, 1959 instead of 2014
    }

    [Fact]
    public void AStateWithANonFiniteLevelIsRefused()
    {
        foreach (var name in new[] { "fusion", "fusion-lite", "ewma-z" })
        {
            var d = DetectorCatalog.Create(name);
            for (var i = 0; i < 200; i++) d.Next(Start + i * Step, 20 + i % 7);
            var state = d.SaveState();
            var at = FindDouble(state, d is EwmaZScoreDetector ? 20.0 : -1); // ewma-z: its level; fusion: a level near 20
            BitConverter.TryWriteBytes(state.AsSpan(at), double.NaN);
            var ex = Assert.Throws<ArgumentException>(() => DetectorCatalog.Create(name).LoadState(state));
            Assert.Contains("non-finite", ex.Message);
        }

        // the offset of the first double in [15, 25] (a level of 20 + noise)
        static int FindDouble(byte[] bytes, double _)
        {
            for (var i = 0; i + 8 <= bytes.Length; i++)
            {
                var x = BitConverter.ToDouble(bytes, i);
                if (x is > 15 and < 25) return i;
            }

            throw new InvalidOperationException("no level in the state");
        }
    }

    [Fact]
    public void ParametersThatDifferOnlyInCaseAreRefused()
    {
        var twice = new Dictionary<string, double> { ["threshold"] = 0.9, ["Threshold"] = 0.1 };
        foreach (var name in new[] { "fusion", "ewma-z" })
        {
            var ex = Assert.Throws<ArgumentException>(() => DetectorCatalog.Create(name, twice));
            Assert.Contains("given twice", ex.Message);
        }
    }

    [Theory]
    [InlineData(double.NaN, 4, 20, 0.65)]
    [InlineData(0.003, double.NaN, 20, 0.65)]
    [InlineData(0.003, 4, double.NaN, 0.65)]
    [InlineData(0.003, 4, 20, double.NaN)]
    [InlineData(0.003, 4, 20, 1.5)]
    public void EwmaZRefusesNaNSettings(double alpha, double zAtHalf, double clip, double threshold)
        => Assert.Throws<ArgumentOutOfRangeException>(() => new EwmaZScoreDetector(alpha, zAtHalf, 150, threshold, 300, clip));

    public static TheoryData<string> CatalogNames => new(DetectorCatalog.Names.Order(StringComparer.Ordinal));

    /// <summary>
    /// Any value the gateway admits (finite, |v| at most 1e100) is a valid reading: every detector survives the extremes
    /// (rcf once threw on values beyond float's range, 3.4e38, on every later point, which stalled its sensor), keeps
    /// its scores in [0, 1] and can load the state it saves.
    /// </summary>
    [Theory]
    [MemberData(nameof(CatalogNames))]
    public void EveryDetectorSurvivesExtremeFiniteValues(string name)
    {
        double[] extremes = [0, 1e100, -1e100, 5e-324, -1e-300, 3.5e38, -3.5e38, 20, 1e100, -1e100, 7];
        var d = DetectorCatalog.Create(name);
        for (var i = 0; i < 1200; i++)
        {
            var value = i < 400 ? 20 + i % 3 : extremes[i % extremes.Length];
            var score = d.Next(Start + i * Step, value);
            Assert.True(score is >= 0 and <= 1, $"{name}: score {score} at {i} (value {value})");
        }

        var copy = DetectorCatalog.Create(name);
        copy.LoadState(d.SaveState());
        Assert.Equal(d.Count, copy.Count);
    }
}
