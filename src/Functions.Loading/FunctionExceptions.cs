namespace Fleet.Functions.Loading;

/// <summary>
/// The code cannot serve: not a zip, the handler's file, type or method is missing, its signature is
/// wrong, a dependency is missing. <see cref="ErrorType"/> is Lambda-style (<c>Runtime.HandlerNotFound</c>).
/// </summary>
public sealed class FunctionLoadException(string errorType, string message, Exception? inner = null) : Exception(message, inner)
{
    public string ErrorType { get; } = errorType;
}

/// <summary>The function's own initialisation threw (a .NET constructor, a JavaScript module's top level).</summary>
public sealed class FunctionInitException(Exception inner)
    : Exception($"the function's initialisation threw {inner.GetType().FullName}: {inner.Message}", inner)
{
    /// <summary>The type of the exception the function threw, as <see cref="ErrorTypes.Of"/> names it (for JavaScript, the error's name).</summary>
    public string ErrorType { get; init; } = ErrorTypes.Of(inner);
}

/// <summary>The <c>errorType</c> a .NET exception is reported with.</summary>
public static class ErrorTypes
{
    /// <summary>
    /// Lambda's .NET runtime reports an exception by its type's short name, <see cref="System.Reflection.MemberInfo.Name"/>
    /// (<c>InvalidOperationException</c>, not <c>System.InvalidOperationException</c>), as this does.
    /// </summary>
    public static string Of(Exception exception) => exception.GetType().Name;
}

/// <summary>The handler used more memory than the function's limit.</summary>
public sealed class FunctionMemoryLimitException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The handler threw; carries the language-level error type (e.g. a JavaScript <c>TypeError</c>) when it is not a .NET exception.</summary>
public sealed class FunctionErrorException(string errorType, string message, Exception? inner = null) : Exception(message, inner)
{
    public string ErrorType { get; } = errorType;
}
