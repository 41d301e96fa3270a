namespace Fleet.Functions;

/// <summary>Thrown by <see cref="IFunctionContext.InvokeAsync"/> when the called function fails.</summary>
public sealed class FunctionInvocationException : Exception
{
    public FunctionInvocationException(string function, string errorType, string message)
        : base($"{function} failed with {errorType}: {message}")
    {
        Function = function;
        ErrorType = errorType;
        ErrorMessage = message;
    }

    /// <summary>The function that was called.</summary>
    public string Function { get; }

    /// <summary><c>Timeout</c>, <c>MemoryLimitExceeded</c>, <c>Unhandled</c>, <c>Throttled</c>, <c>NotFound</c>, ...</summary>
    public string ErrorType { get; }

    public string ErrorMessage { get; }
}
