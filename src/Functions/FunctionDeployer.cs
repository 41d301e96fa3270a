using Fleet.Grains.Functions;
using Microsoft.Extensions.Options;

namespace Fleet.Functions.Hosting;

/// <summary>A package the runtime refused: the previous code keeps serving.</summary>
public sealed class FunctionDeployException(InvocationError error)
    : Exception($"{error.Type}: {DetailOf(error)}")
{
    public InvocationError Error { get; } = error;

    /// <summary>The error's message and, for an error that wraps the one the code threw (a constructor's, in a <c>LambdaException</c>), its causes.</summary>
    public string Detail => DetailOf(Error);

    private static string DetailOf(InvocationError error)
    {
        var detail = error.Message;
        for (var (cause, depth) = (error.Cause, 0); cause is not null && depth < 10; (cause, depth) = (cause.Cause, depth + 1))
            detail += $" Cause: {cause.Type}: {cause.Message}";
        return detail;
    }
}

/// <summary>
/// Deploys functions and layers. A new package or configuration is proved first: stored by hash, then
/// cold-started once on this silo (load, resolve the handler, construct it). Only if that succeeds does
/// <c>$LATEST</c> change, so a bad package (not a zip, no handler, wrong signature, a constructor that
/// throws, a missing dependency) is refused with a clear error while the previous code keeps serving.
/// </summary>
public sealed class FunctionDeployer(IGrainFactory grains, FunctionPool pool, FunctionResolver resolver, IOptions<FunctionsOptions> options)
{
    /// <summary>The largest package or layer zip accepted.</summary>
    public long MaxPackageBytes => options.Value.MaxPackageBytes;

    /// <summary>Stores a zip in the cluster-wide store after checking it; returns its reference.</summary>
    public async Task<CodeReference> StoreAsync(byte[] zip)
    {
        var o = options.Value;
        if (zip.Length > o.MaxPackageBytes)
            throw new FunctionValidationException($"the zip is {zip.Length:N0} bytes; at most {o.MaxPackageBytes:N0} are allowed");
        CodeCache.Verify(zip, o.MaxUnpackedBytes);
        var sha = CodeCache.Hash(zip);
        await grains.GetGrain<IFunctionCodeGrain>(sha).Put(zip);
        return new CodeReference(sha, zip.Length);
    }

    /// <summary>Creates the function or updates its <c>$LATEST</c>; <paramref name="zip"/> null keeps the current code.</summary>
    public async Task<FunctionDefinition> DeployAsync(FunctionConfiguration configuration, byte[]? zip)
    {
        FunctionValidation.Validate(configuration);
        var function = grains.GetGrain<IFunctionGrain>(configuration.Name);
        var code = zip is null ? null : await StoreAsync(zip);
        var current = await function.Get();
        var candidateCode = code ?? current?.Code
            ?? throw new FunctionValidationException($"function '{configuration.Name}' does not exist yet: the first deploy needs a package");
        var layers = await LayerResolution.ResolveAsync(grains, configuration.Layers);
        var candidate = new ResolvedFunction
        {
            Name = configuration.Name, Version = "verify", Configuration = configuration, Code = candidateCode, Layers = layers,
            RevisionId = Guid.NewGuid().ToString("n"),
        };
        await ProveAsync(candidate);
        var definition = await function.Put(configuration, code);
        resolver.Invalidate(configuration.Name);
        return definition;
    }

    public async Task<LayerVersion> PublishLayerAsync(string name, byte[] zip, string? description, string[] compatibleRuntimes)
    {
        if (!FunctionValidation.IsValidName(name))
            throw new FunctionValidationException("layer name must be 1-64 characters of letters, digits, '-' and '_'");
        var code = await StoreAsync(zip);
        return await grains.GetGrain<ILayerGrain>(name).Publish(code, description, compatibleRuntimes);
    }

    /// <summary>Cold-starts <paramref name="candidate"/> once; throws <see cref="FunctionDeployException"/> when it cannot serve.</summary>
    private async Task ProveAsync(ResolvedFunction candidate)
    {
        var environment = (ExecutionEnvironment)pool.Factory.Create(candidate, "deploy");
        try
        {
            if (await environment.PrepareAsync() is { } error) throw new FunctionDeployException(error);
        }
        finally
        {
            await environment.DisposeAsync();
        }
    }
}
