using Microsoft.Extensions.DependencyInjection;
using Fleet.Grains.Functions;
using Fleet.Grains.Outbound;
using Fleet.Grains.Pipeline;
using Fleet.Grains.Readings;
using Fleet.Grains.Registry;
using Fleet.Grains.Storage;
using Fleet.Grains.Telemetry;
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
    private readonly SensorServices _services;
    private SensorPipeline _pipeline = null!;
    private DateTime _activatedAt;
    private bool _dirty;
    private bool _checkpointScheduled;
    private bool _registered;
    private SensorFunctions? _functions;
    private long _bindingVersion = -1;
    private Task? _writing;       // the storage write in flight, if any: one at a time (the storage's etag chain)
    private bool _ingestPending;  // an Ingest with functions is awaiting one: no snapshot in the middle of a batch

    // Anomalies found by the current turn; turns of one grain never overlap, and the list is emptied in the turn.
    [ThreadStatic] private static List<Anomaly>? _found;

    public SensorGrain(
        [PersistentState("sensor", StorageNames.Default)] IPersistentState<SensorState> state,
        SensorServices services)
    {
        _state = state;
        _services = services;
    }

    private string SensorId => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _activatedAt = _services.Time.GetUtcNow().UtcDateTime;
        _pipeline = new SensorPipeline(SensorId, _state.State, _services.Options, _services.Time);
        _registered = _state.RecordExists;
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        try
        {
            await CheckpointAsync(cancellationToken);
        }
        finally
        {
            // Reclaims the sensor's function environments and their scratch folders.
            if (_functions is not null) await _functions.DisposeAsync();
        }
    }

    // --- stream consumer -------------------------------------------------------------------------

    public async Task OnSubscribed(IStreamSubscriptionHandleFactory handleFactory)
        => await handleFactory.Create<Reading>().ResumeAsync(this);

    public Task OnNextAsync(Reading item, StreamSequenceToken? token = null) => Ingest([item]);

    public Task OnCompletedAsync() => Task.CompletedTask;

    public Task OnErrorAsync(Exception ex) => Task.CompletedTask;

    // --- grain interface -------------------------------------------------------------------------

    public Task Ingest(Reading[] readings)
    {
        var functions = BoundFunctions();
        if (functions is not null) return IngestWithFunctionsAsync(readings, functions);
        var found = _found ??= new List<Anomaly>();
        foreach (var reading in readings)
        {
            Process(reading, found);
            found.Clear();
        }

        return Task.CompletedTask;
    }

    /// <summary>With functions bound: each accepted reading runs the bound chains, in order, before the next reading.</summary>
    private async Task IngestWithFunctionsAsync(Reading[] readings, SensorFunctions functions)
    {
        var found = new List<Anomaly>();
        _ingestPending = true;
        try
        {
            foreach (var reading in readings)
            {
                if (Process(reading, found) == ReadingOutcome.Accepted) await functions.RunAsync(reading, found);
                found.Clear();
            }
        }
        finally
        {
            _ingestPending = false;
        }
    }

    /// <summary>The functions bound to this sensor now, or null when none are (the hot path's common case).</summary>
    private SensorFunctions? BoundFunctions()
    {
        var cache = _services.Bindings;
        if (cache is null) return null;
        var table = cache.Table;
        if (table.Version != _bindingVersion)
        {
            _bindingVersion = table.Version;
            var matching = cache.Matching(SensorId, table);
            if (matching.Length > 0 && _functions is null)
            {
                var directory = _services.Functions;
                var factory = _services.Environments;
                if (directory is null || factory is null) return null;
                _functions = new SensorFunctions(SensorId, directory, factory, _services.Time, _services.Options.FunctionTimeout, _services.Concurrency);
            }

            _functions?.Bind(matching).Ignore();
        }

        return _functions is { Bindings.Length: > 0 } ? _functions : null;
    }

    public Task AddRejects(RejectCount[] rejects)
    {
        var byReason = _state.State.Rejected ??= new Dictionary<RejectReason, long>();
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
        if (_ingestPending)
        {
            // Interleaved into a batch that awaits a function: snapshot after it, at the next tick.
            if (_dirty) MarkChanged();
            return Task.CompletedTask;
        }

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

    /// <summary>Runs the built-in steps on one reading; the anomalies it raised are left in <paramref name="found"/>.</summary>
    private ReadingOutcome Process(Reading reading, List<Anomaly> found)
    {
        var errors = _pipeline.Errors;
        var outcome = _pipeline.Process(reading, found); // every outcome (accepted, duplicate, late, failed) changes the state
        if (_pipeline.Errors != errors) _services.ReportError(SensorId, reading, _pipeline.LastError);
        _services.Metrics.RecordProcessed(reading.ReceivedAtUs, reading.TimestampMs, UnixTime.NowMicros());
        foreach (var anomaly in found)
        {
            _services.Metrics.RecordAnomaly();
            _services.Outbound.Send(anomaly);
        }

        MarkChanged();
        return outcome;
    }

    private void MarkChanged()
    {
        _dirty = true;
        if (!_checkpointScheduled)
        {
            _checkpointScheduled = true;
            _services.Checkpoints.Schedule(this.GetGrainId());
        }

        if (!_registered)
        {
            _registered = true;
            if (_state.State.FirstSeenUtc == default)
            {
                _state.State.FirstSeenUtc = _services.Time.GetUtcNow().UtcDateTime;
            }

            GrainFactory.GetGrain<ISensorRegistryGrain>(0).Register(SensorId).Ignore();
        }
    }

    /// <summary>
    /// Snapshots the state in this turn and writes it. The write is awaited outside the grain's turn (Checkpoint
    /// interleaves), so readings are not held up by the storage; a checkpoint that finds a write in flight waits for
    /// it first, so writes stay in order.
    /// </summary>
    private async Task CheckpointAsync(CancellationToken cancellationToken)
    {
        while (_writing is { IsCompleted: false } previous)
        {
            try
            {
                await previous;
            }
            catch
            {
                // that checkpoint's caller saw the failure and the state was marked changed again
            }
        }

        if (!_dirty) return;
        _dirty = false;
        _pipeline.Checkpoint();
        var write = _state.WriteStateAsync(cancellationToken);
        _writing = write;
        try
        {
            await write;
            _pipeline.Checkpointed();
        }
        catch
        {
            MarkChanged(); // still dirty: ask for another checkpoint
            throw;
        }
        finally
        {
            if (_writing == write) _writing = null; // a finished task is not kept alive by every sensor
        }
    }

    private SensorSnapshot Snapshot()
    {
        var s = _state.State;
        var c = _pipeline.Counts;
        var counts = new SensorCountsView(
            c.Accepted,
            s.RejectedTotal,
            s.Rejected?.ToDictionary(kv => kv.Key.Name(), kv => kv.Value) ?? new Dictionary<string, long>(),
            c.Duplicates,
            c.Late,
            c.Filtered,
            c.Anomalies,
            c.MetricLimitExceeded,
            c.Errors);
        var metrics = _pipeline.Metrics
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv =>
            {
                var (expected, lower, upper) = _pipeline.Band(kv.Key);
                return new MetricSummary(
                    kv.Key,
                    kv.Value.Count,
                    kv.Value.Mean,
                    Math.Sqrt(kv.Value.Variance),
                    kv.Value.Min,
                    kv.Value.Max,
                    kv.Value.Last,
                    kv.Value.LastTimestampMs,
                    new DetectorSummary(
                        kv.Value.Detector.Name,
                        kv.Value.Detector.Threshold,
                        kv.Value.LastScore,
                        kv.Value.Detector.Count,
                        kv.Value.Detector.StateSize,
                        expected,
                        lower,
                        upper));
            })
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
            s.Config,
            _functions?.View());
    }
}
