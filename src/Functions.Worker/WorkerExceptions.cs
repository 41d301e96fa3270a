namespace Fleet.Functions.Worker;

/// <summary>The code cannot serve (sent as <c>startFailed</c>); <see cref="ErrorType"/> is Lambda-style, as in the in-process runtime.</summary>
internal sealed class WorkerLoadException(string errorType, string message, Exception? inner = null) : Exception(message, inner)
{
    public string ErrorType { get; } = errorType;
}

/// <summary>The handler type's constructor threw <see cref="Exception.InnerException"/> (sent as <c>startFailed</c> with <c>init</c>).</summary>
internal sealed class WorkerInitException(Exception inner) : Exception(inner.Message, inner);

/// <summary>An invocation failed before or after the handler ran (for example an event that does not fit the handler's type).</summary>
internal sealed class WorkerErrorException(string errorType, string message, Exception? inner = null) : Exception(message, inner)
{
    public string ErrorType { get; } = errorType;
}
