using Fleet.Functions.Sensors;

namespace Fleet.Functions.BuiltIn;

/// <summary>The built-in chain every sensor's environment runs first (the default binding), in order.</summary>
public static class BuiltInFunctions
{
    public const string Preprocess = "builtin-preprocess";
    public const string Transform = "builtin-transform";
    public const string Detect = "builtin-detect";

    /// <summary>The names of the chain, in the order it runs.</summary>
    public static readonly IReadOnlyList<string> Chain = [Preprocess, Transform, Detect];
}
