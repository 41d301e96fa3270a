using System.Reflection;
using System.Runtime.Loader;

namespace Fleet.Functions.Hosting.DotNet;

/// <summary>
/// A collectible load context for one function version: assemblies come from the package first, then
/// from the layers (a later layer wins over an earlier one; each layer's root and its <c>dotnet/</c>
/// folder are searched), and everything else (the framework, the SDK) from the silo, so the handler and
/// the platform share one <see cref="IFunctionContext"/> type. Assemblies are loaded from bytes, so no
/// file stays open and the context can unload.
/// </summary>
internal sealed class FunctionLoadContext : AssemblyLoadContext
{
    private static readonly string SdkName = typeof(IFunctionContext).Assembly.GetName().Name!;
    private readonly IReadOnlyList<string> _probeDirectories;

    public FunctionLoadContext(string name, string packageDirectory, IReadOnlyList<string> layerDirectories)
        : base(name, isCollectible: true)
    {
        var dirs = new List<string> { packageDirectory };
        foreach (var layer in layerDirectories.Reverse())
        {
            dirs.Add(Path.Combine(layer, "dotnet"));
            dirs.Add(layer);
        }

        _probeDirectories = dirs.Where(Directory.Exists).ToArray();
    }

    /// <summary>Where <paramref name="assemblyName"/> would be loaded from, or null when neither the package nor a layer holds it.</summary>
    public string? Find(string assemblyName)
    {
        foreach (var dir in _probeDirectories)
        {
            var path = Path.Combine(dir, assemblyName + ".dll");
            if (File.Exists(path)) return path;
        }

        return null;
    }

    public Assembly LoadFile(string path)
    {
        using var image = new MemoryStream(File.ReadAllBytes(path));
        var pdb = Path.ChangeExtension(path, ".pdb");
        if (File.Exists(pdb))
        {
            using var symbols = new MemoryStream(File.ReadAllBytes(pdb));
            return LoadFromStream(image, symbols);
        }

        return LoadFromStream(image);
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        // The SDK is the contract between the handler and the platform: always the silo's copy.
        if (assemblyName.Name is null || assemblyName.Name == SdkName) return null;
        var path = Find(assemblyName.Name);
        return path is null ? null : LoadFile(path);
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        foreach (var dir in _probeDirectories)
        {
            foreach (var candidate in new[] { unmanagedDllName, $"lib{unmanagedDllName}.so", $"{unmanagedDllName}.so", $"{unmanagedDllName}.dll" })
            {
                var path = Path.Combine(dir, candidate);
                if (File.Exists(path)) return LoadUnmanagedDllFromPath(path);
            }
        }

        return IntPtr.Zero;
    }
}
