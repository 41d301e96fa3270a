using Microsoft.Data.Sqlite;

namespace Fleet.Storage;

/// <summary>
/// Orleans reminders in the silo's SQLite file, so reminders survive a restart on a single node with no server
/// (the ADO.NET provider ships no SQLite scripts; Redis needs a server). One row per (grain, reminder); the grain's
/// uniform hash is stored so a silo reads its ring range; an integer etag per row for optimistic concurrency.
/// </summary>
public sealed class SqliteReminderTable : IReminderTable
{
    private readonly string _connectionString;

    public SqliteReminderTable(string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = full, Cache = SqliteCacheMode.Private, Pooling = true }.ToString();
    }

    public Task Init() => StartAsync(CancellationToken.None);

    public Task StartAsync(CancellationToken cancellationToken) => Run(connection =>
    {
        Execute(connection, "PRAGMA journal_mode=WAL;");
        Execute(connection, """
            CREATE TABLE IF NOT EXISTS reminders (
                grain_id   TEXT    NOT NULL,
                name       TEXT    NOT NULL,
                grain_hash INTEGER NOT NULL,
                start_at   INTEGER NOT NULL,
                period     INTEGER NOT NULL,
                etag       INTEGER NOT NULL,
                PRIMARY KEY (grain_id, name)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS reminders_by_hash ON reminders (grain_hash);
            """);
        return 0;
    });

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<ReminderTableData> ReadRows(GrainId grainId) => ReadRows(grainId, CancellationToken.None);

    public Task<ReminderTableData> ReadRows(GrainId grainId, CancellationToken cancellationToken)
        => Query("SELECT grain_id, name, start_at, period, etag FROM reminders WHERE grain_id = $g", c => c.Parameters.AddWithValue("$g", grainId.ToString()));

    public Task<ReminderTableData> ReadRows(uint begin, uint end) => ReadRows(begin, end, CancellationToken.None);

    /// <summary>The ring range (begin, end]; when begin &gt;= end it wraps around.</summary>
    public Task<ReminderTableData> ReadRows(uint begin, uint end, CancellationToken cancellationToken)
        => Query(
            begin < end
                ? "SELECT grain_id, name, start_at, period, etag FROM reminders WHERE grain_hash > $b AND grain_hash <= $e"
                : "SELECT grain_id, name, start_at, period, etag FROM reminders WHERE grain_hash > $b OR grain_hash <= $e",
            c =>
            {
                c.Parameters.AddWithValue("$b", (long)begin);
                c.Parameters.AddWithValue("$e", (long)end);
            });

    public Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName) => ReadRow(grainId, reminderName, CancellationToken.None);

    public async Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName, CancellationToken cancellationToken)
    {
        var rows = await Query("SELECT grain_id, name, start_at, period, etag FROM reminders WHERE grain_id = $g AND name = $n", c =>
        {
            c.Parameters.AddWithValue("$g", grainId.ToString());
            c.Parameters.AddWithValue("$n", reminderName);
        });
        return rows.Reminders.FirstOrDefault();
    }

    public Task<string?> UpsertRow(ReminderEntry entry) => UpsertRow(entry, CancellationToken.None);

    public Task<string?> UpsertRow(ReminderEntry entry, CancellationToken cancellationToken) => Run<string?>(connection =>
    {
        using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO reminders (grain_id, name, grain_hash, start_at, period, etag) VALUES ($g, $n, $h, $s, $p, 1)
            ON CONFLICT (grain_id, name) DO UPDATE SET start_at = $s, period = $p, etag = etag + 1
            RETURNING etag;
            """;
        command.Parameters.AddWithValue("$g", entry.GrainId.ToString());
        command.Parameters.AddWithValue("$n", entry.ReminderName);
        command.Parameters.AddWithValue("$h", (long)entry.GrainId.GetUniformHashCode());
        command.Parameters.AddWithValue("$s", entry.StartAt.ToUniversalTime().Ticks);
        command.Parameters.AddWithValue("$p", entry.Period.Ticks);
        return Convert.ToInt64(command.ExecuteScalar()).ToString(System.Globalization.CultureInfo.InvariantCulture);
    });

    public Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag) => RemoveRow(grainId, reminderName, eTag, CancellationToken.None);

    public Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag, CancellationToken cancellationToken) => Run(connection =>
    {
        using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM reminders WHERE grain_id = $g AND name = $n AND etag = $e";
        command.Parameters.AddWithValue("$g", grainId.ToString());
        command.Parameters.AddWithValue("$n", reminderName);
        command.Parameters.AddWithValue("$e", long.TryParse(eTag, out var e) ? e : -1);
        return command.ExecuteNonQuery() == 1;
    });

    public Task TestOnlyClearTable() => TestOnlyClearTable(CancellationToken.None);

    public Task TestOnlyClearTable(CancellationToken cancellationToken) => Run(connection =>
    {
        Execute(connection, "DELETE FROM reminders;");
        return 0;
    });

    private Task<ReminderTableData> Query(string sql, Action<SqliteCommand> bind) => Run(connection =>
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        bind(command);
        using var reader = command.ExecuteReader();
        var entries = new List<ReminderEntry>();
        while (reader.Read())
        {
            entries.Add(new ReminderEntry
            {
                GrainId = GrainId.Parse(reader.GetString(0)),
                ReminderName = reader.GetString(1),
                StartAt = new DateTime(reader.GetInt64(2), DateTimeKind.Utc),
                Period = TimeSpan.FromTicks(reader.GetInt64(3)),
                ETag = reader.GetInt64(4).ToString(System.Globalization.CultureInfo.InvariantCulture),
            });
        }

        return new ReminderTableData(entries);
    });

    private Task<T> Run<T>(Func<SqliteConnection, T> work) => Task.Run(() =>
    {
        using var connection = new SqliteConnection(_connectionString);
        connection.Open();
        Execute(connection, "PRAGMA busy_timeout=5000;");
        return work(connection);
    });

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
