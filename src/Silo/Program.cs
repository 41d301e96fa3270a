using Fleet.Gateways.Http;
using Fleet.Gateways.Mqtt;
using Fleet.Silo;
using Microsoft.Extensions.Options;

var builder = WebApplication.CreateBuilder(args);
builder.AddFleetSilo();

var app = builder.Build();
app.UseFleetHttpErrors();
app.MapFleetApi();
app.MapFunctionsApi();
app.Lifetime.ApplicationStarted.Register(() =>
{
    var mqtt = app.Services.GetRequiredService<IOptions<MqttGatewayOptions>>().Value;
    var urls = string.Join(", ", app.Urls);
    app.Logger.LogInformation(
        "Fleet silo ready.\n  MQTT  mqtt://localhost:{MqttPort}  publish to {Prefix}/{{sensorId}}/telemetry, alerts on {Alerts}/{{sensorId}}\n  HTTP  {Urls}  GET /sensors, /sensors/{{id}}, /sensors/{{id}}/anomalies, /outbound, /outbound/deadletters, /ingress, /health\n        functions: PUT /functions/{{name}}, POST /functions/{{name}}/invocations, /layers, /bindings",
        mqtt.Port, mqtt.TopicPrefix, mqtt.AlertTopicPrefix, urls);
});
app.Run();

/// <summary>The entry point, visible to the end-to-end tests.</summary>
public partial class Program;
