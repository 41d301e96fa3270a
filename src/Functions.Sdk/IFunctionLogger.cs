namespace Fleet.Functions;

public enum FunctionLogLevel
{
    Trace,
    Debug,
    Information,
    Warning,
    Error,
}

/// <summary>A structured logger; the platform adds the request id, function name and version to every entry.</summary>
public interface IFunctionLogger
{
    void Log(FunctionLogLevel level, string message, IReadOnlyDictionary<string, object?>? fields = null);

    void Info(string message, IReadOnlyDictionary<string, object?>? fields = null) => Log(FunctionLogLevel.Information, message, fields);

    void Warn(string message, IReadOnlyDictionary<string, object?>? fields = null) => Log(FunctionLogLevel.Warning, message, fields);

    void Error(string message, IReadOnlyDictionary<string, object?>? fields = null) => Log(FunctionLogLevel.Error, message, fields);
}
