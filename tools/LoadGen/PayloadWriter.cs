using System.Buffers;
using System.Buffers.Text;

namespace Fleet.LoadGen;

/// <summary>Writes reading payloads without intermediate strings (the generator must stay lighter than the system it loads).</summary>
public static class PayloadWriter
{
    private static readonly byte[] Ts = "{\"ts\":"u8.ToArray();
    private static readonly byte[] Seq = ",\"seq\":"u8.ToArray();
    private static readonly byte[] Value = ",\"value\":"u8.ToArray();
    private static readonly byte[] Metrics = ",\"metrics\":{\"temperature\":"u8.ToArray();
    private static readonly byte[] MetricsTail = ",\"humidity\":40.5,\"pressure\":1013.2}}"u8.ToArray();

    public static byte[] Write(string kind, long seq)
    {
        var buffer = new byte[256];
        return buffer.AsSpan(0, Write(buffer, kind, seq)).ToArray();
    }

    /// <returns>bytes written</returns>
    public static int Write(byte[] buffer, string kind, long seq)
    {
        var span = buffer.AsSpan();
        var n = 0;
        Append(span, ref n, Ts);
        Utf8Formatter.TryFormat(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), span[n..], out var w);
        n += w;
        Append(span, ref n, Seq);
        Utf8Formatter.TryFormat(seq, span[n..], out w);
        n += w;
        var value = 20 + (seq % 10) * 0.1;
        if (kind == "metrics")
        {
            Append(span, ref n, Metrics);
            Utf8Formatter.TryFormat(value, span[n..], out w);
            n += w;
            Append(span, ref n, MetricsTail);
        }
        else
        {
            Append(span, ref n, Value);
            Utf8Formatter.TryFormat(value, span[n..], out w);
            n += w;
            span[n++] = (byte)'}';
        }

        return n;
    }

    private static void Append(Span<byte> span, ref int n, byte[] bytes)
    {
        bytes.CopyTo(span[n..]);
        n += bytes.Length;
    }

    /// <summary>The "ts" of a payload this class wrote, or -1.</summary>
    public static long ReadTimestamp(System.Buffers.ReadOnlySequence<byte> payload)
    {
        Span<byte> head = stackalloc byte[32];
        var length = (int)Math.Min(payload.Length, head.Length);
        payload.Slice(0, length).CopyTo(head);
        head = head[..length];
        if (!head.StartsWith(Ts)) return -1;
        return Utf8Parser.TryParse(head[Ts.Length..], out long ts, out _) ? ts : -1;
    }
}
