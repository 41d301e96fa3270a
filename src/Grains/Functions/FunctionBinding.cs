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

    /// <summary>
    /// The chain, in order: <c>name</c>, <c>name:version</c> or <c>name:alias</c> (given in any of Lambda's forms, the
    /// function ARN included, and stored in these; see <see cref="Normalized"/>).
    /// </summary>
    [Id(2)] public required IReadOnlyList<string> Functions { get; init; }

    [Id(3)] public string? Description { get; init; }

    [Id(4)] public bool Enabled { get; init; } = true;

    public const int MaxChain = 10;

    /// <summary>Lambda's limit on CreateEventSourceMapping's <c>FunctionName</c> (its FunctionName pattern: no '.').</summary>
    public const int MaxFunctionNameLength = 140;

    public IReadOnlyList<string> Errors()
    {
        var errors = new List<string>();
        if (!FunctionValidation.IsValidName(Name)) errors.Add("binding name must be 1-64 characters of letters, digits, '-' and '_'");
        if (!Topics.IsValidFilter(TopicFilter)) errors.Add($"topicFilter '{TopicFilter}' is not an MQTT topic filter");
        else if (Topics.WhyNoTelemetryMatches(TopicFilter) is { } never)
        {
            errors.Add($"topicFilter '{TopicFilter}' can never match a sensor's readings: {never}; bindings match {Topics.Telemetry("{sensorId}")} (for example sensors/+/telemetry, sensors/room-7/telemetry or sensors/#)");
        }

        if (Functions.Count is 0 or > MaxChain) errors.Add($"a binding runs 1 to {MaxChain} functions (got {Functions.Count})");
        for (var i = 0; i < Functions.Count; i++)
        {
            try
            {
                FunctionNames.Normalize(Functions[i], $"functions[{i}]", MaxFunctionNameLength);
            }
            catch (FunctionValidationException ex)
            {
                errors.Add(ex.Message);
            }
        }

        return errors;
    }

    /// <summary>
    /// The binding with its functions as this platform writes a reference (<c>name</c> or <c>name:qualifier</c>), from any of
    /// Lambda's forms (the function ARN <c>arn:aws:lambda:REGION:ACCOUNT:function:name:live</c>, the partial ARN, ...), as
    /// Lambda's CreateEventSourceMapping takes them. Valid functions only (<see cref="Errors"/> first).
    /// </summary>
    public FunctionBinding Normalized()
        => this with { Functions = Functions.Select((f, i) => FunctionNames.Normalize(f, $"functions[{i}]", MaxFunctionNameLength)).ToArray() };
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

    /// <summary>
    /// A sensor id: 1 to 128 of <c>[A-Za-z0-9_.:-]</c>, the rule the gateways admit sensors by
    /// (<c>Fleet.Gateways.Mqtt.SensorTopic.IsValidSensorId</c>; a test keeps the two the same).
    /// </summary>
    public static bool IsSensorId(string id)
        => id.Length is > 0 and <= 128 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or ':');

    /// <summary>
    /// Why the (valid) MQTT filter <paramref name="filter"/> can match no sensor's telemetry topic
    /// (<see cref="Telemetry"/>: <c>sensors/{sensorId}/telemetry</c>, three levels, the second a sensor id), or null when
    /// it matches some, as <see cref="Matches"/> decides: a binding that could never run is refused instead of stored.
    /// </summary>
    public static string? WhyNoTelemetryMatches(string filter)
    {
        const int Levels = 3;
        var levels = filter.Split('/');
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if (level == "#") return null; // the rest, whatever it is
            if (i >= Levels) break;
            if (level == "+") continue;
            switch (i)
            {
                case 0 when level != "sensors":
                    return $"its first level is '{level}', not 'sensors' or a wildcard";
                case 1 when !IsSensorId(level):
                    return $"its second level '{level}' is not a sensor id (1-128 letters, digits, '_', '.', ':' or '-')";
                case 2 when level != "telemetry":
                    return $"its third level is '{level}', not 'telemetry' or a wildcard";
            }
        }

        return levels.Length == Levels ? null : $"it has {levels.Length} level{(levels.Length == 1 ? "" : "s")} and no '#', a sensor's telemetry topic has {Levels}";
    }
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
    /// <summary>
    /// Stores a binding that can run: valid (one 400 with every rule broken), its functions written as <c>name[:qualifier]</c>,
    /// and each of them existing with its version or alias, as Lambda's CreateEventSourceMapping requires of its function
    /// (ResourceNotFoundException, a 404, otherwise). A function deleted later is the binding's NotFound at the next reading.
    /// </summary>
    public async Task<BindingTable> Put(FunctionBinding binding)
    {
        var errors = binding.Errors();
        if (errors.Count > 0) throw new FunctionValidationException(errors);
        binding = binding.Normalized();
        for (var i = 0; i < binding.Functions.Count; i++)
        {
            var (name, qualifier) = FunctionDefinition.Split(binding.Functions[i]);
            var definition = await GrainFactory.GetGrain<IFunctionGrain>(name).Get();
            if (definition is null)
                throw new FunctionNotFoundException($"functions[{i}]: function '{name}' does not exist; deploy it first (PUT /functions/{name})");
            if (qualifier is not null && !definition.HasQualifier(qualifier))
                throw new FunctionNotFoundException($"functions[{i}]: function '{name}' has no version or alias '{qualifier}'");
        }

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
