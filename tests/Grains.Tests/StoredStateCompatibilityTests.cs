using Fleet.Detectors;
using Fleet.Grains.Pipeline;
using Fleet.Grains.Readings;
using Fleet.Grains.Sensors;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.Serialization;

namespace Fleet.Grains.Tests;

/// <summary>
/// A sensor's stored state outlives the release that wrote it: after an upgrade every sensor resumes from what the
/// previous release checkpointed. Fixtures/sensor-state-fc671ab.b64 is a <see cref="SensorState"/> written by commit
/// fc671ab (before anomalies carried an explanation and detector summaries a band): a sensor with two metrics under
/// the default detector, smoothing 0.7, a scale rule on "b", 300 readings one minute apart (a sine plus a sawtooth),
/// a spike of 95 on "a" at seq 250 (stored as an anomaly), and three rejected publishes. These tests load those exact
/// bytes with today's code.
/// </summary>
public sealed class StoredStateCompatibilityTests
{
    private const long T0 = 1_732_450_000_000; // the fixture's first reading; one a minute since
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2024, 11, 24, 17, 0, 0, TimeSpan.Zero));

    private static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(b => b.AddAssembly(typeof(SensorState).Assembly))
        .BuildServiceProvider()
        .GetRequiredService<Serializer>();

    private static SensorState Stored()
    {
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "sensor-state-fc671ab.b64"));
        return Serializer.Deserialize<SensorState>(Convert.FromBase64String(text))!;
    }

    // The fixture's signal, continued: the same formula the old release was fed.
    private static Reading Normal(int i)
        => new(T0 + i * 60_000L, i, [new MetricValue("a", 20 + 2 * Math.Sin(i * 0.7) + ((i * 37) % 11 - 5) * 0.1), new MetricValue("b", 5 + Math.Cos(i * 0.3) + ((i * 53) % 7 - 3) * 0.05)], 0);

    [Fact]
    public void The_previous_releases_state_loads_with_its_counts_config_and_anomalies()
    {
        var state = Stored();

        Assert.Equal(300, state.Accepted);
        Assert.Equal(299, state.LastSeq);
        Assert.Equal(3, state.Rejected![RejectReason.NonFiniteValue]);
        Assert.Equal(0.7, state.Config!.SmoothingAlpha);
        Assert.Equal(2, state.Config.Metrics!["b"].Scale);
        var anomaly = Assert.Single(state.RecentAnomalies);
        Assert.Equal(("s-compat", "a", 250L, 95.0, 0.9, "fusion"), (anomaly.SensorId, anomaly.Metric, anomaly.Seq, anomaly.Value, anomaly.Score, anomaly.Detector));
        Assert.Equal(T0 + 250 * 60_000L, anomaly.TimestampMs);
        // written before explanations existed: none, rather than made up
        Assert.Null(anomaly.Kind);
        Assert.Null(anomaly.Expected);
        Assert.Null(anomaly.Lower);
        Assert.Null(anomaly.Upper);
    }

    [Fact]
    public void The_previous_releases_detector_state_resumes_warm_and_explains_what_it_finds_next()
    {
        var pipeline = new SensorPipeline("s-compat", Stored(), new SensorPipelineOptions(), _time);

        // The running statistics and the detectors are the stored ones, not fresh ones.
        var a = pipeline.Metrics["a"];
        Assert.Equal((300L, 20.268318186386736, 17.508462012007065, 95.0), (a.Count, a.Mean, a.Min, a.Max));
        Assert.Equal(21.90648524092469, a.Smoothed);
        Assert.Equal(10.024544281155105, pipeline.Metrics["b"].Mean); // in the scaled unit (x2)
        Assert.Equal((DetectorCatalog.DefaultName, 300L), (a.Detector.Name, a.Detector.Count));
        Assert.Equal(300L, pipeline.Metrics["b"].Detector.Count);

        // Warm at once: a band for the very next reading, around the level it learnt (~20).
        var (expected, lower, upper) = pipeline.Band("a");
        Assert.InRange(expected!.Value, 17, 23);
        Assert.InRange(lower!.Value, 0, expected.Value);
        Assert.InRange(upper!.Value, expected.Value, 60);

        // Duplicates of stored readings are still recognised, and the signal goes on without alerts.
        var found = new List<Anomaly>();
        Assert.Equal(ReadingOutcome.Duplicate, pipeline.Process(Normal(299), found));
        for (var i = 300; i < 360; i++) pipeline.Process(Normal(i), found);
        Assert.Empty(found);

        // The stored alert's rest (120 readings from seq 250) still runs: a spike inside it does not alert...
        Reading Spike(int i, double value) => new(T0 + i * 60_000L, i, [new MetricValue("a", value), new MetricValue("b", 5)], 0);
        pipeline.Process(Spike(360, 140), found);
        Assert.Empty(found);
        for (var i = 361; i < 380; i++) pipeline.Process(Normal(i), found);
        Assert.Empty(found);

        // ...and after it a larger one does, explained.
        Assert.Equal(ReadingOutcome.Accepted, pipeline.Process(Spike(380, 300), found));
        var alert = Assert.Single(found);
        Assert.Equal(("a", 300.0), (alert.Metric, alert.Value));
        Assert.Contains(alert.Kind, new[] { "level", "new-extreme" }); // far from the level, and beyond every value seen
        Assert.InRange(alert.Expected!.Value, 17, 23);
        Assert.True(alert.Lower < 20 && 20 < alert.Upper && alert.Upper < 300, $"band {alert.Lower}..{alert.Upper}");
        Assert.Equal(2, pipeline.State.RecentAnomalies.Count); // the stored one, then the new one
        Assert.Equal(381, pipeline.Counts.Accepted);
    }

    [Fact]
    public void A_state_resumed_from_the_previous_release_checkpoints_and_loads_again()
    {
        var first = new SensorPipeline("s-compat", Stored(), new SensorPipelineOptions(), _time);
        var found = new List<Anomaly>();
        for (var i = 300; i < 320; i++) first.Process(Normal(i), found);
        first.Checkpoint();

        var again = new SensorPipeline("s-compat", Serializer.Deserialize<SensorState>(Serializer.SerializeToArray(first.State))!, new SensorPipelineOptions(), _time);

        Assert.Equal(first.Counts, again.Counts);
        foreach (var name in new[] { "a", "b" })
        {
            Assert.Equal(first.Metrics[name].Detector.SaveState(), again.Metrics[name].Detector.SaveState());
            Assert.Equal(320L, again.Metrics[name].Detector.Count);
        }
    }
}
