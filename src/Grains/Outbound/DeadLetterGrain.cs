using Fleet.Grains.Storage;

namespace Fleet.Grains.Outbound;

/// <summary>
/// The layout of an older release (state "deadletters"): a target's whole list in one state. A new activation moves it
/// into segments; a silo of the older release (during a rolling upgrade) keeps adding here, and the next new
/// activation moves those too, so neither layout hides the other's letters.
/// </summary>
[GenerateSerializer]
public sealed class DeadLetterState
{
    [Id(0)] public List<DeadLetter> Items = new();
}

/// <summary>Which segments hold a target's letters, oldest first (state "deadletter-index").</summary>
[GenerateSerializer]
public sealed class DeadLetterIndexState
{
    [Id(0)] public List<long> Segments = new();

    [Id(1)] public long NextSegment;
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
/// whole store. While a lease runs the grain stays active, so its leases are not forgotten early.
/// </summary>
public sealed class DeadLetterGrain(
    [PersistentState("deadletter-index", StorageNames.Default)] IPersistentState<DeadLetterIndexState> index,
    [PersistentState("deadletters", StorageNames.Default)] IPersistentState<DeadLetterState> legacy,
    TimeProvider time)
    : Grain, IDeadLetterGrain
{
    public const int SegmentCapacity = 256;

    private readonly List<(long Seq, int Count)> _segments = new();
    private readonly Dictionary<Guid, (long Seq, DateTime Until)> _leases = new();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var counts = await Task.WhenAll(index.State.Segments.Select(seq => Segment(seq).Count()));
        for (var i = 0; i < counts.Length; i++) _segments.Add((index.State.Segments[i], counts[i]));
        if (legacy.State.Items.Count > 0) await MigrateAsync();
    }

    /// <summary>
    /// The older layout's letters into new segments, each written whole (so a crash part way redoes exactly the same
    /// writes), then one index write, then the old state cleared. Runs before any call is served.
    /// </summary>
    private async Task MigrateAsync()
    {
        var first = index.State.NextSegment;
        var chunks = legacy.State.Items.Chunk(SegmentCapacity).ToArray();
        for (var k = 0; k < chunks.Length; k++) await Segment(first + k).Reset(chunks[k]);
        for (var k = 0; k < chunks.Length; k++)
        {
            index.State.Segments.Add(first + k);
            _segments.Add((first + k, chunks[k].Length));
        }

        index.State.NextSegment = first + chunks.Length;
        await index.WriteStateAsync();
        await legacy.ClearStateAsync();
        legacy.State.Items.Clear();
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
                var seq = index.State.NextSegment++;
                index.State.Segments.Add(seq);
                await index.WriteStateAsync();
                _segments.Add((seq, await Segment(seq).Count()));
                if (_segments[^1].Count >= SegmentCapacity) continue;
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
        var leased = new List<DeadLetter>();
        foreach (var (seq, count) in _segments)
        {
            if (leased.Count >= max) break;
            if (count == 0) continue;
            foreach (var letter in await Segment(seq).Page(0, SegmentCapacity))
            {
                if (leased.Count >= max) break;
                if (!_leases.TryAdd(letter.Id, (seq, now + leaseFor))) continue; // held by another redrive, or a duplicate of one leased here
                leased.Add(letter);
            }
        }

        // Active until the latest lease ends (DelayDeactivation sets the keep-alive, it does not extend it).
        if (leased.Count > 0) DelayDeactivation(_leases.Values.Max(l => l.Until) - now);
        return leased.ToArray();
    }

    public async Task Remove(Guid[] ids)
    {
        // Not leased here: the lease ran out, or this store restarted while the letters were out. Looked up (rare).
        var located = await FindAsync(ids.Where(id => !_leases.ContainsKey(id)).ToHashSet());
        var bySegment = new Dictionary<long, List<Guid>>();
        foreach (var id in ids)
        {
            long seq;
            if (_leases.Remove(id, out var lease)) seq = lease.Seq;
            else if (!located.TryGetValue(id, out seq)) continue;
            if (!bySegment.TryGetValue(seq, out var list)) bySegment[seq] = list = new();
            list.Add(id);
        }

        var emptied = false;
        foreach (var (seq, list) in bySegment)
        {
            var at = _segments.FindIndex(s => s.Seq == seq);
            if (at < 0) continue;
            var count = await Segment(seq).Remove(list.ToArray());
            _segments[at] = (seq, count);
            emptied |= count == 0 && at < _segments.Count - 1;
        }

        if (emptied) await DropEmptySegmentsAsync();
    }

    public async Task Replace(DeadLetter[] items)
    {
        // Where each old copy is, looked up before the new copies exist (an old copy always precedes its new one).
        var located = await FindAsync(items.Select(i => i.Id).Where(id => !_leases.ContainsKey(id)).ToHashSet());
        var until = time.GetUtcNow().UtcDateTime.AddMinutes(1);
        foreach (var (id, seq) in located) _leases[id] = (seq, until);
        try
        {
            await Add(items);
            await Remove(items.Select(i => i.Id).Where(_leases.ContainsKey).ToArray());
        }
        finally
        {
            // Removed above when all went well; after a failure the letters must not stay held by a lease of this call.
            foreach (var id in located.Keys) _leases.Remove(id);
        }
    }

    public Task Release(Guid[] ids)
    {
        foreach (var id in ids) _leases.Remove(id);
        return Task.CompletedTask;
    }

    /// <summary>Empty segments other than the last leave the index; the last stays open for the next add.</summary>
    private async Task DropEmptySegmentsAsync()
    {
        var empty = _segments.Take(_segments.Count - 1).Where(s => s.Count == 0).Select(s => s.Seq).ToHashSet();
        if (empty.Count == 0) return;
        _segments.RemoveAll(s => empty.Contains(s.Seq));
        index.State.Segments = _segments.Select(s => s.Seq).ToList();
        await index.WriteStateAsync();
        foreach (var seq in empty) await Segment(seq).Clear();
    }

    /// <summary>The segment of each id's oldest copy, one call per segment (oldest first) until all are found.</summary>
    private async Task<Dictionary<Guid, long>> FindAsync(HashSet<Guid> ids)
    {
        var found = new Dictionary<Guid, long>();
        if (ids.Count == 0) return found;
        var wanted = ids.ToArray();
        foreach (var (seq, count) in _segments)
        {
            if (count == 0) continue;
            foreach (var id in await Segment(seq).Which(wanted)) found.TryAdd(id, seq);
            if (found.Count == ids.Count) break;
        }

        return found;
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
        var before = state.State.Items.Count;
        state.State.Items.AddRange(items);
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // Not stored: the caller retries, and the letters must not then be here twice.
            state.State.Items.RemoveRange(before, items.Length);
            throw;
        }

        return state.State.Items.Count;
    }

    public async Task Reset(DeadLetter[] items)
    {
        state.State.Items = items.ToList();
        await state.WriteStateAsync();
    }

    public Task<DeadLetter[]> Page(int offset, int limit)
    {
        var items = state.State.Items;
        offset = Math.Clamp(offset, 0, items.Count);
        return Task.FromResult(items.Skip(offset).Take(Math.Max(0, limit)).ToArray());
    }

    public Task<int> Count() => Task.FromResult(state.State.Items.Count);

    public Task<Guid[]> Which(Guid[] ids)
    {
        var wanted = ids.ToHashSet();
        return Task.FromResult(state.State.Items.Where(l => wanted.Contains(l.Id)).Select(l => l.Id).Distinct().ToArray());
    }

    public async Task<int> Remove(Guid[] ids)
    {
        var before = state.State.Items.ToList();
        var removed = 0;
        foreach (var id in ids)
        {
            var at = state.State.Items.FindIndex(l => l.Id == id);
            if (at < 0) continue;
            state.State.Items.RemoveAt(at);
            removed++;
        }

        if (removed > 0)
        {
            try
            {
                await state.WriteStateAsync();
            }
            catch
            {
                state.State.Items = before;
                throw;
            }
        }

        return state.State.Items.Count;
    }

    public async Task Clear()
    {
        await state.ClearStateAsync();
        state.State.Items.Clear();
        DeactivateOnIdle();
    }
}
