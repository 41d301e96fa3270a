namespace Fleet.Grains.Functions;

/// <summary>An immutable published version (Lambda's <c>PublishVersion</c>).</summary>
[GenerateSerializer, Immutable]
public sealed record FunctionVersion(
    [property: Id(0)] int Version,
    [property: Id(1)] FunctionConfiguration Configuration,
    [property: Id(2)] CodeReference Code,
    [property: Id(3)] IReadOnlyList<ResolvedLayer> Layers,
    [property: Id(4)] string RevisionId,
    [property: Id(5)] string? Description,
    [property: Id(6)] DateTime PublishedUtc);

/// <summary>
/// A name that points at a version, optionally sending a share of invocations to a second version
/// (Lambda's alias routing configuration: one additional version, weight 0-1).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record FunctionAlias(
    [property: Id(0)] string Name,
    [property: Id(1)] string FunctionVersion,
    [property: Id(2)] string? Description,
    [property: Id(3)] IReadOnlyDictionary<string, double>? AdditionalVersionWeights,
    [property: Id(4)] string RevisionId);

/// <summary>What a user asks an alias to be.</summary>
[GenerateSerializer, Immutable]
public sealed record AliasRequest(
    [property: Id(0)] string FunctionVersion,
    [property: Id(1)] string? Description = null,
    [property: Id(2)] IReadOnlyDictionary<string, double>? AdditionalVersionWeights = null);

/// <summary>
/// Lambda's asynchronous invocation settings (<c>PutFunctionEventInvokeConfig</c>) of one qualifier: a setting left
/// out (null) is the silo's default from <see cref="AsyncInvocationOptions"/>.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record EventInvokeConfig
{
    public const int MaxRetryAttempts = 2;
    public const int MinEventAgeSeconds = 60;
    public const int MaxEventAgeSeconds = 21_600;

    /// <summary>Retries after a function error, 0 to 2.</summary>
    [Id(0)] public int? MaximumRetryAttempts { get; init; }

    /// <summary>The oldest an event may be when it is (re)tried, 60 to 21,600 seconds.</summary>
    [Id(1)] public int? MaximumEventAgeInSeconds { get; init; }

    [Id(2)] public DateTime LastModifiedUtc { get; init; }

    /// <summary>
    /// Lambda's <c>DestinationConfig.OnSuccess.Destination</c> as the user gave it (a function ARN or <c>NAME[:QUALIFIER]</c>):
    /// the function that receives the invocation record of an event that succeeded; null for none.
    /// </summary>
    [Id(3)] public string? OnSuccess { get; init; }

    /// <summary>
    /// Lambda's <c>DestinationConfig.OnFailure.Destination</c>: the function that receives the invocation record of an event
    /// that failed all its attempts (<c>RetriesExhausted</c>) or was discarded for its age (<c>EventAgeExceeded</c>); null for none.
    /// </summary>
    [Id(4)] public string? OnFailure { get; init; }

    /// <summary>Lambda's ranges, one message per violated rule.</summary>
    public static void Validate(int? maximumRetryAttempts, int? maximumEventAgeInSeconds, string? onSuccess = null, string? onFailure = null)
    {
        var errors = new List<string>();
        foreach (var (destination, field) in new[] { (onSuccess, "DestinationConfig.OnSuccess.Destination"), (onFailure, "DestinationConfig.OnFailure.Destination") })
        {
            if (string.IsNullOrEmpty(destination)) continue;
            try
            {
                EventDestinations.ParseFunction(destination, field);
            }
            catch (FunctionValidationException ex)
            {
                errors.Add(ex.Message);
            }
        }

        if (maximumRetryAttempts is < 0 or > MaxRetryAttempts)
            errors.Add($"MaximumRetryAttempts must be between 0 and {MaxRetryAttempts}, not {maximumRetryAttempts}");
        if (maximumEventAgeInSeconds is < MinEventAgeSeconds or > MaxEventAgeSeconds)
            errors.Add($"MaximumEventAgeInSeconds must be between {MinEventAgeSeconds} and {MaxEventAgeSeconds:N0}, not {maximumEventAgeInSeconds}");
        if (errors.Count > 0) throw new FunctionValidationException(errors);
    }
}

/// <summary>A function with everything needed to resolve any qualifier: <c>$LATEST</c>, its versions and aliases.</summary>
[GenerateSerializer, Immutable]
public sealed record FunctionDefinition
{
    public const string Latest = "$LATEST";

    [Id(0)] public required FunctionConfiguration Configuration { get; init; }

    [Id(1)] public required CodeReference Code { get; init; }

    [Id(2)] public required IReadOnlyList<ResolvedLayer> Layers { get; init; }

    [Id(3)] public required string RevisionId { get; init; }

    [Id(4)] public required DateTime LastModifiedUtc { get; init; }

    [Id(5)] public IReadOnlyList<FunctionVersion> Versions { get; init; } = [];

    [Id(6)] public IReadOnlyList<FunctionAlias> Aliases { get; init; } = [];

    /// <summary>
    /// Asynchronous invocation settings by qualifier (<c>$LATEST</c> for the unqualified function, a version number
    /// or an alias), as Lambda keeps one per function, version or alias. Null in state written before they existed.
    /// </summary>
    [Id(7)] public IReadOnlyDictionary<string, EventInvokeConfig>? EventInvokeConfigs { get; init; }

    /// <summary>
    /// Lambda's reserved concurrency (<c>PutFunctionConcurrency</c>): a setting of the function as a whole, not of a
    /// version, so it applies to <c>$LATEST</c>, every version and every alias; null for no limit.
    /// </summary>
    [Id(8)] public int? ReservedConcurrentExecutions { get; init; }

    public string Name => Configuration.Name;

    /// <summary>The key of a qualifier's event invoke config: <c>$LATEST</c> for none, a version without leading zeros, or the alias.</summary>
    public static string QualifierKey(string? qualifier)
        => string.IsNullOrEmpty(qualifier) ? Latest : NormalizeVersion(qualifier);

    /// <summary>The asynchronous invocation settings of <paramref name="qualifier"/> (null: the unqualified function), if any.</summary>
    public EventInvokeConfig? EventInvokeConfigOf(string? qualifier)
        => EventInvokeConfigs is { } configs && configs.TryGetValue(QualifierKey(qualifier), out var config) ? config : null;

    /// <summary>True when <paramref name="qualifier"/> names <c>$LATEST</c>, a published version or an alias of this function.</summary>
    public bool HasQualifier(string? qualifier)
    {
        var key = QualifierKey(qualifier);
        return key == Latest || (IsVersionNumber(key) ? ResolveVersion(key) is not null : Aliases.Any(a => a.Name == key));
    }

    /// <summary>Splits <c>name</c>, <c>name:version</c> or <c>name:alias</c> into the function's name and its qualifier.</summary>
    public static (string Name, string? Qualifier) Split(string function)
    {
        var colon = function.IndexOf(':');
        return colon < 0 ? (function, null) : (function[..colon], function[(colon + 1)..]);
    }

    /// <summary>A qualifier is a version when it is all digits (an alias may start with a digit, as in Lambda, but not be all digits).</summary>
    public static bool IsVersionNumber(string qualifier) => qualifier.Length > 0 && qualifier.All(char.IsAsciiDigit);

    /// <summary><c>$LATEST</c> as is; a version number without leading zeros ("01" is version "1").</summary>
    public static string NormalizeVersion(string version)
        => IsVersionNumber(version) && int.TryParse(version, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
            ? n.ToString(System.Globalization.CultureInfo.InvariantCulture)
            : version;

    public ResolvedFunction ResolveLatest() => new()
    {
        Name = Name, Version = Latest, Configuration = Configuration, Code = Code, Layers = Layers, RevisionId = RevisionId,
        ReservedConcurrency = ReservedConcurrentExecutions,
    };

    /// <summary>
    /// State written before reserved concurrency was a function-level setting kept it in each version's configuration
    /// (<see cref="FunctionConfiguration.ReservedConcurrency"/>): the function takes the strictest of those values (so a
    /// version that was turned off with 0 is not silently turned on), and the configurations (<c>$LATEST</c>'s and the
    /// versions') no longer carry one. Unchanged when there is nothing to move.
    /// </summary>
    public FunctionDefinition Migrated()
    {
        if (Configuration.ReservedConcurrency is null && Versions.All(v => v.Configuration.ReservedConcurrency is null)) return this;
        var strictest = Versions.Select(v => v.Configuration.ReservedConcurrency).Append(Configuration.ReservedConcurrency).Where(r => r is not null).Min();
        return this with
        {
            ReservedConcurrentExecutions = ReservedConcurrentExecutions ?? strictest,
            Configuration = Configuration with { ReservedConcurrency = null },
            Versions = Versions.Select(v => v.Configuration.ReservedConcurrency is null ? v : v with { Configuration = v.Configuration with { ReservedConcurrency = null } }).ToArray(),
        };
    }

    public ResolvedFunction? ResolveVersion(string version)
    {
        if (version == Latest) return ResolveLatest();
        if (!int.TryParse(version, System.Globalization.NumberStyles.None, null, out var number)) return null;
        var v = Versions.FirstOrDefault(x => x.Version == number);
        return v is null ? null : new ResolvedFunction
        {
            Name = Name, Version = v.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), Configuration = v.Configuration, Code = v.Code, Layers = v.Layers, RevisionId = v.RevisionId,
            ReservedConcurrency = ReservedConcurrentExecutions,
        };
    }

    /// <summary>
    /// Resolves <paramref name="qualifier"/> (null or <c>$LATEST</c>, a version number, an alias). For a weighted
    /// alias, <paramref name="roll"/> in [0, 1) picks the version: below the additional weight, the additional one.
    /// </summary>
    public (ResolvedFunction Function, string? Alias)? Resolve(string? qualifier, double roll)
    {
        if (string.IsNullOrEmpty(qualifier)) return (ResolveLatest(), null);
        if (qualifier == Latest || IsVersionNumber(qualifier))
            return ResolveVersion(qualifier) is { } byVersion ? (byVersion, null) : null;
        var alias = Aliases.FirstOrDefault(a => a.Name == qualifier);
        if (alias is null) return null;
        var version = alias.FunctionVersion;
        if (alias.AdditionalVersionWeights is { Count: > 0 } weights)
        {
            var (extra, weight) = weights.First();
            if (roll < weight) version = extra;
        }

        return ResolveVersion(version) is { } resolved ? (resolved, alias.Name) : null;
    }
}

/// <summary>A published layer version (Lambda's <c>PublishLayerVersion</c>).</summary>
[GenerateSerializer, Immutable]
public sealed record LayerVersion(
    [property: Id(0)] string Name,
    [property: Id(1)] int Version,
    [property: Id(2)] CodeReference Code,
    [property: Id(3)] string? Description,
    [property: Id(4)] IReadOnlyList<string> CompatibleRuntimes,
    [property: Id(5)] DateTime CreatedUtc);
