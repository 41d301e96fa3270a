using System.Buffers;
using System.Text.Json;
using Fleet.Gateways.Mqtt;
using Fleet.Gateways.Outbound;
using Fleet.Grains.Outbound;
using Fleet.Grains.Registry;
using Fleet.Grains.Sensors;
using Fleet.Grains.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace Fleet.Gateways.Http;

/// <summary>
/// The HTTP API: reads grain state and calls grain methods, never reaching around the grains.
/// </summary>
public static class FleetApi
{
    public static IEndpointRouteBuilder MapFleetApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/health", Health);
        app.MapGet("/ingress", (IngressStats stats, ReadingIngress ingress) => TypedResults.Ok(new IngressView(
            stats.Publishes, stats.Readings, stats.RejectedTotal, stats.RejectedByReason(), stats.TransportRetries, ingress.Backlog,
            stats.ParkedSensors, stats.ParkedReadings, stats.Lost)));
        app.MapGet("/stats/pipeline", PipelineStats);
        app.MapGet("/stats/memory", MemoryStats);

        var sensors = app.MapGroup("/sensors");
        sensors.MapGet("/", ListSensors);
        sensors.MapGet("/{id}", GetSensor);
        sensors.MapGet("/{id}/anomalies", GetAnomalies);
        sensors.MapPut("/{id}/config", Configure);
        sensors.MapPost("/{id}/readings", PostReadings);

        var outbound = app.MapGroup("/outbound");
        outbound.MapGet("/", (OutboundDispatcher dispatcher) => TypedResults.Ok(dispatcher.Targets.Select(t => t.Stats()).ToArray()));
        outbound.MapGet("/deadletters", ListDeadLetters);
        outbound.MapPost("/deadletters/redrive", Redrive);
        return app;
    }

    public sealed record HealthView(string Status, int MqttPort, bool MqttRunning, int IngressBacklog, DateTime StartedAtUtc);

    public sealed record IngressView(long Publishes, long Readings, long Rejected, IReadOnlyDictionary<string, long> RejectedByReason, long TransportRetries, int Backlog,
        long ParkedSensors, long ParkedReadings, long Lost);

    public sealed record LatencyView(long Count, double P50Ms, double P90Ms, double P99Ms, double P999Ms);

    public sealed record GcView(int Gen0, int Gen1, int Gen2, double PauseMs, double PauseTimePercent, long AllocatedBytes);

    public sealed record PipelineView(long Processed, long Anomalies, LatencyView PipelineLatency, LatencyView SourceLatency, LatencyView TransitLatency, GcView Gc, IReadOnlyList<GcPause> GcPauses);

    public sealed record ErrorView(string Error, string? Detail = null);

    public sealed record RedriveView(string Target, int Redriven);

    /// <summary>When this silo's process started (not when the first request came).</summary>
    private static readonly DateTime StartedAt = System.Diagnostics.Process.GetCurrentProcess().StartTime.ToUniversalTime();

    private static Results<Ok<HealthView>, JsonHttpResult<HealthView>> Health(MqttGateway mqtt, ReadingIngress ingress)
    {
        var running = mqtt.Server.IsStarted;
        var view = new HealthView(running ? "healthy" : "unhealthy", mqtt.Port, running, ingress.Backlog, StartedAt);
        return running ? TypedResults.Ok(view) : TypedResults.Json(view, statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    public sealed record MemoryView(long ManagedHeapBytes, long TotalAllocatedBytes, int Gen2Collections);

    /// <summary>Managed heap after a full, compacting collection (diagnostics and the memory benchmark).</summary>
    private static Ok<MemoryView> MemoryStats()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return TypedResults.Ok(new MemoryView(GC.GetTotalMemory(false), GC.GetTotalAllocatedBytes(), GC.CollectionCount(2)));
    }

    private static Ok<PipelineView> PipelineStats(PipelineMetrics metrics, GcPauseMonitor pauses, bool? reset)
    {
        static LatencyView View(LatencyHistogram h) => new(h.Count, h.Quantile(0.5) / 1000, h.Quantile(0.9) / 1000, h.Quantile(0.99) / 1000, h.Quantile(0.999) / 1000);
        var gc = new GcView(GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration().TotalMilliseconds, GC.GetGCMemoryInfo().PauseTimePercentage, GC.GetTotalAllocatedBytes());
        var view = new PipelineView(metrics.Processed, metrics.Anomalies, View(metrics.PipelineLatency), View(metrics.SourceLatency), View(metrics.TransitLatency), gc, pauses.Recent);
        if (reset == true)
        {
            metrics.ResetLatency();
            pauses.Reset();
        }
        return TypedResults.Ok(view);
    }

    /// <summary>A page size outside 1..<paramref name="max"/> (0 or a negative one used to be taken as 1): a 400 that says so.</summary>
    private static BadRequest<ErrorView>? BadLimit(string name, int? value, int max)
        => value is { } n && (n < 1 || n > max) ? TypedResults.BadRequest(new ErrorView("bad_request", $"{name} must be between 1 and {max} (got {n})")) : null;

    private static async Task<Results<Ok<SensorPage>, BadRequest<ErrorView>>> ListSensors(IGrainFactory grains, string? after, int? limit)
    {
        if (BadLimit("limit", limit, 1000) is { } bad) return bad;
        return TypedResults.Ok(await grains.GetGrain<ISensorRegistryGrain>(0).List(after, limit ?? 100));
    }

    private static async Task<Results<Ok<SensorSnapshot>, NotFound<ErrorView>, BadRequest<ErrorView>>> GetSensor(IGrainFactory grains, string id)
    {
        if (!SensorTopic.IsValidSensorId(id)) return TypedResults.BadRequest(new ErrorView("bad_sensor_id", "sensor ids are 1-128 characters of [A-Za-z0-9_.:-]"));
        var snapshot = await grains.GetGrain<ISensorGrain>(id).GetSnapshot();
        return snapshot.Known ? TypedResults.Ok(snapshot) : TypedResults.NotFound(new ErrorView("unknown_sensor", $"sensor '{id}' has sent nothing yet"));
    }

    private static async Task<Results<Ok<Anomaly[]>, NotFound<ErrorView>, BadRequest<ErrorView>>> GetAnomalies(IGrainFactory grains, string id, int? limit)
    {
        if (!SensorTopic.IsValidSensorId(id)) return TypedResults.BadRequest(new ErrorView("bad_sensor_id", "sensor ids are 1-128 characters of [A-Za-z0-9_.:-]"));
        if (BadLimit("limit", limit, 1000) is { } bad) return bad;
        var sensor = grains.GetGrain<ISensorGrain>(id);
        var anomalies = await sensor.GetAnomalies(limit ?? 50);
        // As GET /sensors/{id}: a sensor that has sent nothing is unknown, not one without anomalies.
        if (anomalies.Length == 0 && !(await sensor.GetSnapshot()).Known)
            return TypedResults.NotFound(new ErrorView("unknown_sensor", $"sensor '{id}' has sent nothing yet"));
        return TypedResults.Ok(anomalies);
    }

    /// <summary>
    /// Sets a sensor's configuration. The body is read here rather than bound by the framework, which answers a body
    /// it cannot read (bad JSON, a string where a number belongs) with an empty 400: here it gets an <see cref="ErrorView"/>
    /// with what System.Text.Json found wrong and where.
    /// </summary>
    private static async Task<Results<Ok<SensorSnapshot>, BadRequest<ErrorView>>> Configure(
        IGrainFactory grains, string id, HttpRequest request, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json)
    {
        if (!SensorTopic.IsValidSensorId(id)) return TypedResults.BadRequest(new ErrorView("bad_sensor_id", "sensor ids are 1-128 characters of [A-Za-z0-9_.:-]"));
        SensorConfig? config;
        try
        {
            config = await JsonSerializer.DeserializeAsync<SensorConfig>(request.Body, json.Value.SerializerOptions, request.HttpContext.RequestAborted);
        }
        catch (JsonException ex)
        {
            return TypedResults.BadRequest(new ErrorView("malformed_json", HttpErrors.Describe(ex)));
        }

        if (config is null)
            return TypedResults.BadRequest(new ErrorView("malformed_json", "the body must be a JSON object, e.g. {\"detector\": \"ewma-z\"}"));
        try
        {
            return TypedResults.Ok(await grains.GetGrain<ISensorGrain>(id).Configure(config));
        }
        catch (ArgumentException ex)
        {
            return TypedResults.BadRequest(new ErrorView("invalid_config", ex.Message));
        }
    }

    /// <summary>
    /// Direct ingestion over HTTP: the same payloads, checks and counters as MQTT. 202 once the readings are queued in
    /// the ingress (as a QoS 1 PUBACK: from there they are never dropped); 413 for a body over Mqtt:MaxPayloadBytes, of
    /// which at most one byte more is read; 503 <c>overloaded</c> when the queue stays full for Mqtt:AcceptTimeout, and
    /// then nothing was queued, so the client can send the same body again.
    /// </summary>
    private static async Task<Results<Accepted, BadRequest<ErrorView>, JsonHttpResult<ErrorView>>> PostReadings(
        string id, HttpRequest request, ReadingParser parser, ReadingIngress ingress, IngressStats stats, SensorRejectCounter rejects, IOptions<MqttGatewayOptions> options)
    {
        if (!SensorTopic.IsValidSensorId(id))
        {
            stats.Reject(Grains.Readings.RejectReason.BadSensorId);
            return TypedResults.BadRequest(new ErrorView("bad_sensor_id", "sensor ids are 1-128 characters of [A-Za-z0-9_.:-]"));
        }

        var max = options.Value.MaxPayloadBytes;
        if (request.ContentLength is { } declared && declared > max)
        {
            return Refused(id, stats, rejects, Grains.Readings.RejectReason.PayloadTooLarge, StatusCodes.Status413PayloadTooLarge, $"payload is {declared} bytes; at most {max}");
        }

        var aborted = request.HttpContext.RequestAborted;
        var (buffer, length) = await ReadAtMostAsync(request.Body, max + 1, request.ContentLength, aborted);
        Grains.Readings.Reading[] readings;
        try
        {
            if (length > max)
            {
                return Refused(id, stats, rejects, Grains.Readings.RejectReason.PayloadTooLarge, StatusCodes.Status413PayloadTooLarge, $"payload is more than {max} bytes; at most {max}");
            }

            var parsed = parser.Parse(new ReadOnlySequence<byte>(buffer, 0, length), UnixTime.NowMicros());
            if (!parsed.Ok)
            {
                return Refused(id, stats, rejects, parsed.Reason, StatusCodes.Status400BadRequest, parsed.Detail!);
            }

            readings = parsed.Readings!;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer); // the readings hold no reference to it
        }

        // As for a QoS 1 publish (see MqttGateway): the deadline covers getting into the queue only, so a 503 means
        // "not queued" and a 202 means "queued, and will be delivered"; never a 503 for readings that are delivered.
        if (await ingress.TryEnqueueAsync(id, readings, options.Value.AcceptTimeout, aborted) is { } refusal)
        {
            return Refused(id, stats, rejects, Grains.Readings.RejectReason.Overloaded, StatusCodes.Status503ServiceUnavailable, refusal);
        }

        return TypedResults.Accepted((string?)null);
    }

    private static JsonHttpResult<ErrorView> Refused(string id, IngressStats stats, SensorRejectCounter rejects, Grains.Readings.RejectReason reason, int status, string detail)
    {
        stats.Reject(reason);
        rejects.Count(id, reason);
        return TypedResults.Json(new ErrorView(Grains.Readings.RejectReasons.Name(reason), detail), statusCode: status);
    }

    /// <summary>
    /// Reads the body until its end or <paramref name="limit"/> bytes, whichever comes first, into a pooled buffer the
    /// caller returns: an oversized body costs <paramref name="limit"/> bytes, not its size.
    /// </summary>
    private static async Task<(byte[] Buffer, int Length)> ReadAtMostAsync(Stream body, int limit, long? contentLength, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(limit, contentLength is { } n ? n + 1 : 16 * 1024));
        var length = 0;
        try
        {
            while (length < limit)
            {
                if (length == buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min(limit, 2L * buffer.Length));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                var read = await body.ReadAsync(buffer.AsMemory(length, Math.Min(buffer.Length, limit) - length), cancellationToken);
                if (read == 0) break;
                length += read;
            }

            return (buffer, length);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    /// <summary>Dead letters of one target (?target=name), or of every target when none is named.</summary>
    private static async Task<Results<Ok<Dictionary<string, DeadLetterPage>>, NotFound<ErrorView>, BadRequest<ErrorView>>> ListDeadLetters(
        OutboundDispatcher dispatcher, IGrainFactory grains, string? target, int? offset, int? limit)
    {
        if (BadLimit("limit", limit, 1000) is { } bad) return bad;
        if (offset < 0) return TypedResults.BadRequest(new ErrorView("bad_request", $"offset must be 0 or more (got {offset})"));
        IEnumerable<OutboundTarget> targets = dispatcher.Targets;
        if (target is not null)
        {
            if (!dispatcher.TryGetTarget(target, out var one)) return TypedResults.NotFound(new ErrorView("unknown_target", target));
            targets = [one];
        }

        var pages = new Dictionary<string, DeadLetterPage>(StringComparer.OrdinalIgnoreCase);
        foreach (var t in targets)
        {
            pages[t.Name] = await grains.GetGrain<IDeadLetterGrain>(t.Name).List(offset ?? 0, limit ?? 100);
        }

        return TypedResults.Ok(pages);
    }

    private static async Task<Results<Ok<RedriveView>, NotFound<ErrorView>, BadRequest<ErrorView>>> Redrive(OutboundDispatcher dispatcher, string target, int? max)
    {
        if (BadLimit("max", max, 1_000_000) is { } bad) return bad;
        if (!dispatcher.TryGetTarget(target, out var t)) return TypedResults.NotFound(new ErrorView("unknown_target", target));
        var count = await dispatcher.RedriveAsync(t, max ?? 1000);
        return TypedResults.Ok(new RedriveView(t.Name, count));
    }
}
