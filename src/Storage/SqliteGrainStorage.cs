using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace Fleet.Storage;

/// <summary>
/// Grain storage in a local SQLite file, for a single node with no server. Writes from all grains are
/// group-committed: one writer takes every write queued since its last commit and commits them in one
/// transaction, so many grains checkpointing at once cost one fsync, not one each. Optimistic concurrency
/// by an integer etag per row.
/// </summary>
public sealed class SqliteGrainStorage : IGrainStorage, IDisposable
{
    private readonly string _name;
    private readonly string _connectionString;
    private readonly IGrainStorageSerializer _serializer;
    private readonly ILogger _logger;
    private readonly int _maxBatch;
    private readonly Channel<Op> _writes = Channel.CreateUnbounded<Op>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;

    private sealed record Op(string GrainId, string StateName, byte[]? Payload, long? ExpectedEtag, TaskCompletionSource<long> Done);

    public SqliteGrainStorage(string name, SqliteGrainStorageOptions options, IGrainStorageSerializer serializer, ILogger<SqliteGrainStorage> logger)
    {
        _name = name;
        _serializer = serializer;
        _logger = logger;
        _maxBatch = Math.Max(1, options.MaxBatch);
        var full = System.IO.Path.GetFullPath(options.Path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = full, Cache = SqliteCacheMode.Private, Pooling = true }.ToString();
        using (var connection = Open())
        {
            Execute(connection, "PRAGMA journal_mode=WAL;");
            Execute(connection, """
                CREATE TABLE IF NOT EXISTS grain_state (
                    grain_id   TEXT    NOT NULL,
                    state_name TEXT    NOT NULL,
                    etag       INTEGER NOT NULL,
                    payload    BLOB    NOT NULL,
                    updated_ms INTEGER NOT NULL,
                    PRIMARY KEY (grain_id, state_name)) WITHOUT ROWID;
                """);
        }

        _writer = Task.Run(WriteLoopAsync);
    }

    public string DatabasePath => new SqliteConnectionStringBuilder(_connectionString).DataSource;

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = grainId.ToString();
        var row = await Task.Run(() =>
        {
            using var connection = Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT etag, payload FROM grain_state WHERE grain_id = $id AND state_name = $name";
            command.Parameters.AddWithValue("$id", key);
            command.Parameters.AddWithValue("$name", stateName);
            using var reader = command.ExecuteReader();
            return reader.Read() ? (Etag: reader.GetInt64(0), Payload: (byte[])reader.GetValue(1)) : default((long Etag, byte[] Payload)?);
        });

        if (row is { } found)
        {
            grainState.State = _serializer.Deserialize<T>(new BinaryData(found.Payload));
            grainState.ETag = found.Etag.ToString(System.Globalization.CultureInfo.InvariantCulture);
            grainState.RecordExists = true;
        }
        else
        {
            grainState.State = Activator.CreateInstance<T>();
            grainState.ETag = null;
            grainState.RecordExists = false;
        }
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var payload = _serializer.Serialize(grainState.State).ToArray();
        var etag = await Enqueue(grainId, stateName, payload, grainState.ETag);
        grainState.ETag = etag.ToString(System.Globalization.CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        await Enqueue(grainId, stateName, null, grainState.ETag);
        grainState.ETag = null;
        grainState.RecordExists = false;
        grainState.State = Activator.CreateInstance<T>();
    }

    private Task<long> Enqueue(GrainId grainId, string stateName, byte[]? payload, string? etag)
    {
        long? expected = etag is null ? null : long.Parse(etag, System.Globalization.CultureInfo.InvariantCulture);
        var op = new Op(grainId.ToString(), stateName, payload, expected, new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_writes.Writer.TryWrite(op))
        {
            throw new ObjectDisposedException(nameof(SqliteGrainStorage), $"grain storage '{_name}' is closed");
        }

        return op.Done.Task;
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<Op>(_maxBatch);
        using var connection = Open();
        Execute(connection, "PRAGMA synchronous=NORMAL;");
        while (await _writes.Reader.WaitToReadAsync())
        {
            while (batch.Count < _maxBatch && _writes.Reader.TryRead(out var op)) batch.Add(op);
            try
            {
                var results = Commit(connection, batch);
                for (var i = 0; i < batch.Count; i++)
                {
                    if (results[i] is { } error) batch[i].Done.TrySetException(error);
                    else batch[i].Done.TrySetResult(NewEtag(batch[i]));
                }
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "Grain storage '{Name}' failed to commit {Count} writes", _name, batch.Count);
                foreach (var op in batch) op.Done.TrySetException(ex);
            }

            batch.Clear();
        }
    }

    private static long NewEtag(Op op) => (op.ExpectedEtag ?? 0) + 1;

    /// <summary>Applies the ops in one transaction; a concurrency conflict fails only its own op.</summary>
    private static Exception?[] Commit(SqliteConnection connection, List<Op> ops)
    {
        var results = new Exception?[ops.Count];
        using var transaction = connection.BeginTransaction();
        using var insert = connection.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = "INSERT INTO grain_state (grain_id, state_name, etag, payload, updated_ms) VALUES ($id, $name, 1, $payload, $now) ON CONFLICT DO NOTHING";
        using var update = connection.CreateCommand();
        update.Transaction = transaction;
        update.CommandText = "UPDATE grain_state SET etag = etag + 1, payload = $payload, updated_ms = $now WHERE grain_id = $id AND state_name = $name AND etag = $etag";
        using var delete = connection.CreateCommand();
        delete.Transaction = transaction;
        delete.CommandText = "DELETE FROM grain_state WHERE grain_id = $id AND state_name = $name AND ($etag IS NULL OR etag = $etag)";
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (var i = 0; i < ops.Count; i++)
        {
            var op = ops[i];
            SqliteCommand command = op.Payload is null ? delete : op.ExpectedEtag is null ? insert : update;
            command.Parameters.Clear();
            command.Parameters.AddWithValue("$id", op.GrainId);
            command.Parameters.AddWithValue("$name", op.StateName);
            command.Parameters.AddWithValue("$now", now);
            if (op.Payload is not null) command.Parameters.AddWithValue("$payload", op.Payload);
            if (op.Payload is null || op.ExpectedEtag is not null) command.Parameters.AddWithValue("$etag", (object?)op.ExpectedEtag ?? DBNull.Value);
            var rows = command.ExecuteNonQuery();
            // A write that matched no row, or a clear with an etag that matched none, lost a race: report it
            // (a clear without an etag deletes whatever is there).
            if (rows == 0 && (op.Payload is not null || op.ExpectedEtag is not null))
            {
                results[i] = new InconsistentStateException(
                    $"etag mismatch {(op.Payload is null ? "clearing" : "writing")} {op.StateName} of {op.GrainId}: expected {op.ExpectedEtag?.ToString() ?? "no row"}");
            }
        }

        transaction.Commit();
        return results;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        Execute(connection, "PRAGMA busy_timeout=5000;");
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public void Dispose()
    {
        _writes.Writer.TryComplete();
        _writer.Wait(TimeSpan.FromSeconds(10));
        SqliteConnection.ClearAllPools();
    }
}
