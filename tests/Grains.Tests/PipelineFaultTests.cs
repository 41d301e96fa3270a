using Fleet.Detectors;
using Fleet.Grains.Pipeline;
using Fleet.Grains.Readings;
using Fleet.Grains.Sensors;
using Microsoft.Extensions.Time.Testing;

namespace Fleet.Grains.Tests;

/// <summary>
/// One reading must never stop a sensor (or, through the ingress, a quarter of the fleet): an internal error fails
/// that reading, or that metric's detection, alone, and is counted. Faults are injected with detectors that throw,
/// registered for tests only. Also the preprocessing rules for clocks that jump and devices that reboot.
/// </summary>
public sealed class PipelineFaultTests
{
    private const long T0 = 1_732_450_000_000;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2024, 11, 24, 12, 0, 0, TimeSpan.Zero));
    private readonly List<Anomaly> _found = new();

    static PipelineFaultTests()
    {
        DetectorCatalog.RegisterForTest("test-throws-above-100", _ => new ThrowsAbove(100));
        DetectorCatalog.RegisterForTest("test-cannot-start", _ => throw new InvalidOperationException("test detector: cannot start"));
    }

    private SensorPipeline NewPipeline(string detector = "fusion") => new("s-1", new SensorState(), new SensorPipelineOptions { DefaultDetector = detector }, _time);

    private static Reading R(long seq, long ts, params (string Name, double Value)[] metrics)
        => new(ts, seq, metrics.Select(m => new MetricValue(m.Name, m.Value)).ToArray(), 0);

    /// <summary>As the gateway stamps it: received at <paramref name="receivedMs"/>.</summary>
    private static Reading At(long seq, long ts, long receivedMs, double value = 20)
        => new(ts, seq, [new MetricValue("value", value)], receivedMs * 1000);

    [Fact]
    public void A_detector_that_throws_fails_that_metric_alone_and_restarts()
    {
        var p = NewPipeline("test-throws-above-100");
        for (var i = 0; i < 5; i++) Assert.Equal(ReadingOutcome.Accepted, p.Process(R(i, T0 + i * 1000L, ("a", 5), ("b", 50)), _found));

        // b's detector throws on this reading: a is still detected, the reading is accepted, the error counted
        Assert.Equal(ReadingOutcome.Accepted, p.Process(R(5, T0 + 5000, ("a", 6), ("b", 500)), _found));
        Assert.Equal(1, p.Counts.Errors);
        Assert.IsType<InvalidOperationException>(p.LastError);
        Assert.Equal(6, p.Metrics["a"].Detector.Count);
        Assert.Equal(0, p.Metrics["b"].Detector.Count); // afresh: its state may be half-updated
        Assert.Equal(6, p.Metrics["b"].Count);         // the reading's value still counts in b's statistics

        // and the sensor goes on
        for (var i = 6; i < 10; i++) Assert.Equal(ReadingOutcome.Accepted, p.Process(R(i, T0 + i * 1000L, ("a", 5), ("b", 50)), _found));
        Assert.Equal((10L, 1L), (p.Counts.Accepted, p.Counts.Errors));
        Assert.Equal(4, p.Metrics["b"].Detector.Count);

        // the count survives a checkpoint
        p.Checkpoint();
        var restored = new SensorPipeline("s-1", p.State, new SensorPipelineOptions { DefaultDetector = "test-throws-above-100" }, _time);
        Assert.Equal(1, restored.Counts.Errors);
    }

    [Fact]
    public void A_reading_the_pipeline_cannot_process_fails_alone_and_is_not_counted_as_accepted()
    {
        var p = NewPipeline("test-cannot-start"); // every new metric needs a detector, and none can be made
        Assert.Equal(ReadingOutcome.Failed, p.Process(R(1, T0, ("a", 5)), _found));
        Assert.Equal(ReadingOutcome.Failed, p.Process(R(2, T0 + 1000, ("a", 6)), _found));
        Assert.Equal((0L, 2L), (p.Counts.Accepted, p.Counts.Errors));
        Assert.Empty(_found);
        Assert.Contains("cannot start", p.LastError!.Message);
        Assert.Equal(2, p.State.Failed); // stored with the sensor
    }

    [Fact]
    public void One_reading_stamped_in_the_future_does_not_make_later_readings_late()
    {
        var p = NewPipeline();
        var now = T0;
        Assert.Equal(ReadingOutcome.Accepted, p.Process(At(1, now, now), _found));
        Assert.Equal(ReadingOutcome.Accepted, p.Process(At(2, now + 20 * 3_600_000L, now + 1000), _found)); // a clock that jumped 20 h
        for (var i = 3; i < 13; i++)
        {
            // stamped a little before the jumped reading arrived (the device's clock is right again), received after it
            Assert.Equal(ReadingOutcome.Accepted, p.Process(At(i, now + 500 + i, now + i * 1000L), _found));
        }

        Assert.Equal((12L, 0L), (p.Counts.Accepted, p.Counts.Late));

        // lateness still holds against the gateway's clock: a reading 5 minutes behind is late
        Assert.Equal(ReadingOutcome.Late, p.Process(At(13, now - 300_000, now + 14_000), _found));
    }

    [Fact]
    public void A_device_that_reboots_before_its_counter_leaves_the_window_is_not_taken_for_duplicates()
    {
        var p = NewPipeline();
        for (var i = 0; i < 10; i++) p.Process(R(i, T0 + i * 1000L, ("value", 20)), _found);
        var reboot = T0 + 600_000;
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(ReadingOutcome.Accepted, p.Process(R(i, reboot + i * 1000L, ("value", 21)), _found));
        }

        Assert.Equal((20L, 0L), (p.Counts.Accepted, p.Counts.Duplicates));

        // a resend carries its first timestamp: still a duplicate, seq 0 included
        Assert.Equal(ReadingOutcome.Duplicate, p.Process(R(0, reboot, ("value", 21)), _found));
        Assert.Equal(ReadingOutcome.Duplicate, p.Process(R(5, reboot + 5000, ("value", 21)), _found));
        Assert.Equal(2, p.Counts.Duplicates);
    }

    private sealed class ThrowsAbove(double limit) : IAnomalyDetector
    {
        public string Name => "test-throws-above-100";
        public double Threshold => 0.5;
        public long Count { get; private set; }
        public int StateSize => 8;

        public double Next(long timestampMs, double value)
        {
            if (value > limit) throw new InvalidOperationException($"test detector: {value} is above {limit}");
            Count++;
            return 0;
        }

        public byte[] SaveState() => BitConverter.GetBytes(Count);

        public void LoadState(ReadOnlySpan<byte> state) => Count = BitConverter.ToInt64(state);
    }
}
