using System.Net.Sockets;
using System.Text.RegularExpressions;
using Npgsql;

namespace Fleet.Gateways.Outbound;

/// <summary>
/// Writes each anomaly as a row of a PostgreSQL table (the database sink). The row's key is the item's id, the same on
/// every retry and redrive, and the insert is <c>ON CONFLICT DO NOTHING</c> (the key is the table's one unique
/// constraint; with no conflict target the statement needs INSERT alone, not SELECT): an anomaly whose first attempt
/// reached the table but timed out on the way back is stored once, not twice. The table is created on the first send
/// when <c>CreateTable</c> is on; with it off the sink needs only INSERT on an existing table (least privilege).
/// Failures are classified for the target's retry policy by PostgreSQL's SQLSTATE: too many connections is a
/// throttle (the whole target slows down), a lost connection or a server starting or stopping is transient, a
/// missing table, a missing privilege or bad data is permanent (dead-lettered at once, with the server's message).
/// </summary>
public sealed partial class PostgresSender : IOutboundSender, IAsyncDisposable
{
    private readonly NpgsqlDataSource _source;
    private readonly string _table; // as SQL (quoted)
    private readonly bool _createTable;
    private readonly string _insert;
    private readonly SemaphoreSlim _createGate = new(1, 1);
    private volatile bool _created;

    public PostgresSender(string connectionString, string table, bool createTable)
    {
        _table = Quoted(table); // refuses a name that is not [schema.]name
        _source = NpgsqlDataSource.Create(connectionString);
        _createTable = createTable;
        _insert = $"""
            INSERT INTO {_table} (id, sensor_id, metric, ts, seq, value, score, detector, kind, expected, lower_bound, upper_bound, detected_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT DO NOTHING
            """;
    }

    /// <summary>A table name the sink accepts: <c>name</c> or <c>schema.name</c>, each an unquoted SQL identifier.</summary>
    public static bool IsTableName(string? table) => table is not null && TableName().IsMatch(table);

    [GeneratedRegex(@"\A[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?\z")]
    private static partial Regex TableName();

    /// <summary>
    /// The name as SQL: each part quoted (so a reserved word such as <c>order</c> is a name too) and lower-cased, which
    /// is what PostgreSQL makes of the same name unquoted, so <c>Alerts</c> and <c>alerts</c> are one table.
    /// </summary>
    public static string Quoted(string table)
        => IsTableName(table) ? string.Join('.', table.ToLowerInvariant().Split('.').Select(part => $"\"{part}\""))
            : throw new ArgumentException($"'{table}' is not a table name ([schema.]name, letters, digits and _)", nameof(table));

    /// <summary>The table the sink writes, as it creates it (<c>CreateTable</c>), for operators who create it themselves.</summary>
    public static string CreateTableSql(string table) => CreateSql(Quoted(table));

    private static string CreateSql(string quotedTable) => $"""
        CREATE TABLE IF NOT EXISTS {quotedTable} (
            id uuid PRIMARY KEY,
            sensor_id text NOT NULL,
            metric text NOT NULL,
            ts timestamptz NOT NULL,
            seq bigint,
            value double precision NOT NULL,
            score double precision NOT NULL,
            detector text NOT NULL,
            kind text,
            expected double precision,
            lower_bound double precision,
            upper_bound double precision,
            detected_at timestamptz NOT NULL,
            stored_at timestamptz NOT NULL DEFAULT now())
        """;

    public async Task<SendResult> SendAsync(OutboundItem item, CancellationToken cancellationToken)
    {
        try
        {
            if (_createTable && !_created) await CreateTableAsync(cancellationToken);
            var a = item.Payload;
            await using var command = _source.CreateCommand(_insert);
            command.Parameters.Add(new NpgsqlParameter { Value = item.Id });
            command.Parameters.Add(new NpgsqlParameter { Value = a.SensorId });
            command.Parameters.Add(new NpgsqlParameter { Value = a.Metric });
            command.Parameters.Add(new NpgsqlParameter { Value = DateTimeOffset.FromUnixTimeMilliseconds(a.TimestampMs).UtcDateTime });
            command.Parameters.Add(new NpgsqlParameter { Value = a.Seq >= 0 ? a.Seq : DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bigint });
            command.Parameters.Add(new NpgsqlParameter { Value = a.Value });
            command.Parameters.Add(new NpgsqlParameter { Value = a.Score });
            command.Parameters.Add(new NpgsqlParameter { Value = a.Detector });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)a.Kind ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            command.Parameters.Add(Nullable(a.Expected));
            command.Parameters.Add(Nullable(a.Lower));
            command.Parameters.Add(Nullable(a.Upper));
            command.Parameters.Add(new NpgsqlParameter { Value = DateTime.SpecifyKind(a.DetectedAtUtc, DateTimeKind.Utc) });
            await command.ExecuteNonQueryAsync(cancellationToken);
            return SendResult.Ok;
        }
        catch (PostgresException ex)
        {
            return Classify(ex.SqlState, $"PostgreSQL {ex.SqlState}: {ex.MessageText}");
        }
        catch (NpgsqlException ex)
        {
            // No answer from the server (refused, reset, unreachable, timed out): worth retrying.
            return SendResult.Transient($"PostgreSQL connection: {ex.Message}");
        }
        catch (SocketException ex)
        {
            return SendResult.Transient($"PostgreSQL connection: {ex.Message}");
        }
    }

    private static NpgsqlParameter Nullable(double? value)
        => new() { Value = value is { } v ? v : DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Double };

    /// <summary>How a PostgreSQL error (by SQLSTATE) is retried: throttled, transient, or permanent.</summary>
    public static SendResult Classify(string sqlState, string error) => sqlState switch
    {
        "53300" => SendResult.Throttle(null, error),               // too_many_connections: the server asks us to slow down
        ['5', '3', _, _, _] => SendResult.Transient(error),        // insufficient resources (disk full, out of memory)
        ['0', '8', _, _, _] => SendResult.Transient(error),        // connection exceptions
        "57P01" or "57P02" or "57P03" => SendResult.Transient(error), // admin/crash shutdown, cannot connect now (starting)
        "57014" => SendResult.Transient(error),                    // query_canceled (statement_timeout)
        "40001" or "40P01" => SendResult.Transient(error),         // serialization failure, deadlock
        "55P03" => SendResult.Transient(error),                    // lock_not_available
        _ => SendResult.Permanent(error),                          // undefined table, insufficient privilege, bad data, ...
    };

    private async Task CreateTableAsync(CancellationToken cancellationToken)
    {
        await _createGate.WaitAsync(cancellationToken);
        try
        {
            if (_created) return;
            // Only when it is missing: PostgreSQL checks the schema's CREATE privilege even for a table that exists,
            // and a user with nothing but INSERT must not have every anomaly dead-lettered for it.
            await using (var exists = _source.CreateCommand("SELECT to_regclass($1) IS NOT NULL"))
            {
                exists.Parameters.Add(new NpgsqlParameter { Value = _table });
                if ((bool)(await exists.ExecuteScalarAsync(cancellationToken))!)
                {
                    _created = true;
                    return;
                }
            }

            await using var command = _source.CreateCommand(CreateSql(_table));
            try
            {
                await command.ExecuteNonQueryAsync(cancellationToken);
            }
            catch (PostgresException ex) when (ex.SqlState is "23505" or "42P07")
            {
                // Another silo created it at the same moment (CREATE TABLE IF NOT EXISTS races on the type's name).
            }

            _created = true;
        }
        finally
        {
            _createGate.Release();
        }
    }

    public ValueTask DisposeAsync() => _source.DisposeAsync();
}
