using System.Globalization;

namespace Fleet.LoadGen;

/// <summary>Command line of the load generator (see Program for the modes).</summary>
public sealed record LoadOptions
{
    public string Mode { get; init; } = "throughput";
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 1883;
    public string Http { get; init; } = "http://127.0.0.1:8080";
    public int Sensors { get; init; } = 1000;
    public int Connections { get; init; } = 8;
    /// <summary>Readings per sensor (throughput mode).</summary>
    public int PerSensor { get; init; } = 200;
    /// <summary>Total publish rate in msg/s; 0 = as fast as possible.</summary>
    public double Rate { get; init; }
    /// <summary>Duration in seconds (rate mode).</summary>
    public double Seconds { get; init; } = 10;
    public int Qos { get; init; }
    /// <summary>QoS 1 publishes in flight per connection.</summary>
    public int InFlight { get; init; } = 16;
    /// <summary>"value" (single value) or "metrics" (three named metrics).</summary>
    public string Payload { get; init; } = "value";
    /// <summary>Count deliveries through a broker subscription instead of asking the platform (plain broker baseline).</summary>
    public bool Relay { get; init; }
    public string Prefix { get; init; } = "lg";
    /// <summary>
    /// Memory mode: seconds to wait before each heap measurement, so the silo's periodic checkpoints (every 5 s by
    /// default) have written and dropped their copies: the heap is measured at rest, not mid-write.
    /// </summary>
    public double Settle { get; init; } = 12;

    public static LoadOptions Parse(string[] args)
    {
        var o = new LoadOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var key = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{key} needs a value");
            o = key switch
            {
                "--mode" => o with { Mode = Next() },
                "--host" => o with { Host = Next() },
                "--port" => o with { Port = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--http" => o with { Http = Next() },
                "--sensors" => o with { Sensors = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--connections" => o with { Connections = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--per-sensor" => o with { PerSensor = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--rate" => o with { Rate = double.Parse(Next(), CultureInfo.InvariantCulture) },
                "--seconds" => o with { Seconds = double.Parse(Next(), CultureInfo.InvariantCulture) },
                "--qos" => o with { Qos = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--inflight" => o with { InFlight = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--payload" => o with { Payload = Next() },
                "--relay" => o with { Relay = true },
                "--prefix" => o with { Prefix = Next() },
                "--settle" => o with { Settle = double.Parse(Next(), CultureInfo.InvariantCulture) },
                _ => throw new ArgumentException($"unknown option {key}"),
            };
        }

        if (o.Connections < 1 || o.Sensors < o.Connections) throw new ArgumentException("need at least one sensor per connection");
        if (o.Qos is < 0 or > 1) throw new ArgumentException("--qos is 0 or 1");
        if (o.Payload is not ("value" or "metrics")) throw new ArgumentException("--payload is value or metrics");
        return o;
    }
}
