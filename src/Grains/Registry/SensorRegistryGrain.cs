using Fleet.Grains.Storage;

namespace Fleet.Grains.Registry;

[GenerateSerializer]
public sealed class SensorRegistryState
{
    [Id(0)] public SortedSet<string> Sensors = new(StringComparer.Ordinal);
}

public sealed class SensorRegistryGrain(
    [PersistentState("registry", StorageNames.Default)] IPersistentState<SensorRegistryState> state)
    : Grain, ISensorRegistryGrain
{
    private bool _dirty;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(FlushAsync, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
        => await FlushAsync(cancellationToken);

    public Task Register(string sensorId)
    {
        if (state.State.Sensors.Add(sensorId))
        {
            _dirty = true;
        }

        return Task.CompletedTask;
    }

    public Task<SensorPage> List(string? after, int limit)
    {
        limit = Math.Clamp(limit, 1, 1000);
        var sensors = state.State.Sensors;
        IEnumerable<string> view;
        if (after is null)
        {
            view = sensors;
        }
        else if (sensors.Max is not { } max || string.CompareOrdinal(after, max) >= 0)
        {
            view = []; // a cursor at or past the last sensor: GetViewBetween would throw
        }
        else
        {
            view = sensors.GetViewBetween(after, max).Where(s => !string.Equals(s, after, StringComparison.Ordinal));
        }

        var page = view.Take(limit + 1).ToArray();
        var next = page.Length > limit ? page[limit - 1] : null;
        return Task.FromResult(new SensorPage(page.Take(limit).ToArray(), sensors.Count, next));
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (!_dirty) return;
        _dirty = false;
        await state.WriteStateAsync(cancellationToken);
    }
}
