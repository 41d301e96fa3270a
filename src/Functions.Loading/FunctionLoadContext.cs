using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.Loader;

namespace Fleet.Functions.Loading;

/// <summary>
/// Where a .NET function's assemblies come from: the package first, then the layers (a later layer wins
/// over an earlier one; each layer's <c>dotnet/</c> folder, then its root), and everything else (the
/// framework, the SDK) from the host, so the handler and the platform share one <see cref="IFunctionContext"/>
/// type. A collectible context (the in-process runtime: one per function version) loads assemblies from
/// bytes, so no file stays open and it can unload; the worker's (one function, never unloaded) from files.
/// </summary>
public sealed class FunctionLoadContext : AssemblyLoadContext
{
    private static readonly string SdkName = typeof(IFunctionContext).Assembly.GetName().Name!;
    private readonly IReadOnlyList<string> _probeDirectories;
    private readonly ConcurrentDictionary<string, bool> _notFound = new(StringComparer.OrdinalIgnoreCase);

    public FunctionLoadContext(string name, string packageDirectory, IReadOnlyList<string> layerDirectories, bool isCollectible)
        : base(name, isCollectible)
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

    /// <summary>True when <paramref name="ex"/> is the runtime failing to find an assembly or a type of one (not the function's own file I/O).</summary>
    public bool IsMissingDependency(Exception ex) => ex switch
    {
        TypeLoadException or ReflectionTypeLoadException => true,
        FileNotFoundException { FileName: { } name } => IsAssemblyWeFailedToFind(name),
        FileLoadException { FileName: { } name } => IsAssemblyWeFailedToFind(name),
        _ => false,
    };

    private bool IsAssemblyWeFailedToFind(string fileName)
    {
        try
        {
            var name = new AssemblyName(fileName).Name;
            return name is not null && _notFound.ContainsKey(name);
        }
        catch (Exception e) when (e is ArgumentException or FileLoadException)
        {
            return false;
        }
    }

    /// <summary>Loads one of the function's assemblies (from bytes when the context can unload).</summary>
    public Assembly LoadFile(string path)
    {
        if (!IsCollectible) return LoadFromAssemblyPath(path);
        using var image = new MemoryStream(File.ReadAllBytes(path));
        var pdb = Path.ChangeExtension(path, ".pdb");
        if (!File.Exists(pdb)) return LoadFromStream(image);
        using var symbols = new MemoryStream(File.ReadAllBytes(pdb));
        return LoadFromStream(image, symbols);
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        // The SDK is the contract between the handler and the worker: always the worker's copy.
        if (assemblyName.Name is null || assemblyName.Name == SdkName) return null;
        var path = Find(assemblyName.Name);
        if (path is not null) return LoadFile(path);
        if (!IsPlatformAssembly(assemblyName.Name)) _notFound[assemblyName.Name] = true;
        return null;
    }

    private static bool IsPlatformAssembly(string name)
        => AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") is string tpa
           && tpa.Split(Path.PathSeparator).Any(p => string.Equals(Path.GetFileNameWithoutExtension(p), name, StringComparison.OrdinalIgnoreCase));

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        foreach (var dir in _probeDirectories)
        {
            foreach (var candidate in new[] { unmanagedDllName, $"lib{unmanagedDllName}.so", $"{unmanagedDllName}.so", $"{unmanagedDllName}.dll", $"lib{unmanagedDllName}.dylib" })
            {
                var path = Path.Combine(dir, candidate);
                if (File.Exists(path)) return LoadUnmanagedDllFromPath(path);
            }
        }

        return IntPtr.Zero;
    }
}
