namespace Fleet.Grains.Storage;

/// <summary>Grain storage provider names the grains use; the silo decides what stands behind them.</summary>
public static class StorageNames
{
    public const string Default = "fleet";
}
