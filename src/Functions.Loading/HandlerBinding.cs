using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Fleet.Functions.Loading;

/// <summary>
/// The handler named <c>Assembly::Namespace.Type::Method</c>, bound once: the method, how to read its event
/// from JSON and how to turn what it returns into JSON. The same rules and error types as the in-process
/// runtime: <c>(TEvent)</c> or <c>(TEvent, IFunctionContext)</c>, returning <c>Task&lt;T&gt;</c>,
/// <c>ValueTask&lt;T&gt;</c>, <c>Task</c>, <c>ValueTask</c>, <c>T</c> or <c>void</c>; instance (public
/// parameterless constructor) or static.
/// </summary>
public sealed class HandlerBinding
{
    /// <summary>camelCase out, case-insensitive in.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly MethodInfo _method;
    private readonly MethodInvoker _invoker;
    private readonly Type _eventType;
    private readonly bool _takesContext;
    private readonly Func<object?, Task<object?>> _unwrap;
    private readonly Type? _resultType;

    private HandlerBinding(MethodInfo method, Type eventType, bool takesContext, Func<object?, Task<object?>> unwrap, Type? resultType)
    {
        _method = method;
        _invoker = MethodInvoker.Create(method);
        _eventType = eventType;
        _takesContext = takesContext;
        _unwrap = unwrap;
        _resultType = resultType;
    }

    private Type DeclaringType => _method.DeclaringType!;

    /// <summary>Finds the handler; throws <see cref="FunctionLoadException"/> with a Lambda-style error type when it can't.</summary>
    public static HandlerBinding Resolve(FunctionLoadContext context, string handler)
    {
        var parts = handler.Split("::");
        if (parts.Length != 3 || parts.Any(string.IsNullOrWhiteSpace))
            throw new FunctionLoadException("Runtime.InvalidHandler", $"handler '{handler}' must be Assembly::Namespace.Type::Method");
        var (assemblyName, typeName, methodName) = (parts[0], parts[1], parts[2]);
        var path = context.Find(assemblyName)
            ?? throw new FunctionLoadException("Runtime.AssemblyNotFound", $"the package has no assembly '{assemblyName}.dll' (handler '{handler}')");
        try
        {
            var assembly = context.LoadFile(path);
            var type = assembly.GetType(typeName, throwOnError: false)
                ?? throw new FunctionLoadException("Runtime.HandlerNotFound", $"assembly '{assemblyName}' has no public type '{typeName}' (handler '{handler}')");
            var candidates = type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static)
                .Where(m => m.Name == methodName && !m.IsGenericMethodDefinition)
                .ToArray();
            if (candidates.Length == 0)
                throw new FunctionLoadException("Runtime.HandlerNotFound", $"type '{typeName}' has no public method '{methodName}' (handler '{handler}')");
            string? why = null;
            foreach (var method in candidates.OrderByDescending(m => m.GetParameters().Length))
            {
                if (!TryBind(method, out var binding, out why)) continue;

                // Compile the handler now, so a dependency its body needs is missing at the cold start, not at the first event.
                try
                {
                    RuntimeHelpers.PrepareMethod(method.MethodHandle);
                }
                catch (Exception ex) when (!context.IsMissingDependency(ex))
                {
                    // Best effort only.
                }

                return binding!;
            }

            throw new FunctionLoadException("Runtime.InvalidSignature",
                $"'{typeName}::{methodName}' {why}; a handler takes (TEvent) or (TEvent, IFunctionContext) and returns Task<T>, ValueTask<T>, Task, ValueTask, T or void");
        }
        catch (Exception ex) when (ex is not FunctionLoadException && context.IsMissingDependency(ex))
        {
            throw MissingDependency(ex, handler);
        }
        catch (BadImageFormatException ex)
        {
            throw new FunctionLoadException("Runtime.InvalidAssembly", $"'{assemblyName}.dll' is not a valid .NET assembly: {ex.Message}", ex);
        }
    }

    private static bool TryBind(MethodInfo method, out HandlerBinding? binding, out string why)
    {
        binding = null;
        var parameters = method.GetParameters();
        if (parameters.Length is < 1 or > 2)
        {
            why = $"takes {parameters.Length} parameters";
            return false;
        }

        if (parameters.Length == 2 && parameters[1].ParameterType != typeof(IFunctionContext))
        {
            why = $"takes {parameters[1].ParameterType.Name} as its second parameter instead of IFunctionContext";
            return false;
        }

        if (parameters[0].ParameterType.IsByRef || parameters[0].ParameterType.IsPointer || parameters[0].ParameterType == typeof(IFunctionContext))
        {
            why = "has no event parameter";
            return false;
        }

        var returns = method.ReturnType;
        Func<object?, Task<object?>> unwrap;
        Type? resultType;
        if (returns == typeof(void))
        {
            (unwrap, resultType) = (_ => Task.FromResult<object?>(null), null);
        }
        else if (returns == typeof(Task))
        {
            (unwrap, resultType) = (async r => { await (Task)r!; return null; }, null);
        }
        else if (returns == typeof(ValueTask))
        {
            (unwrap, resultType) = (async r => { await (ValueTask)r!; return null; }, null);
        }
        else if (returns.IsGenericType && returns.GetGenericTypeDefinition() == typeof(Task<>))
        {
            var result = returns.GetProperty(nameof(Task<int>.Result))!;
            (unwrap, resultType) = (async r => { var t = (Task)r!; await t; return result.GetValue(t); }, returns.GetGenericArguments()[0]);
        }
        else if (returns.IsGenericType && returns.GetGenericTypeDefinition() == typeof(ValueTask<>))
        {
            var asTask = returns.GetMethod(nameof(ValueTask<int>.AsTask))!;
            var result = typeof(Task<>).MakeGenericType(returns.GetGenericArguments()[0]).GetProperty(nameof(Task<int>.Result))!;
            (unwrap, resultType) = (async r => { var t = (Task)asTask.Invoke(r, null)!; await t; return result.GetValue(t); }, returns.GetGenericArguments()[0]);
        }
        else if (returns.IsByRef || returns.IsPointer || returns.IsByRefLike)
        {
            why = $"returns {returns.Name}";
            return false;
        }
        else
        {
            (unwrap, resultType) = (r => Task.FromResult(r), returns);
        }

        binding = new HandlerBinding(method, parameters[0].ParameterType, parameters.Length == 2, unwrap, resultType);
        why = "";
        return true;
    }

    /// <summary>
    /// Constructs the handler's type once (the cold start's init); its exception becomes <see cref="FunctionInitException"/>,
    /// reported as Lambda's .NET runtime reports it: a <c>LambdaException</c> whose <c>cause</c> is the constructor's exception.
    /// </summary>
    public object? CreateInstance(FunctionLoadContext context, string handler)
    {
        if (_method.IsStatic) return null;
        if (DeclaringType.IsAbstract || DeclaringType.GetConstructor(Type.EmptyTypes) is null)
            throw new FunctionLoadException("Runtime.InvalidSignature", $"type '{DeclaringType.FullName}' needs a public parameterless constructor (or make the handler static)");
        try
        {
            return Activator.CreateInstance(DeclaringType);
        }
        catch (TargetInvocationException ex) when (ex.InnerException is { } inner)
        {
            if (context.IsMissingDependency(inner)) throw MissingDependency(inner, handler);
            throw FunctionInitException.ConstructorThrew(DeclaringType.FullName ?? DeclaringType.Name, inner);
        }
        catch (Exception ex) when (context.IsMissingDependency(ex))
        {
            throw MissingDependency(ex, handler);
        }
    }

    /// <summary>Reads the event, calls the handler, awaits it and writes its result as JSON (<c>null</c> for none).</summary>
    public async Task<string> InvokeAsync(object? target, string payloadJson, IFunctionContext context)
    {
        object? evt;
        try
        {
            evt = JsonSerializer.Deserialize(payloadJson, _eventType, Json);
        }
        catch (JsonException ex)
        {
            throw new FunctionErrorException("Runtime.InvalidEvent", $"the event does not fit {_eventType.Name}: {ex.Message}", ex);
        }

        object? returned;
        try
        {
            returned = _takesContext ? _invoker.Invoke(target, evt, context) : _invoker.Invoke(target, evt);
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex.InnerException);
            throw;
        }

        var result = await _unwrap(returned);
        return result is null ? "null" : JsonSerializer.Serialize(result, _resultType ?? result.GetType(), Json);
    }

    private static FunctionLoadException MissingDependency(Exception ex, string handler)
    {
        string? name = null;
        if (ex is FileNotFoundException { FileName: { } file })
        {
            try
            {
                name = new AssemblyName(file).Name;
            }
            catch (Exception e) when (e is ArgumentException or FileLoadException)
            {
                name = file;
            }
        }

        var what = name is null ? ex.Message : $"assembly '{name}' is neither in the package nor in a layer";
        return new FunctionLoadException("Runtime.MissingDependency", $"handler '{handler}' needs a dependency that is missing: {what}", ex);
    }
}
