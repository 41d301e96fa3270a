using Fleet.Grains.Functions;

namespace Fleet.Functions.Hosting;

/// <summary>Reads packages and layers from the durable, cluster-wide store.</summary>
public sealed class GrainPackageSource(IGrainFactory grains) : IPackageSource
{
    public async Task<byte[]> GetAsync(CodeReference code, CancellationToken cancellationToken)
        => await grains.GetGrain<IFunctionCodeGrain>(code.Sha256).Get().WaitAsync(cancellationToken)
           ?? throw new FunctionValidationException($"the package {code.Sha256} is missing from the store");
}
