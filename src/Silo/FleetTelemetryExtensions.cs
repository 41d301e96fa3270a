using Fleet.Functions.Hosting;
using Fleet.Gateways.Mqtt;
using Fleet.Grains.Telemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Fleet.Silo;

/// <summary>Telemetry in one place: our meters, Orleans' meter and activity sources, ASP.NET Core, HttpClient.</summary>
public static class FleetTelemetryExtensions
{
    public static WebApplicationBuilder AddFleetTelemetry(this WebApplicationBuilder builder)
    {
        var otel = builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddMeter(PipelineMetrics.MeterName, IngressStats.MeterName, FunctionMetrics.MeterName, "Microsoft.Orleans")
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation());

        // Traces and exports only when a collector is configured (OTEL_EXPORTER_OTLP_ENDPOINT). A trace listener
        // without an exporter would still make Orleans create an Activity per grain call: on the hot path that
        // was a quarter of the silo's allocations.
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            otel.WithMetrics(m => m.AddOtlpExporter())
                .WithTracing(tracing => tracing
                    .AddSource("Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application")
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddOtlpExporter());
        }

        return builder;
    }
}
