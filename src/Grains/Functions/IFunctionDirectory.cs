namespace Fleet.Grains.Functions;

/// <summary>Resolves <c>name[:version|:alias]</c> to the version that runs now (a port; cached by the runtimes).</summary>
public interface IFunctionDirectory
{
    ValueTask<(ResolvedFunction? Function, string? Alias, string? Missing)> ResolveAsync(string function);

    /// <summary>The function's definition (cached like <see cref="ResolveAsync"/>), or null when it does not exist.</summary>
    ValueTask<FunctionDefinition?> GetAsync(string name);
}
