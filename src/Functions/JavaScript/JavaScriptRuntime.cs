using Fleet.Grains.Functions;

namespace Fleet.Functions.Hosting.JavaScript;

/// <summary>
/// The <c>javascript</c> runtime: Lambda's Node.js model on Jint. The handler <c>file.export</c> names
/// <c>file.js</c> in the package (a CommonJS module) and the function it exports. The cold start creates
/// one engine per instance and evaluates the module, so its top-level state persists between the warm
/// invocations of the instance. Each run happens on a thread of its own, synchronously, so Jint's
/// per-thread allocation accounting measures the function alone.
/// </summary>
public sealed class JavaScriptRuntime(JavaScriptRuntimeOptions? options = null) : IFunctionRuntime
{
    private readonly JavaScriptRuntimeOptions _options = options ?? new JavaScriptRuntimeOptions();

    public string Name => FunctionRuntimes.JavaScript;

    public Task<IFunctionInstance> StartAsync(FunctionCode code, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(code);
        HandlerName handler;
        try
        {
            handler = HandlerName.Parse(code.Configuration.Handler);
        }
        catch (FunctionLoadException ex)
        {
            return Task.FromException<IFunctionInstance>(ex);
        }

        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<IFunctionInstance>(cancellationToken);
        return EngineThread.Run<IFunctionInstance>(
            () => JavaScriptInstance.Start(code, handler, _options, cancellationToken),
            _options.ThreadStackSizeBytes);
    }
}

/// <summary>A handler string split like Lambda's Node.js runtime: <c>lib/app.handler</c> is module <c>lib/app</c>, export <c>handler</c>.</summary>
internal sealed record HandlerName(string Text, string ModulePath, IReadOnlyList<string> ExportPath)
{
    public string Export => string.Join('.', ExportPath);

    public static HandlerName Parse(string? handler)
    {
        var text = handler?.Trim() ?? "";
        var slash = text.LastIndexOf('/');
        var dot = text.IndexOf('.', slash + 1);
        if (text.Length == 0 || dot <= slash + 1 || dot == text.Length - 1)
            throw Malformed(text, "expected 'file.export', for example 'index.handler' or 'lib/app.handler'");

        var module = text[..dot];
        var export = text[(dot + 1)..].Split('.');
        if (export.Any(e => e.Length == 0))
            throw Malformed(text, "an export name is empty");
        if (module.StartsWith('/') || module.Contains('\\') || module.Split('/').Any(s => s is "" or "." or ".."))
            throw Malformed(text, "the file must be a relative path inside the package");

        return new HandlerName(text, module, export);
    }

    private static FunctionLoadException Malformed(string handler, string why)
        => new("Runtime.MalformedHandlerName", $"Bad handler '{handler}': {why}");
}

/// <summary>Runs the engine's work on a dedicated thread with a deep stack, synchronously from start to end.</summary>
internal static class EngineThread
{
    public static Task<T> Run<T>(Func<T> work, int stackSizeBytes)
    {
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(
            () =>
            {
                try
                {
                    completion.SetResult(work());
                }
                catch (Exception ex)
                {
                    completion.SetException(ex);
                }
            },
            stackSizeBytes)
        {
            IsBackground = true,
            Name = "fleet-javascript",
        };
        thread.Start();
        return completion.Task;
    }
}
