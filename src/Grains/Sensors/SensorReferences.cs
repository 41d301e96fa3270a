using Orleans.GrainReferences;
using Orleans.Metadata;

namespace Fleet.Grains.Sensors;

/// <summary>
/// Makes <see cref="ISensorGrain"/> references without the per-call cost of <c>IGrainFactory.GetGrain</c>,
/// which in Orleans 10.4 looks up the interface's attributes and formats its type name on every call (on the
/// hot path that was the largest allocation of the silo). The grain and interface types are resolved once.
/// </summary>
public sealed class SensorReferences
{
    private readonly GrainReferenceActivator _activator;
    private readonly GrainInterfaceType _interfaceType;
    private readonly GrainType _grainType;

    public SensorReferences(IGrainFactory grains, GrainReferenceActivator activator, GrainInterfaceTypeResolver interfaces)
    {
        _activator = activator;
        _interfaceType = interfaces.GetGrainInterfaceType(typeof(ISensorGrain));
        _grainType = grains.GetGrain<ISensorGrain>("_").GetGrainId().Type;
    }

    public ISensorGrain Get(string sensorId) => Get(GrainId.Create(_grainType, sensorId));

    public ISensorGrain Get(GrainId grainId) => (ISensorGrain)_activator.CreateReference(grainId, _interfaceType);
}
