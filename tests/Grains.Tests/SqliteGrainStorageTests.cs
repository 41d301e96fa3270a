using Fleet.Grains.Outbound;
using Fleet.Grains.Registry;
using Fleet.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Serialization;
using Orleans.Storage;

namespace Fleet.Grains.Tests;

public sealed class SqliteGrainStorageTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"fleet-sqlite-tests-{Guid.NewGuid():N}");
    private readonly ServiceProvider _services = new ServiceCollection()
        .AddSerializer(b => b.AddAssembly(typeof(SensorRegistryState).Assembly))
        .BuildServiceProvider();
    private readonly SqliteGrainStorage _storage;

    public SqliteGrainStorageTests()
    {
        _storage = Open();
    }

    private SqliteGrainStorage Open(int maxBatch = 2048) => new(
        "test",
        new SqliteGrainStorageOptions { Path = Path.Combine(_dir, "sub", "grains.db"), MaxBatch = maxBatch },
        new OrleansGrainStorageSerializer(_services.GetRequiredService<Serializer>()),
        NullLogger<SqliteGrainStorage>.Instance);

    public void Dispose()
    {
        _storage.Dispose();
        _services.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static GrainId Id(string key) => GrainId.Create("registry", key);

    private static GrainState<SensorRegistryState> Registry(params string[] sensors)
    {
        var state = new GrainState<SensorRegistryState>(new SensorRegistryState());
        foreach (var s in sensors) state.State!.Sensors.Add(s);
        return state;
    }

    [Fact]
    public async Task Write_then_read_round_trips_and_bumps_the_etag()
    {
        Assert.True(File.Exists(_storage.DatabasePath));
        var written = Registry("b", "a", "c");
        await _storage.WriteStateAsync("registry", Id("k1"), written);
        Assert.Equal("1", written.ETag);
        Assert.True(written.RecordExists);

        var read = new GrainState<SensorRegistryState>();
        await _storage.ReadStateAsync("registry", Id("k1"), read);
        Assert.True(read.RecordExists);
        Assert.Equal("1", read.ETag);
        Assert.Equal(["a", "b", "c"], read.State!.Sensors);

        read.State!.Sensors.Add("d");
        await _storage.WriteStateAsync("registry", Id("k1"), read);
        Assert.Equal("2", read.ETag);

        // A second storage instance on the same file (a silo restart) sees the latest write.
        _storage.Dispose();
        using var reopened = Open();
        var again = new GrainState<SensorRegistryState>();
        await reopened.ReadStateAsync("registry", Id("k1"), again);
        Assert.Equal("2", again.ETag);
        Assert.Equal(["a", "b", "c", "d"], again.State!.Sensors);
    }

    [Fact]
    public async Task Missing_state_reads_as_new()
    {
        var read = new GrainState<SensorRegistryState>(null!);
        await _storage.ReadStateAsync("registry", Id("none"), read);
        Assert.False(read.RecordExists);
        Assert.Null(read.ETag);
        Assert.NotNull(read.State);
        Assert.Empty(read.State!.Sensors);
    }

    [Fact]
    public async Task State_names_and_grain_ids_are_separate_rows()
    {
        await _storage.WriteStateAsync("registry", Id("k"), Registry("x"));
        await _storage.WriteStateAsync("other", Id("k"), Registry("y"));
        await _storage.WriteStateAsync("registry", Id("k2"), Registry("z"));
        var read = new GrainState<SensorRegistryState>();
        await _storage.ReadStateAsync("other", Id("k"), read);
        Assert.Equal(["y"], read.State!.Sensors);
        await _storage.ReadStateAsync("registry", Id("k2"), read);
        Assert.Equal(["z"], read.State!.Sensors);
    }

    [Fact]
    public async Task Stale_etag_raises_InconsistentStateException()
    {
        await _storage.WriteStateAsync("registry", Id("k"), Registry("a"));
        var first = new GrainState<SensorRegistryState>();
        var second = new GrainState<SensorRegistryState>();
        await _storage.ReadStateAsync("registry", Id("k"), first);
        await _storage.ReadStateAsync("registry", Id("k"), second);

        first.State!.Sensors.Add("from-first");
        await _storage.WriteStateAsync("registry", Id("k"), first);
        second.State!.Sensors.Add("from-second");
        await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.WriteStateAsync("registry", Id("k"), second));
        Assert.Equal("1", second.ETag); // unchanged by the failed write

        // A writer that believes there is no row yet conflicts as well.
        await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.WriteStateAsync("registry", Id("k"), Registry("new")));

        var read = new GrainState<SensorRegistryState>();
        await _storage.ReadStateAsync("registry", Id("k"), read);
        Assert.Equal(["a", "from-first"], read.State!.Sensors);
        Assert.Equal("2", read.ETag);
    }

    [Fact]
    public async Task Concurrent_writes_are_group_committed_and_all_succeed()
    {
        const int grains = 400;
        var states = Enumerable.Range(0, grains).Select(i => Registry($"s{i}")).ToArray();
        // Three rounds of concurrent writes from every grain, each with its current etag.
        for (var round = 1; round <= 3; round++)
        {
            await Task.WhenAll(states.Select((state, i) => Task.Run(async () =>
            {
                state.State!.Sensors.Add($"round{round}");
                await _storage.WriteStateAsync("registry", Id($"g{i}"), state);
            })));
            Assert.All(states, s => Assert.Equal(round.ToString(), s.ETag));
        }

        for (var i = 0; i < grains; i++)
        {
            var read = new GrainState<SensorRegistryState>();
            await _storage.ReadStateAsync("registry", Id($"g{i}"), read);
            Assert.Equal("3", read.ETag);
            Assert.Equal(new[] { "round1", "round2", "round3", $"s{i}" }.Order(StringComparer.Ordinal), read.State!.Sensors);
        }
    }

    [Fact]
    public async Task A_conflict_in_a_group_commit_fails_only_its_own_write()
    {
        using var storage = Open(maxBatch: 10_000);
        await storage.WriteStateAsync("registry", Id("hot"), Registry("v1"));
        var stale = new GrainState<SensorRegistryState>(new SensorRegistryState()) { ETag = "7", RecordExists = true };

        var others = Enumerable.Range(0, 200).Select(i => storage.WriteStateAsync("registry", Id($"c{i}"), Registry($"c{i}"))).ToList();
        var conflicting = storage.WriteStateAsync("registry", Id("hot"), stale);
        var more = Enumerable.Range(200, 200).Select(i => storage.WriteStateAsync("registry", Id($"c{i}"), Registry($"c{i}"))).ToList();

        await Assert.ThrowsAsync<InconsistentStateException>(() => conflicting);
        await Task.WhenAll(others.Concat(more));
        var read = new GrainState<SensorRegistryState>();
        await storage.ReadStateAsync("registry", Id("c399"), read);
        Assert.Equal(["c399"], read.State!.Sensors);
        await storage.ReadStateAsync("registry", Id("hot"), read);
        Assert.Equal(["v1"], read.State!.Sensors);
    }

    [Fact]
    public async Task Clear_removes_the_row_and_resets_the_state()
    {
        var state = new GrainState<DeadLetterState>(new DeadLetterState());
        state.State!.Items.Add(new DeadLetter(Guid.NewGuid(), "t", null!, 1, "r", DateTime.UnixEpoch, DateTime.UnixEpoch));
        state.State!.Items.Clear(); // (an empty list is still a row)
        await _storage.WriteStateAsync("deadletters", Id("d"), state);
        Assert.True(state.RecordExists);

        await _storage.ClearStateAsync("deadletters", Id("d"), state);
        Assert.False(state.RecordExists);
        Assert.Null(state.ETag);
        Assert.NotNull(state.State);

        var read = new GrainState<DeadLetterState>();
        await _storage.ReadStateAsync("deadletters", Id("d"), read);
        Assert.False(read.RecordExists);

        // After a clear the grain can write again from scratch.
        await _storage.WriteStateAsync("deadletters", Id("d"), state);
        Assert.Equal("1", state.ETag);
    }

    [Fact]
    public async Task Clear_with_a_stale_etag_raises_and_keeps_the_row()
    {
        var a = Registry("keep");
        await _storage.WriteStateAsync("registry", Id("c"), a);
        var stale = new GrainState<SensorRegistryState>(new SensorRegistryState()) { ETag = a.ETag, RecordExists = true };
        await _storage.WriteStateAsync("registry", Id("c"), a); // etag moves on to 2

        await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.ClearStateAsync("registry", Id("c"), stale));
        var read = new GrainState<SensorRegistryState>();
        await _storage.ReadStateAsync("registry", Id("c"), read);
        Assert.True(read.RecordExists);
        Assert.Equal(["keep"], read.State!.Sensors);
    }
}

/// <summary>The SQLite reminder table: rows by grain and by ring range (wrapping), etags, and durability across instances.</summary>
public sealed class SqliteReminderTableTests
{
    [Fact]
    public async Task Reminders_are_upserted_read_by_grain_and_ring_range_removed_by_etag_and_kept_on_disk()
    {
        var path = Path.Combine(Path.GetTempPath(), $"fleet-reminders-{Guid.NewGuid():N}", "fleet.db");
        var table = new Fleet.Storage.SqliteReminderTable(path);
        await table.StartAsync(CancellationToken.None);
        var grains = Enumerable.Range(0, 20).Select(i => GrainId.Create("test", "g" + i)).ToArray();
        var etags = new Dictionary<GrainId, string>();
        foreach (var g in grains)
        {
            etags[g] = (await table.UpsertRow(new ReminderEntry { GrainId = g, ReminderName = "r", StartAt = DateTime.UtcNow, Period = TimeSpan.FromMinutes(1) }))!;
        }

        var again = await table.UpsertRow(new ReminderEntry { GrainId = grains[0], ReminderName = "r", StartAt = DateTime.UtcNow, Period = TimeSpan.FromMinutes(2) });
        Assert.NotEqual(etags[grains[0]], again);
        var row = await table.ReadRow(grains[0], "r");
        Assert.Equal(TimeSpan.FromMinutes(2), row!.Period);
        Assert.Single((await table.ReadRows(grains[1])).Reminders);

        // Ring ranges: (begin, end] and, when begin >= end, the wrap-around; together they hold every row once.
        var mid = grains.Select(g => g.GetUniformHashCode()).Order().ElementAt(10);
        var low = (await table.ReadRows(mid, uint.MaxValue)).Reminders.Count;
        var wrapped = (await table.ReadRows(uint.MaxValue, mid)).Reminders.Count;
        Assert.Equal(20, low + wrapped);
        Assert.Equal(20, (await table.ReadRows(mid, mid)).Reminders.Count);

        Assert.False(await table.RemoveRow(grains[0], "r", etags[grains[0]])); // stale etag
        Assert.True(await table.RemoveRow(grains[0], "r", again!));
        Assert.Null(await table.ReadRow(grains[0], "r"));

        var reopened = new Fleet.Storage.SqliteReminderTable(path);
        await reopened.StartAsync(CancellationToken.None);
        Assert.Equal(19, (await reopened.ReadRows(0, 0)).Reminders.Count);
        Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
    }
}
