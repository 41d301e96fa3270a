using System.Collections.Concurrent;
using Fleet.Functions.Hosting;
using Fleet.Functions.Hosting.DotNet;
using Fleet.Grains.Functions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Fleet.Functions.Tests;

/// <summary>A package source over a dictionary, and environments built on it: the runtimes without a cluster.</summary>
public sealed class InMemoryPackages : IPackageSource
{
    private readonly ConcurrentDictionary<string, byte[]> _zips = new();

    public InMemoryPackages()
    {
        var root = Path.Combine(Path.GetTempPath(), "fleet-fn-tests", Guid.NewGuid().ToString("n"));
        Options = new FunctionsOptions { CodeCachePath = Path.Combine(root, "code"), TempPath = Path.Combine(root, "tmp") };
        Code = new CodeCache(this, Microsoft.Extensions.Options.Options.Create(Options));
    }

    public FunctionsOptions Options { get; }

    public CodeCache Code { get; }

    public DotNetRuntime DotNet { get; } = new();

    public Task<byte[]> GetAsync(CodeReference code, CancellationToken cancellationToken)
        => _zips.TryGetValue(code.Sha256, out var zip) ? Task.FromResult(zip) : throw new FunctionValidationException($"no package {code.Sha256}");

    public CodeReference Add(byte[] zip)
    {
        var sha = CodeCache.Hash(zip);
        _zips[sha] = zip;
        return new CodeReference(sha, zip.Length);
    }

    public ResolvedFunction Function(byte[] zip, string handler, string runtime = FunctionRuntimes.DotNet, int timeoutSeconds = 3, IReadOnlyList<byte[]>? layers = null, string name = "fn", IReadOnlyDictionary<string, string>? environment = null)
        => new()
        {
            Name = name,
            Version = "$LATEST",
            RevisionId = Guid.NewGuid().ToString("n"),
            Code = Add(zip),
            Layers = (layers ?? []).Select((l, i) => new ResolvedLayer($"layer{i}", 1, Add(l))).ToArray(),
            Configuration = new FunctionConfiguration
            {
                Name = name, Runtime = runtime, Handler = handler, TimeoutSeconds = timeoutSeconds,
                Environment = environment ?? new Dictionary<string, string>(),
            },
        };

    public ExecutionEnvironmentFactory Factory(IFunctionInvoker? invoker = null, params IFunctionRuntime[] more)
        => new(new RuntimeCatalog([DotNet, .. more]), Code, Microsoft.Extensions.Options.Options.Create(Options), NullLoggerFactory.Instance, invoker);

    public static InvocationRequest Request(string json = "{}") => new(Guid.NewGuid().ToString(), json, null);
}
