using Fleet.Gateways.Outbound;
using Fleet.Grains.Readings;
using Fleet.Grains.Sensors;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Testcontainers.PostgreSql;

namespace Fleet.Gateways.Tests;

/// <summary>
/// A real PostgreSQL server in a container (Testcontainers; `./build.sh test` prepares a Docker engine and the image
/// where they are missing), one per test class, each test on a table of its own.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    public PostgreSqlContainer Container { get; } = new PostgreSqlBuilder(Environment.GetEnvironmentVariable("FLEET_POSTGRES_IMAGE") ?? "postgres:15")
        .WithUsername("fleet").WithPassword("fleet-secret").WithDatabase("fleet")
        .Build();

    public string ConnectionString => Container.GetConnectionString();

    public Task InitializeAsync() => Container.StartAsync();

    public Task DisposeAsync() => Container.DisposeAsync().AsTask();

    public async Task<T> ScalarAsync<T>(string sql, string? connectionString = null)
    {
        await using var source = NpgsqlDataSource.Create(connectionString ?? ConnectionString);
        await using var command = source.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var source = NpgsqlDataSource.Create(ConnectionString);
        await using var command = source.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The server's connection string for another user.</summary>
    public string As(string user, string password)
        => new NpgsqlConnectionStringBuilder(ConnectionString) { Username = user, Password = password, Pooling = true }.ConnectionString;
}

public sealed class PostgresSenderTests(PostgresServer db) : IClassFixture<PostgresServer>
{
    private static Anomaly Sample(long seq, double value = 95.5) => new("room-1", "temperature", 1_795_603_501_586, seq, value, 0.93, "fusion",
        new DateTime(2026, 12, 8, 10, 45, 1, DateTimeKind.Utc)) { Kind = "new-extreme", Expected = 21.5, Lower = 12.25, Upper = 30.75 };

    private static string Table() => "anomalies_" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task An_anomaly_becomes_a_row_and_a_repeat_of_the_same_item_is_stored_once()
    {
        var table = Table();
        await using var sender = new PostgresSender(db.ConnectionString, table, createTable: true);
        var item = new OutboundItem(Guid.NewGuid(), Sample(42), DateTime.UtcNow);
        var noSeq = new OutboundItem(Guid.NewGuid(), Sample(Reading.NoSeq, 96) with { Kind = null, Expected = null, Lower = null, Upper = null }, DateTime.UtcNow);

        Assert.Equal(SendResult.Ok, await sender.SendAsync(item, CancellationToken.None));
        Assert.Equal(SendResult.Ok, await sender.SendAsync(item, CancellationToken.None)); // a retry whose first try did land
        Assert.Equal(SendResult.Ok, await sender.SendAsync(noSeq, CancellationToken.None));

        Assert.Equal(2L, await db.ScalarAsync<long>($"SELECT count(*) FROM {table}"));
        Assert.Equal("room-1|temperature|2026-11-25T10:45:01.586Z|42|95.5|0.93|fusion|new-extreme|21.5|12.25|30.75|2026-12-08T10:45:01Z",
            await db.ScalarAsync<string>($"""
                SELECT concat_ws('|', sensor_id, metric, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), seq, value, score, detector,
                                 kind, expected, lower_bound, upper_bound, to_char(detected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
                FROM {table} WHERE id = '{item.Id}'
                """));
        Assert.Equal("null|null|null|null|null", await db.ScalarAsync<string>(
            $"SELECT concat_ws('|', coalesce(seq::text, 'null'), coalesce(kind, 'null'), coalesce(expected::text, 'null'), coalesce(lower_bound::text, 'null'), coalesce(upper_bound::text, 'null')) FROM {table} WHERE id = '{noSeq.Id}'"));
    }

    [Fact]
    public async Task With_CreateTable_off_the_sink_needs_only_insert_on_an_existing_table()
    {
        var table = Table();
        var writer = "writer_" + table[10..];
        var reader = "reader_" + table[10..];
        await db.ExecuteAsync(PostgresSender.CreateTableSql(table));
        await db.ExecuteAsync($"CREATE ROLE {writer} LOGIN PASSWORD 'w'; GRANT INSERT ON {table} TO {writer}; CREATE ROLE {reader} LOGIN PASSWORD 'r'; GRANT SELECT ON {table} TO {reader};");

        await using var least = new PostgresSender(db.As(writer, "w"), table, createTable: false);
        Assert.Equal(SendResult.Ok, await least.SendAsync(new OutboundItem(Guid.NewGuid(), Sample(1), DateTime.UtcNow), CancellationToken.None));

        await using var denied = new PostgresSender(db.As(reader, "r"), table, createTable: false);
        var refused = await denied.SendAsync(new OutboundItem(Guid.NewGuid(), Sample(2), DateTime.UtcNow), CancellationToken.None);
        Assert.False(refused.Delivered);
        Assert.False(refused.Retryable); // retrying cannot grant a privilege: dead-lettered at once, with the server's words
        Assert.StartsWith("PostgreSQL 42501: permission denied for table", refused.Error);

        await using var missing = new PostgresSender(db.ConnectionString, Table(), createTable: false);
        var noTable = await missing.SendAsync(new OutboundItem(Guid.NewGuid(), Sample(3), DateTime.UtcNow), CancellationToken.None);
        Assert.False(noTable.Retryable);
        Assert.StartsWith("PostgreSQL 42P01:", noTable.Error);

        Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM {table}"));
    }

    [Fact]
    public async Task Too_many_connections_is_a_throttle_and_an_unreachable_server_a_transient_failure()
    {
        var table = Table();
        var role = "limited_" + table[10..];
        await db.ExecuteAsync(PostgresSender.CreateTableSql(table));
        await db.ExecuteAsync($"CREATE ROLE {role} LOGIN PASSWORD 'l' CONNECTION LIMIT 1; GRANT INSERT ON {table} TO {role};");
        await using (var held = new NpgsqlConnection(db.As(role, "l")))
        {
            await held.OpenAsync(); // the role's one connection, in use elsewhere
            await using var sender = new PostgresSender(db.As(role, "l"), table, createTable: false);
            var result = await sender.SendAsync(new OutboundItem(Guid.NewGuid(), Sample(1), DateTime.UtcNow), CancellationToken.None);
            Assert.True(result.Throttled, result.Error);
            Assert.StartsWith("PostgreSQL 53300:", result.Error);
        }

        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var closedPort = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // nothing listens there now
        await using var nowhere = new PostgresSender($"Host=127.0.0.1;Port={closedPort};Username=fleet;Password=x;Database=fleet;Timeout=3", table, createTable: false);
        var down = await nowhere.SendAsync(new OutboundItem(Guid.NewGuid(), Sample(2), DateTime.UtcNow), CancellationToken.None);
        Assert.True(down.Retryable);
        Assert.False(down.Throttled);
        Assert.StartsWith("PostgreSQL connection:", down.Error);
    }

    [Fact]
    public async Task A_table_named_like_a_reserved_word_works_and_a_user_without_create_writes_to_an_existing_table()
    {
        await using var reserved = new PostgresSender(db.ConnectionString, "Order", createTable: true); // reserved word, and mixed case
        Assert.Equal(SendResult.Ok, await reserved.SendAsync(new OutboundItem(Guid.NewGuid(), Sample(1), DateTime.UtcNow), CancellationToken.None));
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM \"order\""));

        // CreateTable on (the default) with a user that may only insert: the table exists, so nothing is created and the row lands.
        var table = Table();
        var writer = "inserter_" + table[10..];
        await db.ExecuteAsync(PostgresSender.CreateTableSql(table));
        await db.ExecuteAsync($"CREATE ROLE {writer} LOGIN PASSWORD 'w'; GRANT INSERT ON {table} TO {writer}; REVOKE CREATE ON SCHEMA public FROM PUBLIC;");
        await using var insertOnly = new PostgresSender(db.As(writer, "w"), table, createTable: true);
        Assert.Equal(SendResult.Ok, await insertOnly.SendAsync(new OutboundItem(Guid.NewGuid(), Sample(2), DateTime.UtcNow), CancellationToken.None));
        Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM {table}"));
    }

    [Theory]
    [InlineData("fleet_anomalies", true)]
    [InlineData("ops.alerts_2026", true)]
    [InlineData("alerts; DROP TABLE x", false)]
    [InlineData("\"quoted\"", false)]
    [InlineData("1st", false)]
    [InlineData("a.b.c", false)]
    [InlineData("", false)]
    public void Only_plain_table_names_are_taken(string table, bool valid) => Assert.Equal(valid, PostgresSender.IsTableName(table));

    /// <summary>
    /// The whole target against the real database: while the server hangs (the container paused) every attempt times
    /// out, the items are retried and then dead-lettered; once it is back, a redrive delivers each exactly once (a row per
    /// item, keyed by the item's id), and the counters reconcile.
    /// </summary>
    [Fact]
    public async Task A_database_that_hangs_loses_nothing_and_a_redrive_stores_each_anomaly_once()
    {
        var table = Table();
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Outbound:Targets:db:Kind"] = "Postgres",
            ["Outbound:Targets:db:ConnectionString"] = db.ConnectionString + ";Timeout=2;Command Timeout=2",
            ["Outbound:Targets:db:Table"] = table,
            ["Outbound:Targets:db:MaxAttempts"] = "2",
            ["Outbound:Targets:db:RetryDelay"] = "00:00:00.100",
            ["Outbound:Targets:db:AttemptTimeout"] = "00:00:01",
            ["Outbound:Targets:db:RatePerSecond"] = "1000",
            ["Outbound:Targets:db:Burst"] = "1000",
        });
        var dispatcher = host.Services.GetRequiredService<OutboundDispatcher>();
        Assert.True(dispatcher.TryGetTarget("db", out var target));
        for (var i = 0; i < 5; i++) dispatcher.Send(Sample(i));
        await OutboundTargetTests.WaitAsync(() => target.Stats().Delivered == 5);
        Assert.Equal(5L, await db.ScalarAsync<long>($"SELECT count(*) FROM {table}"));

        await db.Container.PauseAsync();
        try
        {
            for (var i = 5; i < 15; i++) dispatcher.Send(Sample(i));
            await OutboundTargetTests.WaitAsync(() => target.Stats() is { DeadLettered: 10, DeadLetterPending: 0 }, seconds: 60);
        }
        finally
        {
            await db.Container.UnpauseAsync();
        }

        Assert.Equal(10, await target.RedriveAsync(100));
        await OutboundTargetTests.WaitAsync(() => target.Stats().Delivered == 15, seconds: 60);
        var stats = target.Stats();
        Assert.Equal((0L, 0L, 0L, 0L), (stats.Queued, stats.InFlight, stats.Lost, stats.DeadLetterPending));
        Assert.Equal(15L, await db.ScalarAsync<long>($"SELECT count(*) FROM {table}"));
        Assert.Equal(15L, await db.ScalarAsync<long>($"SELECT count(DISTINCT seq) FROM {table}"));
    }
}
