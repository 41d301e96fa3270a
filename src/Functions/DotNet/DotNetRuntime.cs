using System.Runtime.CompilerServices;
using System.Runtime.Loader;

namespace Fleet.Functions.Hosting.DotNet;

/// <summary>
/// The in-process .NET runtime (<c>dotnet</c>): trusted code, the fastest path. One collectible
/// <see cref="AssemblyLoadContext"/> per function version is shared by all of that version's environments
/// and unloads when the last of them is disposed, so redeploys do not grow the silo.
/// </summary>
public sealed class DotNetRuntime : IFunctionRuntime
{
    public const string RuntimeName = "dotnet";

    private readonly Lock _gate = new();
    private readonly Dictionary<string, LoadedVersion> _loaded = new();

    public string Name => RuntimeName;

    /// <summary>Load contexts alive now (diagnostics and the unload test).</summary>
    public int LoadedVersions
    {
        get
        {
            lock (_gate) return _loaded.Count;
        }
    }

    public Task<IFunctionInstance> StartAsync(FunctionCode code, CancellationToken cancellationToken)
    {
        var version = Acquire(code);
        try
        {
            var target = version.Binding.CreateInstance(version.Context, code.Configuration.Handler);
            return Task.FromResult<IFunctionInstance>(new Instance(this, version, target));
        }
        catch
        {
            Release(version);
            throw;
        }
    }

    private LoadedVersion Acquire(FunctionCode code)
    {
        var key = code.Function.Key;
        lock (_gate)
        {
            if (_loaded.TryGetValue(key, out var existing))
            {
                existing.References++;
                return existing;
            }
        }

        // Load outside the lock; a racing second load of the same version is unloaded again.
        var loaded = Load(code);
        lock (_gate)
        {
            if (_loaded.TryGetValue(key, out var existing))
            {
                existing.References++;
                loaded.Context.Unload();
                return existing;
            }

            loaded.References = 1;
            _loaded[key] = loaded;
            return loaded;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static LoadedVersion Load(FunctionCode code)
    {
        var context = new FunctionLoadContext(code.Function.Key, code.PackageDirectory, code.LayerDirectories, isCollectible: true);
        try
        {
            return new LoadedVersion(code.Function.Key, context, HandlerBinding.Resolve(context, code.Configuration.Handler));
        }
        catch
        {
            context.Unload();
            throw;
        }
    }

    private void Release(LoadedVersion version)
    {
        lock (_gate)
        {
            if (--version.References > 0) return;
            _loaded.Remove(version.Key);
        }

        version.Context.Unload();
    }

    private sealed class LoadedVersion(string key, FunctionLoadContext context, HandlerBinding binding)
    {
        public string Key { get; } = key;
        public FunctionLoadContext Context { get; } = context;
        public HandlerBinding Binding { get; } = binding;
        public int References { get; set; }
    }

    private sealed class Instance(DotNetRuntime runtime, LoadedVersion version, object? target) : IFunctionInstance
    {
        private object? _target = target;
        private int _disposed;

        public Task<string> InvokeAsync(string payloadJson, IFunctionContext context)
            => version.Binding.InvokeAsync(_target, payloadJson, context);

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
            var target = _target;
            _target = null;
            try
            {
                switch (target)
                {
                    case IAsyncDisposable asyncDisposable:
                        await asyncDisposable.DisposeAsync();
                        break;
                    case IDisposable disposable:
                        disposable.Dispose();
                        break;
                }
            }
            finally
            {
                runtime.Release(version);
            }
        }
    }
}
