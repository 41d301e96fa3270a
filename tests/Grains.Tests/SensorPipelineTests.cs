using Fleet.Detectors;
using Fleet.Functions.BuiltIn;
using MetricRule = Fleet.Grains.Sensors.MetricRule;
using Fleet.Grains.Pipeline;
using Fleet.Grains.Readings;
using Fleet.Grains.Sensors;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.Serialization;

namespace Fleet.Grains.Tests;

public sealed class SensorPipelineTests
{
    private const long T0 = 1_732_450_000_000;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2024, 11, 24, 12, 0, 0, TimeSpan.Zero));
    private readonly List<Anomaly> _found = new();

    private SensorPipeline NewPipeline(SensorPipelineOptions? options = null, SensorState? state = null)
        => new("s-1", state ?? new SensorState(), options ?? new SensorPipelineOptions { DefaultDetector = "null" }, _time);

    private static Reading R(long seq, long ts, double value) => new(ts, seq, [new MetricValue(Reading.DefaultMetric, value)], 0);

    private static Reading R(long seq, long ts, params (string Name, double Value)[] metrics)
        => new(ts, seq, metrics.Select(m => new MetricValue(m.Name, m.Value)).ToArray(), 0);

    private ReadingOutcome[] Run(SensorPipeline pipeline, params Reading[] readings)
        => readings.Select(r => pipeline.Process(r, _found)).ToArray();

    // --- preprocessing: dedupe and lateness ---------------------------------------------------

    [Fact]
    public void Repeated_seq_is_a_duplicate()
    {
        var p = NewPipeline();
        var outcomes = Run(p, R(1, T0, 1), R(2, T0 + 1, 2), R(2, T0 + 1, 2), R(1, T0, 1), R(3, T0 + 2, 3));
        Assert.Equal([ReadingOutcome.Accepted, ReadingOutcome.Accepted, ReadingOutcome.Duplicate, ReadingOutcome.Duplicate, ReadingOutcome.Accepted], outcomes);
        Assert.Equal(3, p.Counts.Accepted);
        Assert.Equal(2, p.Counts.Duplicates);
        Assert.Equal(3, p.Metrics["value"].Count);
    }

    [Fact]
    public void Reordered_readings_within_the_window_are_each_accepted_once()
    {
        var p = NewPipeline();
        var outcomes = Run(p,
            R(10, T0 + 10, 10), R(14, T0 + 14, 14), R(12, T0 + 12, 12), R(11, T0 + 11, 11), R(13, T0 + 13, 13),
            R(12, T0 + 12, 12), R(14, T0 + 14, 14), R(10, T0 + 10, 10));
        Assert.Equal(5, outcomes.Count(o => o == ReadingOutcome.Accepted));
        Assert.Equal([ReadingOutcome.Duplicate, ReadingOutcome.Duplicate, ReadingOutcome.Duplicate], outcomes[5..]);
        Assert.Equal(14, p.HighestSeq);
        Assert.Equal(60, p.Metrics["value"].Mean * 5, 9);
    }

    [Fact]
    public void Seq_right_at_the_window_edge_is_still_recognised()
    {
        var p = NewPipeline(new SensorPipelineOptions { DefaultDetector = "null", DedupeWindow = 8 });
        Run(p, R(0, T0, 0), R(7, T0 + 7, 7));
        // seq 0 is 7 behind the highest (inside a window of 8): its bit is set, so a resend is a duplicate.
        Assert.Equal(ReadingOutcome.Duplicate, p.Process(R(0, T0, 0), _found));
        // seq 3 was never seen: accepted.
        Assert.Equal(ReadingOutcome.Accepted, p.Process(R(3, T0 + 3, 3), _found));
        Run(p, R(8, T0 + 8, 8));
        // now seq 0 is 8 behind (outside the window) with an old timestamp: an old duplicate.
        Assert.Equal(ReadingOutcome.Duplicate, p.Process(R(0, T0, 0), _found));
    }

    [Fact]
    public void Device_restart_resets_the_sequence_when_the_timestamp_moves_on()
    {
        var p = NewPipeline();
        for (var seq = 0; seq < 500; seq++) p.Process(R(seq, T0 + seq * 1000L, seq), _found);
        var restartTs = T0 + 600_000;

        Assert.Equal(ReadingOutcome.Accepted, p.Process(R(0, restartTs, 1), _found));
        Assert.Equal(ReadingOutcome.Accepted, p.Process(R(1, restartTs + 1000, 2), _found));
        Assert.Equal(1, p.HighestSeq);
        // After the restart the new counter is deduplicated as usual.
        Assert.Equal(ReadingOutcome.Duplicate, p.Process(R(0, restartTs, 1), _found));
        Assert.Equal(502, p.Counts.Accepted);
        Assert.Equal(1, p.Counts.Duplicates);
    }

    [Fact]
    public void Low_seq_far_behind_with_an_old_timestamp_is_a_duplicate_not_a_restart()
    {
        var p = NewPipeline();
        for (var seq = 0; seq < 200; seq++) p.Process(R(seq, T0 + seq * 1000L, seq), _found);
        Assert.Equal(ReadingOutcome.Duplicate, p.Process(R(5, T0 + 5000, 5), _found));
        Assert.Equal(199, p.HighestSeq);
    }

    [Fact]
    public void Readings_later_than_the_allowed_lateness_are_dropped()
    {
        var p = NewPipeline(new SensorPipelineOptions { DefaultDetector = "null", AllowedLatenessMs = 60_000 });
        Run(p, R(Reading.NoSeq, T0 + 100_000, 1));
        Assert.Equal(ReadingOutcome.Accepted, p.Process(R(Reading.NoSeq, T0 + 40_000, 2), _found)); // exactly 60 s late
        Assert.Equal(ReadingOutcome.Late, p.Process(R(Reading.NoSeq, T0 + 39_999, 3), _found));
        Assert.Equal(1, p.Counts.Late);
        Assert.Equal(2, p.Counts.Accepted);
        Assert.Equal(T0 + 100_000, p.NewestTimestampMs);
        Assert.Equal(2, p.Metrics["value"].Count);
    }

    [Fact]
    public void Per_sensor_lateness_overrides_the_silo_default()
    {
        var p = NewPipeline();
        p.Reconfigure(new SensorConfig { AllowedLatenessMs = 0 });
        Assert.Equal([ReadingOutcome.Accepted, ReadingOutcome.Accepted, ReadingOutcome.Late],
            Run(p, R(Reading.NoSeq, T0 + 10, 1), R(Reading.NoSeq, T0 + 10, 2), R(Reading.NoSeq, T0 + 9, 3)));
    }

    // --- filter / transform ---------------------------------------------------------------------

    [Fact]
    public void Range_filter_drops_values_outside_min_max_and_counts_them()
    {
        var p = NewPipeline();
        p.Reconfigure(new SensorConfig { Metrics = new() { ["temp"] = new MetricRule { Min = -40, Max = 85 } } });
        Run(p, R(1, T0, ("temp", 20)), R(2, T0 + 1, ("temp", 120)), R(3, T0 + 2, ("temp", -41)), R(4, T0 + 3, ("temp", 85)));
        Assert.Equal(2, p.Counts.Filtered);
        Assert.Equal(4, p.Counts.Accepted); // the readings were taken, their values filtered
        var temp = p.Metrics["temp"];
        Assert.Equal(2, temp.Count);
        Assert.Equal(20, temp.Min);
        Assert.Equal(85, temp.Max);
    }

    [Fact]
    public void Unit_conversion_then_clamp_apply_and_the_star_rule_covers_other_metrics()
    {
        var p = NewPipeline();
        p.Reconfigure(new SensorConfig
        {
            Metrics = new()
            {
                ["tempF"] = new MetricRule { Scale = 1.8, Offset = 32 },               // Celsius -> Fahrenheit
                ["*"] = new MetricRule { ClampMin = 0, ClampMax = 50 },
            },
        });
        Run(p, R(1, T0, ("tempF", 100), ("humidity", 80), ("other", -5)));
        Run(p, R(2, T0 + 1, ("tempF", -40), ("humidity", 30)));
        Assert.Equal(212, p.Metrics["tempF"].Max, 9);
        Assert.Equal(-40, p.Metrics["tempF"].Min, 9);
        Assert.Equal(50, p.Metrics["humidity"].Max);   // 80 clamped
        Assert.Equal(30, p.Metrics["humidity"].Last);
        Assert.Equal(0, p.Metrics["other"].Last);      // -5 clamped
        Assert.Equal(0, p.Counts.Filtered);
    }

    [Fact]
    public void MetricTransform_clamps_before_the_range_check()
    {
        var rule = new Fleet.Functions.BuiltIn.MetricRule { Scale = 2, Offset = 1, ClampMax = 10, Max = 10 };
        Assert.True(Transform.TryApply(rule, 100, out var v));
        Assert.Equal(10, v);
        Assert.False(Transform.TryApply(new Fleet.Functions.BuiltIn.MetricRule { Scale = 2, Max = 10 }, 6, out v));
        Assert.Equal(12, v);
        Assert.True(Transform.TryApply(null, 3.5, out v));
        Assert.Equal(3.5, v);
        Assert.False(Transform.TryApply(new Fleet.Functions.BuiltIn.MetricRule { Scale = 1e308 }, 1e10, out _)); // overflow to infinity
    }

    [Fact]
    public void Smoothing_feeds_an_ewma_while_statistics_keep_raw_values()
    {
        var p = NewPipeline();
        p.Reconfigure(new SensorConfig { SmoothingAlpha = 0.5 });
        var metric = () => p.Metrics["value"];
        p.Process(R(1, T0, 10), _found);
        Assert.Equal(10, metric().Smoothed);
        p.Process(R(2, T0 + 1, 20), _found);
        Assert.Equal(15, metric().Smoothed);
        p.Process(R(3, T0 + 2, 20), _found);
        Assert.Equal(17.5, metric().Smoothed);
        Assert.Equal(50.0 / 3, metric().Mean, 9);
        Assert.Equal(20, metric().Last);
    }

    [Fact]
    public void Without_smoothing_the_smoothed_value_is_the_value()
    {
        var p = NewPipeline();
        Run(p, R(1, T0, 10), R(2, T0 + 1, 20));
        Assert.Equal(20, p.Metrics["value"].Smoothed);
    }

    [Fact]
    public void Metrics_beyond_the_limit_are_counted_not_tracked()
    {
        var p = NewPipeline(new SensorPipelineOptions { DefaultDetector = "null", MaxMetricsPerSensor = 2 });
        Run(p, R(1, T0, ("a", 1), ("b", 2), ("c", 3)), R(2, T0 + 1, ("a", 1), ("d", 4)));
        Assert.Equal(["a", "b"], p.Metrics.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(2, p.Counts.MetricLimitExceeded);
        Assert.Equal(2, p.Metrics["a"].Count);
    }

    [Fact]
    public void Running_statistics_are_exact()
    {
        var p = NewPipeline();
        double[] values = [2, 4, 4, 4, 5, 5, 7, 9];
        for (var i = 0; i < values.Length; i++) p.Process(R(i, T0 + i, values[i]), _found);
        var m = p.Metrics["value"];
        Assert.Equal(8, m.Count);
        Assert.Equal(5, m.Mean, 12);
        Assert.Equal(Math.Sqrt(32.0 / 7), Math.Sqrt(m.Variance), 12); // sample standard deviation
        Assert.Equal(2, m.Min);
        Assert.Equal(9, m.Max);
        Assert.Equal(9, m.Last);
        Assert.Equal(T0 + 7, m.LastTimestampMs);
        Assert.Equal(new[] { new MetricValue("value", 9) }, p.State.Last!.Metrics);
        Assert.Equal(7, p.State.Last.Seq);
        Assert.Equal(_time.GetUtcNow().UtcDateTime, p.State.Last.ProcessedAtUtc);
    }

    // --- detection ------------------------------------------------------------------------------

    private static double Normal(Random random, int i) => 20 + Math.Sin(i / 10.0) + (random.NextDouble() - 0.5) * 0.4;

    [Theory]
    [InlineData(DetectorCatalog.LightName)]
    [InlineData(DetectorCatalog.DefaultName)]
    public void A_clear_spike_after_warm_up_is_one_anomaly(string detector)
    {
        var p = NewPipeline(new SensorPipelineOptions { DefaultDetector = detector });
        var random = new Random(7);
        const int warm = 400;
        for (var i = 0; i < warm; i++)
        {
            Assert.Equal(ReadingOutcome.Accepted, p.Process(R(i, T0 + i * 1000L, Normal(random, i)), _found));
        }

        Assert.Empty(_found);
        p.Process(R(warm, T0 + warm * 1000L, 80), _found);
        for (var i = warm + 1; i < warm + 20; i++) p.Process(R(i, T0 + i * 1000L, Normal(random, i)), _found);

        var anomaly = Assert.Single(_found);
        Assert.Equal("s-1", anomaly.SensorId);
        Assert.Equal("value", anomaly.Metric);
        Assert.Equal(warm, anomaly.Seq);
        Assert.Equal(T0 + warm * 1000L, anomaly.TimestampMs);
        Assert.Equal(80, anomaly.Value);
        Assert.Equal(detector, anomaly.Detector);
        var threshold = DetectorCatalog.Create(detector).Threshold;
        Assert.InRange(anomaly.Score, threshold, 1.0);
        Assert.Equal(_time.GetUtcNow().UtcDateTime, anomaly.DetectedAtUtc);
        Assert.Equal(1, p.Counts.Anomalies);
        Assert.Equal([anomaly], p.State.RecentAnomalies);

        // the detector says why: 80 is far from the level, where ~20 was expected (fusion's z alone scores above the 0.9
        // a new extreme gets, so the level decided)
        Assert.Equal("level", anomaly.Kind);
        Assert.InRange(anomaly.Expected!.Value, 19, 21);
        Assert.InRange(anomaly.Lower!.Value, 0, anomaly.Expected.Value);
        Assert.InRange(anomaly.Upper!.Value, anomaly.Expected.Value, 30);
    }

    /// <summary>A pipeline with smoothing (alpha 0.5) after 400 ordinary readings, the same for the same seed.</summary>
    private SensorPipeline SmoothedAndWarm(string detector, int seed, List<Anomaly> found)
    {
        var p = NewPipeline(new SensorPipelineOptions { DefaultDetector = detector });
        p.Reconfigure(new SensorConfig { SmoothingAlpha = 0.5 });
        var random = new Random(seed);
        for (var i = 0; i < 400; i++) p.Process(R(i, T0 + i * 1000L, Normal(random, i)), found);
        return p;
    }

    [Theory]
    [InlineData(DetectorCatalog.LightName)]
    [InlineData(DetectorCatalog.DefaultName)]
    public void With_smoothing_the_band_is_in_the_readings_units_and_its_edge_is_where_alerts_start(string detector)
    {
        // the detector sees the smoothed value (alpha 0.5); the band is converted back to raw readings, so a raw
        // reading just inside it does not alert and one just outside does
        SensorPipeline Fed(List<Anomaly> found) => SmoothedAndWarm(detector, 9, found);

        var first = new List<Anomaly>();
        Fed(first).Process(R(400, T0 + 400_000, 80), first);
        var anomaly = Assert.Single(first);
        var upper = anomaly.Upper!.Value;
        var margin = 1e-6 * (upper - anomaly.Lower!.Value);
        Assert.InRange(upper, 21, 80);

        var inside = new List<Anomaly>();
        Fed(inside).Process(R(400, T0 + 400_000, upper - margin), inside);
        Assert.Empty(inside);
        var outside = new List<Anomaly>();
        Fed(outside).Process(R(400, T0 + 400_000, upper + margin), outside);
        Assert.Equal(anomaly.Upper, Assert.Single(outside).Upper);
    }

    [Theory]
    [InlineData(DetectorCatalog.LightName)]
    [InlineData(DetectorCatalog.DefaultName)]
    public void The_band_now_is_where_the_next_readings_alerts_start(string detector)
    {
        SensorPipeline Fed(List<Anomaly> found) => SmoothedAndWarm(detector, 4, found);

        Assert.Equal(default, NewPipeline(new SensorPipelineOptions { DefaultDetector = detector }).Band("value"));
        var (expected, lower, upper) = Fed(_found).Band("value");
        Assert.InRange(expected!.Value, 19, 21);
        Assert.InRange(lower!.Value, 0, expected.Value);
        Assert.InRange(upper!.Value, expected.Value, 40);
        var margin = 1e-6 * (upper.Value - lower.Value);
        foreach (var (value, alerts) in new[] { (upper.Value - margin, false), (upper.Value + margin, true), (lower.Value + margin, false), (lower.Value - margin, true) })
        {
            var found = new List<Anomaly>();
            var p = Fed(found);
            found.Clear();
            p.Process(R(400, T0 + 400_000, value), found);
            Assert.True(alerts == (found.Count == 1), $"{value} in {lower}..{upper}: {found.Count} anomalies");
        }
    }

    [Fact]
    public void An_alert_no_z_can_reach_has_no_band_and_still_serialises()
    {
        // threshold 1: only fusion's entropy component (a wholly new distribution scores 1) can reach it, and no
        // deviation from the level can, so the band is unbounded: reported as no band, not as an infinity JSON refuses
        var p = NewPipeline(new SensorPipelineOptions());
        p.Reconfigure(new SensorConfig { DetectorParameters = new() { ["threshold"] = 1, ["wEntropy"] = 1, ["warmup"] = 20 } });
        var random = new Random(5);
        for (var i = 0; i < 400; i++) p.Process(R(i, T0 + i * 1000L, i < 200 ? Normal(random, i) : 60 + Normal(random, i)), _found);

        Assert.Contains(_found, a => a.Seq == 200); // the shift to 60
        Assert.All(_found, anomaly =>
        {
            Assert.Equal("distribution", anomaly.Kind);
            Assert.NotNull(anomaly.Expected);
            Assert.Null(anomaly.Lower);
            Assert.Null(anomaly.Upper);
            Assert.Contains("\"kind\":\"distribution\"", System.Text.Json.JsonSerializer.Serialize(anomaly, System.Text.Json.JsonSerializerOptions.Web));
        });
    }

    [Fact]
    public void Recent_anomalies_are_bounded_oldest_first_out()
    {
        var p = NewPipeline(new SensorPipelineOptions { DefaultDetector = DetectorCatalog.LightName, RecentAnomalies = 3 });
        p.Reconfigure(new SensorConfig { DetectorParameters = new() { ["warmup"] = 5, ["rest"] = 0 } });
        var random = new Random(3);
        var seq = 0;
        for (var spike = 0; spike < 5; spike++)
        {
            for (var i = 0; i < 50; i++) p.Process(R(seq, T0 + seq++, 20 + random.NextDouble()), _found);
            p.Process(R(seq, T0 + seq++, 1000 + spike), _found);
        }

        Assert.Equal(5, _found.Count(a => a.Value >= 1000));
        Assert.Equal(_found.Count, p.Counts.Anomalies);
        Assert.Equal(3, p.State.RecentAnomalies.Count);
        Assert.Equal(_found.TakeLast(3), p.State.RecentAnomalies);
    }

    [Fact]
    public void Changing_the_detector_restarts_every_metric_detector()
    {
        var p = NewPipeline(new SensorPipelineOptions { DefaultDetector = DetectorCatalog.LightName });
        Run(p, R(1, T0, ("a", 1)), R(2, T0 + 1, ("a", 2), ("b", 3)));
        Assert.Equal(2, p.Metrics["a"].Detector.Count);

        p.Reconfigure(new SensorConfig { Detector = "windowed-gaussian" });
        Assert.All(p.Metrics.Values, m =>
        {
            Assert.Equal("windowed-gaussian", m.Detector.Name);
            Assert.Equal(0, m.Detector.Count);
        });

        // Same detector, same parameters: detectors keep their state.
        Run(p, R(3, T0 + 2, ("a", 4)));
        p.Reconfigure(new SensorConfig { Detector = "windowed-gaussian", SmoothingAlpha = 0.5 });
        Assert.Equal(1, p.Metrics["a"].Detector.Count);

        // New parameters restart them.
        p.Reconfigure(new SensorConfig { Detector = "ewma-z", DetectorParameters = new() { ["warmup"] = 10 } });
        Assert.Equal(0, p.Metrics["a"].Detector.Count);
    }

    [Fact]
    public void A_restarted_detector_does_not_show_the_previous_detectors_last_score()
    {
        var p = NewPipeline(new SensorPipelineOptions { DefaultDetector = DetectorCatalog.LightName });
        p.Reconfigure(new SensorConfig { Detector = "ewma-z", DetectorParameters = new() { ["warmup"] = 2, ["rest"] = 0 } });
        for (var i = 1; i <= 40; i++) Run(p, R(i, T0 + i, ("a", 1 + 0.1 * (i % 3))));
        Run(p, R(41, T0 + 41, ("a", 50)));
        Assert.True(p.Metrics["a"].LastScore > 0.5, $"last score {p.Metrics["a"].LastScore}");

        p.Reconfigure(new SensorConfig { Detector = "windowed-gaussian" });
        Assert.Equal(0, p.Metrics["a"].LastScore);
    }

    // --- configuration validation ----------------------------------------------------------------

    public static TheoryData<SensorConfig, string> InvalidConfigs => new()
    {
        { new SensorConfig { Detector = "no-such-detector" }, "unknown detector" },
        { new SensorConfig { Detector = "ewma-z", DetectorParameters = new() { ["alpha"] = 5 } }, "alpha" },
        { new SensorConfig { Detector = "ewma-z", DetectorParameters = new() { ["bogus"] = 1 } }, "bogus" },
        { new SensorConfig { SmoothingAlpha = 0 }, "smoothingAlpha" },
        { new SensorConfig { SmoothingAlpha = 1.5 }, "smoothingAlpha" },
        { new SensorConfig { SmoothingAlpha = double.NaN }, "smoothingAlpha" },
        { new SensorConfig { AllowedLatenessMs = -1 }, "allowedLatenessMs" },
        { new SensorConfig { Metrics = new() { ["t"] = new MetricRule { Min = 10, Max = 5 } } }, "min must not exceed max" },
        { new SensorConfig { Metrics = new() { ["t"] = new MetricRule { ClampMin = 10, ClampMax = 5 } } }, "clampMin" },
        { new SensorConfig { Metrics = new() { ["t"] = new MetricRule { Scale = double.PositiveInfinity } } }, "finite" },
    };

    [Theory]
    [MemberData(nameof(InvalidConfigs))]
    public void Reconfigure_rejects_invalid_configs_and_keeps_the_old_one(SensorConfig config, string message)
    {
        var p = NewPipeline();
        var valid = new SensorConfig { SmoothingAlpha = 0.25 };
        p.Reconfigure(valid);
        var ex = Assert.ThrowsAny<ArgumentException>(() => p.Reconfigure(config));
        Assert.Contains(message, ex.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Same(valid, p.State.Config);
    }

    [Fact]
    public void Reconfigure_accepts_a_full_valid_config()
    {
        var p = NewPipeline();
        var config = new SensorConfig
        {
            Detector = DetectorCatalog.LightName,
            DetectorParameters = new() { ["warmup"] = 20, ["threshold"] = 0.8 },
            AllowedLatenessMs = 0,
            SmoothingAlpha = 1,
            Metrics = new() { ["t"] = new MetricRule { Min = 5, Max = 5, ClampMin = 0, ClampMax = 10 } },
        };
        p.Reconfigure(config);
        Assert.Same(config, p.State.Config);
        p.Process(R(1, T0, ("t", 5)), _found);
        Assert.Equal(0.8, p.Metrics["t"].Detector.Threshold);
    }

    // --- checkpoint and restore ------------------------------------------------------------------

    public static TheoryData<string> Detectors => new(DetectorCatalog.Names.Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(Detectors))]
    public void Checkpoint_and_restore_through_the_orleans_serializer_continue_identically(string detector)
    {
        var options = new SensorPipelineOptions { DefaultDetector = detector };
        var original = NewPipeline(options);
        original.Reconfigure(new SensorConfig { SmoothingAlpha = 0.7, Metrics = new() { ["b"] = new MetricRule { Scale = 2 } } });
        var random = new Random(11);
        Reading Next(int i) => R(i, T0 + i * 1000L, ("a", Normal(random, i)), ("b", Normal(random, i) * 0.1));
        for (var i = 0; i < 300; i++) original.Process(Next(i), _found);

        original.Checkpoint();
        var serializer = new ServiceCollection()
            .AddSerializer(b => b.AddAssembly(typeof(SensorState).Assembly))
            .BuildServiceProvider()
            .GetRequiredService<Serializer>();
        var bytes = serializer.SerializeToArray(original.State);
        var copy = serializer.Deserialize<SensorState>(bytes)!;
        Assert.NotSame(original.State, copy);
        Assert.NotNull(copy.FunctionState); // the built-ins' warm state, as IStatefulFunction saved it
        var restored = NewPipeline(options, copy);

        // Identical inputs from here on, including a spike and a duplicate, give identical results.
        var tail = Enumerable.Range(300, 150).Select(i => i == 400 ? R(i, T0 + i * 1000L, ("a", 90.0), ("b", 2.0)) : Next(i)).ToList();
        tail.Insert(50, tail[10]);
        var foundOriginal = new List<Anomaly>();
        var foundRestored = new List<Anomaly>();
        foreach (var reading in tail)
        {
            Assert.Equal(original.Process(reading, foundOriginal), restored.Process(reading, foundRestored));
            Assert.Equal(original.Metrics["a"].LastScore, restored.Metrics["a"].LastScore);
        }

        Assert.Equal(foundOriginal, foundRestored);
        AssertSameState(original, restored);
    }

    [Fact]
    public void An_explained_anomaly_survives_the_orleans_serializer()
    {
        var serializer = new ServiceCollection()
            .AddSerializer(b => b.AddAssembly(typeof(SensorState).Assembly))
            .BuildServiceProvider()
            .GetRequiredService<Serializer>();
        var at = new DateTime(2026, 11, 25, 0, 0, 0, DateTimeKind.Utc);
        var explained = new Anomaly("s-1", "value", T0, 7, 95, 0.93, "fusion", at) { Kind = "time-of-day", Expected = 21.5, Lower = 12.25, Upper = 30.75 };
        var plain = new Anomaly("s-1", "value", T0, 8, 95, 0.8, "rcf", at);
        var state = new SensorState { Recent = [explained, plain] };

        var copy = serializer.Deserialize<SensorState>(serializer.SerializeToArray(state))!;

        Assert.Equal([explained, plain], copy.RecentAnomalies);
        Assert.Null(copy.RecentAnomalies[1].Kind);
    }

    private static void AssertSameState(SensorPipeline a, SensorPipeline b)
    {
        Assert.Equal(a.Counts, b.Counts);
        Assert.Equal(a.HighestSeq, b.HighestSeq);
        Assert.Equal(a.NewestTimestampMs, b.NewestTimestampMs);
        Assert.Equal(a.State.RecentAnomalies, b.State.RecentAnomalies);
        Assert.Equal(a.State.Config!.SmoothingAlpha, b.State.Config!.SmoothingAlpha);
        Assert.Equal(a.State.Config.Metrics, b.State.Config.Metrics); // dictionaries compare by entries here
        foreach (var (name, ma) in a.Metrics)
        {
            var mb = b.Metrics[name];
            Assert.Equal(ma.Count, mb.Count);
            Assert.Equal(ma.Mean, mb.Mean);
            Assert.Equal(ma.M2, mb.M2);
            Assert.Equal(ma.Min, mb.Min);
            Assert.Equal(ma.Max, mb.Max);
            Assert.Equal(ma.Smoothed, mb.Smoothed);
            Assert.Equal(ma.Detector.Name, mb.Detector.Name);
            Assert.Equal(ma.Detector.SaveState(), mb.Detector.SaveState());
        }

        a.Checkpoint();
        b.Checkpoint();
        Assert.Equal(a.State.FunctionState!.Keys.Order(), b.State.FunctionState!.Keys.Order());
        foreach (var (function, bytes) in a.State.FunctionState) Assert.Equal(bytes, b.State.FunctionState[function]);
    }

    [Fact]
    public void A_saved_state_of_another_detector_is_not_loaded()
    {
        var first = NewPipeline(new SensorPipelineOptions { DefaultDetector = DetectorCatalog.LightName });
        for (var i = 0; i < 10; i++) first.Process(R(i, T0 + i, i), _found);
        first.Checkpoint();
        var restored = NewPipeline(new SensorPipelineOptions { DefaultDetector = "windowed-gaussian" }, first.State);
        var metric = restored.Metrics["value"];
        Assert.Equal("windowed-gaussian", metric.Detector.Name);
        Assert.Equal(0, metric.Detector.Count);
        Assert.Equal(10, metric.Count); // statistics are kept
    }
}
