using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace Fleet.Storage;

public static class SqliteGrainStorageExtensions
{
    /// <summary>Adds a named grain storage provider backed by a local SQLite file.</summary>
    public static ISiloBuilder AddSqliteGrainStorage(this ISiloBuilder builder, string name, Action<SqliteGrainStorageOptions> configure)
    {
        var options = new SqliteGrainStorageOptions();
        configure(options);
        if (string.IsNullOrWhiteSpace(options.Path))
            throw new Microsoft.Extensions.Options.OptionsValidationException(SqliteGrainStorageOptions.Section, typeof(SqliteGrainStorageOptions), ["Storage:Path must name a file"]);
        if (options.MaxBatch is < 1 or > 100_000)
            throw new Microsoft.Extensions.Options.OptionsValidationException(SqliteGrainStorageOptions.Section, typeof(SqliteGrainStorageOptions), ["Storage:MaxBatch must be in 1..100000"]);
        builder.Services.AddKeyedSingleton<IGrainStorage>(name, (sp, _) => new SqliteGrainStorage(
            name,
            options,
            new OrleansGrainStorageSerializer(sp.GetRequiredService<Orleans.Serialization.Serializer>()),
            sp.GetRequiredService<ILogger<SqliteGrainStorage>>()));
        return builder;
    }

    /// <summary>Orleans reminders kept in a local SQLite file (the grain store's file works), so they survive a restart.</summary>
    public static ISiloBuilder UseSqliteReminderService(this ISiloBuilder builder, string path)
    {
        builder.AddReminders();
        builder.Services.AddSingleton<IReminderTable>(new SqliteReminderTable(path));
        return builder;
    }
}
