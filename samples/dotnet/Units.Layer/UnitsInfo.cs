using System.Reflection;

namespace Fleet.Samples.Units;

/// <summary>Which build of the layer is loaded: a function can report it to show where its shared code came from.</summary>
public static class UnitsInfo
{
    public static string Description { get; } = typeof(UnitsInfo).Assembly.GetName() is var name ? $"{name.Name} {name.Version?.ToString(3)}" : "";
}
