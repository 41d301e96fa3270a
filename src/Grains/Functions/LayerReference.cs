namespace Fleet.Grains.Functions;

/// <summary>A layer version a function names: <c>name:version</c>.</summary>
[GenerateSerializer, Immutable]
public sealed record LayerReference([property: Id(0)] string Name, [property: Id(1)] int Version)
{
    public static bool TryParse(string text, out LayerReference reference)
    {
        reference = null!;
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !FunctionValidation.IsValidName(text[..colon])) return false;
        if (!int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, null, out var version) || version < 1) return false;
        reference = new LayerReference(text[..colon], version);
        return true;
    }

    public override string ToString() => $"{Name}:{Version}";
}

/// <summary>Resolves <c>name:version</c> layer references to their code, in order.</summary>
public static class LayerResolution
{
    public static async Task<IReadOnlyList<ResolvedLayer>> ResolveAsync(IGrainFactory grains, IReadOnlyList<string> layers)
    {
        var resolved = new ResolvedLayer[layers.Count];
        for (var i = 0; i < layers.Count; i++)
        {
            if (!LayerReference.TryParse(layers[i], out var reference))
                throw new FunctionValidationException($"layer '{layers[i]}' must be name:version");
            var version = await grains.GetGrain<ILayerGrain>(reference.Name).GetVersion(reference.Version)
                ?? throw new FunctionNotFoundException($"layer '{layers[i]}' does not exist");
            resolved[i] = new ResolvedLayer(version.Name, version.Version, version.Code);
        }

        return resolved;
    }
}
