using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;

namespace Fleet.Functions.Worker;

/// <summary>
/// The wire format between <c>IsolatedDotNetRuntime</c> (the host) and the worker, compiled into both
/// (the host links this file). A frame is a 4-byte little-endian length followed by that many bytes of
/// UTF-8 JSON: one object whose <c>type</c> names the message.
/// </summary>
/// <remarks>
/// host -> worker: <c>start</c> {packageDirectory, layerDirectories, handler, functionName, functionVersion,
/// memoryMb, environment, tempDirectory}; <c>invoke</c> {requestId, payload, timeoutMs, invokedAlias,
/// invokedFunctionArn, logGroupName, logStreamName, functionName, functionVersion, memoryLimitMb, tempDirectory,
/// environment} (an older host sends no invokedFunctionArn, logGroupName or logStreamName: the SDK's defaults apply); <c>invokeResult</c>
/// {callId, payload | errorType + message}. Closing stdin asks the worker to exit.
/// <para/>
/// worker -> host: <c>started</c> {initMs}; <c>startFailed</c> {errorType, message, init, exceptionType, stackTrace, cause};
/// <c>result</c> {requestId, payload}; <c>error</c> {requestId, errorType, exceptionType, message, stackTrace, cause (the
/// exception's inner exception as Lambda's error document nests it), causes (an aggregate's inner exceptions); an older
/// worker sends neither};
/// <c>log</c> {requestId, level, message, fields}; <c>invokeFunction</c> {callId, requestId, function, payload}.
/// Payloads are JSON texts carried as JSON strings. <c>errorType</c> is what the invocation reports (Lambda's .NET
/// runtime: the exception type's short name, <c>InvalidOperationException</c>); <c>exceptionType</c>, present when a .NET
/// exception was thrown, is its full name (<c>System.InvalidOperationException</c>), which the host matches on. A
/// <c>startFailed</c> with <c>init</c> (the handler's constructor threw) is Lambda's <c>LambdaException</c>: <c>cause</c>
/// is the constructor's exception as Lambda's error document has it ({errorType, errorMessage, stackTrace: [lines], cause}),
/// <c>exceptionType</c> and <c>stackTrace</c> are that exception's. An older worker sent the constructor's exception itself
/// (its type as <c>errorType</c>, its message) and no <c>cause</c>; the host reads both.
/// </remarks>
internal static class WorkerProtocol
{
    /// <summary>A frame larger than this is a corrupt stream, not a message (payloads are capped at 6 MB).</summary>
    public const int MaxFrameBytes = 256 * 1024 * 1024;

    public const string Start = "start";
    public const string Started = "started";
    public const string StartFailed = "startFailed";
    public const string Invoke = "invoke";
    public const string Result = "result";
    public const string Error = "error";
    public const string Log = "log";
    public const string InvokeFunction = "invokeFunction";
    public const string InvokeResult = "invokeResult";

    /// <summary>The error type of an invocation (or start) that ran out of managed heap; the worker exits after sending it.</summary>
    public const string MemoryLimitExceeded = "MemoryLimitExceeded";

    /// <summary>The worker's exit code after <see cref="MemoryLimitExceeded"/> (what an OOM kill looks like on Linux).</summary>
    public const int MemoryLimitExitCode = 137;

    /// <summary>One frame, length prefix included.</summary>
    public static byte[] Encode(string type, Action<Utf8JsonWriter>? body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        buffer.GetSpan(4);
        buffer.Advance(4);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type", type);
            body?.Invoke(writer);
            writer.WriteEndObject();
        }

        var frame = buffer.WrittenSpan.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(frame, frame.Length - 4);
        return frame;
    }

    /// <summary>The next frame, or null at the end of the stream (a truncated frame counts as the end).</summary>
    public static JsonDocument? Read(Stream stream)
    {
        Span<byte> prefix = stackalloc byte[4];
        if (stream.ReadAtLeast(prefix, 4, throwOnEndOfStream: false) < 4) return null;
        var body = new byte[CheckLength(BinaryPrimitives.ReadInt32LittleEndian(prefix))];
        if (stream.ReadAtLeast(body, body.Length, throwOnEndOfStream: false) < body.Length) return null;
        return JsonDocument.Parse(body);
    }

    /// <inheritdoc cref="Read"/>
    public static async ValueTask<JsonDocument?> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var prefix = new byte[4];
        if (await stream.ReadAtLeastAsync(prefix, 4, throwOnEndOfStream: false, cancellationToken) < 4) return null;
        var body = new byte[CheckLength(BinaryPrimitives.ReadInt32LittleEndian(prefix))];
        if (await stream.ReadAtLeastAsync(body, body.Length, throwOnEndOfStream: false, cancellationToken) < body.Length) return null;
        return JsonDocument.Parse(body);
    }

    private static int CheckLength(int length)
        => length is > 0 and <= MaxFrameBytes ? length : throw new InvalidDataException($"invalid frame length {length}");

    public static string? GetString(this JsonElement message, string property)
        => message.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public static string TypeOf(JsonElement message) => message.GetString("type") ?? "";

    /// <summary>One exception of Lambda's error document: <c>{errorType, errorMessage, stackTrace, cause}</c>.</summary>
    public static void WriteErrorDocument(Utf8JsonWriter writer, Fleet.Functions.Loading.FunctionErrorDocument error)
    {
        writer.WriteStartObject();
        writer.WriteString("errorType", error.ErrorType);
        writer.WriteString("errorMessage", error.ErrorMessage);
        if (error.StackTrace is { } trace)
        {
            writer.WriteStartArray("stackTrace");
            foreach (var line in trace) writer.WriteStringValue(line);
            writer.WriteEndArray();
        }

        if (error.Cause is { } cause)
        {
            writer.WritePropertyName("cause");
            WriteErrorDocument(writer, cause);
        }

        WriteCauses(writer, error.Causes);
        writer.WriteEndObject();
    }

    /// <summary>Lambda's <c>causes</c> (an aggregate's inner exceptions), when there are any.</summary>
    public static void WriteCauses(Utf8JsonWriter writer, IReadOnlyList<Fleet.Functions.Loading.FunctionErrorDocument>? causes)
    {
        if (causes is not { Count: > 0 }) return;
        writer.WriteStartArray("causes");
        foreach (var each in causes) WriteErrorDocument(writer, each);
        writer.WriteEndArray();
    }

    /// <summary>What <see cref="WriteCauses"/> wrote under <c>causes</c> of <paramref name="element"/>; null when there is none.</summary>
    public static Fleet.Functions.Loading.FunctionErrorDocument[]? ReadCauses(JsonElement element, int depth = 0)
        => element.TryGetProperty("causes", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().Select(e => ReadErrorDocument(e, depth + 1)).OfType<Fleet.Functions.Loading.FunctionErrorDocument>().ToArray()
            : null;

    /// <summary>What <see cref="WriteErrorDocument"/> wrote; null when <paramref name="element"/> is not such an object.</summary>
    public static Fleet.Functions.Loading.FunctionErrorDocument? ReadErrorDocument(JsonElement element, int depth = 0)
    {
        if (element.ValueKind != JsonValueKind.Object || depth >= Fleet.Functions.Loading.FunctionErrorDocument.MaxDepth) return null;
        var trace = element.TryGetProperty("stackTrace", out var lines) && lines.ValueKind == JsonValueKind.Array
            ? lines.EnumerateArray().Where(l => l.ValueKind == JsonValueKind.String).Select(l => l.GetString()!).ToArray()
            : null;
        return new Fleet.Functions.Loading.FunctionErrorDocument(
            element.GetString("errorType") ?? "",
            element.GetString("errorMessage") ?? "",
            trace,
            element.TryGetProperty("cause", out var cause) ? ReadErrorDocument(cause, depth + 1) : null,
            ReadCauses(element, depth));
    }

    public static void WriteStringMap(this Utf8JsonWriter writer, string property, IEnumerable<KeyValuePair<string, string>> map)
    {
        writer.WriteStartObject(property);
        foreach (var (key, value) in map) writer.WriteString(key, value);
        writer.WriteEndObject();
    }

    public static Dictionary<string, string> ReadStringMap(this JsonElement message, string property)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (message.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.Object)
        {
            foreach (var entry in value.EnumerateObject())
            {
                if (entry.Value.ValueKind == JsonValueKind.String) map[entry.Name] = entry.Value.GetString()!;
            }
        }

        return map;
    }
}
