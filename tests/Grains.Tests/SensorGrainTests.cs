using Fleet.Detectors;
using Fleet.Grains.Readings;
using Fleet.Grains.Registry;
using Fleet.Grains.Sensors;
using Microsoft.Data.Sqlite;

namespace Fleet.Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class SensorGrainTests(ClusterFixture fixture)
{
    private static readonly long T0 = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 3_600_000;

    private static string NewSensorId(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    private static Reading R(long seq, long ts, double value) => new(ts, seq, [new MetricValue(Reading.DefaultMetric, value)], 0);

    private ISensorGrain Sensor(string id) => fixture.Client.GetGrain<ISensorGrain>(id);

    private static Task<SensorSnapshot> SnapshotUntil(ISensorGrain sensor, Func<SensorSnapshot, bool> done, string what)
        => Poll.Until(sensor.GetSnapshot, done, what: what);

    [Fact]
    public async Task Readings_are_processed_while_a_checkpoint_write_is_in_flight()
    {
        var sensor = Sensor(NewSensorId(GatedGrainStorage.Prefix + "slow"));
        await sensor.Ingest([R(1, T0, 20)]);
        var blocked = GatedGrainStorage.Close();
        try
        {
            var checkpoint = sensor.Checkpoint();
            await blocked.WaitAsync(TimeSpan.FromSeconds(10)); // the state was snapshotted; its write waits at the gate

            var ingest = sensor.Ingest([R(2, T0 + 1000, 21)]);
            Assert.Same(ingest, await Task.WhenAny(ingest, Task.Delay(TimeSpan.FromSeconds(5))));
            Assert.Equal(2, (await sensor.GetSnapshot()).Counts.Accepted);
            Assert.False(checkpoint.IsCompleted);

            GatedGrainStorage.Open();
            await checkpoint.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            GatedGrainStorage.Open();
        }

        await sensor.Checkpoint(); // the second reading made it dirty again: this write goes through the open gate
    }

    [Fact]
    public async Task Readings_on_the_stream_are_processed_in_order()
    {
        var id = NewSensorId("stream");
        var sensor = Sensor(id);
        // No lateness allowed: a reading delivered out of order would be dropped as late and show up in the counts.
        await sensor.Configure(new SensorConfig { AllowedLatenessMs = 0, Detector = "null" });

        var stream = fixture.StreamOf(id);
        var readings = Enumerable.Range(0, 300).Select(i => R(i, T0 + i * 1000L, i % 10)).ToList();
        foreach (var chunk in readings.Chunk(50))
        {
            await stream.OnNextBatchAsync(chunk);
        }

        await stream.OnNextAsync(readings[123]); // a redelivered duplicate
        await stream.OnNextAsync(R(300, T0 + 300_000, 42));

        var snapshot = await SnapshotUntil(sensor, s => s.Counts.Accepted + s.Counts.Duplicates + s.Counts.Late >= 302, "302 readings processed");
        Assert.Equal(301, snapshot.Counts.Accepted);
        Assert.Equal(1, snapshot.Counts.Duplicates);
        Assert.Equal(0, snapshot.Counts.Late);
        Assert.True(snapshot.Known);
        Assert.NotNull(snapshot.FirstSeenUtc);
        Assert.Equal(300, snapshot.LastReading!.Seq);
        Assert.Equal(T0 + 300_000, snapshot.LastReading.TimestampMs);
        var metric = Assert.Single(snapshot.Metrics);
        Assert.Equal("value", metric.Name);
        Assert.Equal(301, metric.Count);
        Assert.Equal((30 * 45 + 42) / 301.0, metric.Mean, 9);
        Assert.Equal(0, metric.Min);
        Assert.Equal(42, metric.Max);
        Assert.Equal(42, metric.Last);
        Assert.Equal("null", metric.Detector.Name);
    }

    [Fact]
    public async Task Anomalies_on_the_stream_reach_the_outbound_port()
    {
        var id = NewSensorId("anomaly");
        var sensor = Sensor(id);
        await sensor.Configure(new SensorConfig
        {
            Detector = DetectorCatalog.LightName,
            DetectorParameters = new() { ["warmup"] = 30 },
        });

        var random = new Random(5);
        var readings = Enumerable.Range(0, 100)
            .Select(i => R(i, T0 + i * 1000L, i == 80 ? 500 : 20 + random.NextDouble()))
            .ToArray();
        await fixture.StreamOf(id).OnNextBatchAsync(readings);

        var sent = await Poll.Until(() => Task.FromResult(RecordingOutboundPort.Instance.For(id)), a => a.Count > 0, what: "an anomaly at the port");
        var anomaly = Assert.Single(sent);
        Assert.Equal(id, anomaly.SensorId);
        Assert.Equal("value", anomaly.Metric);
        Assert.Equal(80, anomaly.Seq);
        Assert.Equal(500, anomaly.Value);
        Assert.Equal(DetectorCatalog.LightName, anomaly.Detector);
        Assert.InRange(anomaly.Score, 0.65, 1);

        var snapshot = await SnapshotUntil(sensor, s => s.Counts.Accepted == 100, "100 readings");
        Assert.Equal(1, snapshot.Counts.Anomalies);
        Assert.Equal([anomaly], snapshot.RecentAnomalies);
        Assert.Equal("level", anomaly.Kind);
        // what is normal now: the level and the band the next reading would be judged against
        var detector = Assert.Single(snapshot.Metrics).Detector;
        Assert.InRange(detector.Expected!.Value, 20, 21);
        Assert.InRange(detector.Lower!.Value, 10, 20);
        Assert.InRange(detector.Upper!.Value, 21, 40);
        Assert.Equal([anomaly], await sensor.GetAnomalies(10));
        Assert.Empty(await sensor.GetAnomalies(0));
        Assert.Single(RecordingOutboundPort.Instance.For(id)); // sent once, not per snapshot
    }

    [Fact]
    public async Task Direct_ingest_runs_the_same_pipeline()
    {
        var id = NewSensorId("ingest");
        var sensor = Sensor(id);
        await sensor.Ingest([R(1, T0, 1), R(2, T0 + 1, 3), R(2, T0 + 1, 3), R(3, T0 - 120_000, 5)]);
        var snapshot = await sensor.GetSnapshot();
        Assert.Equal(2, snapshot.Counts.Accepted);
        Assert.Equal(1, snapshot.Counts.Duplicates);
        Assert.Equal(1, snapshot.Counts.Late);
        Assert.Equal(2, snapshot.Metrics.Single().Mean);
    }

    [Fact]
    public async Task Reject_counts_add_up_per_reason()
    {
        var id = NewSensorId("rejects");
        var sensor = Sensor(id);
        await sensor.AddRejects([new RejectCount(RejectReason.MalformedJson, 3), new RejectCount(RejectReason.BadTimestamp, 2)]);
        await sensor.AddRejects([new RejectCount(RejectReason.MalformedJson, 1), new RejectCount(RejectReason.Overloaded, 5)]);

        var snapshot = await SnapshotUntil(sensor, s => s.Counts.Rejected == 11, "11 rejects");
        Assert.Equal(
            new Dictionary<string, long> { ["malformed_json"] = 4, ["bad_timestamp"] = 2, ["overloaded"] = 5 },
            snapshot.Counts.RejectedByReason);
        Assert.Equal(0, snapshot.Counts.Accepted);
        Assert.True(snapshot.Known); // a sensor that only sent garbage is still known
    }

    [Fact]
    public async Task Unknown_sensor_is_not_known()
    {
        var snapshot = await Sensor(NewSensorId("never")).GetSnapshot();
        Assert.False(snapshot.Known);
        Assert.Null(snapshot.FirstSeenUtc);
        Assert.Empty(snapshot.Metrics);
        Assert.Equal(0, snapshot.Counts.Accepted);
    }

    [Fact]
    public async Task Configure_validates_and_applies()
    {
        var sensor = Sensor(NewSensorId("config"));
        var bad = await Assert.ThrowsAnyAsync<ArgumentException>(() => sensor.Configure(new SensorConfig { Detector = "no-such-detector" }));
        Assert.Contains("unknown detector", bad.Message);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => sensor.Configure(new SensorConfig { SmoothingAlpha = 2 }));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => sensor.Configure(new SensorConfig
        {
            Metrics = new() { ["t"] = new MetricRule { Min = 3, Max = 1 } },
        }));
        Assert.Null((await sensor.GetSnapshot()).Config);

        var snapshot = await sensor.Configure(new SensorConfig
        {
            Detector = "windowed-gaussian",
            Metrics = new() { ["t"] = new MetricRule { Scale = 10 } },
        });
        Assert.Equal("windowed-gaussian", snapshot.Config!.Detector);
        Assert.Equal(10, snapshot.Config.Metrics!["t"].Scale);

        await sensor.Ingest([new Reading(T0, 1, [new MetricValue("t", 2.5)], 0)]);
        var metric = (await sensor.GetSnapshot()).Metrics.Single();
        Assert.Equal(25, metric.Last);
        Assert.Equal("windowed-gaussian", metric.Detector.Name);
    }

    [Fact]
    public async Task State_survives_deactivation_through_sqlite()
    {
        var id = NewSensorId("persist");
        var sensor = Sensor(id);
        await sensor.Configure(new SensorConfig { Detector = DetectorCatalog.LightName, SmoothingAlpha = 0.5 });
        await sensor.Ingest(Enumerable.Range(0, 40).Select(i => R(i, T0 + i * 1000L, i)).ToArray());
        await sensor.AddRejects([new RejectCount(RejectReason.BadSequence, 2)]);
        var before = await SnapshotUntil(sensor, s => s.Counts.Rejected == 2, "rejects");

        await fixture.Cluster.DeactivateAsync(sensor);

        // Written behind on deactivation: the row is in the SQLite file.
        Assert.True(RowExists(id), "no row in the SQLite file after deactivation");

        var after = await sensor.GetSnapshot();
        Assert.NotEqual(before.ActivatedAtUtc, after.ActivatedAtUtc); // a new activation, read from storage
        Assert.Equal(before.FirstSeenUtc, after.FirstSeenUtc);
        Assert.Equal(before.Counts.Accepted, after.Counts.Accepted);
        Assert.Equal(before.Counts.RejectedByReason, after.Counts.RejectedByReason);
        Assert.Equal(before.LastReading!.Seq, after.LastReading!.Seq);
        Assert.Equal(0.5, after.Config!.SmoothingAlpha);
        var m0 = before.Metrics.Single();
        var m1 = after.Metrics.Single();
        Assert.Equal(m0.Count, m1.Count);
        Assert.Equal(m0.Mean, m1.Mean);
        Assert.Equal(m0.StdDev, m1.StdDev);
        Assert.Equal(m0.Detector.Points, m1.Detector.Points); // detector state restored, not restarted

        // The dedupe window survived too: a resend of seq 39 is still a duplicate, seq 40 is new.
        await sensor.Ingest([R(39, T0 + 39_000, 39), R(40, T0 + 40_000, 40)]);
        var next = await sensor.GetSnapshot();
        Assert.Equal(41, next.Counts.Accepted);
        Assert.Equal(1, next.Counts.Duplicates);
    }

    [Fact]
    public async Task Registry_lists_sensors_with_paging()
    {
        var prefix = $"reg-{Guid.NewGuid():N}";
        var ids = Enumerable.Range(0, 7).Select(i => $"{prefix}-{i}").ToArray();
        foreach (var id in ids.Reverse())
        {
            await Sensor(id).Ingest([R(1, T0, 1)]);
        }

        var registry = fixture.Client.GetGrain<ISensorRegistryGrain>(0);
        await Poll.Until(() => ListAll(registry, 3), all => ids.All(all.Contains), what: "all sensors registered");

        // Page through from just before our prefix: ordinal order, at most `limit` per page, cursor = last id.
        var page1 = await registry.List(prefix, 3);
        Assert.Equal(ids[..3], page1.SensorIds);
        Assert.Equal(ids[2], page1.Next);
        Assert.True(page1.Total >= 7);
        var page2 = await registry.List(page1.Next, 3);
        Assert.Equal(ids[3..6], page2.SensorIds);
        var page3 = await registry.List(page2.Next, 3);
        Assert.Equal(ids[6], page3.SensorIds[0]);

        // A full walk sees every sensor once.
        var all = await ListAll(registry, 2);
        Assert.Equal(all.Distinct().Count(), all.Count);
        Assert.Equal(all.Order(StringComparer.Ordinal), all);
        Assert.Equal((await registry.List(null, 1)).Total, all.Count);

        // A cursor past the last sensor is an empty last page, not an error.
        var end = await registry.List("~~~~", 10);
        Assert.Empty(end.SensorIds);
        Assert.Null(end.Next);
    }

    [Fact]
    public async Task Registry_survives_deactivation()
    {
        var id = NewSensorId("reg-persist");
        await Sensor(id).Ingest([R(1, T0, 1)]);
        var registry = fixture.Client.GetGrain<ISensorRegistryGrain>(0);
        await Poll.Until(() => ListAll(registry, 100), all => all.Contains(id), what: "registered");
        await fixture.Cluster.DeactivateAsync(registry);
        Assert.Contains(id, await ListAll(registry, 100));
        Assert.Equal(id, (await registry.List(id[..^1], 1)).SensorIds.Single());
    }

    private static async Task<List<string>> ListAll(ISensorRegistryGrain registry, int limit)
    {
        var all = new List<string>();
        string? after = null;
        for (var pages = 0; pages < 10_000; pages++)
        {
            var page = await registry.List(after, limit);
            Assert.True(page.SensorIds.Length <= limit);
            all.AddRange(page.SensorIds);
            if (page.Next is null) return all;
            after = page.Next;
        }

        throw new InvalidOperationException("paging does not end");
    }

    private static bool RowExists(string sensorId)
    {
        using var connection = new SqliteConnection($"Data Source={ClusterFixture.DatabasePath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM grain_state WHERE state_name = 'sensor' AND grain_id LIKE $id";
        command.Parameters.AddWithValue("$id", "%" + sensorId);
        return (long)command.ExecuteScalar()! == 1;
    }
}
