using System.Text;
using Microsoft.Extensions.Logging;

namespace Fleet.Functions.Hosting;

/// <summary>
/// The handler's logger: every entry goes to the silo's log with the request id, function and version
/// as structured fields, and the last <c>LogTailBytes</c> are kept for the caller (Lambda's LogType=Tail).
/// </summary>
internal sealed class FunctionLogger(ILogger logger, string requestId, string function, string version, int tailBytes) : IFunctionLogger
{
    private readonly StringBuilder _tail = new();

    public string Tail
    {
        get
        {
            lock (_tail) return _tail.ToString();
        }
    }

    public void Log(FunctionLogLevel level, string message, IReadOnlyDictionary<string, object?>? fields = null)
    {
        var msLevel = level switch
        {
            FunctionLogLevel.Trace => LogLevel.Trace,
            FunctionLogLevel.Debug => LogLevel.Debug,
            FunctionLogLevel.Information => LogLevel.Information,
            FunctionLogLevel.Warning => LogLevel.Warning,
            _ => LogLevel.Error,
        };
        if (logger.IsEnabled(msLevel))
        {
            var state = new List<KeyValuePair<string, object?>>
            {
                new("RequestId", requestId),
                new("Function", function),
                new("Version", version),
            };
            if (fields is not null) state.AddRange(fields);
            using (logger.BeginScope(state))
            {
#pragma warning disable CA2254 // the message is the function's own text
                logger.Log(msLevel, "{RequestId} {Message}", requestId, message);
#pragma warning restore CA2254
            }
        }

        if (tailBytes <= 0) return;
        lock (_tail)
        {
            _tail.Append(DateTime.UtcNow.ToString("O")).Append('\t').Append(requestId).Append('\t').Append(level.ToString().ToUpperInvariant()).Append('\t').Append(message);
            if (fields is { Count: > 0 })
            {
                _tail.Append('\t').Append(System.Text.Json.JsonSerializer.Serialize(fields));
            }

            _tail.Append('\n');
            if (_tail.Length > tailBytes) _tail.Remove(0, _tail.Length - tailBytes);
        }
    }
}
