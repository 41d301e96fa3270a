namespace Fleet.Grains.Functions;

/// <summary>
/// One function (keyed by name): its mutable <c>$LATEST</c>, its immutable versions and its aliases.
/// Every change is written through: definitions are rare and must be on every silo after a restart.
/// </summary>
public interface IFunctionGrain : IGrainWithStringKey
{
    /// <summary>Creates the function or updates <c>$LATEST</c>; <paramref name="code"/> may be null on an update (configuration only).</summary>
    Task<FunctionDefinition> Put(FunctionConfiguration configuration, CodeReference? code);

    /// <summary>The definition, or null when the function does not exist.</summary>
    Task<FunctionDefinition?> Get();

    /// <summary>Publishes <c>$LATEST</c> as a new version, or returns the last version when nothing changed since (as Lambda does).</summary>
    Task<FunctionVersion> PublishVersion(string? description);

    Task<FunctionAlias> PutAlias(string name, AliasRequest request);

    Task DeleteAlias(string name);

    /// <summary>Deletes one version (not one an alias points to), or the whole function when <paramref name="version"/> is null.</summary>
    Task Delete(string? version);

    /// <summary>
    /// Lambda's <c>PutFunctionConcurrency</c> (a number, 0 or more) or <c>DeleteFunctionConcurrency</c> (null): the
    /// function's reserved concurrency, for every version and alias; returns the value set.
    /// </summary>
    Task<int?> PutConcurrency(int? reservedConcurrentExecutions);

    /// <summary>
    /// Lambda's <c>PutFunctionEventInvokeConfig</c> (<paramref name="merge"/> false: replaces the qualifier's settings, a
    /// setting left out is removed) or <c>UpdateFunctionEventInvokeConfig</c> (true: changes only the settings given; the
    /// qualifier must have settings already). <paramref name="qualifier"/> null is the unqualified function (<c>$LATEST</c>).
    /// </summary>
    Task<EventInvokeConfig> PutEventInvokeConfig(string? qualifier, int? maximumRetryAttempts, int? maximumEventAgeInSeconds, bool merge);

    /// <summary>
    /// <see cref="PutEventInvokeConfig(string?, int?, int?, bool)"/> with destinations (Lambda's <c>DestinationConfig</c>):
    /// on a merge, a destination left out (null) is kept and an empty one ("") is removed; on a replace either is none.
    /// </summary>
    Task<EventInvokeConfig> PutEventInvokeConfigWithDestinations(string? qualifier, EventInvokeConfigRequest request, bool merge);

    /// <summary>Lambda's <c>DeleteFunctionEventInvokeConfig</c>: the qualifier's asynchronous invocations use the silo's defaults again.</summary>
    Task DeleteEventInvokeConfig(string? qualifier);
}

/// <summary>The settings of one <see cref="IFunctionGrain.PutEventInvokeConfigWithDestinations"/> call.</summary>
[GenerateSerializer, Immutable]
public sealed record EventInvokeConfigRequest
{
    [Id(0)] public int? MaximumRetryAttempts { get; init; }

    [Id(1)] public int? MaximumEventAgeInSeconds { get; init; }

    /// <summary>The on-success destination: null not given, "" none.</summary>
    [Id(2)] public string? OnSuccess { get; init; }

    /// <summary>The on-failure destination: null not given, "" none.</summary>
    [Id(3)] public string? OnFailure { get; init; }
}

/// <summary>One layer (keyed by name) and its immutable versions.</summary>
public interface ILayerGrain : IGrainWithStringKey
{
    Task<LayerVersion> Publish(CodeReference code, string? description, string[] compatibleRuntimes);

    Task<LayerVersion?> GetVersion(int version);

    Task<LayerVersion[]> List();

    Task DeleteVersion(int version);
}

/// <summary>A package or layer zip, keyed by its SHA-256: stored once, shared by every version that uses it.</summary>
public interface IFunctionCodeGrain : IGrainWithStringKey
{
    Task Put(byte[] zip);

    /// <summary>The zip, or null when it was never stored.</summary>
    Task<byte[]?> Get();
}

/// <summary>The names of every function and layer (key 0), for listing.</summary>
public interface IFunctionCatalogGrain : IGrainWithIntegerKey
{
    Task AddFunction(string name);

    Task RemoveFunction(string name);

    Task<string[]> Functions();

    Task AddLayer(string name);

    Task RemoveLayer(string name);

    Task<string[]> Layers();
}
