namespace Fleet.Grains.Outbound;

/// <summary>The durable dead-letter store of one outbound target (key: target name), shared by the cluster.</summary>
public interface IDeadLetterGrain : IGrainWithStringKey
{
    Task Add(DeadLetter[] items);

    Task<DeadLetterPage> List(int offset, int limit);

    /// <summary>Removes and returns up to <paramref name="max"/> items, oldest first, for redrive.</summary>
    Task<DeadLetter[]> Take(int max);

    /// <summary>Puts items back (a redrive that could not resubmit them).</summary>
    Task Return(DeadLetter[] items);
}
