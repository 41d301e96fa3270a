namespace Fleet.Storage;

/// <summary>The embedded grain store: one SQLite file. Section "Storage".</summary>
public sealed class SqliteGrainStorageOptions
{
    public const string Section = "Storage";

    /// <summary>Path of the database file (created with its folder when missing).</summary>
    public string Path { get; set; } = "data/fleet.db";

    /// <summary>Most writes committed in one transaction.</summary>
    public int MaxBatch { get; set; } = 2048;
}
