using Fleet.Grains.Storage;

namespace Fleet.Grains.Functions;

/// <summary>
/// Binds sensors' readings to a function or a chain of functions: every accepted reading whose topic
/// (<c>sensors/{sensorId}/telemetry</c>) matches <see cref="TopicFilter"/> (MQTT wildcards <c>+</c>, <c>#</c>)
/// runs the chain in the sensor's own environment; each function's result is the next one's event, and a
/// function that returns null ends the chain (a filter).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record FunctionBinding
{
    [Id(0)] public required string Name { get; init; }

    [Id(1)] public required string TopicFilter { get; init; }

    /// <summary>The chain, in order: <c>name</c>, <c>name:version</c> or <c>name:alias</c>.</summary>
    [Id(2)] public required IReadOnlyList<string> Functions { get; init; }

    [Id(3)] public string? Description { get; init; }

    [Id(4)] public bool Enabled { get; init; } = true;

    public const int MaxChain = 10;

    public IReadOnlyList<string> Errors()
    {
        var errors = new List<string>();
        if (!FunctionValidation.IsValidName(Name)) errors.Add("binding name must be 1-64 characters of letters, digits, '-' and '_'");
        if (!Topics.IsValidFilter(TopicFilter)) errors.Add($"topicFilter '{TopicFilter}' is not an MQTT topic filter");
        if (Functions.Count is 0 or > MaxChain) errors.Add($"a binding runs 1 to {MaxChain} functions (got {Functions.Count})");
        foreach (var f in Functions)
        {
            var (name, _) = FunctionDefinition.Split(f);
            if (!FunctionValidation.IsValidName(name)) errors.Add($"'{f}' is not a function name (name, name:version or name:alias)");
        }

        return errors;
    }
}

/// <summary>Every binding, with a version that changes whenever one does.</summary>
[GenerateSerializer, Immutable]
public sealed record BindingTable([property: Id(0)] long Version, [property: Id(1)] IReadOnlyList<FunctionBinding> Bindings)
{
    public static readonly BindingTable Empty = new(0, []);
}

/// <summary>MQTT topic filters.</summary>
public static class Topics
{
    public static bool IsValidFilter(string? filter)
    {
        if (string.IsNullOrEmpty(filter) || filter.Length > 512) return false;
        var levels = filter.Split('/');
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if (level == "#") { if (i != levels.Length - 1) return false; continue; }
            if (level == "+") continue;
            if (level.Contains('#') || level.Contains('+')) return false;
        }

        return true;
    }

    public static bool Matches(string filter, string topic)
    {
        var f = filter.Split('/');
        var t = topic.Split('/');
        for (var i = 0; i < f.Length; i++)
        {
            if (f[i] == "#") return true;
            if (i >= t.Length) return false;
            if (f[i] != "+" && f[i] != t[i]) return false;
        }

        return f.Length == t.Length;
    }

    /// <summary>The topic bindings match a sensor's readings against.</summary>
    public static string Telemetry(string sensorId) => $"sensors/{sensorId}/telemetry";
}

/// <summary>The cluster's bindings (key 0), written through.</summary>
public interface IFunctionBindingsGrain : IGrainWithIntegerKey
{
    Task<BindingTable> Put(FunctionBinding binding);

    Task<BindingTable> Delete(string name);

    Task<BindingTable> Get();
}

[GenerateSerializer]
public sealed class FunctionBindingsState
{
    [Id(0)] public BindingTable Table { get; set; } = BindingTable.Empty;
}

public sealed class FunctionBindingsGrain(
    [PersistentState("function-bindings", StorageNames.Default)] IPersistentState<FunctionBindingsState> state) : Grain, IFunctionBindingsGrain
{
    public async Task<BindingTable> Put(FunctionBinding binding)
    {
        var errors = binding.Errors();
        if (errors.Count > 0) throw new FunctionValidationException(errors);
        var t = state.State.Table;
        state.State.Table = new BindingTable(t.Version + 1, [.. t.Bindings.Where(b => b.Name != binding.Name), binding]);
        await state.WriteStateAsync();
        return state.State.Table;
    }

    public async Task<BindingTable> Delete(string name)
    {
        var t = state.State.Table;
        if (t.Bindings.All(b => b.Name != name)) throw new FunctionNotFoundException($"no binding '{name}'");
        state.State.Table = new BindingTable(t.Version + 1, t.Bindings.Where(b => b.Name != name).ToArray());
        await state.WriteStateAsync();
        return state.State.Table;
    }

    public Task<BindingTable> Get() => Task.FromResult(state.State.Table);
}
