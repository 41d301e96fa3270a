using System.Text.Json.Nodes;
using Npgsql;
using Testcontainers.PostgreSql;

namespace Fleet.EndToEnd.Tests;

/// <summary>
/// The data path to a database: a device publishes over MQTT (Debian's mosquitto_pub), the sensor grain detects, and each
/// anomaly becomes a row of a real PostgreSQL server (in a container, Testcontainers) through the silo's Postgres target.
/// </summary>
public sealed class PostgresSinkTests : IAsyncLifetime
{
    private readonly PostgreSqlContainer _db = new PostgreSqlBuilder(Environment.GetEnvironmentVariable("FLEET_POSTGRES_IMAGE") ?? "postgres:15")
        .WithUsername("fleet").WithPassword("fleet-secret").WithDatabase("fleet")
        .Build();

    public Task InitializeAsync() => _db.StartAsync();

    public Task DisposeAsync() => _db.DisposeAsync().AsTask();

    [Fact]
    public async Task Every_anomaly_of_a_device_lands_as_one_row_in_the_database()
    {
        await using var silo = new SiloProcess(new Dictionary<string, string>
        {
            ["Outbound__Targets__db__Kind"] = "Postgres",
            ["Outbound__Targets__db__ConnectionString"] = _db.GetConnectionString(),
            ["Outbound__Targets__db__Table"] = "ops.alerts",
            ["Outbound__Targets__db__RatePerSecond"] = "500",
            ["Outbound__Targets__db__Burst"] = "500",
        });
        await using (var source = NpgsqlDataSource.Create(_db.GetConnectionString()))
        await using (var schema = source.CreateCommand("CREATE SCHEMA ops"))
        {
            await schema.ExecuteNonQueryAsync(); // the table itself is the sink's to create (CreateTable, the default)
        }

        await silo.StartAsync();

        // warmup 1 and threshold 0: every reading after the first is an anomaly, so the rows to expect are known.
        var config = await silo.PutJsonAsync("/sensors/boiler-7/config", new { detector = "ewma-z", detectorParameters = new Dictionary<string, double> { ["warmup"] = 1, ["threshold"] = 0 } });
        Assert.True(config.IsSuccessStatusCode, await config.Content.ReadAsStringAsync());
        await Devices.MosquittoPubAsync(silo.MqttPort, "sensors/boiler-7/telemetry", Enumerable.Range(1, 30).Select(i => Devices.Reading(i, 20 + i % 4)));
        var sensor = await silo.WaitForAsync("/sensors/boiler-7", s => (long)s["counts"]!["accepted"]! == 30);
        var anomalies = (long)sensor["counts"]!["anomalies"]!;
        Assert.True(anomalies >= 20, $"expected most readings to be anomalies, got {anomalies}");

        static JsonNode Db(JsonNode all) => all.AsArray().Single(t => (string)t!["name"]! == "db")!;
        var settled = Db(await silo.WaitForAsync("/outbound", o => (long)Db(o)["delivered"]! == anomalies, TimeSpan.FromSeconds(60)));
        Assert.Equal("postgres", (string)settled["kind"]!);
        Assert.Equal((0L, 0L), ((long)settled["deadLettered"]!, (long)settled["lost"]!));

        await using var db = NpgsqlDataSource.Create(_db.GetConnectionString());
        await using var rows = db.CreateCommand("SELECT count(*), count(DISTINCT seq), min(sensor_id), max(sensor_id), min(detector), bool_and(ts <= detected_at) FROM ops.alerts");
        await using var reader = await rows.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal((anomalies, anomalies, "boiler-7", "boiler-7", "ewma-z", true),
            (reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetBoolean(5)));
    }
}
