namespace Fleet.Functions.Hosting.JavaScript;

/// <summary>
/// Limits of the <c>javascript</c> runtime that the function's configuration does not set. The memory
/// limit of a run is the function's <c>MemoryMb</c>; its time limit is the invocation's remaining time
/// (or, for the cold start, the token <see cref="JavaScriptRuntime.StartAsync"/> is given and <see cref="InitTimeout"/>).
/// </summary>
public sealed class JavaScriptRuntimeOptions
{
    /// <summary>The most statements one run into the engine may execute (the handler call, one timer, one drain of the promise jobs).</summary>
    public int MaxStatements { get; set; } = 50_000_000;

    /// <summary>The deepest JavaScript call stack; deeper recursion fails as <c>RangeError: Maximum call stack size exceeded</c>.</summary>
    public int MaxRecursionDepth { get; set; } = 512;

    /// <summary>The longest a cold start (evaluating the handler's module and what it requires) may take; Lambda allows 10 s.</summary>
    public TimeSpan InitTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The stack of the thread that runs the engine: deep enough for <see cref="MaxRecursionDepth"/> interpreted frames.</summary>
    public int ThreadStackSizeBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>The most timers (<c>setTimeout</c>, <c>setInterval</c>, <c>setImmediate</c>) an instance may have pending.</summary>
    public int MaxPendingTimers { get; set; } = 10_000;

    /// <summary>The most <c>console</c> lines of the cold start kept until the first invocation's logger takes them.</summary>
    public int MaxInitLogLines { get; set; } = 1_000;
}
