using Fleet.Grains.Outbound;
using Fleet.Grains.Pipeline;
using Fleet.Grains.Readings;
using Fleet.Grains.Registry;
using Fleet.Grains.Storage;
using Fleet.Grains.Telemetry;
using Microsoft.Extensions.Options;
using Orleans.Streams;
using Orleans.Streams.Core;

namespace Fleet.Grains.Sensors;

/// <summary>
/// One sensor's warm execution environment: implicitly subscribed to the sensor's stream, it runs the
/// sensor's pipeline on each reading in order, keeps its state in memory and writes it behind
/// (<see cref="SensorPipelineOptions.CheckpointInterval"/> after it changed, through the silo's
/// <see cref="CheckpointScheduler"/>, and on deactivation).
/// </summary>
[ImplicitStreamSubscription(SensorStreams.Namespace)]
public sealed class SensorGrain : Grain, ISensorGrain, IStreamSubscriptionObserver, IAsyncObserver<Reading>
{
    private readonly IPersistentState<SensorState> _state;
    private readonly SensorPipelineOptions _options;
    private readonly IOutboundPort _outbound;
    private readonly PipelineMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly CheckpointScheduler _checkpoints;
    private SensorPipeline _pipeline = null!;
    private DateTime _activatedAt;
    private bool _dirty;
    private bool _checkpointScheduled;
    private bool _registered;

    // Anomalies found by the current turn; turns of one grain never overlap, and the list is emptied in the turn.
    [ThreadStatic] private static List<Anomaly>? _found;

    public SensorGrain(
        [PersistentState("sensor", StorageNames.Default)] IPersistentState<SensorState> state,
        IOptions<SensorPipelineOptions> options,
        IOutboundPort outbound,
        PipelineMetrics metrics,
        TimeProvider time,
        CheckpointScheduler checkpoints)
    {
        _state = state;
        _options = options.Value;
        _outbound = outbound;
        _metrics = metrics;
        _time = time;
        _checkpoints = checkpoints;
    }

    private string SensorId => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _activatedAt = _time.GetUtcNow().UtcDateTime;
        _pipeline = new SensorPipeline(SensorId, _state.State, _options, _time);
        _registered = _state.RecordExists;
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
        => await CheckpointAsync(cancellationToken);

    // --- stream consumer -------------------------------------------------------------------------

    public async Task OnSubscribed(IStreamSubscriptionHandleFactory handleFactory)
        => await handleFactory.Create<Reading>().ResumeAsync(this);

    public Task OnNextAsync(Reading item, StreamSequenceToken? token = null)
    {
        Process(item);
        return Task.CompletedTask;
    }

    public Task OnCompletedAsync() => Task.CompletedTask;

    public Task OnErrorAsync(Exception ex) => Task.CompletedTask;

    // --- grain interface -------------------------------------------------------------------------

    public Task Ingest(Reading[] readings)
    {
        foreach (var reading in readings)
        {
            Process(reading);
        }

        return Task.CompletedTask;
    }

    public Task AddRejects(RejectCount[] rejects)
    {
        var byReason = _state.State.Counters.Rejected ??= new Dictionary<RejectReason, long>();
        foreach (var reject in rejects)
        {
            byReason[reject.Reason] = byReason.GetValueOrDefault(reject.Reason) + reject.Count;
        }

        MarkChanged();
        return Task.CompletedTask;
    }

    public Task<SensorSnapshot> GetSnapshot() => Task.FromResult(Snapshot());

    public Task Checkpoint()
    {
        _checkpointScheduled = false;
        return CheckpointAsync(CancellationToken.None);
    }

    public Task<Anomaly[]> GetAnomalies(int max)
    {
        var recent = _state.State.RecentAnomalies;
        max = Math.Clamp(max, 0, recent.Count);
        return Task.FromResult(recent.Skip(recent.Count - max).Reverse().ToArray());
    }

    public Task<SensorSnapshot> Configure(SensorConfig config)
    {
        _pipeline.Reconfigure(config);
        MarkChanged();
        return Task.FromResult(Snapshot());
    }

    // --- internals -------------------------------------------------------------------------------

    private void Process(Reading reading)
    {
        var found = _found ??= new List<Anomaly>();
        _pipeline.Process(reading, found); // every outcome (accepted, duplicate, late) changes the state
        _metrics.RecordProcessed(reading.ReceivedAtUs, reading.TimestampMs, UnixTime.NowMicros());
        if (found.Count > 0)
        {
            foreach (var anomaly in found)
            {
                _metrics.RecordAnomaly();
                _outbound.Send(anomaly);
            }

            found.Clear();
        }

        MarkChanged();
    }

    private void MarkChanged()
    {
        _dirty = true;
        if (!_checkpointScheduled)
        {
            _checkpointScheduled = true;
            _checkpoints.Schedule(this.GetGrainId());
        }

        if (!_registered)
        {
            _registered = true;
            if (_state.State.FirstSeenUtc == default)
            {
                _state.State.FirstSeenUtc = _time.GetUtcNow().UtcDateTime;
            }

            GrainFactory.GetGrain<ISensorRegistryGrain>(0).Register(SensorId).Ignore();
        }
    }

    private async Task CheckpointAsync(CancellationToken cancellationToken)
    {
        if (!_dirty) return;
        _dirty = false;
        _pipeline.Checkpoint();
        try
        {
            await _state.WriteStateAsync(cancellationToken);
        }
        catch
        {
            MarkChanged(); // still dirty: ask for another checkpoint
            throw;
        }
    }

    private SensorSnapshot Snapshot()
    {
        var s = _state.State;
        var c = s.Counters;
        var counts = new SensorCountsView(
            c.Accepted,
            c.RejectedTotal,
            c.Rejected?.ToDictionary(kv => kv.Key.Name(), kv => kv.Value) ?? new Dictionary<string, long>(),
            c.Duplicates,
            c.Late,
            c.Filtered,
            c.Anomalies,
            c.MetricLimitExceeded);
        var metrics = s.Metrics
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => new MetricSummary(
                kv.Key,
                kv.Value.Count,
                kv.Value.Mean,
                Math.Sqrt(kv.Value.Variance),
                kv.Value.Min,
                kv.Value.Max,
                kv.Value.Last,
                kv.Value.LastTimestampMs,
                new DetectorSummary(
                    kv.Value.Live?.Name ?? kv.Value.Detector,
                    kv.Value.Live?.Threshold ?? 0,
                    kv.Value.LastScore,
                    kv.Value.Live?.Count ?? 0,
                    kv.Value.Live?.StateSize ?? 0)))
            .ToArray();
        var known = _registered || s.FirstSeenUtc != default;
        return new SensorSnapshot(
            SensorId,
            known,
            _activatedAt,
            s.FirstSeenUtc == default ? null : s.FirstSeenUtc,
            counts,
            s.Last,
            metrics,
            s.RecentAnomalies.AsEnumerable().Reverse().ToArray(),
            s.Config);
    }
}
