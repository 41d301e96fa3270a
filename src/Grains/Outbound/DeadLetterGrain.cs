using Fleet.Grains.Storage;

namespace Fleet.Grains.Outbound;

[GenerateSerializer]
public sealed class DeadLetterState
{
    /// <summary>Letters of a release that kept the whole store in one state; moved into segments on activation.</summary>
    [Id(0)] public List<DeadLetter> Items = new();

    /// <summary>The sequence numbers of the segments in use, oldest first.</summary>
    [Id(1)] public List<long> Segments = new();

    [Id(2)] public long NextSegment;
}

[GenerateSerializer]
public sealed class DeadLetterSegmentState
{
    [Id(0)] public List<DeadLetter> Items = new();
}

/// <summary>
/// The index of a target's dead letters: which segments hold them (written only when a segment opens or closes) and,
/// in memory, how many each holds and which letters a redrive has leased. Dead letters are rare, but an outage turns
/// every alert into one, so an add writes one segment of at most <see cref="SegmentCapacity"/> letters, never the
/// whole store.
/// </summary>
public sealed class DeadLetterGrain(
    [PersistentState("deadletters", StorageNames.Default)] IPersistentState<DeadLetterState> state,
    TimeProvider time)
    : Grain, IDeadLetterGrain
{
    public const int SegmentCapacity = 256;

    private readonly List<(long Seq, int Count)> _segments = new();
    private readonly Dictionary<Guid, (long Seq, DateTime Until)> _leases = new();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var seq in state.State.Segments)
        {
            _segments.Add((seq, await Segment(seq).Count()));
        }

        if (state.State.Items.Count > 0)
        {
            // An older release's single list: into segments first, then forget it (a crash in between re-adds it once).
            var legacy = state.State.Items.ToArray();
            await Add(legacy);
            state.State.Items.Clear();
            await state.WriteStateAsync();
        }
    }

    public async Task Add(DeadLetter[] items)
    {
        var offset = 0;
        while (offset < items.Length)
        {
            if (_segments.Count == 0 || _segments[^1].Count >= SegmentCapacity)
            {
                // The index names the new segment before anything is written to it: a crash in between leaves an empty
                // segment, never letters that no index knows.
                var seq = state.State.NextSegment++;
                state.State.Segments.Add(seq);
                await state.WriteStateAsync();
                _segments.Add((seq, 0));
            }

            var (last, count) = _segments[^1];
            var take = Math.Min(SegmentCapacity - count, items.Length - offset);
            _segments[^1] = (last, await Segment(last).Append(items[offset..(offset + take)]));
            offset += take;
        }
    }

    public async Task<DeadLetterPage> List(int offset, int limit)
    {
        var total = _segments.Sum(s => s.Count);
        offset = Math.Clamp(offset, 0, total);
        limit = Math.Clamp(limit, 0, 1000);
        var page = new List<DeadLetter>(Math.Min(limit, total - offset));
        foreach (var (seq, count) in _segments)
        {
            if (page.Count == limit) break;
            if (offset >= count)
            {
                offset -= count;
                continue;
            }

            page.AddRange(await Segment(seq).Page(offset, limit - page.Count));
            offset = 0;
        }

        return new DeadLetterPage(page.ToArray(), total);
    }

    public async Task<DeadLetter[]> Lease(int max, TimeSpan leaseFor)
    {
        var now = time.GetUtcNow().UtcDateTime;
        foreach (var expired in _leases.Where(l => l.Value.Until <= now).Select(l => l.Key).ToList()) _leases.Remove(expired);
        var until = now + leaseFor;
        var leased = new List<DeadLetter>();
        foreach (var (seq, count) in _segments)
        {
            if (leased.Count >= max) break;
            if (count == 0) continue;
            foreach (var letter in await Segment(seq).Page(0, SegmentCapacity))
            {
                if (leased.Count >= max) break;
                if (!_leases.TryAdd(letter.Id, (seq, until))) continue; // held by another redrive, or a duplicate of one leased here
                leased.Add(letter);
            }
        }

        return leased.ToArray();
    }

    public async Task Remove(Guid[] ids)
    {
        var bySegment = new Dictionary<long, List<Guid>>();
        foreach (var id in ids)
        {
            // Not leased here: the lease ran out, or this store restarted while the letter was out. Look it up (rare).
            long? seq = _leases.Remove(id, out var lease) ? lease.Seq : await FindAsync(id);
            if (seq is not { } at) continue;
            if (!bySegment.TryGetValue(at, out var list)) bySegment[at] = list = new();
            list.Add(id);
        }

        var emptied = false;
        foreach (var (seq, list) in bySegment)
        {
            var index = _segments.FindIndex(s => s.Seq == seq);
            if (index < 0) continue;
            var count = await Segment(seq).Remove(list.ToArray());
            _segments[index] = (seq, count);
            emptied |= count == 0 && index < _segments.Count - 1;
        }

        if (emptied) await DropEmptySegmentsAsync();
    }

    public async Task Replace(DeadLetter[] items)
    {
        // Where each old copy is, looked up before the new copies exist (an old copy always precedes its new one).
        foreach (var item in items)
        {
            if (_leases.ContainsKey(item.Id)) continue;
            if (await FindAsync(item.Id) is { } seq) _leases[item.Id] = (seq, DateTime.MaxValue);
        }

        await Add(items);
        await Remove(items.Select(i => i.Id).Where(_leases.ContainsKey).ToArray());
    }

    public Task Release(Guid[] ids)
    {
        foreach (var id in ids) _leases.Remove(id);
        return Task.CompletedTask;
    }

    /// <summary>Empty segments other than the last leave the index; the last stays open for the next add.</summary>
    private async Task DropEmptySegmentsAsync()
    {
        var empty = _segments.Take(_segments.Count - 1).Where(s => s.Count == 0).Select(s => s.Seq).ToList();
        if (empty.Count == 0) return;
        _segments.RemoveAll(s => empty.Contains(s.Seq));
        state.State.Segments = _segments.Select(s => s.Seq).ToList();
        await state.WriteStateAsync();
        foreach (var seq in empty) await Segment(seq).Clear();
    }

    private async Task<long?> FindAsync(Guid id)
    {
        foreach (var (seq, count) in _segments)
        {
            if (count > 0 && (await Segment(seq).Page(0, SegmentCapacity)).Any(l => l.Id == id)) return seq;
        }

        return null;
    }

    private IDeadLetterSegmentGrain Segment(long seq) => GrainFactory.GetGrain<IDeadLetterSegmentGrain>($"{this.GetPrimaryKeyString()}/{seq}");
}

/// <summary>One segment of dead letters: at most <see cref="DeadLetterGrain.SegmentCapacity"/>, written through.</summary>
public sealed class DeadLetterSegmentGrain(
    [PersistentState("deadletter-segment", StorageNames.Default)] IPersistentState<DeadLetterSegmentState> state)
    : Grain, IDeadLetterSegmentGrain
{
    public async Task<int> Append(DeadLetter[] items)
    {
        state.State.Items.AddRange(items);
        await state.WriteStateAsync();
        return state.State.Items.Count;
    }

    public Task<DeadLetter[]> Page(int offset, int limit)
    {
        var items = state.State.Items;
        offset = Math.Clamp(offset, 0, items.Count);
        return Task.FromResult(items.Skip(offset).Take(Math.Max(0, limit)).ToArray());
    }

    public Task<int> Count() => Task.FromResult(state.State.Items.Count);

    public async Task<int> Remove(Guid[] ids)
    {
        var removed = 0;
        foreach (var id in ids)
        {
            var at = state.State.Items.FindIndex(l => l.Id == id);
            if (at < 0) continue;
            state.State.Items.RemoveAt(at);
            removed++;
        }

        if (removed > 0) await state.WriteStateAsync();
        return state.State.Items.Count;
    }

    public async Task Clear()
    {
        await state.ClearStateAsync();
        state.State.Items.Clear();
        DeactivateOnIdle();
    }
}
