namespace Fleet.Grains.Outbound;

/// <summary>
/// The durable dead-letter store of one outbound target (key: target name), shared by the cluster. Letters are kept in
/// segments of at most <see cref="DeadLetterGrain.SegmentCapacity"/> (<see cref="IDeadLetterSegmentGrain"/>), so a
/// write costs one segment, not the whole store. A redrive leases letters: they stay stored until their delivery
/// removes them (or a new failure replaces them), so a silo that dies mid-redrive loses nothing.
/// </summary>
public interface IDeadLetterGrain : IGrainWithStringKey
{
    /// <summary>Stores new dead letters, after the ones already kept.</summary>
    Task Add(DeadLetter[] items);

    Task<DeadLetterPage> List(int offset, int limit);

    /// <summary>
    /// Leases up to <paramref name="max"/> letters, oldest first, that no other redrive holds, for
    /// <paramref name="leaseFor"/>. They stay in the store (and in <see cref="List"/>) until <see cref="Remove"/> or
    /// <see cref="Replace"/>; a lease that runs out, or a store that restarts (a crash: the grain is kept active while a
    /// lease runs), makes them available again.
    /// </summary>
    Task<DeadLetter[]> Lease(int max, TimeSpan leaseFor);

    /// <summary>Leased letters that were delivered: removed from the store.</summary>
    Task Remove(Guid[] ids);

    /// <summary>
    /// Leased letters that failed again: each is stored anew at the end (same id, new attempts and reason), then the
    /// old copy is removed, in that order, so a crash in between leaves a duplicate, never a gap.
    /// </summary>
    Task Replace(DeadLetter[] items);

    /// <summary>Gives leases back unused (a redrive that could not queue them).</summary>
    Task Release(Guid[] ids);
}

/// <summary>One segment of a target's dead letters (key: "{target}/{sequence}"), written through.</summary>
public interface IDeadLetterSegmentGrain : IGrainWithStringKey
{
    /// <summary>Appends and returns the segment's new count.</summary>
    Task<int> Append(DeadLetter[] items);

    /// <summary>Replaces the segment's letters with these (a migration that may run twice writes the same thing twice).</summary>
    Task Reset(DeadLetter[] items);

    Task<DeadLetter[]> Page(int offset, int limit);

    Task<int> Count();

    /// <summary>Which of <paramref name="ids"/> this segment holds.</summary>
    Task<Guid[]> Which(Guid[] ids);

    /// <summary>Removes the first letter with each id (an older copy before a newer one) and returns the new count.</summary>
    Task<int> Remove(Guid[] ids);

    Task Clear();
}
