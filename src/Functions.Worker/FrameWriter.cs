using System.Text.Json;

namespace Fleet.Functions.Worker;

/// <summary>The worker's only way to stdout: whole frames, one writer at a time.</summary>
internal sealed class FrameWriter(Stream output)
{
    private readonly Lock _gate = new();

    /// <summary>The invocation that runs now (null during the start and between invocations): console lines are tagged with it.</summary>
    public volatile string? CurrentRequestId;

    public void Send(string type, Action<Utf8JsonWriter>? body = null)
    {
        var frame = WorkerProtocol.Encode(type, body);
        lock (_gate)
        {
            output.Write(frame);
            output.Flush();
        }
    }

    public void SendLog(string? requestId, FunctionLogLevel level, string message, IReadOnlyDictionary<string, object?>? fields = null)
    {
        Send(WorkerProtocol.Log, w =>
        {
            if (requestId is not null) w.WriteString("requestId", requestId);
            w.WriteString("level", level.ToString());
            w.WriteString("message", message);
            if (fields is not { Count: > 0 }) return;
            w.WriteStartObject("fields");
            foreach (var (key, value) in fields)
            {
                w.WritePropertyName(key);
                w.WriteRawValue(FieldJson(value), skipInputValidation: true);
            }

            w.WriteEndObject();
        });
    }

    private static string FieldJson(object? value)
    {
        if (value is null) return "null";
        try
        {
            return JsonSerializer.Serialize(value, value.GetType(), HandlerBinding.Json);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException)
        {
            return JsonSerializer.Serialize(value.ToString());
        }
    }
}

/// <summary>
/// <see cref="Console.Out"/> and <see cref="Console.Error"/> inside the worker: each line the function writes
/// becomes a <c>log</c> frame, so stdout carries nothing but frames.
/// </summary>
internal sealed class ConsoleLogWriter(FrameWriter frames, FunctionLogLevel level) : TextWriter
{
    private readonly System.Text.StringBuilder _line = new();

    public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

    public override void Write(char value)
    {
        string? complete = null;
        lock (_line)
        {
            if (value == '\n')
            {
                complete = TakeLine();
            }
            else
            {
                _line.Append(value);
            }
        }

        if (complete is not null) frames.SendLog(frames.CurrentRequestId, level, complete);
    }

    public override void Write(string? value)
    {
        if (value is null) return;
        Write(value.AsSpan());
    }

    public override void Write(char[] buffer, int index, int count) => Write(buffer.AsSpan(index, count));

    public override void Write(ReadOnlySpan<char> buffer)
    {
        List<string>? complete = null;
        lock (_line)
        {
            while (!buffer.IsEmpty)
            {
                var newline = buffer.IndexOf('\n');
                if (newline < 0)
                {
                    _line.Append(buffer);
                    break;
                }

                _line.Append(buffer[..newline]);
                (complete ??= []).Add(TakeLine());
                buffer = buffer[(newline + 1)..];
            }
        }

        if (complete is null) return;
        var requestId = frames.CurrentRequestId;
        foreach (var line in complete) frames.SendLog(requestId, level, line);
    }

    /// <summary>Sends a partial last line (at the end of an invocation).</summary>
    public override void Flush()
    {
        string? rest;
        lock (_line)
        {
            rest = _line.Length > 0 ? TakeLine() : null;
        }

        if (rest is not null) frames.SendLog(frames.CurrentRequestId, level, rest);
    }

    private string TakeLine()
    {
        if (_line.Length > 0 && _line[^1] == '\r') _line.Length--;
        var line = _line.ToString();
        _line.Clear();
        return line;
    }
}
