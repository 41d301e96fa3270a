using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.Loader;

namespace Fleet.Functions.Worker;

/// <summary>
/// Where the function's assemblies come from, as in the in-process runtime: the package first, then the
/// layers (a later layer wins over an earlier one; each layer's <c>dotnet/</c> folder, then its root), and
/// everything else (the framework, the SDK) from the worker, so the handler and the worker share one
/// <see cref="IFunctionContext"/> type. The worker hosts one function and never unloads it, so assemblies
/// load from their files.
/// </summary>
internal sealed class FunctionLoadContext : AssemblyLoadContext
{
    private static readonly string SdkName = typeof(IFunctionContext).Assembly.GetName().Name!;
    private readonly IReadOnlyList<string> _probeDirectories;
    private readonly ConcurrentDictionary<string, bool> _notFound = new(StringComparer.OrdinalIgnoreCase);

    public FunctionLoadContext(string packageDirectory, IReadOnlyList<string> layerDirectories)
        : base("function", isCollectible: false)
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

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        // The SDK is the contract between the handler and the worker: always the worker's copy.
        if (assemblyName.Name is null || assemblyName.Name == SdkName) return null;
        var path = Find(assemblyName.Name);
        if (path is not null) return LoadFromAssemblyPath(path);
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
