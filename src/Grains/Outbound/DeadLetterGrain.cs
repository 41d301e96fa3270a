using Fleet.Grains.Storage;

namespace Fleet.Grains.Outbound;

[GenerateSerializer]
public sealed class DeadLetterState
{
    [Id(0)] public List<DeadLetter> Items = new();
}

/// <summary>Dead letters are rare and must survive restarts: every change is written through.</summary>
public sealed class DeadLetterGrain(
    [PersistentState("deadletters", StorageNames.Default)] IPersistentState<DeadLetterState> state)
    : Grain, IDeadLetterGrain
{
    public async Task Add(DeadLetter[] items)
    {
        state.State.Items.AddRange(items);
        await state.WriteStateAsync();
    }

    public Task<DeadLetterPage> List(int offset, int limit)
    {
        var items = state.State.Items;
        offset = Math.Clamp(offset, 0, items.Count);
        limit = Math.Clamp(limit, 0, 1000);
        return Task.FromResult(new DeadLetterPage(items.Skip(offset).Take(limit).ToArray(), items.Count));
    }

    public async Task<DeadLetter[]> Take(int max)
    {
        var items = state.State.Items;
        var taken = items.Take(Math.Clamp(max, 0, items.Count)).ToArray();
        if (taken.Length == 0) return taken;
        items.RemoveRange(0, taken.Length);
        await state.WriteStateAsync();
        return taken;
    }

    public async Task Return(DeadLetter[] items)
    {
        state.State.Items.InsertRange(0, items);
        await state.WriteStateAsync();
    }
}
