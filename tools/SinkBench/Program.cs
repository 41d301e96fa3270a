// The database sink's own speed: PostgresSender (one INSERT ... ON CONFLICT DO NOTHING per anomaly, the path an
// OutboundTarget's workers take) against a real PostgreSQL, at several concurrencies side by side in one run, so an
// operator can see what a Postgres target's MaxConcurrency sustains per silo before its RatePerSecond is set.
//
//   dotnet run -c Release --project tools/SinkBench -- --connection "Host=...;Username=...;Password=...;Database=..." [--rows 20000] [--concurrency 1,8,32]
using System.Diagnostics;
using Fleet.Gateways.Outbound;
using Fleet.Grains.Sensors;

string? connection = null;
var rows = 20_000;
int[] concurrencies = [1, 8, 32];
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--connection": connection = args[++i]; break;
        case "--rows": rows = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--concurrency": concurrencies = args[++i].Split(',').Select(c => int.Parse(c, System.Globalization.CultureInfo.InvariantCulture)).ToArray(); break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}

if (connection is null)
{
    Console.Error.WriteLine("usage: --connection CONNECTION_STRING [--rows N] [--concurrency 1,8,32]");
    return 2;
}

Console.WriteLine($"{"concurrency",11} {"rows",7} {"rows/s",9} {"p50 ms",7} {"p99 ms",7} {"failed",6}");
foreach (var concurrency in concurrencies)
{
    var table = $"sinkbench_{concurrency}_{Environment.ProcessId}";
    await using var sender = new PostgresSender(connection, table, createTable: true);
    var latencies = new double[rows];
    var failed = 0;
    var next = -1;
    // warm-up: the table, the pool's connections and the JIT
    await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => sender.SendAsync(Item(-1), CancellationToken.None)));
    var clock = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
    {
        int n;
        while ((n = Interlocked.Increment(ref next)) < rows)
        {
            var started = Stopwatch.GetTimestamp();
            var result = await sender.SendAsync(Item(n), CancellationToken.None);
            latencies[n] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (!result.Delivered) Interlocked.Increment(ref failed);
        }
    }));
    var seconds = clock.Elapsed.TotalSeconds;
    Array.Sort(latencies);
    Console.WriteLine($"{concurrency,11} {rows,7} {rows / seconds,9:N0} {latencies[rows / 2],7:0.00} {latencies[(int)(rows * 0.99)],7:0.00} {failed,6}");
}

return 0;

static OutboundItem Item(long seq) => new(Guid.NewGuid(),
    new Anomaly("bench-" + (seq & 255), "value", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), Math.Max(seq, 0), 42.5, 0.9, "fusion", DateTime.UtcNow)
    { Kind = "level", Expected = 20, Lower = 10, Upper = 30 },
    DateTime.UtcNow);
