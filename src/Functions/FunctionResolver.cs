using System.Collections.Concurrent;
using Fleet.Grains.Functions;
using Microsoft.Extensions.Options;

namespace Fleet.Functions.Hosting;

/// <summary>
/// Resolves <c>name[:qualifier]</c> to the version that runs, from definitions cached on this silo for
/// <see cref="FunctionsOptions.DefinitionCacheTtl"/> (a change made through this silo is seen at once;
/// other silos see it within the TTL). Weighted aliases roll the dice here, per invocation.
/// </summary>
public sealed class FunctionResolver(IGrainFactory grains, IOptions<FunctionsOptions> options, TimeProvider time) : IFunctionDirectory
{
    private readonly ConcurrentDictionary<string, (FunctionDefinition? Definition, long ExpiresAt)> _cache = new();

    public async ValueTask<FunctionDefinition?> GetAsync(string name)
    {
        var now = time.GetTimestamp();
        if (_cache.TryGetValue(name, out var entry) && now < entry.ExpiresAt) return entry.Definition;
        var definition = await grains.GetGrain<IFunctionGrain>(name).Get();
        var ttl = (long)(options.Value.DefinitionCacheTtl.TotalSeconds * time.TimestampFrequency);
        _cache[name] = (definition, now + ttl);
        return definition;
    }

    /// <summary>The version to run, or null (with why) when the function, version or alias does not exist.</summary>
    public async ValueTask<(ResolvedFunction? Function, string? Alias, string? Missing)> ResolveAsync(string function)
    {
        var (name, qualifier) = FunctionDefinition.Split(function);
        // A name no function can have (Lambda's Invoke pattern allows '.' and any length up to 170) is simply not found.
        if (!FunctionValidation.IsValidName(name)) return (null, null, $"function '{name}' does not exist");
        var definition = await GetAsync(name);
        if (definition is null) return (null, null, $"function '{name}' does not exist");
        var resolved = definition.Resolve(qualifier, Random.Shared.NextDouble());
        return resolved is { } r ? (r.Function, r.Alias, null) : (null, null, $"function '{name}' has no version or alias '{qualifier}'");
    }

    /// <summary>Drops the cached definition (after a change made through this silo).</summary>
    public void Invalidate(string name) => _cache.TryRemove(name, out _);
}
