using System.Text.Json;
using Jint;
using Jint.Native;
using Jint.Runtime;
using Jint.Runtime.Interop;

namespace Fleet.Functions.Hosting.JavaScript;

/// <summary>
/// CommonJS for one instance: <c>require</c>, <c>module</c>, <c>exports</c>, <c>__filename</c>, <c>__dirname</c>,
/// a module cache, and Node's resolution over the package (seen by the function as <c>/var/task</c>) and its
/// layers (<c>/opt</c>; a layer's packages live in <c>nodejs/node_modules</c>, and a later layer wins).
/// </summary>
internal sealed class CommonJsModules
{
    public const string TaskRoot = "/var/task";
    private const string LayerRoot = "/opt";
    private const string NotFoundCode = "MODULE_NOT_FOUND";

    private static readonly HashSet<string> BuiltIns = new(StringComparer.Ordinal)
    {
        "assert", "async_hooks", "buffer", "child_process", "cluster", "crypto", "dgram", "diagnostics_channel", "dns",
        "events", "fs", "fs/promises", "http", "http2", "https", "inspector", "module", "net", "os", "path", "perf_hooks",
        "process", "querystring", "readline", "stream", "stream/promises", "string_decoder", "timers", "timers/promises",
        "tls", "tty", "url", "util", "v8", "vm", "worker_threads", "zlib",
    };

    private readonly Engine _engine;
    private readonly Func<JsValue> _parseJson;
    private readonly Root _package;
    private readonly IReadOnlyList<Root> _layers;
    private readonly Dictionary<string, ModuleRecord> _cache = new(StringComparer.Ordinal);

    // Errors the loader itself raised (by reference), so the cold start can tell "a module is missing" and
    // "a module does not parse" from an error the function's code threw.
    private readonly Dictionary<JsValue, string> _loaderErrors = new(ReferenceEqualityComparer.Instance);

    public CommonJsModules(Engine engine, string packageDirectory, IReadOnlyList<string> layerDirectories, Func<JsValue> parseJson)
    {
        _engine = engine;
        _parseJson = parseJson;
        _package = new Root(FullDirectory(packageDirectory), TaskRoot);
        _layers = layerDirectories.Select(d => new Root(FullDirectory(d), LayerRoot)).ToList();
    }

    /// <summary>The Lambda error type of an error the loader raised (<c>Runtime.ImportModuleError</c>, <c>Runtime.UserCodeSyntaxError</c>), or null.</summary>
    public string? LoaderErrorType(JsValue error) => _loaderErrors.GetValueOrDefault(error);

    /// <summary>The handler's module file, or null when the package has none (<c>.js</c> or <c>.cjs</c>).</summary>
    public string? FindHandlerFile(string modulePath, out string? unsupported)
    {
        unsupported = null;
        var basePath = Path.GetFullPath(Path.Combine(_package.RealPath, modulePath));
        if (!IsWithin(basePath, _package.RealPath)) return null;
        foreach (var ext in (string[])[".js", ".cjs"])
        {
            if (File.Exists(basePath + ext)) return basePath + ext;
        }

        if (File.Exists(basePath + ".mjs")) unsupported = basePath + ".mjs";
        return null;
    }

    public string VirtualPath(string realPath) => ToVirtual(realPath, _package);

    /// <summary>Evaluates the handler's module (once) and returns its <c>module.exports</c>.</summary>
    public JsValue LoadMain(string realPath) => Load(realPath, _package, parent: null);

    private JsValue Load(string realPath, Root root, ModuleRecord? parent)
    {
        if (_cache.TryGetValue(realPath, out var cached)) return cached.Module.Get("exports");

        var virtualPath = ToVirtual(realPath, root);
        var virtualDir = VirtualDirectory(virtualPath);
        var module = new JsObject(_engine);
        var exports = new JsObject(_engine);
        var record = new ModuleRecord(module, realPath, virtualPath, root, parent);
        var require = CreateRequire(record);
        module.Set("exports", exports);
        module.Set("id", virtualPath);
        module.Set("filename", virtualPath);
        module.Set("path", virtualDir);
        module.Set("loaded", false);
        module.Set("require", require);
        _cache[realPath] = record;
        try
        {
            var source = File.ReadAllText(realPath);
            if (realPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            {
                module.Set("exports", ParseJsonModule(source, virtualPath));
            }
            else
            {
                var wrapper = Compile(source, virtualPath);
                _engine.Call(wrapper, exports, [exports, require, module, virtualPath, virtualDir]);
            }

            module.Set("loaded", true);
            return module.Get("exports");
        }
        catch
        {
            _cache.Remove(realPath); // as Node does: a module that failed to load is tried again by the next require
            throw;
        }
    }

    private JsValue Compile(string source, string virtualPath)
    {
        if (source.StartsWith("#!", StringComparison.Ordinal)) source = "//" + source; // a shebang line stays a line
        var wrapped = "(function (exports, require, module, __filename, __dirname) {" + source + "\n})";
        try
        {
            return _engine.Evaluate(wrapped, virtualPath);
        }
        catch (JavaScriptException ex)
        {
            // Evaluating a function expression runs none of its body: whatever it throws is a parse error.
            _loaderErrors[ex.Error] = "Runtime.UserCodeSyntaxError";
            throw;
        }
    }

    private JsValue ParseJsonModule(string source, string virtualPath)
    {
        try
        {
            return _engine.Call(_parseJson(), JsValue.Undefined, [source.TrimStart('\uFEFF')]);
        }
        catch (JavaScriptException ex)
        {
            if (ex.Error is Jint.Native.Object.ObjectInstance error) error.Set("message", $"{virtualPath}: {ex.Message}");
            _loaderErrors[ex.Error] = "Runtime.UserCodeSyntaxError";
            throw;
        }
    }

    private ClrFunction CreateRequire(ModuleRecord from)
    {
        var require = new ClrFunction(_engine, "require", (_, args) =>
        {
            var (path, root) = ResolveOrThrow(args, from);
            return Load(path, root, from);
        }, 1);
        require.Set("resolve", new ClrFunction(_engine, "resolve", (_, args) =>
        {
            var (path, root) = ResolveOrThrow(args, from);
            return ToVirtual(path, root);
        }, 1));
        return require;
    }

    private (string Path, Root Root) ResolveOrThrow(JsValue[] args, ModuleRecord from)
    {
        var id = args.Length > 0 ? args[0] : JsValue.Undefined;
        if (!id.IsString()) throw new JavaScriptException(_engine.Intrinsics.TypeError, "The \"id\" argument must be of type string. Received " + id.Type.ToString().ToLowerInvariant());
        var spec = id.AsString();
        if (spec.Length == 0) throw new JavaScriptException(_engine.Intrinsics.TypeError, "The argument 'id' must be a non-empty string. Received ''");
        return Resolve(spec, from) ?? throw NotFound(spec, from);
    }

    private (string Path, Root Root)? Resolve(string spec, ModuleRecord from)
    {
        if (spec.Contains('\0') || spec.Contains('\\')) return null;
        if (spec is "." or ".." || spec.StartsWith("./", StringComparison.Ordinal) || spec.StartsWith("../", StringComparison.Ordinal))
        {
            var candidate = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(from.RealPath)!, spec));
            return IsWithin(candidate, from.Root.RealPath) && LoadAsFileOrDirectory(candidate, from.Root.RealPath) is { } found ? (found, from.Root) : null;
        }

        if (spec.StartsWith('/')) return ResolveAbsolute(spec);

        var bare = spec.StartsWith("node:", StringComparison.Ordinal) ? spec[5..] : spec;
        if (BuiltIns.Contains(bare) || spec.StartsWith("node:", StringComparison.Ordinal)) return null;

        // node_modules folders from the requiring module's folder up to its root (the package or its layer),
        // then the layers' nodejs/node_modules (the last layer first), then the package root (Lambda's NODE_PATH).
        var searched = new List<(string Dir, Root Root)>();
        for (var dir = Path.GetDirectoryName(from.RealPath); dir is not null && IsWithin(dir, from.Root.RealPath); dir = Path.GetDirectoryName(dir))
        {
            if (Path.GetFileName(dir) != "node_modules") searched.Add((Path.Combine(dir, "node_modules"), from.Root));
            if (dir == from.Root.RealPath) break;
        }

        for (var i = _layers.Count - 1; i >= 0; i--) searched.Add((Path.Combine(_layers[i].RealPath, "nodejs", "node_modules"), _layers[i]));
        searched.Add((_package.RealPath, _package));

        foreach (var (dir, root) in searched)
        {
            if (!Directory.Exists(dir)) continue;
            var candidate = Path.GetFullPath(Path.Combine(dir, spec));
            if (!IsWithin(candidate, dir) || candidate == dir) continue;
            if (LoadAsFileOrDirectory(candidate, root.RealPath) is { } found) return (found, root);
        }

        return null;
    }

    private (string Path, Root Root)? ResolveAbsolute(string spec)
    {
        IEnumerable<Root> roots = spec.StartsWith(TaskRoot + "/", StringComparison.Ordinal) ? [_package]
            : spec.StartsWith(LayerRoot + "/", StringComparison.Ordinal) ? _layers.Reverse() : [];
        foreach (var root in roots)
        {
            var relative = spec[(root.VirtualPath.Length + 1)..];
            var candidate = Path.GetFullPath(Path.Combine(root.RealPath, relative));
            if (IsWithin(candidate, root.RealPath) && LoadAsFileOrDirectory(candidate, root.RealPath) is { } found) return (found, root);
        }

        return null;
    }

    private static string? LoadAsFileOrDirectory(string candidate, string root)
        => LoadAsFile(candidate) ?? LoadAsDirectory(candidate, root);

    private static string? LoadAsFile(string path)
    {
        if (File.Exists(path)) return path;
        if (File.Exists(path + ".js")) return path + ".js";
        if (File.Exists(path + ".json")) return path + ".json";
        return null;
    }

    private static string? LoadAsDirectory(string path, string root)
    {
        if (!Directory.Exists(path)) return null;
        var packageJson = Path.Combine(path, "package.json");
        if (File.Exists(packageJson) && ReadMain(packageJson) is { Length: > 0 } main)
        {
            var target = Path.GetFullPath(Path.Combine(path, main));
            if (IsWithin(target, root) && (LoadAsFile(target) ?? LoadIndex(target)) is { } found) return found;
        }

        return LoadIndex(path);
    }

    private static string? LoadIndex(string path)
    {
        var js = Path.Combine(path, "index.js");
        if (File.Exists(js)) return js;
        var json = Path.Combine(path, "index.json");
        return File.Exists(json) ? json : null;
    }

    private static string? ReadMain(string packageJson)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(packageJson));
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("main", out var main) && main.ValueKind == JsonValueKind.String
                ? main.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private JavaScriptException NotFound(string spec, ModuleRecord from)
    {
        var stack = new List<string>();
        for (var m = from; m is not null; m = m.Parent) stack.Add("- " + m.VirtualPath);
        var bare = spec.StartsWith("node:", StringComparison.Ordinal) ? spec[5..] : spec;
        var hint = BuiltIns.Contains(bare) ? " (Node.js built-in modules are not available in the javascript runtime)" : "";
        var error = CreateError(_engine.Intrinsics.Error, $"Cannot find module '{spec}'{hint}\nRequire stack:\n{string.Join('\n', stack)}");
        error.Set("code", NotFoundCode);
        _loaderErrors[error] = "Runtime.ImportModuleError";
        return new JavaScriptException(error);
    }

    private Jint.Native.Object.ObjectInstance CreateError(JsValue constructor, string message)
        => _engine.Construct(constructor, [message]);

    private static string ToVirtual(string realPath, Root root)
    {
        var relative = Path.GetRelativePath(root.RealPath, realPath).Replace(Path.DirectorySeparatorChar, '/');
        return relative == "." ? root.VirtualPath : root.VirtualPath + "/" + relative;
    }

    private static string VirtualDirectory(string virtualPath)
    {
        var slash = virtualPath.LastIndexOf('/');
        return slash <= 0 ? "/" : virtualPath[..slash];
    }

    private static string FullDirectory(string path) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));

    private static bool IsWithin(string path, string root)
        => path == root || path.StartsWith(root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    private sealed record Root(string RealPath, string VirtualPath);

    private sealed record ModuleRecord(JsObject Module, string RealPath, string VirtualPath, Root Root, ModuleRecord? Parent);
}
