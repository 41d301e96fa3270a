using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Fleet.Grains.Functions;

/// <summary>
/// Asynchronous invocation destinations (Lambda's <c>DestinationConfig</c> of <c>PutFunctionEventInvokeConfig</c>):
/// which destinations are accepted, how a destination names a function, and Lambda's invocation record that a
/// destination function receives as its event.
/// </summary>
public static partial class EventDestinations
{
    /// <summary>The invocation record's <c>requestContext.condition</c>, in Lambda's words.</summary>
    public const string Success = "Success";
    public const string RetriesExhausted = "RetriesExhausted";
    public const string EventAgeExceeded = "EventAgeExceeded";

    /// <summary>Lambda's limit on a <c>Destination</c> (its ARN pattern allows up to 350 characters).</summary>
    public const int MaxDestinationLength = 350;

    // Any ARN: arn:PARTITION:SERVICE:..., to name the service in the refusal.
    [GeneratedRegex(@"^arn:[^:]*:(?<service>[^:]*):")]
    private static partial Regex AnyArnPattern();

    /// <summary>
    /// The function a destination names, as <c>name</c> or <c>name:qualifier</c>. Accepted: Lambda's function ARN
    /// (<c>arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]</c>, the only form Lambda itself takes here) and, as
    /// shorthands of this platform, the other forms of a function name (<see cref="FunctionNames"/>: <c>NAME[:QUALIFIER]</c>
    /// and the partial ARN <c>ACCOUNT:function:NAME[:QUALIFIER]</c>). Other destination types (SQS, SNS, EventBridge, S3)
    /// and malformed values throw <see cref="FunctionValidationException"/>. The function need not exist yet: like Lambda,
    /// the setting names it and delivery finds it (or records that it is missing).
    /// </summary>
    public static string ParseFunction(string destination, string field)
    {
        if (destination.Length > MaxDestinationLength)
            throw new FunctionValidationException($"{field} must be at most {MaxDestinationLength} characters");
        if (AnyArnPattern().Match(destination) is { Success: true } any && any.Groups["service"].Value is "sqs" or "sns" or "events" or "s3")
        {
            throw new FunctionValidationException(
                $"{field} '{destination}' is an {any.Groups["service"].Value} destination: only Lambda function destinations are supported (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] or NAME[:QUALIFIER])");
        }

        return FunctionNames.Normalize(destination, field, MaxDestinationLength);
    }

    /// <summary>
    /// The request id of the event sent to the destination for the event <paramref name="sourceRequestId"/>: derived from
    /// it (a name-based UUID), so sending again after a silo failure finds the same record instead of a second event.
    /// </summary>
    public static string DestinationRequestId(string sourceRequestId)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes("fleet-destination:" + sourceRequestId));
        var bytes = hash.AsSpan(0, 16).ToArray();
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x50); // version 5 (name-based)
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80); // RFC 4122 variant
        return new Guid(bytes, bigEndian: true).ToString();
    }

    /// <summary>The ARN the invocation record names a function by: <c>arn:aws:lambda:REGION:ACCOUNT:function:NAME:QUALIFIER</c>.</summary>
    public static string FunctionArn(string function, AsyncInvocationOptions options)
    {
        var (name, qualifier) = FunctionDefinition.Split(function);
        return $"arn:aws:lambda:{options.ArnRegion}:{options.ArnAccount}:function:{name}:{qualifier ?? FunctionDefinition.Latest}";
    }

    /// <summary>
    /// Lambda's <c>invokedFunctionArn</c>: the ARN a function was invoked by, with the qualifier the caller used and none when
    /// it used none (<c>arn:aws:lambda:REGION:ACCOUNT:function:NAME</c>, <c>...:NAME:3</c>, <c>...:NAME:live</c>); a version
    /// number without leading zeros, as it resolves.
    /// </summary>
    public static string InvokedFunctionArn(string name, string? qualifier, AsyncInvocationOptions options)
        => $"arn:aws:lambda:{options.ArnRegion}:{options.ArnAccount}:function:{name}"
            + (string.IsNullOrEmpty(qualifier) ? "" : ":" + FunctionDefinition.NormalizeVersion(qualifier));

    /// <summary>
    /// Lambda's invocation record (version 1.0): <c>timestamp</c>; <c>requestContext</c> with the request id, the function's
    /// ARN as invoked, the condition and the attempts; the event as <c>requestPayload</c>; and, when the function ran,
    /// <c>responseContext</c> (status 200, the executed version, <c>functionError</c> on an error) and the function's result
    /// or error object as <c>responsePayload</c>.
    /// </summary>
    public static string InvocationRecordJson(
        string requestId, string functionArn, string condition, int invokeCount, DateTime timestampUtc, string requestPayloadJson, InvocationResult? ran,
        bool withPayloads = true)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteString("timestamp", timestampUtc.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
            w.WriteStartObject("requestContext");
            w.WriteString("requestId", requestId);
            w.WriteString("functionArn", functionArn);
            w.WriteString("condition", condition);
            w.WriteNumber("approximateInvokeCount", invokeCount);
            w.WriteEndObject();
            if (withPayloads)
            {
                w.WritePropertyName("requestPayload");
                WriteJson(w, requestPayloadJson);
            }

            if (ran is not null)
            {
                w.WriteStartObject("responseContext");
                w.WriteNumber("statusCode", 200);
                w.WriteString("executedVersion", ran.ExecutedVersion ?? FunctionDefinition.Latest);
                if (ran.Error is not null) w.WriteString("functionError", "Unhandled");
                w.WriteEndObject();
                if (!withPayloads)
                {
                    // too large with them: Lambda drops the payloads, not the record
                }
                else if (ran.Error is { } error)
                {
                    w.WritePropertyName("responsePayload");
                    w.WriteStartObject();
                    w.WriteString("errorMessage", SafeString(error.Message));
                    w.WriteString("errorType", SafeString(error.Type));
                    if (error.StackTrace is { } trace)
                    {
                        w.WriteStartArray("stackTrace");
                        foreach (var frame in trace) w.WriteStringValue(SafeString(frame));
                        w.WriteEndArray();
                    }

                    WriteCause(w, error.Cause);
                    WriteCauses(w, error.Causes);
                    w.WriteEndObject();
                }
                else
                {
                    w.WritePropertyName("responsePayload");
                    WriteJson(w, ran.PayloadJson ?? "null");
                }
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>
    /// A payload as JSON inside the record. Written to a buffer of its own first and copied only when whole: a payload the
    /// writer cannot take (nested past what the record leaves of the writer's 1,000 levels, a lone surrogate) must not
    /// leave the record half written; such a payload is kept as a string.
    /// </summary>
    private static void WriteJson(Utf8JsonWriter w, string json)
    {
        byte[] bytes;
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = MaxPayloadDepth });
            using var part = new MemoryStream();
            using (var pw = new Utf8JsonWriter(part, new JsonWriterOptions { MaxDepth = MaxPayloadDepth })) doc.RootElement.WriteTo(pw);
            bytes = part.ToArray();
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentException)
        {
            w.WriteStringValue(SafeString(json));
            return;
        }

        w.WriteRawValue(bytes, skipInputValidation: true);
    }

    /// <summary>The record nests a payload at most 3 levels deep; the writer allows 1,000 levels in all.</summary>
    private const int MaxPayloadDepth = 990;

    /// <summary>A string the JSON writer accepts: lone surrogates replaced with U+FFFD.</summary>
    /// <summary>The error document's <c>cause</c> (the exception behind the error reported), nested, as Lambda writes it.</summary>
    private static void WriteCause(Utf8JsonWriter w, InvocationErrorCause? cause, int depth = 0)
    {
        if (cause is null || depth >= 10) return;
        w.WritePropertyName("cause");
        WriteDocument(w, cause, depth);
    }

    /// <summary>Lambda's <c>causes</c>: an aggregate's inner exceptions, each an error document.</summary>
    private static void WriteCauses(Utf8JsonWriter w, InvocationErrorCause[]? causes, int depth = 0)
    {
        if (causes is not { Length: > 0 } || depth >= 10) return;
        w.WriteStartArray("causes");
        foreach (var each in causes) WriteDocument(w, each, depth);
        w.WriteEndArray();
    }

    private static void WriteDocument(Utf8JsonWriter w, InvocationErrorCause cause, int depth)
    {
        w.WriteStartObject();
        w.WriteString("errorType", SafeString(cause.Type));
        w.WriteString("errorMessage", SafeString(cause.Message));
        if (cause.StackTrace is { } trace)
        {
            w.WriteStartArray("stackTrace");
            foreach (var frame in trace) w.WriteStringValue(SafeString(frame));
            w.WriteEndArray();
        }

        WriteCause(w, cause.Cause, depth + 1);
        WriteCauses(w, cause.Causes, depth + 1);
        w.WriteEndObject();
    }

    internal static string SafeString(string text)
    {
        StringBuilder? fixedText = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var lone = char.IsHighSurrogate(c) ? i + 1 >= text.Length || !char.IsLowSurrogate(text[i + 1]) : char.IsLowSurrogate(c) && (i == 0 || !char.IsHighSurrogate(text[i - 1]));
            if (lone) (fixedText ??= new StringBuilder(text, 0, i, text.Length)).Append('\uFFFD');
            else fixedText?.Append(c);
        }

        return fixedText?.ToString() ?? text;
    }
}
