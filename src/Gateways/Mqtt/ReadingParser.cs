using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Fleet.Grains.Readings;

namespace Fleet.Gateways.Mqtt;

/// <summary>
/// Turns a telemetry payload into readings, or a reject reason. Accepts one reading
/// <c>{"ts": 1732450000000, "seq": 42, "value": 21.5}</c>, named metrics
/// <c>{"ts": ..., "metrics": {"temperature": 21.5, "humidity": 40}}</c>, or a JSON array of either.
/// <c>ts</c> is unix milliseconds or an ISO-8601 string (the receive time when absent), within 2000-2200 and at most
/// <c>maxClockAhead</c> ahead of the receive time; <c>seq</c> is optional. A metric name (the <c>value</c> field counts
/// as the metric <c>value</c>) and each of <c>ts</c>, <c>seq</c> and <c>metrics</c> appear at most once per reading.
/// A publish is all or nothing: one bad reading refuses the whole publish, so a corrected resend cannot duplicate.
/// </summary>
public sealed class ReadingParser
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 8, CommentHandling = JsonCommentHandling.Disallow };

    // Earliest and latest accepted timestamps: 2000-01-01 and 2200-01-01.
    private const long MinTimestampMs = 946_684_800_000;
    private const long MaxTimestampMs = 7_258_118_400_000;

    /// <summary>How far ahead of the receive time a timestamp may be when none is configured.</summary>
    public static readonly TimeSpan DefaultMaxClockAhead = TimeSpan.FromDays(1);

    private readonly int _maxMetrics;
    private readonly int _maxBatch;
    private readonly long _maxAheadMs;
    private readonly ConcurrentDictionary<string, string> _names = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _nameLookup;

    /// <param name="maxClockAhead">How far a reading's ts may be ahead of its receive time (device clocks drift a
    /// little; a ts days ahead would make the sensor treat every later valid reading as late). Default 1 day.</param>
    public ReadingParser(int maxMetricsPerReading = 32, int maxReadingsPerPublish = 1000, TimeSpan? maxClockAhead = null)
    {
        var ahead = maxClockAhead ?? DefaultMaxClockAhead;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ahead, TimeSpan.Zero, nameof(maxClockAhead));
        _maxMetrics = maxMetricsPerReading;
        _maxBatch = maxReadingsPerPublish;
        _maxAheadMs = (long)Math.Min(ahead.TotalMilliseconds, MaxTimestampMs);
        _nameLookup = _names.GetAlternateLookup<ReadOnlySpan<char>>();
        _names[Reading.DefaultMetric] = Reading.DefaultMetric;
    }

    public ParseResult Parse(ReadOnlySequence<byte> payload, long receivedAtUs)
    {
        try
        {
            var reader = new Utf8JsonReader(payload, ReaderOptions);
            return ParseDocument(ref reader, receivedAtUs);
        }
        catch (JsonException ex)
        {
            return ParseResult.Fail(RejectReason.MalformedJson, $"malformed JSON: {ex.Message}");
        }
    }

    public ParseResult Parse(ReadOnlySpan<byte> payload, long receivedAtUs)
        => Parse(new ReadOnlySequence<byte>(payload.ToArray()), receivedAtUs);

    private ParseResult ParseDocument(ref Utf8JsonReader reader, long receivedAtUs)
    {
        if (!reader.Read())
        {
            return ParseResult.Fail(RejectReason.MalformedJson, "empty payload");
        }

        ParseResult result;
        if (reader.TokenType == JsonTokenType.StartObject)
        {
            var error = ParseReading(ref reader, receivedAtUs, out var reading);
            if (error is not null) return error.Value; // the reader stopped inside the object: no trailing check
            result = ParseResult.Success([reading!]);
        }
        else if (reader.TokenType == JsonTokenType.StartArray)
        {
            var readings = new List<Reading>();
            while (true)
            {
                if (!reader.Read()) return ParseResult.Fail(RejectReason.MalformedJson, "unterminated array");
                if (reader.TokenType == JsonTokenType.EndArray) break;
                if (reader.TokenType != JsonTokenType.StartObject)
                    return ParseResult.Fail(RejectReason.MalformedJson, "a batch must be an array of reading objects");
                if (readings.Count == _maxBatch)
                    return ParseResult.Fail(RejectReason.BatchTooLarge, $"a batch holds at most {_maxBatch} readings");
                var error = ParseReading(ref reader, receivedAtUs, out var reading);
                if (error is not null) return error.Value with { Detail = $"reading {readings.Count}: {error.Value.Detail}" };
                readings.Add(reading!);
            }

            result = readings.Count == 0
                ? ParseResult.Fail(RejectReason.MissingValue, "empty batch")
                : ParseResult.Success(readings.ToArray());
        }
        else
        {
            return ParseResult.Fail(RejectReason.MalformedJson, "payload must be a JSON object or array");
        }

        if (reader.Read())
        {
            return ParseResult.Fail(RejectReason.MalformedJson, "trailing content after the JSON value");
        }

        return result;
    }

    /// <summary>Parses one object; the reader is on its StartObject and ends on its EndObject.</summary>
    private ParseResult? ParseReading(ref Utf8JsonReader reader, long receivedAtUs, out Reading? reading)
    {
        reading = null;
        long? ts = null;
        long seq = Reading.NoSeq;
        var hasSeq = false;
        double? value = null;
        List<MetricValue>? metrics = null;

        // A key given twice is refused, not resolved by "last one wins": the device meant one of the values, and
        // keeping either silently analyses a number it may not have meant (and hides the device's bug).
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            if (reader.ValueTextEquals("ts"u8))
            {
                if (ts is not null) return ParseResult.Fail(RejectReason.BadTimestamp, "\"ts\" appears twice in one reading");
                reader.Read();
                var error = ReadTimestamp(ref reader, receivedAtUs, out var t);
                if (error is not null) return error;
                ts = t;
            }
            else if (reader.ValueTextEquals("seq"u8))
            {
                if (hasSeq) return ParseResult.Fail(RejectReason.BadSequence, "\"seq\" appears twice in one reading");
                reader.Read();
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out seq) || seq < 0)
                    return ParseResult.Fail(RejectReason.BadSequence, "seq must be a non-negative integer");
                hasSeq = true;
            }
            else if (reader.ValueTextEquals("value"u8))
            {
                if (value is not null) return DuplicateMetric(Reading.DefaultMetric);
                reader.Read();
                var error = ReadValue(ref reader, "value", out var v);
                if (error is not null) return error;
                value = v;
            }
            else if (reader.ValueTextEquals("metrics"u8))
            {
                if (metrics is not null)
                    return ParseResult.Fail(RejectReason.BadMetricName, "\"metrics\" appears twice in one reading; put every metric in one object");
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                    return ParseResult.Fail(RejectReason.MissingValue, "metrics must be an object of name: number");
                metrics = new List<MetricValue>(4);
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    var name = MetricName(ref reader);
                    if (name is null)
                        return ParseResult.Fail(RejectReason.BadMetricName, "metric names are 1-64 characters of [A-Za-z0-9_.-]");
                    if (Contains(metrics, name)) return DuplicateMetric(name);
                    if (metrics.Count == _maxMetrics)
                        return ParseResult.Fail(RejectReason.TooManyMetrics, $"a reading holds at most {_maxMetrics} metrics");
                    reader.Read();
                    var error = ReadValue(ref reader, name, out var v);
                    if (error is not null) return error;
                    metrics.Add(new MetricValue(name, v));
                }
            }
            else
            {
                reader.Read();
                reader.Skip(); // unknown fields are ignored
            }
        }

        MetricValue[] values;
        if (metrics is null)
        {
            if (value is null) return ParseResult.Fail(RejectReason.MissingValue, "a reading needs \"value\" or \"metrics\"");
            values = [new MetricValue(Reading.DefaultMetric, value.Value)];
        }
        else
        {
            if (value is not null)
            {
                if (Contains(metrics, Reading.DefaultMetric)) return DuplicateMetric(Reading.DefaultMetric);
                if (metrics.Count == _maxMetrics)
                    return ParseResult.Fail(RejectReason.TooManyMetrics, $"a reading holds at most {_maxMetrics} metrics");
                metrics.Add(new MetricValue(Reading.DefaultMetric, value.Value));
            }

            if (metrics.Count == 0) return ParseResult.Fail(RejectReason.MissingValue, "metrics is empty");
            values = metrics.ToArray();
        }

        reading = new Reading(ts ?? receivedAtUs / 1000, seq, values, receivedAtUs);
        return null;
    }

    /// <summary>Whether the reading already holds <paramref name="name"/>: a short linear scan (at most the metric limit), no allocation.</summary>
    private static bool Contains(List<MetricValue> metrics, string name)
    {
        foreach (var metric in System.Runtime.InteropServices.CollectionsMarshal.AsSpan(metrics))
        {
            // Names are interned, so the reference check answers almost always; Equals covers names past the intern cap.
            if (ReferenceEquals(metric.Name, name) || string.Equals(metric.Name, name, StringComparison.Ordinal)) return true;
        }

        return false;
    }

    private static ParseResult DuplicateMetric(string name)
        => ParseResult.Fail(RejectReason.BadMetricName, $"metric \"{name}\" appears twice in one reading");

    private ParseResult? ReadTimestamp(ref Utf8JsonReader reader, long receivedAtUs, out long ts)
    {
        ts = 0;
        if (reader.TokenType == JsonTokenType.Number)
        {
            if (!reader.TryGetDouble(out var d) || !double.IsFinite(d))
                return ParseResult.Fail(RejectReason.BadTimestamp, "ts is not a finite number");
            ts = (long)Math.Floor(d);
        }
        else if (reader.TokenType == JsonTokenType.String)
        {
            // A payload that arrives in several segments may split the string: CopyString handles both forms.
            if ((reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length) > 64)
                return ParseResult.Fail(RejectReason.BadTimestamp, "ts is not an ISO-8601 time");
            Span<char> buffer = stackalloc char[64];
            var length = reader.CopyString(buffer);
            if (!DateTimeOffset.TryParse(buffer[..length], CultureInfo.InvariantCulture,
                    DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
                return ParseResult.Fail(RejectReason.BadTimestamp, "ts is neither unix milliseconds nor an ISO-8601 time");
            ts = parsed.ToUnixTimeMilliseconds();
        }
        else
        {
            return ParseResult.Fail(RejectReason.BadTimestamp, "ts must be unix milliseconds or an ISO-8601 string");
        }

        if (ts is < MinTimestampMs or > MaxTimestampMs)
            return ParseResult.Fail(RejectReason.BadTimestamp, "ts is outside 2000-2200 (is it unix milliseconds?)");

        var aheadMs = ts - receivedAtUs / 1000;
        if (aheadMs > _maxAheadMs)
            return ParseResult.Fail(RejectReason.BadTimestamp,
                $"ts is {Duration(aheadMs)} ahead of the server's clock; at most {Duration(_maxAheadMs)} (Mqtt:MaxClockAhead) is accepted: is the device's clock set?");
        return null;
    }

    /// <summary>A duration for a reject reason: "3.5 days", "2 h 5 min", "40 s", "250 ms".</summary>
    internal static string Duration(long ms)
    {
        var span = TimeSpan.FromMilliseconds(ms);
        if (span.TotalDays >= 1)
        {
            var days = span.TotalDays.ToString("0.##", CultureInfo.InvariantCulture);
            return days == "1" ? "1 day" : days + " days";
        }

        if (span.TotalHours >= 1) return span.Minutes == 0 ? $"{(int)span.TotalHours} h" : $"{(int)span.TotalHours} h {span.Minutes} min";
        if (span.TotalMinutes >= 1) return span.Seconds == 0 ? $"{(int)span.TotalMinutes} min" : $"{(int)span.TotalMinutes} min {span.Seconds} s";
        if (span.TotalSeconds >= 1) return span.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";
        return ms.ToString(CultureInfo.InvariantCulture) + " ms";
    }

    private static ParseResult? ReadValue(ref Utf8JsonReader reader, string name, out double value)
    {
        value = 0;
        switch (reader.TokenType)
        {
            case JsonTokenType.Number:
                if (!reader.TryGetDouble(out value) || !double.IsFinite(value))
                    return ParseResult.Fail(RejectReason.NonFiniteValue, $"{name} is not a finite number");
                if (Math.Abs(value) > RejectReasons.MaxMagnitude)
                    return ParseResult.Fail(RejectReason.ValueOutOfRange, $"{name} = {value.ToString(CultureInfo.InvariantCulture)} is beyond ±1e100, the largest magnitude a reading may have");
                return null;
            case JsonTokenType.String when reader.ValueTextEquals("NaN"u8) || reader.ValueTextEquals("Infinity"u8) || reader.ValueTextEquals("-Infinity"u8):
                return ParseResult.Fail(RejectReason.NonFiniteValue, $"{name} is not a finite number");
            case JsonTokenType.StartObject or JsonTokenType.StartArray:
                reader.Skip();
                return ParseResult.Fail(RejectReason.MissingValue, $"{name} must be a number");
            default:
                return ParseResult.Fail(RejectReason.MissingValue, $"{name} must be a number");
        }
    }

    /// <summary>Validates and interns a metric name (the reader is on a PropertyName); null when invalid.</summary>
    private string? MetricName(ref Utf8JsonReader reader)
    {
        var raw = reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan;
        if (raw.Length is 0 or > 64 || reader.ValueIsEscaped) return null;
        Span<char> chars = stackalloc char[64];
        for (var i = 0; i < raw.Length; i++)
        {
            var b = raw[i];
            var ok = b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9') or (byte)'_' or (byte)'-' or (byte)'.';
            if (!ok) return null;
            chars[i] = (char)b;
        }

        var span = chars[..raw.Length];
        if (_nameLookup.TryGetValue(span, out var interned)) return interned;
        var name = span.ToString();
        return _names.Count < 10_000 ? _names.GetOrAdd(name, name) : name;
    }
}
