namespace Fleet.Grains.Functions;

/// <summary>A zip held by the package store, named by its SHA-256 (hex).</summary>
[GenerateSerializer, Immutable]
public sealed record CodeReference([property: Id(0)] string Sha256, [property: Id(1)] long Size);

/// <summary>A layer version resolved to its code.</summary>
[GenerateSerializer, Immutable]
public sealed record ResolvedLayer([property: Id(0)] string Name, [property: Id(1)] int Version, [property: Id(2)] CodeReference Code);

/// <summary>
/// Exactly what runs when a function is invoked: one version's configuration, its package and its
/// layers in order. Environments are cached by <see cref="Key"/>, so a new <c>$LATEST</c> revision
/// or a new version gets new environments and the old ones drain away.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ResolvedFunction
{
    [Id(0)] public required string Name { get; init; }

    /// <summary><c>$LATEST</c> or a published version number.</summary>
    [Id(1)] public required string Version { get; init; }

    [Id(2)] public required FunctionConfiguration Configuration { get; init; }

    [Id(3)] public required CodeReference Code { get; init; }

    [Id(4)] public IReadOnlyList<ResolvedLayer> Layers { get; init; } = [];

    /// <summary>Changes whenever <c>$LATEST</c>'s code or configuration changes; fixed for a published version.</summary>
    [Id(5)] public required string RevisionId { get; init; }

    /// <summary>
    /// The function's reserved concurrency (a function-level setting, the same for every version and alias, as in
    /// Lambda): null for no limit, 0 to throttle every invocation.
    /// </summary>
    [Id(6)] public int? ReservedConcurrency { get; init; }

    public string Key => $"{Name}:{Version}:{RevisionId}";
}
