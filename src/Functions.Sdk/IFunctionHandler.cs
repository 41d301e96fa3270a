namespace Fleet.Functions;

/// <summary>
/// A function's handler: one per function. The platform constructs the type once per execution
/// environment (the cold start) and calls <see cref="HandleAsync"/> for every later invocation in that
/// environment (warm reuse), so instance fields persist between invocations like Lambda globals.
/// </summary>
/// <remarks>
/// Implementing this interface is optional: any public method <c>(TEvent, IFunctionContext)</c> or
/// <c>(TEvent)</c> returning <c>Task&lt;T&gt;</c>, <c>ValueTask&lt;T&gt;</c>, <c>Task</c>, <c>T</c> or
/// <c>void</c> can be named as the handler (<c>Assembly::Namespace.Type::Method</c>).
/// </remarks>
public interface IFunctionHandler<in TEvent, TResult>
{
    Task<TResult> HandleAsync(TEvent evt, IFunctionContext context);
}
