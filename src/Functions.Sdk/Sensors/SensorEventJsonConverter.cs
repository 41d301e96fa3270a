using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fleet.Functions.Sensors;

/// <summary>
/// Reads and writes a <see cref="SensorEvent"/> in its documented JSON form:
/// <c>{"sensorId","topic","timestamp","seq","metrics":{name:value},"anomalies":[{metric,value,score,detector,kind?,expected?,lower?,upper?}]}</c>.
/// </summary>
public sealed class SensorEventJsonConverter : JsonConverter<SensorEvent>
{
    public override SensorEvent Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("a sensor event is a JSON object");
        var evt = new SensorEvent();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var name = reader.GetString();
            reader.Read();
            switch (name?.ToLowerInvariant())
            {
                case "sensorid":
                    evt.SensorId = reader.GetString() ?? "";
                    break;
                case "timestamp":
                    evt.Timestamp = reader.GetInt64();
                    break;
                case "seq":
                    evt.Seq = reader.TokenType == JsonTokenType.Null ? null : reader.GetInt64();
                    break;
                case "metrics":
                    if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("metrics is an object of name: number");
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                    {
                        var metric = reader.GetString()!;
                        reader.Read();
                        evt.Metrics.Add(new SensorMetric(metric, reader.GetDouble()));
                    }

                    break;
                case "anomalies":
                    foreach (var a in JsonSerializer.Deserialize<SensorAnomaly[]>(ref reader, options) ?? []) evt.Anomalies.Add(a);
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        return evt;
    }

    public override void Write(Utf8JsonWriter writer, SensorEvent value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteString("sensorId", value.SensorId);
        writer.WriteString("topic", $"sensors/{value.SensorId}/telemetry");
        writer.WriteNumber("timestamp", value.Timestamp);
        if (value.Seq is { } seq) writer.WriteNumber("seq", seq);
        writer.WriteStartObject("metrics");
        foreach (var metric in value.Metrics) writer.WriteNumber(metric.Name, metric.Value);
        writer.WriteEndObject();
        writer.WriteStartArray("anomalies");
        foreach (var a in value.Anomalies)
        {
            writer.WriteStartObject();
            writer.WriteString("metric", a.Metric);
            writer.WriteNumber("value", a.Value);
            writer.WriteNumber("score", a.Score);
            writer.WriteString("detector", a.Detector);
            if (a.Kind is { } kind) writer.WriteString("kind", kind);
            if (a.Expected is { } expected) writer.WriteNumber("expected", expected);
            if (a.Lower is { } lower) writer.WriteNumber("lower", lower);
            if (a.Upper is { } upper) writer.WriteNumber("upper", upper);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }
}
