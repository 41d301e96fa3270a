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
