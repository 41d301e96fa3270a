namespace Fleet.Functions.Loading;

/// <summary>
/// The code cannot serve: not a zip, the handler's file, type or method is missing, its signature is
/// wrong, a dependency is missing. <see cref="ErrorType"/> is Lambda-style (<c>Runtime.HandlerNotFound</c>).
/// </summary>
public sealed class FunctionLoadException(string errorType, string message, Exception? inner = null) : Exception(message, inner)
{
    public string ErrorType { get; } = errorType;
}

/// <summary>
/// The function's own initialisation threw (a .NET constructor, a JavaScript module's top level). <see cref="ErrorType"/>,
/// <see cref="ErrorMessage"/> and <see cref="Cause"/> are the error document the invocation reports.
/// </summary>
public sealed class FunctionInitException(Exception inner)
    : Exception($"the function's initialisation threw {inner.GetType().FullName}: {inner.Message}", inner)
{
    /// <summary>Lambda's .NET runtime's error type for an error of the init phase.</summary>
    public const string LambdaException = "LambdaException";

    /// <summary>The reported error type: by default the thrown exception's, as <see cref="ErrorTypes.Of"/> names it (for JavaScript, the error's name).</summary>
    public string ErrorType { get; init; } = ErrorTypes.Of(inner);

    /// <summary>The reported message: by default the thrown exception's.</summary>
    public string ErrorMessage { get; init; } = inner.Message;

    /// <summary>The error document's <c>cause</c>: the exception the function threw, when the error reported is not that exception itself.</summary>
    public FunctionErrorDocument? Cause { get; init; }

    /// <summary>
    /// Lambda's .NET runtime's answer to a handler type whose constructor throws: a <c>LambdaException</c> with its message,
    /// and the constructor's exception as the <c>cause</c> ("If your constructor throws an exception, the error type is also
    /// of type LambdaException, but the exception thrown during construction is provided in the cause property").
    /// </summary>
    public static FunctionInitException ConstructorThrew(string typeName, Exception thrown, FunctionErrorDocument? cause = null) => new(thrown)
    {
        ErrorType = LambdaException,
        ErrorMessage = ConstructorThrewMessage(typeName),
        Cause = cause ?? FunctionErrorDocument.Of(thrown),
    };

    /// <summary>The message of Lambda's .NET runtime when the handler type's constructor throws.</summary>
    public static string ConstructorThrewMessage(string typeName)
        => $"An exception was thrown when the constructor for type '{typeName}' was invoked. Check inner exception for more details.";
}

/// <summary>
/// One exception as Lambda's error document shows it: <c>errorType</c> (the short name), <c>errorMessage</c>,
/// <c>stackTrace</c> (one frame a line), its inner exception as <c>cause</c> and, for an <see cref="AggregateException"/>,
/// each of its inner exceptions in <c>causes</c>, nested as deep as the exceptions are.
/// </summary>
public sealed record FunctionErrorDocument(string ErrorType, string ErrorMessage, IReadOnlyList<string>? StackTrace = null, FunctionErrorDocument? Cause = null,
    IReadOnlyList<FunctionErrorDocument>? Causes = null)
{
    /// <summary>
    /// At most this many stack lines per exception, this many nested causes, and this many documents in all below the
    /// top one: an aggregate's first inner exception is both its <c>cause</c> and <c>causes[0]</c>, so nested aggregates
    /// (or one exception listed many times) would otherwise double the document at every level.
    /// </summary>
    public const int MaxStackLines = 50;
    public const int MaxDepth = 10;
    public const int MaxDocuments = 100;

    public static FunctionErrorDocument Of(Exception exception) => Of(exception, 0, new Budget());

    private static FunctionErrorDocument Of(Exception exception, int depth, Budget budget)
    {
        // An exception's own cause and causes are counted before any of them is written out, so the budget goes to the
        // upper levels first rather than down the first chain.
        var inner = exception.InnerException is { } i && depth + 1 < MaxDepth && budget.Take() ? i : null;
        var listed = Listed(exception, depth, budget);
        return new(ErrorTypes.Of(exception), exception.Message, StackLines(exception.StackTrace),
            inner is null ? null : Of(inner, depth + 1, budget),
            listed?.Select(e => Of(e, depth + 1, budget)).ToArray());
    }

    /// <summary>The aggregate's inner exceptions the budget still has room for (null for any other exception, or none).</summary>
    private static List<Exception>? Listed(Exception exception, int depth, Budget budget)
    {
        if (exception is not AggregateException { InnerExceptions.Count: > 0 } aggregate || depth + 1 >= MaxDepth) return null;
        var listed = new List<Exception>();
        foreach (var each in aggregate.InnerExceptions)
        {
            if (!budget.Take()) break;
            listed.Add(each);
        }

        return listed.Count > 0 ? listed : null;
    }

    /// <summary>The documents one error may still add (<see cref="MaxDocuments"/> at first).</summary>
    private sealed class Budget
    {
        private int _left = MaxDocuments;

        public bool Take() => _left-- > 0;
    }

    /// <summary>A stack trace as the document's lines: trimmed, no blank ones, at most <see cref="MaxStackLines"/>; null when there are none.</summary>
    public static string[]? StackLines(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var lines = text.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return lines.Length == 0 ? null : lines[..Math.Min(lines.Length, MaxStackLines)];
    }
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

    /// <summary>The <c>cause</c> of Lambda's error document: the thrown exception's inner exception, nested (an isolated handler's, sent by its worker).</summary>
    public FunctionErrorDocument? Cause { get; init; }

    /// <summary>Lambda's <c>causes</c>: the inner exceptions of a thrown <see cref="AggregateException"/>.</summary>
    public IReadOnlyList<FunctionErrorDocument>? Causes { get; init; }
}
