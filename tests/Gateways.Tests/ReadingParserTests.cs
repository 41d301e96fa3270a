using System.Buffers;
using System.Text;
using Fleet.Gateways.Mqtt;
using Fleet.Grains.Readings;

namespace Fleet.Gateways.Tests;

public sealed class ReadingParserTests
{
    // 2024-11-24T12:26:40.123456Z in unix microseconds: the "receive time" the gateway would pass.
    private const long ReceivedAtUs = 1_732_451_200_123_456;
    private const long Ts = 1_732_450_000_000;

    private static ParseResult Parse(string json, int maxMetrics = 32, int maxBatch = 1000)
        => new ReadingParser(maxMetrics, maxBatch).Parse(Encoding.UTF8.GetBytes(json), ReceivedAtUs);

    private static void AssertRejected(ParseResult result, RejectReason reason)
    {
        Assert.False(result.Ok, $"expected {reason}, but the payload was accepted");
        Assert.Null(result.Readings);
        Assert.Equal(reason, result.Reason);
        Assert.False(string.IsNullOrWhiteSpace(result.Detail));
    }

    private static Reading Single(ParseResult result)
    {
        Assert.True(result.Ok, $"rejected: {result.Reason}: {result.Detail}");
        return Assert.Single(result.Readings!);
    }

    // --- accepted forms -------------------------------------------------------------------------

    [Fact]
    public void Single_value_reading_gets_the_default_metric_ts_and_seq()
    {
        var r = Single(Parse("""{"ts": 1732450000000, "seq": 42, "value": 21.5}"""));
        Assert.Equal(Ts, r.TimestampMs);
        Assert.Equal(42, r.Seq);
        Assert.True(r.HasSeq);
        Assert.Equal(ReceivedAtUs, r.ReceivedAtUs);
        var metric = Assert.Single(r.Metrics);
        Assert.Equal(new MetricValue(Reading.DefaultMetric, 21.5), metric);
    }

    [Fact]
    public void Named_metrics_keep_their_names_and_order()
    {
        var r = Single(Parse("""{"ts": 1732450000000, "metrics": {"temperature": 21.5, "humidity": 40, "dev.v_2-a": -1e-3}}"""));
        Assert.Equal(
            [new MetricValue("temperature", 21.5), new MetricValue("humidity", 40), new MetricValue("dev.v_2-a", -0.001)],
            r.Metrics);
        Assert.Equal(Reading.NoSeq, r.Seq);
        Assert.False(r.HasSeq);
    }

    [Fact]
    public void Value_next_to_metrics_becomes_the_default_metric()
    {
        var r = Single(Parse("""{"ts": 1732450000000, "metrics": {"a": 1}, "value": 2}"""));
        Assert.Equal([new MetricValue("a", 1), new MetricValue("value", 2)], r.Metrics);
    }

    [Fact]
    public void Batch_array_yields_every_reading_in_order()
    {
        var result = Parse("""
            [
              {"ts": 1732450000000, "seq": 1, "value": 1.0},
              {"ts": 1732450001000, "seq": 2, "metrics": {"x": 2.0}},
              {"ts": "2024-11-24T12:06:42Z", "seq": 3, "value": 3.0}
            ]
            """);
        Assert.True(result.Ok, result.Detail);
        var readings = result.Readings!;
        Assert.Equal(3, readings.Length);
        Assert.Equal([1L, 2L, 3L], readings.Select(r => r.Seq));
        Assert.Equal([Ts, Ts + 1000, Ts + 2000], readings.Select(r => r.TimestampMs));
        Assert.Equal("x", readings[1].Metrics[0].Name);
        Assert.All(readings, r => Assert.Equal(ReceivedAtUs, r.ReceivedAtUs));
    }

    [Theory]
    [InlineData("2024-11-24T12:06:40Z", 1_732_450_000_000)]
    [InlineData("2024-11-24T12:06:40.250Z", 1_732_450_000_250)]
    [InlineData("2024-11-24T14:06:40+02:00", 1_732_450_000_000)]
    [InlineData("2024-11-24T12:06:40", 1_732_450_000_000)] // no offset: UTC assumed
    public void Iso8601_timestamps_are_converted_to_unix_milliseconds(string iso, long expectedMs)
    {
        var r = Single(Parse($$"""{"ts": "{{iso}}", "value": 1}"""));
        Assert.Equal(expectedMs, r.TimestampMs);
    }

    [Fact]
    public void Fractional_unix_milliseconds_are_floored()
    {
        Assert.Equal(Ts, Single(Parse("""{"ts": 1732450000000.9, "value": 1}""")).TimestampMs);
    }

    [Fact]
    public void Missing_ts_uses_the_receive_time()
    {
        var r = Single(Parse("""{"value": 7}"""));
        Assert.Equal(ReceivedAtUs / 1000, r.TimestampMs);
        Assert.Equal(1_732_451_200_123, r.TimestampMs);
    }

    [Fact]
    public void Unknown_fields_of_any_shape_are_ignored()
    {
        var r = Single(Parse("""
            {"device": "abc", "fw": {"v": [1, 2, {"x": null}]}, "ok": true, "value": 3.5, "n": null, "seq": 9}
            """));
        Assert.Equal(3.5, Assert.Single(r.Metrics).Value);
        Assert.Equal(9, r.Seq);
    }

    [Fact]
    public void Multi_segment_payloads_parse_like_contiguous_ones()
    {
        var json = Encoding.UTF8.GetBytes("""{"ts": "2024-11-24T12:06:40Z", "seq": 5, "metrics": {"temperature": 21.5}}""");
        // Split in the middle of the ts string and of the metric name, as a network buffer might.
        var sequence = Segments(json, 12, 60);
        Assert.False(sequence.IsSingleSegment);
        var result = new ReadingParser().Parse(sequence, ReceivedAtUs);
        var r = Single(result);
        Assert.Equal(Ts, r.TimestampMs);
        Assert.Equal([new MetricValue("temperature", 21.5)], r.Metrics);
    }

    [Fact]
    public void Metric_names_are_interned_across_publishes()
    {
        var parser = new ReadingParser();
        var a = parser.Parse("""{"metrics": {"temperature": 1}}"""u8, ReceivedAtUs).Readings![0].Metrics[0].Name;
        var b = parser.Parse("""{"metrics": {"temperature": 2}}"""u8, ReceivedAtUs).Readings![0].Metrics[0].Name;
        Assert.Equal("temperature", a);
        Assert.Same(a, b);
    }

    // --- every reject reason the parser produces ------------------------------------------------

    [Theory]
    [InlineData("""{"value": 1""")]
    [InlineData("""{"value": 1} trailing""")]
    [InlineData("""{"value": 1}{"value": 2}""")]
    [InlineData("not json")]
    [InlineData("")]
    [InlineData("42")]
    [InlineData("\"value\"")]
    [InlineData("[1, 2]")]
    [InlineData("""{"value": 1, /* comment */ "seq": 1}""")]
    [InlineData("""{"x": [[[[[[[[[[1]]]]]]]]]], "value": 1}""")] // deeper than MaxDepth 8
    public void Malformed_json_is_rejected(string payload)
    {
        AssertRejected(Parse(payload), RejectReason.MalformedJson);
    }

    [Theory]
    [InlineData("""{"ts": 1732450000000}""")]
    [InlineData("""{}""")]
    [InlineData("""{"value": null}""")]
    [InlineData("""{"value": "21.5"}""")]
    [InlineData("""{"value": [1]}""")]
    [InlineData("""{"value": {"v": 1}}""")]
    [InlineData("""{"metrics": {}}""")]
    [InlineData("""{"metrics": [1, 2]}""")]
    [InlineData("""{"metrics": {"a": true}}""")]
    [InlineData("""[]""")]
    public void Missing_value_is_rejected(string payload)
    {
        AssertRejected(Parse(payload), RejectReason.MissingValue);
    }

    [Theory]
    [InlineData("""{"value": 1e999}""")]
    [InlineData("""{"value": -1e999}""")]
    [InlineData("""{"value": "NaN"}""")]
    [InlineData("""{"value": "Infinity"}""")]
    [InlineData("""{"value": "-Infinity"}""")]
    [InlineData("""{"metrics": {"a": 1, "b": 1e400}}""")]
    public void Non_finite_value_is_rejected(string payload)
    {
        AssertRejected(Parse(payload), RejectReason.NonFiniteValue);
    }

    [Theory]
    [InlineData("""{"value": 1e308}""")]
    [InlineData("""{"value": -1.0000001e100}""")]
    [InlineData("""{"metrics": {"a": 1, "b": 3e200}}""")]
    public void A_finite_value_beyond_1e100_is_rejected_as_out_of_range(string payload)
    {
        var result = Parse(payload);
        AssertRejected(result, RejectReason.ValueOutOfRange);
        Assert.Contains("beyond ±1e100", result.Detail);
    }

    [Theory]
    [InlineData("""{"value": 1e100}""", 1e100)]
    [InlineData("""{"value": -1e100}""", -1e100)]
    [InlineData("""{"value": 5e-324}""", 5e-324)]
    public void Values_up_to_1e100_in_magnitude_are_accepted(string payload, double expected)
        => Assert.Equal(expected, Assert.Single(Parse(payload).Readings!).Metrics.Single().Value);

    [Fact]
    public void Too_many_metrics_is_rejected()
    {
        AssertRejected(Parse("""{"metrics": {"a": 1, "b": 2, "c": 3}}""", maxMetrics: 2), RejectReason.TooManyMetrics);
        // "value" next to a full metrics object is one too many as well.
        AssertRejected(Parse("""{"metrics": {"a": 1, "b": 2}, "value": 3}""", maxMetrics: 2), RejectReason.TooManyMetrics);
        // At the limit is fine.
        Assert.True(Parse("""{"metrics": {"a": 1, "b": 2}}""", maxMetrics: 2).Ok);
    }

    [Fact]
    public void Batch_too_large_is_rejected()
    {
        var three = """[{"value": 1}, {"value": 2}, {"value": 3}]""";
        AssertRejected(Parse(three, maxBatch: 2), RejectReason.BatchTooLarge);
        Assert.Equal(3, Parse(three, maxBatch: 3).Readings!.Length);
    }

    [Theory]
    [InlineData("""{"metrics": {"te mp": 1}}""")]
    [InlineData("""{"metrics": {"": 1}}""")]
    [InlineData("""{"metrics": {"temp/1": 1}}""")]
    [InlineData("""{"metrics": {"tëmp": 1}}""")]
    [InlineData("""{"metrics": {"te\u006dp": 1}}""")] // escaped names are refused
    [InlineData("""{"metrics": {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": 1}}""")] // 65 chars
    public void Bad_metric_name_is_rejected(string payload)
    {
        AssertRejected(Parse(payload), RejectReason.BadMetricName);
    }

    [Fact]
    public void Metric_name_of_64_characters_is_accepted()
    {
        var name = new string('a', 64);
        Assert.Equal(name, Single(Parse($$$"""{"metrics": {"{{{name}}}": 1}}""")).Metrics[0].Name);
    }

    [Theory]
    [InlineData("""{"seq": -1, "value": 1}""")]
    [InlineData("""{"seq": 1.5, "value": 1}""")]
    [InlineData("""{"seq": "7", "value": 1}""")]
    [InlineData("""{"seq": null, "value": 1}""")]
    [InlineData("""{"seq": 1e30, "value": 1}""")]
    public void Bad_sequence_is_rejected(string payload)
    {
        AssertRejected(Parse(payload), RejectReason.BadSequence);
    }

    [Theory]
    [InlineData("""{"ts": 1732450000, "value": 1}""")] // seconds, not milliseconds
    [InlineData("""{"ts": -5, "value": 1}""")]
    [InlineData("""{"ts": 1e300, "value": 1}""")]
    [InlineData("""{"ts": "yesterday", "value": 1}""")]
    [InlineData("""{"ts": "1999-12-31T23:59:59Z", "value": 1}""")]
    [InlineData("""{"ts": "2300-01-01T00:00:00Z", "value": 1}""")]
    [InlineData("""{"ts": true, "value": 1}""")]
    [InlineData("""{"ts": null, "value": 1}""")]
    [InlineData("""{"ts": "2024-11-24T12:06:40Z-----------------------------------------------------------------", "value": 1}""")]
    public void Bad_timestamp_is_rejected(string payload)
    {
        AssertRejected(Parse(payload), RejectReason.BadTimestamp);
    }

    // --- a metric (or ts, seq, metrics) given twice ------------------------------------------------

    [Theory]
    [InlineData("""{"metrics": {"t": 1, "t": 100}}""", "t")]
    [InlineData("""{"metrics": {"a": 1, "t": 1, "b": 2, "t": 100}}""", "t")]
    [InlineData("""{"value": 1, "metrics": {"value": 2}}""", "value")]
    [InlineData("""{"metrics": {"value": 2}, "value": 1}""", "value")]
    [InlineData("""{"value": 1, "value": 2}""", "value")]
    public void A_metric_given_twice_is_refused_and_named(string payload, string metric)
    {
        var result = Parse(payload);
        AssertRejected(result, RejectReason.BadMetricName);
        Assert.Equal($"metric \"{metric}\" appears twice in one reading", result.Detail);
    }

    [Theory]
    [InlineData("""{"metrics": {"t": 1}, "metrics": {"t": 2}}""")]
    [InlineData("""{"metrics": {"t": 1}, "metrics": {"u": 2}}""")]
    [InlineData("""{"metrics": {"t": 1}, "metrics": {}}""")]
    public void Two_metrics_objects_in_one_reading_are_refused(string payload)
    {
        var result = Parse(payload);
        AssertRejected(result, RejectReason.BadMetricName);
        Assert.Contains("\"metrics\" appears twice", result.Detail);
    }

    [Fact]
    public void Ts_or_seq_given_twice_is_refused()
    {
        var ts = Parse("""{"ts": 1732450000000, "ts": 1732450001000, "value": 1}""");
        AssertRejected(ts, RejectReason.BadTimestamp);
        Assert.Equal("\"ts\" appears twice in one reading", ts.Detail);
        var seq = Parse("""{"seq": 1, "value": 1, "seq": 2}""");
        AssertRejected(seq, RejectReason.BadSequence);
        Assert.Equal("\"seq\" appears twice in one reading", seq.Detail);
    }

    [Fact]
    public void A_duplicate_in_a_batch_refuses_the_batch_and_names_the_reading()
    {
        var result = Parse("""[{"seq": 1, "metrics": {"t": 1, "u": 2}}, {"seq": 2, "metrics": {"u": 1, "t": 2, "u": 3}}]""");
        AssertRejected(result, RejectReason.BadMetricName);
        Assert.Equal("reading 1: metric \"u\" appears twice in one reading", result.Detail);
    }

    [Fact]
    public void The_same_metric_in_different_readings_of_a_batch_is_fine()
    {
        var result = Parse("""[{"metrics": {"t": 1, "value": 3}}, {"metrics": {"t": 2}, "value": 4}]""");
        Assert.True(result.Ok, result.Detail);
        Assert.Equal([new MetricValue("t", 1), new MetricValue("value", 3)], result.Readings![0].Metrics);
        Assert.Equal([new MetricValue("t", 2), new MetricValue("value", 4)], result.Readings![1].Metrics);
    }

    // --- timestamps ahead of the receive time -------------------------------------------------------

    private const long ReceivedAtMs = ReceivedAtUs / 1000;
    private const long DayMs = 86_400_000;

    [Fact]
    public void Ts_up_to_a_day_ahead_of_the_receive_time_is_accepted()
    {
        Assert.Equal(ReceivedAtMs + DayMs, Single(Parse($$"""{"ts": {{ReceivedAtMs + DayMs}}, "value": 1}""")).TimestampMs);
        Assert.Equal(ReceivedAtMs + 5_000, Single(Parse($$"""{"ts": {{ReceivedAtMs + 5_000}}, "value": 1}""")).TimestampMs);
        // Old readings (a device catching up) are not limited by this check.
        Assert.Equal(978_307_200_000, Single(Parse("""{"ts": "2001-01-01T00:00:00Z", "value": 1}""")).TimestampMs);
    }

    [Fact]
    public void Ts_more_than_a_day_ahead_is_refused_saying_how_far_and_the_limit()
    {
        var justOver = Parse($$"""{"ts": {{ReceivedAtMs + DayMs + 1}}, "value": 1}""");
        AssertRejected(justOver, RejectReason.BadTimestamp);
        Assert.Contains("ahead of the server's clock", justOver.Detail);
        Assert.Contains("at most 1 day (Mqtt:MaxClockAhead)", justOver.Detail);

        // The year 2199 passes the 2000-2200 check, but is far in the future.
        var future = Parse("""{"ts": "2199-06-01T00:00:00Z", "metrics": {"t": 1}}""");
        AssertRejected(future, RejectReason.BadTimestamp);
        Assert.Contains("days ahead", future.Detail);

        var hours = Parse($$"""{"ts": {{ReceivedAtMs + DayMs + 2 * 3_600_000}}, "value": 1}""");
        AssertRejected(hours, RejectReason.BadTimestamp);
        Assert.StartsWith("ts is 1.08 days ahead of the server's clock; at most 1 day", hours.Detail);

        var threeDays = Parse($$"""[{"value": 1}, {"ts": {{ReceivedAtMs + 3 * DayMs}}, "value": 2}]""");
        AssertRejected(threeDays, RejectReason.BadTimestamp);
        Assert.StartsWith("reading 1: ts is 3 days ahead of the server's clock; at most 1 day", threeDays.Detail);
    }

    [Fact]
    public void The_clock_ahead_limit_is_configurable()
    {
        var parser = new ReadingParser(maxClockAhead: TimeSpan.FromMinutes(5));
        Assert.True(parser.Parse(Encoding.UTF8.GetBytes($$"""{"ts": {{ReceivedAtMs + 299_000}}, "value": 1}"""), ReceivedAtUs).Ok);
        var refused = parser.Parse(Encoding.UTF8.GetBytes($$"""{"ts": {{ReceivedAtMs + 390_000}}, "value": 1}"""), ReceivedAtUs);
        AssertRejected(refused, RejectReason.BadTimestamp);
        Assert.StartsWith("ts is 6 min 30 s ahead of the server's clock; at most 5 min", refused.Detail);

        Assert.Throws<ArgumentOutOfRangeException>(() => new ReadingParser(maxClockAhead: TimeSpan.Zero));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReadingParser(maxClockAhead: TimeSpan.FromSeconds(-1)));
    }

    [Fact]
    public void A_batch_is_all_or_nothing_and_names_the_bad_reading()
    {
        var result = Parse("""
            [
              {"ts": 1732450000000, "seq": 1, "value": 1},
              {"ts": 1732450001000, "seq": 2, "value": 2},
              {"ts": 1732450002000, "seq": 3, "value": "NaN"},
              {"ts": 1732450003000, "seq": 4, "value": 4}
            ]
            """);
        AssertRejected(result, RejectReason.NonFiniteValue);
        Assert.StartsWith("reading 2:", result.Detail);
    }

    [Fact]
    public void A_batch_with_a_non_object_element_is_malformed()
    {
        AssertRejected(Parse("""[{"value": 1}, 2]"""), RejectReason.MalformedJson);
    }

    private static ReadOnlySequence<byte> Segments(byte[] data, params int[] cuts)
    {
        var bounds = cuts.Prepend(0).Append(data.Length).ToArray();
        Segment? first = null, last = null;
        for (var i = 0; i < bounds.Length - 1; i++)
        {
            var memory = data.AsMemory(bounds[i], bounds[i + 1] - bounds[i]).ToArray();
            if (first is null) first = last = new Segment(memory, 0);
            else last = last!.Append(memory);
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
