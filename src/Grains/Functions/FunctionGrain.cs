using Fleet.Grains.Storage;

namespace Fleet.Grains.Functions;

[GenerateSerializer]
public sealed class FunctionState
{
    [Id(0)] public FunctionDefinition? Definition { get; set; }

    [Id(1)] public int LastVersion { get; set; }
}

public sealed class FunctionGrain(
    [PersistentState("function", StorageNames.Default)] IPersistentState<FunctionState> state,
    TimeProvider time) : Grain, IFunctionGrain
{
    private string Name => this.GetPrimaryKeyString();

    private FunctionDefinition Existing => state.State.Definition ?? throw new FunctionNotFoundException($"function '{Name}' does not exist");

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // State of a release that kept reserved concurrency in each version's configuration: moved to the function, in
        // memory (the next change writes it; until then every activation moves it the same way).
        if (state.State.Definition is { } stored) state.State.Definition = stored.Migrated();
        return Task.CompletedTask;
    }

    public async Task<FunctionDefinition> Put(FunctionConfiguration configuration, CodeReference? code)
    {
        if (configuration.Name != Name)
            throw new FunctionValidationException($"the configuration names '{configuration.Name}', not '{Name}'");
        FunctionValidation.Validate(configuration);
        // Compatibility: reserved concurrency given with the configuration sets the function-level value (not stored in
        // the configuration, so it is no part of a published version); left out, the function keeps its value.
        var reserved = configuration.ReservedConcurrency;
        configuration = configuration with { ReservedConcurrency = null };
        var current = state.State.Definition;
        code ??= current?.Code ?? throw new FunctionValidationException($"function '{Name}' does not exist yet: the first deploy needs a package");
        var layers = await LayerResolution.ResolveAsync(GrainFactory, configuration.Layers);
        var now = time.GetUtcNow().UtcDateTime;
        var definition = current is null
            ? new FunctionDefinition { Configuration = configuration, Code = code, Layers = layers, RevisionId = NewRevision(), LastModifiedUtc = now, ReservedConcurrentExecutions = reserved }
            : current with
            {
                Configuration = configuration, Code = code, Layers = layers, RevisionId = NewRevision(), LastModifiedUtc = now,
                ReservedConcurrentExecutions = reserved ?? current.ReservedConcurrentExecutions,
            };
        state.State.Definition = definition;
        await state.WriteStateAsync();
        if (current is null) await GrainFactory.GetGrain<IFunctionCatalogGrain>(0).AddFunction(Name);
        return definition;
    }

    public Task<FunctionDefinition?> Get() => Task.FromResult(state.State.Definition);

    public async Task<FunctionVersion> PublishVersion(string? description)
    {
        var d = Existing;
        if (d.Versions.Count > 0)
        {
            var last = d.Versions[^1];
            if (last.Code == d.Code && last.Configuration.SameAs(d.Configuration) && last.Layers.SequenceEqual(d.Layers))
                return last;
        }

        var number = ++state.State.LastVersion;
        var version = new FunctionVersion(number, d.Configuration, d.Code, d.Layers, NewRevision(), description ?? d.Configuration.Description, time.GetUtcNow().UtcDateTime);
        state.State.Definition = d with { Versions = [.. d.Versions, version] };
        await state.WriteStateAsync();
        return version;
    }

    public async Task<FunctionAlias> PutAlias(string name, AliasRequest request)
    {
        var d = Existing;
        request = request with
        {
            FunctionVersion = FunctionDefinition.NormalizeVersion(request.FunctionVersion),
            AdditionalVersionWeights = request.AdditionalVersionWeights?.ToDictionary(kv => FunctionDefinition.NormalizeVersion(kv.Key), kv => kv.Value),
        };
        if (!FunctionValidation.IsValidAlias(name))
            throw new FunctionValidationException($"alias name '{name}' must be 1-128 letters, digits, '-' or '_' and not all digits");
        if (d.ResolveVersion(request.FunctionVersion) is null)
            throw new FunctionNotFoundException($"function '{Name}' has no version '{request.FunctionVersion}'");
        if (request.AdditionalVersionWeights is { Count: > 0 } weights)
        {
            if (weights.Count > 1)
                throw new FunctionValidationException("an alias can route to at most one additional version");
            var (extra, weight) = weights.First();
            if (request.FunctionVersion == FunctionDefinition.Latest || extra == FunctionDefinition.Latest)
                throw new FunctionValidationException("weighted routing needs published versions, not $LATEST");
            if (extra == request.FunctionVersion)
                throw new FunctionValidationException("the additional version must differ from the alias's version");
            if (d.ResolveVersion(extra) is null)
                throw new FunctionNotFoundException($"function '{Name}' has no version '{extra}'");
            if (weight is < 0 or > 1 || !double.IsFinite(weight))
                throw new FunctionValidationException($"the weight of version {extra} must be between 0.0 and 1.0");
        }

        var alias = new FunctionAlias(name, request.FunctionVersion, request.Description, request.AdditionalVersionWeights, NewRevision());
        state.State.Definition = d with { Aliases = [.. d.Aliases.Where(a => a.Name != name), alias] };
        await state.WriteStateAsync();
        return alias;
    }

    public async Task DeleteAlias(string name)
    {
        var d = Existing;
        if (d.Aliases.All(a => a.Name != name))
            throw new FunctionNotFoundException($"function '{Name}' has no alias '{name}'");
        // As in Lambda, the alias's asynchronous invocation settings go with it.
        state.State.Definition = d with { Aliases = d.Aliases.Where(a => a.Name != name).ToArray(), EventInvokeConfigs = Without(d, name) };
        await state.WriteStateAsync();
    }

    public async Task Delete(string? version)
    {
        var d = Existing;
        if (version is not null) version = FunctionDefinition.NormalizeVersion(version);
        if (version is null)
        {
            await state.ClearStateAsync();
            state.State = new FunctionState();
            await GrainFactory.GetGrain<IFunctionCatalogGrain>(0).RemoveFunction(Name);
            return;
        }

        if (version == FunctionDefinition.Latest)
            throw new FunctionValidationException("$LATEST cannot be deleted on its own; delete the function");
        if (d.ResolveVersion(version) is null)
            throw new FunctionNotFoundException($"function '{Name}' has no version '{version}'");
        var users = d.Aliases.Where(a => a.FunctionVersion == version || a.AdditionalVersionWeights?.ContainsKey(version) == true).Select(a => a.Name).ToArray();
        if (users.Length > 0)
            throw new FunctionConflictException($"version {version} is used by alias(es) {string.Join(", ", users)}");
        state.State.Definition = d with { Versions = d.Versions.Where(v => v.Version.ToString() != version).ToArray(), EventInvokeConfigs = Without(d, version) };
        await state.WriteStateAsync();
    }

    public async Task<int?> PutConcurrency(int? reservedConcurrentExecutions)
    {
        var d = Existing;
        if (reservedConcurrentExecutions is < 0)
            throw new FunctionValidationException($"ReservedConcurrentExecutions must be 0 or more, not {reservedConcurrentExecutions}");
        state.State.Definition = d with { ReservedConcurrentExecutions = reservedConcurrentExecutions };
        await state.WriteStateAsync();
        return reservedConcurrentExecutions;
    }

    public Task<EventInvokeConfig> PutEventInvokeConfig(string? qualifier, int? maximumRetryAttempts, int? maximumEventAgeInSeconds, bool merge)
        => PutEventInvokeConfigWithDestinations(qualifier, new EventInvokeConfigRequest { MaximumRetryAttempts = maximumRetryAttempts, MaximumEventAgeInSeconds = maximumEventAgeInSeconds }, merge);

    public async Task<EventInvokeConfig> PutEventInvokeConfigWithDestinations(string? qualifier, EventInvokeConfigRequest request, bool merge)
    {
        var d = Existing;
        var key = FunctionDefinition.QualifierKey(qualifier);
        if (!d.HasQualifier(key))
            throw new FunctionNotFoundException($"function '{Name}' has no version or alias '{key}'");
        EventInvokeConfig.Validate(request.MaximumRetryAttempts, request.MaximumEventAgeInSeconds, request.OnSuccess, request.OnFailure);
        var current = d.EventInvokeConfigOf(key);
        if (merge && current is null)
            throw new FunctionNotFoundException($"function '{Name}' ({key}) has no event invoke config to update; create it with PUT");
        var config = new EventInvokeConfig
        {
            MaximumRetryAttempts = merge ? request.MaximumRetryAttempts ?? current!.MaximumRetryAttempts : request.MaximumRetryAttempts,
            MaximumEventAgeInSeconds = merge ? request.MaximumEventAgeInSeconds ?? current!.MaximumEventAgeInSeconds : request.MaximumEventAgeInSeconds,
            OnSuccess = Destination(request.OnSuccess, merge ? current!.OnSuccess : null),
            OnFailure = Destination(request.OnFailure, merge ? current!.OnFailure : null),
            LastModifiedUtc = time.GetUtcNow().UtcDateTime,
        };
        var configs = new Dictionary<string, EventInvokeConfig>(d.EventInvokeConfigs ?? new Dictionary<string, EventInvokeConfig>()) { [key] = config };
        state.State.Definition = d with { EventInvokeConfigs = configs };
        await state.WriteStateAsync();
        return config;
    }

    /// <summary>A destination as given ("" removes it), or <paramref name="kept"/> when not given.</summary>
    private static string? Destination(string? given, string? kept) => given is null ? kept : given.Length == 0 ? null : given;

    public async Task DeleteEventInvokeConfig(string? qualifier)
    {
        var d = Existing;
        var key = FunctionDefinition.QualifierKey(qualifier);
        if (d.EventInvokeConfigOf(key) is null)
            throw new FunctionNotFoundException($"function '{Name}' ({key}) has no event invoke config");
        state.State.Definition = d with { EventInvokeConfigs = Without(d, key) };
        await state.WriteStateAsync();
    }

    private static IReadOnlyDictionary<string, EventInvokeConfig>? Without(FunctionDefinition d, string qualifier)
        => d.EventInvokeConfigs is { } configs && configs.ContainsKey(qualifier)
            ? configs.Where(kv => kv.Key != qualifier).ToDictionary(kv => kv.Key, kv => kv.Value)
            : d.EventInvokeConfigs;

    private static string NewRevision() => Guid.NewGuid().ToString("n");
}

[GenerateSerializer]
public sealed class LayerState
{
    [Id(0)] public List<LayerVersion> Versions { get; set; } = new();

    [Id(1)] public int LastVersion { get; set; }
}

public sealed class LayerGrain(
    [PersistentState("layer", StorageNames.Default)] IPersistentState<LayerState> state,
    TimeProvider time) : Grain, ILayerGrain
{
    private string Name => this.GetPrimaryKeyString();

    public async Task<LayerVersion> Publish(CodeReference code, string? description, string[] compatibleRuntimes)
    {
        if (!FunctionValidation.IsValidName(Name))
            throw new FunctionValidationException("layer name must be 1-64 characters of letters, digits, '-' and '_'");
        var unknown = compatibleRuntimes.Where(r => !FunctionRuntimes.All.Contains(r)).ToArray();
        if (unknown.Length > 0)
            throw new FunctionValidationException($"unknown runtime(s): {string.Join(", ", unknown)}");
        var version = new LayerVersion(Name, ++state.State.LastVersion, code, description, compatibleRuntimes, time.GetUtcNow().UtcDateTime);
        state.State.Versions.Add(version);
        await state.WriteStateAsync();
        if (version.Version == 1) await GrainFactory.GetGrain<IFunctionCatalogGrain>(0).AddLayer(Name);
        return version;
    }

    public Task<LayerVersion?> GetVersion(int version) => Task.FromResult(state.State.Versions.FirstOrDefault(v => v.Version == version));

    public Task<LayerVersion[]> List() => Task.FromResult(state.State.Versions.ToArray());

    /// <summary>As in Lambda, functions that already use the version keep their copy of its code.</summary>
    public async Task DeleteVersion(int version)
    {
        if (state.State.Versions.RemoveAll(v => v.Version == version) == 0)
            throw new FunctionNotFoundException($"layer '{Name}' has no version {version}");
        await state.WriteStateAsync();
        if (state.State.Versions.Count == 0) await GrainFactory.GetGrain<IFunctionCatalogGrain>(0).RemoveLayer(Name);
    }
}

[GenerateSerializer]
public sealed class FunctionCodeState
{
    [Id(0)] public byte[]? Zip { get; set; }
}

public sealed class FunctionCodeGrain(
    [PersistentState("code", StorageNames.Default)] IPersistentState<FunctionCodeState> state) : Grain, IFunctionCodeGrain
{
    public async Task Put(byte[] zip)
    {
        var expected = this.GetPrimaryKeyString();
        var actual = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(zip));
        if (actual != expected)
            throw new FunctionValidationException($"the zip's SHA-256 is {actual}, not {expected}");
        if (state.State.Zip is not null) return; // content-addressed: already stored
        state.State.Zip = zip;
        await state.WriteStateAsync();
    }

    public Task<byte[]?> Get() => Task.FromResult(state.State.Zip);
}

[GenerateSerializer]
public sealed class FunctionCatalogState
{
    [Id(0)] public SortedSet<string> Functions { get; set; } = new(StringComparer.Ordinal);

    [Id(1)] public SortedSet<string> Layers { get; set; } = new(StringComparer.Ordinal);
}

public sealed class FunctionCatalogGrain(
    [PersistentState("function-catalog", StorageNames.Default)] IPersistentState<FunctionCatalogState> state) : Grain, IFunctionCatalogGrain
{
    public Task AddFunction(string name) => Change(state.State.Functions.Add(name));

    public Task RemoveFunction(string name) => Change(state.State.Functions.Remove(name));

    public Task<string[]> Functions() => Task.FromResult(state.State.Functions.ToArray());

    public Task AddLayer(string name) => Change(state.State.Layers.Add(name));

    public Task RemoveLayer(string name) => Change(state.State.Layers.Remove(name));

    public Task<string[]> Layers() => Task.FromResult(state.State.Layers.ToArray());

    private Task Change(bool changed) => changed ? state.WriteStateAsync() : Task.CompletedTask;
}
