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
            stats.Publishes, stats.Readings, stats.RejectedTotal, stats.RejectedByReason(), stats.TransportRetries, ingress.Backlog)));
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

    public sealed record IngressView(long Publishes, long Readings, long Rejected, IReadOnlyDictionary<string, long> RejectedByReason, long TransportRetries, int Backlog);

    public sealed record LatencyView(long Count, double P50Ms, double P90Ms, double P99Ms, double P999Ms);

    public sealed record GcView(int Gen0, int Gen1, int Gen2, double PauseMs, double PauseTimePercent, long AllocatedBytes);

    public sealed record PipelineView(long Processed, long Anomalies, LatencyView PipelineLatency, LatencyView SourceLatency, LatencyView TransitLatency, GcView Gc, IReadOnlyList<GcPause> GcPauses);

    public sealed record ErrorView(string Error, string? Detail = null);

    public sealed record RedriveView(string Target, int Redriven);

    private static readonly DateTime StartedAt = DateTime.UtcNow;

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

    private static async Task<Ok<SensorPage>> ListSensors(IGrainFactory grains, string? after, int? limit)
        => TypedResults.Ok(await grains.GetGrain<ISensorRegistryGrain>(0).List(after, limit ?? 100));

    private static async Task<Results<Ok<SensorSnapshot>, NotFound<ErrorView>, BadRequest<ErrorView>>> GetSensor(IGrainFactory grains, string id)
    {
        if (!SensorTopic.IsValidSensorId(id)) return TypedResults.BadRequest(new ErrorView("bad_sensor_id", "sensor ids are 1-128 characters of [A-Za-z0-9_.:-]"));
        var snapshot = await grains.GetGrain<ISensorGrain>(id).GetSnapshot();
        return snapshot.Known ? TypedResults.Ok(snapshot) : TypedResults.NotFound(new ErrorView("unknown_sensor", $"sensor '{id}' has sent nothing yet"));
    }

    private static async Task<Results<Ok<Anomaly[]>, BadRequest<ErrorView>>> GetAnomalies(IGrainFactory grains, string id, int? limit)
    {
        if (!SensorTopic.IsValidSensorId(id)) return TypedResults.BadRequest(new ErrorView("bad_sensor_id"));
        return TypedResults.Ok(await grains.GetGrain<ISensorGrain>(id).GetAnomalies(limit ?? 50));
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
            return TypedResults.BadRequest(new ErrorView("malformed_json", ex.Message));
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

    /// <summary>Direct ingestion over HTTP: the same payloads and checks as MQTT, accepted once on the stream.</summary>
    private static async Task<Results<Accepted, BadRequest<ErrorView>>> PostReadings(
        string id, HttpRequest request, ReadingParser parser, ReadingIngress ingress, IngressStats stats, SensorRejectCounter rejects, Microsoft.Extensions.Options.IOptions<MqttGatewayOptions> options)
    {
        if (!SensorTopic.IsValidSensorId(id))
        {
            stats.Reject(Grains.Readings.RejectReason.BadSensorId);
            return TypedResults.BadRequest(new ErrorView("bad_sensor_id"));
        }

        var max = options.Value.MaxPayloadBytes;
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer);
        if (buffer.Length > max)
        {
            stats.Reject(Grains.Readings.RejectReason.PayloadTooLarge);
            rejects.Count(id, Grains.Readings.RejectReason.PayloadTooLarge);
            return TypedResults.BadRequest(new ErrorView("payload_too_large", $"at most {max} bytes"));
        }

        var parsed = parser.Parse(new System.Buffers.ReadOnlySequence<byte>(buffer.GetBuffer(), 0, (int)buffer.Length), UnixTime.NowMicros());
        if (!parsed.Ok)
        {
            stats.Reject(parsed.Reason);
            rejects.Count(id, parsed.Reason);
            return TypedResults.BadRequest(new ErrorView(Grains.Readings.RejectReasons.Name(parsed.Reason), parsed.Detail));
        }

        await ingress.AcceptAsync(id, parsed.Readings!, request.HttpContext.RequestAborted);
        return TypedResults.Accepted((string?)null);
    }

    /// <summary>Dead letters of one target (?target=name), or of every target when none is named.</summary>
    private static async Task<Results<Ok<Dictionary<string, DeadLetterPage>>, NotFound<ErrorView>>> ListDeadLetters(
        OutboundDispatcher dispatcher, IGrainFactory grains, string? target, int? offset, int? limit)
    {
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

    private static async Task<Results<Ok<RedriveView>, NotFound<ErrorView>>> Redrive(OutboundDispatcher dispatcher, string target, int? max)
    {
        if (!dispatcher.TryGetTarget(target, out var t)) return TypedResults.NotFound(new ErrorView("unknown_target", target));
        var count = await dispatcher.RedriveAsync(t, max ?? 1000);
        return TypedResults.Ok(new RedriveView(t.Name, count));
    }
}
