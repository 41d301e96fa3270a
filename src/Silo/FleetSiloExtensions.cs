using Fleet.Functions.Hosting;
using Fleet.Gateways.Http;
using Fleet.Gateways.Mqtt;
using Fleet.Gateways.Outbound;
using Fleet.Grains;
using Fleet.Grains.Readings;
using Fleet.Grains.Sensors;
using Fleet.Grains.Storage;
using Fleet.Storage;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Streams;

namespace Fleet.Silo;

public static class FleetSiloExtensions
{
    /// <summary>
    /// Composes one silo on embedded defaults: localhost clustering, memory streams (implicit
    /// subscriptions only), SQLite grain state under ./data, the MQTT gateway, outbound adapters and telemetry;
    /// with <c>Silo:Clustering=Redis</c> a member of a cluster whose membership, state and reminders are in Redis.
    /// </summary>
    public static WebApplicationBuilder AddFleetSilo(this WebApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var silo = configuration.GetSection(SiloOptions.Section).Get<SiloOptions>() ?? new SiloOptions();
        ValidateSilo(silo);
        var storage = configuration.GetSection(SqliteGrainStorageOptions.Section).Get<SqliteGrainStorageOptions>() ?? new SqliteGrainStorageOptions();

        builder.UseOrleans(orleans =>
        {
            if (silo.Clustering == ClusteringKind.Redis)
            {
                orleans.UseFleetRedisCluster(silo);
            }
            else
            {
                orleans.UseLocalhostClustering(silo.SiloPort, silo.GatewayPort, serviceId: silo.ServiceId, clusterId: silo.ClusterId);
                orleans.AddSqliteGrainStorage(StorageNames.Default, o =>
                {
                    o.Path = storage.Path;
                    o.MaxBatch = storage.MaxBatch;
                });
                // Durable reminders in the same SQLite file: asynchronous invocations resume after a failure.
                orleans.UseSqliteReminderService(storage.Path);
            }

            // Only with the Streams transport: its pulling agents poll every StreamPollPeriod even when idle.
            if (silo.Transport == IngressTransport.Streams)
            {
                orleans.AddMemoryStreams(SensorStreams.Provider, streams =>
                {
                    streams.ConfigurePartitioning(silo.StreamQueues);
                    streams.ConfigureStreamPubSub(StreamPubSubType.ImplicitOnly);
                    streams.ConfigurePullingAgent(agent => agent.Configure(o =>
                    {
                        o.GetQueueMsgsTimerPeriod = silo.StreamPollPeriod;
                        o.BatchContainerBatchSize = silo.StreamBatchSize;
                        // Keep above the grain collection age (orleans#8542).
                        o.StreamInactivityPeriod = silo.SensorIdleTimeout * 2;
                    }));
                });
            }

            orleans.Configure<GrainCollectionOptions>(o => o.CollectionAge = silo.SensorIdleTimeout);
            var resume = configuration.GetSection(Fleet.Grains.Functions.AsyncInvocationOptions.Section).Get<Fleet.Grains.Functions.AsyncInvocationOptions>()?.ResumePeriod ?? TimeSpan.FromMinutes(1);
            orleans.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = resume < o.MinimumReminderPeriod ? resume : o.MinimumReminderPeriod);
        });

        builder.Services.AddSingleton<IReadingTransport>(sp => silo.Transport == IngressTransport.Direct
            ? new DirectReadingTransport(sp.GetRequiredService<SensorReferences>())
            : new StreamReadingTransport(sp.GetRequiredService<IClusterClient>()));
        builder.Services.AddSensorGrains(configuration);
        builder.Services.AddOutbound(configuration);
        builder.Services.AddFunctions(configuration);
        builder.Services.AddMqttGateway(configuration);
        builder.AddFleetTelemetry();
        // Enums in answers are names ("Succeeded", "Timeout"), not numbers.
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter()));
        builder.Services.AddFleetHttpErrors();
        return builder;
    }

    private static void ValidateSilo(SiloOptions options)
    {
        var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        if (!System.ComponentModel.DataAnnotations.Validator.TryValidateObject(options, new(options), results, true))
        {
            throw new OptionsValidationException(SiloOptions.Section, typeof(SiloOptions), results.Select(r => $"Silo: {r.ErrorMessage}"));
        }

        if (options.Clustering == ClusteringKind.Redis)
        {
            if (string.IsNullOrWhiteSpace(options.Redis))
                throw new OptionsValidationException(SiloOptions.Section, typeof(SiloOptions), ["Silo:Redis is required with Silo:Clustering=Redis (e.g. redis:6379)"]);
            if (RedisClusterExtensions.ConfigurationError(options.Redis) is { } error)
                throw new OptionsValidationException(SiloOptions.Section, typeof(SiloOptions), [$"Silo:Redis is not a Redis configuration: {error}"]);
            if (options.AdvertisedAddress is { } address && !System.Net.IPAddress.TryParse(address, out _))
                throw new OptionsValidationException(SiloOptions.Section, typeof(SiloOptions), [$"Silo:AdvertisedAddress '{address}' is not an IP address"]);
        }

        if (options.StreamPollPeriod <= TimeSpan.Zero)
            throw new OptionsValidationException(SiloOptions.Section, typeof(SiloOptions), ["Silo:StreamPollPeriod must be positive"]);
        if (options.SensorIdleTimeout < TimeSpan.FromMinutes(1))
            throw new OptionsValidationException(SiloOptions.Section, typeof(SiloOptions), ["Silo:SensorIdleTimeout must be at least one minute"]);
    }
}
