using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Fleet.LoadGen;
using MQTTnet;
using MQTTnet.Protocol;

// Simulated devices over real MQTT.
//   throughput: every sensor publishes --per-sensor readings as fast as possible (or at --rate),
//               then the end-to-end rate (published -> processed by the grains) is measured.
//   latency:    publishes at --rate for --seconds and reports publish-to-state latency p50/p99.
//   memory:     activates --sensors new sensors with one reading each; reports heap bytes per sensor, measured
//               at rest (--settle seconds after the last reading, default 12: after the first checkpoints).
// With --relay the deliveries are counted on a broker subscription instead (a plain broker baseline).
LoadOptions options;
try
{
    options = LoadOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 2;
}

using var http = new HttpClient { BaseAddress = new Uri(options.Http), Timeout = TimeSpan.FromMinutes(2) };
// Client ids are unique per run; sensor ids depend on --prefix alone, so a later run with the same prefix
// publishes as the same (already warm) devices, continuing their sequence numbers, as real devices do after
// a reconnect. A new prefix means new devices (cold activations inside the measurement).
var runId = $"{options.Prefix}{Environment.ProcessId % 10000}";
var seqBase = DateTimeOffset.UtcNow.ToUnixTimeSeconds() * 10_000; // > any earlier run's seqs at <= 10k readings per sensor per second
var clients = new List<IMqttClient>();
var factory = new MqttClientFactory();
for (var c = 0; c < options.Connections; c++)
{
    var client = factory.CreateMqttClient();
    await client.ConnectAsync(new MqttClientOptionsBuilder()
        .WithTcpServer(options.Host, options.Port)
        .WithClientId($"{runId}-c{c}")
        .WithCleanSession()
        .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
        .WithTimeout(TimeSpan.FromSeconds(30))
        .Build());
    clients.Add(client);
}

long delivered = 0;
var relayLatency = new List<long>();
IMqttClient? subscriber = null;
if (options.Relay)
{
    subscriber = factory.CreateMqttClient();
    subscriber.ApplicationMessageReceivedAsync += e =>
    {
        Interlocked.Increment(ref delivered);
        var ts = PayloadWriter.ReadTimestamp(e.ApplicationMessage.Payload);
        if (ts > 0)
        {
            var lagUs = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000) - ts * 1000;
            lock (relayLatency) relayLatency.Add(lagUs);
        }

        return Task.CompletedTask;
    };
    await subscriber.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(options.Host, options.Port).WithClientId($"{runId}-sub").WithCleanSession().Build());
    await subscriber.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("sensors/+/telemetry", MqttQualityOfServiceLevel.AtMostOnce).Build());
}

var sensors = Enumerable.Range(0, options.Sensors).Select(i => $"{options.Prefix}-s{i:D6}").ToArray();
var topics = sensors.Select(s => $"sensors/{s}/telemetry").ToArray();
var qos = options.Qos == 1 ? MqttQualityOfServiceLevel.AtLeastOnce : MqttQualityOfServiceLevel.AtMostOnce;

long total = options.Mode switch
{
    "memory" => options.Sensors,
    "latency" => (long)(options.Rate * options.Seconds),
    _ => (long)options.Sensors * options.PerSensor,
};
if (options.Mode == "latency" && options.Rate <= 0)
{
    Console.Error.WriteLine("error: latency mode needs --rate");
    return 2;
}

var perSensor = options.Mode == "memory" ? 1 : (int)Math.Ceiling((double)total / options.Sensors);
MemoryView? memoryBefore = null;
if (options.Mode == "memory" && !options.Relay)
{
    await Task.Delay(TimeSpan.FromSeconds(options.Settle)); // earlier runs' checkpoints finish
    memoryBefore = await http.GetFromJsonAsync<MemoryView>("/stats/memory", Json.Options);
}

var before = options.Relay ? null : await http.GetFromJsonAsync<PipelineView>("/stats/pipeline?reset=true", Json.Options);
var processedBefore = before?.Processed ?? 0;

Console.WriteLine($"mode={options.Mode} sensors={options.Sensors} connections={options.Connections} qos={options.Qos} total={total} rate={(options.Rate > 0 ? options.Rate.ToString(CultureInfo.InvariantCulture) : "max")} payload={options.Payload} relay={options.Relay}");
var clock = Stopwatch.StartNew();
long sent = 0;
long refused = 0;
long slowSends = 0;
var tasks = clients.Select((client, c) => Task.Run(async () =>
{
    // Connection c owns the sensors i with i % connections == c and publishes them round robin.
    var own = Enumerable.Range(0, options.Sensors).Where(i => i % options.Connections == c).ToArray();
    var quota = total / options.Connections + (c < total % options.Connections ? 1 : 0);
    var ratePerConnection = options.Rate / options.Connections;
    var window = new SemaphoreSlim(options.InFlight);
    var buffer = new byte[256];
    var reused = new MqttApplicationMessageBuilder().WithTopic(topics[0]).WithQualityOfServiceLevel(qos).Build();
    var pending = new List<Task>();
    for (long n = 0; n < quota; n++)
    {
        if (ratePerConnection > 0)
        {
            var due = (long)(clock.Elapsed.TotalSeconds * ratePerConnection);
            while (n >= due)
            {
                await Task.Delay(1);
                due = (long)(clock.Elapsed.TotalSeconds * ratePerConnection);
            }
        }

        var sensor = own[n % own.Length];
        var seq = seqBase + n / own.Length;
        if (qos == MqttQualityOfServiceLevel.AtMostOnce)
        {
            // QoS 0: PublishAsync returns once the packet is written, so one buffer and one message are reused.
            reused.Topic = topics[sensor];
            reused.Payload = new System.Buffers.ReadOnlySequence<byte>(buffer, 0, PayloadWriter.Write(buffer, options.Payload, seq));
            var before = Stopwatch.GetTimestamp();
            await client.PublishAsync(reused);
            var us = Stopwatch.GetElapsedTime(before).Ticks / 10;
            if (us > 1000) Interlocked.Increment(ref slowSends);
        }
        else
        {
            var message = new MqttApplicationMessageBuilder()
                .WithTopic(topics[sensor])
                .WithPayload(Payload(options.Payload, seq))
                .WithQualityOfServiceLevel(qos)
                .Build();
            await window.WaitAsync();
            pending.Add(Publish(client, message, window));
            if (pending.Count > 4 * options.InFlight) pending.RemoveAll(t => t.IsCompleted);
        }

        Interlocked.Increment(ref sent);
    }

    await Task.WhenAll(pending);
    // End each connection with a QoS 1 publish and its PUBACK: the server has then read everything before it.
    var last = own[0];
    var final = await client.PublishAsync(new MqttApplicationMessageBuilder()
        .WithTopic(topics[last]).WithPayload(Payload(options.Payload, seqBase + perSensor + 1))
        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
    if (!final.IsSuccess) Interlocked.Increment(ref refused);
    Interlocked.Increment(ref sent);
})).ToArray();

async Task Publish(IMqttClient client, MqttApplicationMessage message, SemaphoreSlim window)
{
    try
    {
        var result = await client.PublishAsync(message);
        if (!result.IsSuccess) Interlocked.Increment(ref refused);
    }
    finally
    {
        window.Release();
    }
}

await Task.WhenAll(tasks);
var publishSeconds = clock.Elapsed.TotalSeconds;

// Wait until everything published has been processed (or relayed).
long done;
PipelineView? after = null;
var deadline = clock.Elapsed + TimeSpan.FromSeconds(120);
while (true)
{
    if (options.Relay)
    {
        done = Interlocked.Read(ref delivered);
    }
    else
    {
        after = await http.GetFromJsonAsync<PipelineView>("/stats/pipeline", Json.Options);
        done = after!.Processed - processedBefore;
    }

    if (done >= sent - refused || clock.Elapsed > deadline) break;
    await Task.Delay(options.Relay ? 2 : 10);
}

var seconds = clock.Elapsed.TotalSeconds;
if (relayLatency.Count > 0)
{
    relayLatency.Sort();
    Console.WriteLine($"latency_relay_ms    p50={relayLatency[relayLatency.Count / 2] / 1000.0:F2} p99={relayLatency[(int)(relayLatency.Count * 0.99)] / 1000.0:F2} (device ts -> subscriber, ms resolution)");
}

if (slowSends > 0) Console.WriteLine($"client_slow_publishes={slowSends} (QoS0 PublishAsync over 1 ms in the generator)");
Console.WriteLine($"published={sent} refused={refused} publish_s={publishSeconds:F2} {(options.Relay ? "delivered" : "processed")}={done} end_to_end_s={seconds:F2} throughput_msg_s={done / seconds:F0}");
if (after is not null)
{
    Console.WriteLine($"latency_pipeline_ms p50={after.PipelineLatency.P50Ms:F2} p99={after.PipelineLatency.P99Ms:F2} p999={after.PipelineLatency.P999Ms:F2}");
    Console.WriteLine($"latency_source_ms   p50={after.SourceLatency.P50Ms:F2} p99={after.SourceLatency.P99Ms:F2} (device ts -> grain, ms resolution)");
    Console.WriteLine($"latency_transit_ms  p50={after.TransitLatency.P50Ms:F2} p99={after.TransitLatency.P99Ms:F2} (device ts -> gateway, ms resolution)");
}

if (memoryBefore is not null)
{
    await Task.Delay(TimeSpan.FromSeconds(options.Settle)); // the new sensors' first checkpoints finish
    var memoryAfter = await http.GetFromJsonAsync<MemoryView>("/stats/memory", Json.Options);
    var perSensorBytes = (memoryAfter!.ManagedHeapBytes - memoryBefore.ManagedHeapBytes) / (double)options.Sensors;
    Console.WriteLine($"heap_before={memoryBefore.ManagedHeapBytes} heap_after={memoryAfter.ManagedHeapBytes} bytes_per_active_sensor={perSensorBytes:F0}");
}

foreach (var client in clients) await client.DisconnectAsync();
if (subscriber is not null) await subscriber.DisconnectAsync();
return done >= sent - refused ? 0 : 1;

static byte[] Payload(string kind, long seq)
    => PayloadWriter.Write(kind, seq);

internal sealed record LatencyView(long Count, double P50Ms, double P90Ms, double P99Ms, double P999Ms);

internal sealed record PipelineView(long Processed, long Anomalies, LatencyView PipelineLatency, LatencyView SourceLatency, LatencyView TransitLatency);

internal sealed record MemoryView(long ManagedHeapBytes, long TotalAllocatedBytes, int Gen2Collections);

internal static class Json
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
}
