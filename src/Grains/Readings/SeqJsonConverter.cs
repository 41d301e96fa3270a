using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fleet.Grains.Readings;

/// <summary>
/// A reading's <c>seq</c> in JSON: <c>null</c> when the device sent none (<see cref="Reading.NoSeq"/> inside), as
/// devices and function events see it, never the internal <c>-1</c> that a device itself may not send.
/// </summary>
public sealed class SeqJsonConverter : JsonConverter<long>
{
    public override bool HandleNull => true;

    public override long Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        => reader.TokenType == JsonTokenType.Null ? Reading.NoSeq : reader.GetInt64();

    public override void Write(Utf8JsonWriter writer, long value, JsonSerializerOptions options)
    {
        if (value < 0) writer.WriteNullValue();
        else writer.WriteNumberValue(value);
    }
}
