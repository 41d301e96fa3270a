using Jint;
using Jint.Native;
using Jint.Native.Object;
using Jint.Runtime;

namespace Fleet.Functions.Hosting.JavaScript;

/// <summary>Turns what a JavaScript run threw into the platform's exceptions, naming errors the way Lambda's Node.js runtime does.</summary>
internal static class JavaScriptErrors
{
    /// <summary>
    /// The type and message of a thrown value: an error's <c>name</c> and <c>message</c>; for anything else
    /// its <c>typeof</c> and its string form (Lambda: <c>throw "x"</c> is errorType <c>string</c>).
    /// </summary>
    public static (string Type, string Message) Describe(JsValue thrown, string? fallbackMessage = null)
    {
        try
        {
            if (thrown is ObjectInstance error)
            {
                var name = error.Get("name");
                var message = error.Get("message");
                if (name.IsString() && name.AsString().Length > 0)
                    return (name.AsString(), message.IsUndefined() ? "" : message.ToString());
                return ("object", fallbackMessage ?? SafeToString(error));
            }

            var type = thrown.Type switch
            {
                Types.String => "string",
                Types.Number => "number",
                Types.Boolean => "boolean",
                Types.BigInt => "bigint",
                Types.Symbol => "symbol",
                Types.Null => "object",
                _ => "undefined",
            };
            return (type, thrown.IsSymbol() ? fallbackMessage ?? "Symbol()" : thrown.ToString());
        }
        catch (JavaScriptException)
        {
            return ("Error", fallbackMessage ?? "the thrown value could not be read");
        }
    }

    /// <summary>The platform's exception for a failed run: null when <paramref name="ex"/> already is one (timeouts, cancellation) or is not the script's doing.</summary>
    public static Exception? Translate(Exception ex, int memoryMb, int maxStatements) => ex switch
    {
        MemoryLimitExceededException => MemoryLimit(ex, memoryMb),
        StatementsCountOverflowException => new FunctionErrorException("Runtime.StatementLimitExceeded", $"the function ran more than {maxStatements:N0} statements without returning to the host", ex),
        RecursionDepthOverflowException => new FunctionErrorException("RangeError", "Maximum call stack size exceeded", ex),
        JavaScriptException js => FromThrown(js.Error, js),
        ExecutionCanceledException => new OperationCanceledException("the JavaScript run was cancelled", ex),
        _ => null,
    };

    public static FunctionMemoryLimitException MemoryLimit(Exception ex, int memoryMb)
        => new($"the function exceeded its memory limit of {memoryMb} MB ({ex.Message})", ex);

    public static FunctionErrorException FromThrown(JsValue thrown, Exception? inner = null)
    {
        var (type, message) = Describe(thrown, inner?.Message);
        return new FunctionErrorException(type, message, inner ?? new JavaScriptException(thrown));
    }

    private static string SafeToString(ObjectInstance value)
    {
        try
        {
            return value.ToString();
        }
        catch (JavaScriptException)
        {
            return "[object]";
        }
    }
}
