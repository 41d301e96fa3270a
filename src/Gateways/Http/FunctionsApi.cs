using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Fleet.Functions.Hosting;
using Fleet.Grains.Functions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Fleet.Gateways.Http;

/// <summary>
/// Functions over HTTP, in Lambda's words: create/update a function with its configuration and zip,
/// publish versions, point aliases (optionally weighted), publish layers, and invoke synchronously or
/// asynchronously by name, version or alias.
/// </summary>
public static class FunctionsApi
{
    public const string InvocationTypeHeader = "X-Invocation-Type";
    public const string LogTypeHeader = "X-Log-Type";
    public const string FunctionErrorHeader = "X-Function-Error";
    public const string ExecutedVersionHeader = "X-Executed-Version";
    public const string RequestIdHeader = "X-Request-Id";
    public const string LogResultHeader = "X-Log-Result";

    /// <summary>
    /// Lambda's own header names (X-Amz-...): requests may use either form, and responses carry both, so a client
    /// written against Lambda's Invoke reads them unchanged.
    /// </summary>
    public const string AmzPrefix = "X-Amz-";

    private static string HeaderOf(HttpRequest request, string name)
        => request.Headers[name].ToString() is { Length: > 0 } value ? value : request.Headers[AmzPrefix + name[2..]].ToString();

    private static void SetHeader(HttpResponse response, string name, string value)
    {
        response.Headers[name] = value;
        response.Headers[AmzPrefix + name[2..]] = value;
    }

    public static IEndpointRouteBuilder MapFunctionsApi(this IEndpointRouteBuilder app)
    {
        var functions = app.MapGroup("/functions").AddEndpointFilter(MapErrors);
        functions.MapGet("/", ListFunctions);
        // A base64 package in JSON is a third larger than the zip: this route's body may be 70 MB.
        functions.MapPut("/{name}", PutFunction).WithMetadata(new Microsoft.AspNetCore.Mvc.RequestSizeLimitAttribute(70L * 1024 * 1024));
        functions.MapPut("/{name}/code", PutCode);
        functions.MapGet("/{name}", GetFunction);
        functions.MapDelete("/{name}", DeleteFunction);
        functions.MapPost("/{name}/versions", PublishVersion);
        functions.MapGet("/{name}/versions", ListVersions);
        functions.MapPut("/{name}/aliases/{alias}", PutAlias);
        functions.MapGet("/{name}/aliases", ListAliases);
        functions.MapDelete("/{name}/aliases/{alias}", DeleteAlias);
        functions.MapPost("/{name}/invocations", Invoke);
        functions.MapPut("/{name}/concurrency", PutConcurrency);
        functions.MapGet("/{name}/concurrency", GetConcurrency);
        functions.MapDelete("/{name}/concurrency", DeleteConcurrency);
        functions.MapPut("/{name}/event-invoke-config", PutEventInvokeConfig);
        functions.MapPost("/{name}/event-invoke-config", UpdateEventInvokeConfig);
        functions.MapGet("/{name}/event-invoke-config", GetEventInvokeConfig);
        functions.MapDelete("/{name}/event-invoke-config", DeleteEventInvokeConfig);
        app.MapGet("/invocations/{requestId}", GetInvocation);

        var bindings = app.MapGroup("/bindings").AddEndpointFilter(MapErrors);
        bindings.MapGet("/", ListBindings);
        bindings.MapPut("/{name}", PutBinding);
        bindings.MapDelete("/{name}", DeleteBinding);

        var layers = app.MapGroup("/layers").AddEndpointFilter(MapErrors);
        layers.MapGet("/", ListLayers);
        layers.MapPost("/{name}/versions", PublishLayer);
        layers.MapGet("/{name}/versions", ListLayerVersions);
        layers.MapDelete("/{name}/versions/{version:int}", DeleteLayerVersion);
        return app;
    }

    /// <summary>A function as the user writes it (Lambda's field names); <c>zipFile</c> is the package, base64.</summary>
    public sealed record FunctionRequest(
        string Runtime,
        string Handler,
        int? Timeout,
        int? MemorySize,
        Dictionary<string, string>? Environment,
        string[]? Layers,
        string? Description,
        string? Isolation,
        int? ReservedConcurrency,
        string? ZipFile);

    public sealed record FunctionView(
        string Name,
        string Runtime,
        string Handler,
        int Timeout,
        int MemorySize,
        IReadOnlyDictionary<string, string> Environment,
        IReadOnlyList<string> Layers,
        string? Description,
        string Isolation,
        int? ReservedConcurrency,
        string CodeSha256,
        long CodeSize,
        string RevisionId,
        DateTime LastModified,
        IReadOnlyList<VersionView> Versions,
        IReadOnlyList<FunctionAlias> Aliases,
        FunctionStatsView? Stats,
        string Version = FunctionDefinition.Latest);

    public sealed record VersionView(string Version, string CodeSha256, string? Description, DateTime Published, string Handler, int Timeout, int MemorySize);

    public sealed record PublishRequest(string? Description);

    public sealed record AliasBody(string? FunctionVersion, string? Description, RoutingConfig? RoutingConfig);

    public sealed record RoutingConfig(Dictionary<string, double>? AdditionalVersionWeights);

    /// <summary>A failed invocation. A throttle is Lambda's <c>TooManyRequestsException</c> with the reason (e.g. ReservedFunctionConcurrentInvocationLimitExceeded) in <paramref name="Reason"/>.</summary>
    public sealed record InvocationErrorView(
        string ErrorKind,
        string ErrorType,
        string ErrorMessage,
        string RequestId,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Reason = null,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string[]? StackTrace = null,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ErrorCauseView? Cause = null,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ErrorCauseView[]? Causes = null);

    /// <summary>Lambda's <c>cause</c> in an error document: the exception behind the error reported, its own cause nested (and an aggregate's <c>causes</c>).</summary>
    public sealed record ErrorCauseView(
        string ErrorType,
        string ErrorMessage,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string[]? StackTrace,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ErrorCauseView? Cause,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ErrorCauseView[]? Causes = null)
    {
        public static ErrorCauseView? Of(InvocationErrorCause? cause)
            => cause is null ? null : new ErrorCauseView(cause.Type, cause.Message, cause.StackTrace, Of(cause.Cause), Of(cause.Causes));

        public static ErrorCauseView[]? Of(InvocationErrorCause[]? causes) => causes?.Select(c => Of(c)!).ToArray();
    }

    public sealed record AcceptedView(string RequestId, string Status);

    /// <summary>Lambda's <c>PutFunctionConcurrency</c> body and its answer (and <c>GetFunctionConcurrency</c>'s: <c>{}</c> when no limit is set).</summary>
    public sealed record ConcurrencyBody(
        [property: JsonPropertyName("ReservedConcurrentExecutions"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? ReservedConcurrentExecutions);

    /// <summary>Lambda's <c>PutFunctionEventInvokeConfig</c> body (its field names); destinations may only be functions.</summary>
    public sealed record EventInvokeConfigBody(int? MaximumRetryAttempts, int? MaximumEventAgeInSeconds, DestinationConfigBody? DestinationConfig);

    /// <summary>Lambda's <c>DestinationConfig</c>: <c>{"OnSuccess": {"Destination": ARN}, "OnFailure": {"Destination": ARN}}</c>; an empty object when none is set.</summary>
    public sealed record DestinationConfigBody(
        [property: JsonPropertyName("OnSuccess")] DestinationBody? OnSuccess,
        [property: JsonPropertyName("OnFailure")] DestinationBody? OnFailure);

    public sealed record DestinationBody(
        [property: JsonPropertyName("Destination"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Destination);

    /// <summary>One qualifier's asynchronous invocation settings, in Lambda's field names; a setting not set is left out (the silo's default applies).</summary>
    public sealed record EventInvokeConfigView(
        [property: JsonPropertyName("FunctionName")] string FunctionName,
        [property: JsonPropertyName("Qualifier")] string Qualifier,
        [property: JsonPropertyName("MaximumRetryAttempts"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? MaximumRetryAttempts,
        [property: JsonPropertyName("MaximumEventAgeInSeconds"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? MaximumEventAgeInSeconds,
        [property: JsonPropertyName("LastModified")] DateTime LastModified,
        [property: JsonPropertyName("DestinationConfig")] DestinationConfigBody DestinationConfig);

    public sealed record LayerView(string Name, int Version, string CodeSha256, long CodeSize, string? Description, IReadOnlyList<string> CompatibleRuntimes, DateTime Created);

    private sealed class RequestTooLargeException(string message) : Exception(message);

    private static async ValueTask<object?> MapErrors(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (FunctionValidationException ex)
        {
            return TypedResults.BadRequest(new FleetApi.ErrorView("invalid_request", ex.Message));
        }
        catch (FunctionNotFoundException ex)
        {
            return TypedResults.NotFound(new FleetApi.ErrorView("not_found", ex.Message));
        }
        catch (FunctionConflictException ex)
        {
            return TypedResults.Conflict(new FleetApi.ErrorView("conflict", ex.Message));
        }
        catch (FunctionDeployException ex)
        {
            return TypedResults.BadRequest(new FleetApi.ErrorView(ex.Error.Type, ex.Detail));
        }
        catch (RequestTooLargeException ex)
        {
            return TypedResults.Json(new FleetApi.ErrorView("RequestTooLargeException", ex.Message), statusCode: StatusCodes.Status413PayloadTooLarge);
        }
    }

    private static async Task<Ok<FunctionView[]>> ListFunctions(IGrainFactory grains, FunctionMetrics metrics)
    {
        var names = await grains.GetGrain<IFunctionCatalogGrain>(0).Functions();
        var views = new List<FunctionView>(names.Length);
        foreach (var name in names)
        {
            if (await grains.GetGrain<IFunctionGrain>(name).Get() is { } d) views.Add(View(d, metrics));
        }

        return TypedResults.Ok(views.ToArray());
    }

    private static async Task<IResult> PutFunction(string name, FunctionRequest body, FunctionDeployer deployer, IGrainFactory grains, FunctionMetrics metrics)
    {
        // Lambda's CreateFunction/UpdateFunctionConfiguration: any form of the name, no qualifier; a name no function can
        // have is the configuration's own 400 (it is being created), not a 404.
        name = Function(name, mayBeNew: true);
        byte[]? zip = null;
        if (body.ZipFile is { } base64)
        {
            try
            {
                zip = Convert.FromBase64String(base64);
            }
            catch (FormatException)
            {
                throw new FunctionValidationException("zipFile must be the package's bytes in base64");
            }
        }

        var existed = await grains.GetGrain<IFunctionGrain>(name).Get() is not null;
        var config = new FunctionConfiguration
        {
            Name = name,
            Runtime = body.Runtime ?? "",
            Handler = body.Handler ?? "",
            TimeoutSeconds = body.Timeout ?? FunctionConfiguration.DefaultTimeoutSeconds,
            MemoryMb = body.MemorySize ?? FunctionConfiguration.DefaultMemoryMb,
            Environment = body.Environment ?? new Dictionary<string, string>(),
            Layers = body.Layers ?? [],
            Description = body.Description,
            Isolation = body.Isolation ?? FunctionIsolation.InProcess,
            ReservedConcurrency = body.ReservedConcurrency,
        };
        var view = View(await deployer.DeployAsync(config, zip), metrics);
        return existed ? TypedResults.Ok(view) : TypedResults.Created($"/functions/{name}", view);
    }

    private static async Task<Results<Ok<FunctionView>, NotFound<FleetApi.ErrorView>>> PutCode(string name, HttpRequest request, FunctionDeployer deployer, IGrainFactory grains, FunctionMetrics metrics)
    {
        name = Function(name);
        var current = await grains.GetGrain<IFunctionGrain>(name).Get();
        if (current is null) return TypedResults.NotFound(new FleetApi.ErrorView("not_found", $"function '{name}' does not exist: create it with PUT /functions/{name}"));
        var zip = await ReadBodyAsync(request, deployer.MaxPackageBytes);
        return TypedResults.Ok(View(await deployer.DeployAsync(current.Configuration, zip), metrics));
    }

    /// <summary>
    /// Lambda's GetFunction: the function, or with a qualifier (<c>{name}:3</c>, <c>{name}:live</c> or <c>?Qualifier=</c>)
    /// the version it names (an alias: the version it points at), its configuration and code as published.
    /// </summary>
    private static async Task<Results<Ok<FunctionView>, NotFound<FleetApi.ErrorView>>> GetFunction(string name, string? qualifier, IGrainFactory grains, FunctionMetrics metrics)
    {
        (name, qualifier) = Target(name, qualifier, namespaced: true);
        if (await grains.GetGrain<IFunctionGrain>(name).Get() is not { } d) return TypedResults.NotFound(new FleetApi.ErrorView("not_found", $"function '{name}' does not exist"));
        if (qualifier is null) return TypedResults.Ok(View(d, metrics));
        // The alias's own version (roll 1: never the additional one of a weighted alias).
        return d.Resolve(FunctionDefinition.NormalizeVersion(qualifier), 1.0) is { } resolved
            ? TypedResults.Ok(View(d, metrics, resolved.Function))
            : TypedResults.NotFound(new FleetApi.ErrorView("not_found", $"function '{name}' has no version or alias '{qualifier}'"));
    }

    private static async Task<NoContent> DeleteFunction(string name, string? qualifier, IGrainFactory grains, FunctionResolver resolver)
    {
        (name, qualifier) = Target(name, qualifier);
        await grains.GetGrain<IFunctionGrain>(name).Delete(qualifier);
        resolver.Invalidate(name);
        return TypedResults.NoContent();
    }

    private static async Task<Created<VersionView>> PublishVersion(string name, PublishRequest? body, IGrainFactory grains, FunctionResolver resolver)
    {
        name = Function(name);
        var v = await grains.GetGrain<IFunctionGrain>(name).PublishVersion(body?.Description);
        resolver.Invalidate(name);
        return TypedResults.Created($"/functions/{name}:{v.Version}", VersionOf(v));
    }

    private static async Task<Results<Ok<VersionView[]>, NotFound<FleetApi.ErrorView>>> ListVersions(string name, IGrainFactory grains)
    {
        name = Function(name, namespaced: true);
        if (await grains.GetGrain<IFunctionGrain>(name).Get() is not { } d) return TypedResults.NotFound(new FleetApi.ErrorView("not_found", $"function '{name}' does not exist"));
        return TypedResults.Ok(Versions(d).ToArray());
    }

    /// <summary>
    /// Lambda's CreateAlias/UpdateAlias: <c>FunctionVersion</c> is required (a body without it, say with <c>version</c>
    /// instead, is a 400 naming the field, as Lambda's validation refuses a missing member) and is <c>$LATEST</c> or a
    /// version number (Lambda's pattern <c>(\$LATEST|[0-9]+)</c>, 1-1024 characters); one of that form that the function
    /// does not have is not found (404).
    /// </summary>
    private static async Task<Ok<FunctionAlias>> PutAlias(string name, string alias, AliasBody body, IGrainFactory grains, FunctionResolver resolver)
    {
        name = Function(name);
        if (string.IsNullOrEmpty(body.FunctionVersion))
            throw new FunctionValidationException("FunctionVersion is required: the version the alias points at, \"$LATEST\" or a version number (e.g. {\"functionVersion\": \"1\"})");
        if (body.FunctionVersion.Length > 1024 || !(body.FunctionVersion == FunctionDefinition.Latest || FunctionDefinition.IsVersionNumber(body.FunctionVersion)))
            throw new FunctionValidationException($"FunctionVersion '{body.FunctionVersion}' is not a version: \"$LATEST\" or a version number");
        var result = await grains.GetGrain<IFunctionGrain>(name).PutAlias(alias, new AliasRequest(body.FunctionVersion, body.Description, body.RoutingConfig?.AdditionalVersionWeights));
        resolver.Invalidate(name);
        return TypedResults.Ok(result);
    }

    private static async Task<Results<Ok<IReadOnlyList<FunctionAlias>>, NotFound<FleetApi.ErrorView>>> ListAliases(string name, IGrainFactory grains)
    {
        name = Function(name);
        return await grains.GetGrain<IFunctionGrain>(name).Get() is { } d
            ? TypedResults.Ok(d.Aliases)
            : TypedResults.NotFound(new FleetApi.ErrorView("not_found", $"function '{name}' does not exist"));
    }

    private static async Task<NoContent> DeleteAlias(string name, string alias, IGrainFactory grains, FunctionResolver resolver)
    {
        name = Function(name);
        await grains.GetGrain<IFunctionGrain>(name).DeleteAlias(alias);
        resolver.Invalidate(name);
        return TypedResults.NoContent();
    }

    /// <summary>
    /// Lambda's Invoke: <c>RequestResponse</c> (default) answers with the result, or with the error and an
    /// <c>X-Function-Error</c> header; <c>Event</c> stores the event and answers 202 with its request id;
    /// <c>DryRun</c> only checks that the function resolves and the caller may invoke it.
    /// </summary>
    private static async Task<IResult> Invoke(string name, string? qualifier, HttpRequest request, FunctionPool pool, FunctionResolver resolver, IGrainFactory grains)
    {
        // Lambda answers every Invoke with its request id, refusals included: it is set before anything can refuse.
        var requestId = Guid.NewGuid().ToString();
        StampRequestId(request.HttpContext.Response, requestId);
        var (bare, qualified) = Target(name, qualifier, invoke: true);
        var function = qualified is null ? bare : $"{bare}:{qualified}";
        var payload = await ReadBodyAsync(request, InvocationLimits.MaxPayloadBytes);
        var json = payload.Length == 0 ? "{}" : Encoding.UTF8.GetString(payload);
        if (!IsJson(json))
            return TypedResults.BadRequest(new FleetApi.ErrorView("InvalidRequestContentException", "the payload must be JSON"));
        var type = HeaderOf(request, InvocationTypeHeader);
        switch (type)
        {
            case "" or "RequestResponse":
                break;
            case "Event":
                if (InvocationLimits.TooLarge(json, InvocationLimits.MaxEventPayloadBytes))
                    return TypedResults.Json(new FleetApi.ErrorView("RequestTooLargeException", $"an asynchronous event may be at most {InvocationLimits.MaxEventPayloadBytes:N0} bytes"), statusCode: StatusCodes.Status413PayloadTooLarge);
                var (resolved, _, missing) = await resolver.ResolveAsync(function);
                if (resolved is null) return TypedResults.NotFound(new InvocationErrorView(nameof(InvocationErrorKind.NotFound), "ResourceNotFoundException", missing!, requestId));
                var record = await grains.GetGrain<IInvocationRecordGrain>(requestId).Accept(function, json);
                return TypedResults.Accepted($"/invocations/{requestId}", new AcceptedView(record.RequestId, record.Status.ToString()));
            case "DryRun":
                var (dry, _, why) = await resolver.ResolveAsync(function);
                return dry is null
                    ? TypedResults.NotFound(new InvocationErrorView(nameof(InvocationErrorKind.NotFound), "ResourceNotFoundException", why!, requestId))
                    : TypedResults.NoContent();
            default:
                return TypedResults.BadRequest(new FleetApi.ErrorView("InvalidParameterValueException", $"{InvocationTypeHeader} must be RequestResponse, Event or DryRun"));
        }

        var result = await pool.InvokeAsync(function, new InvocationRequest(requestId, json, null), request.HttpContext.RequestAborted);
        return Respond(result, request.HttpContext.Response, HeaderOf(request, LogTypeHeader) == "Tail");
    }

    /// <summary>Lambda's <c>PutFunctionConcurrency</c>: the function's reserved concurrency, for all its versions and aliases.</summary>
    private static async Task<Ok<ConcurrencyBody>> PutConcurrency(string name, ConcurrencyBody? body, IGrainFactory grains, FunctionResolver resolver)
    {
        name = Function(name);
        if (body?.ReservedConcurrentExecutions is not { } reserved)
            throw new FunctionValidationException("ReservedConcurrentExecutions is required: a number, 0 or more (0 throttles every invocation)");
        var set = await grains.GetGrain<IFunctionGrain>(name).PutConcurrency(reserved);
        resolver.Invalidate(name);
        return TypedResults.Ok(new ConcurrencyBody(set));
    }

    private static async Task<Results<Ok<ConcurrencyBody>, NotFound<FleetApi.ErrorView>>> GetConcurrency(string name, IGrainFactory grains)
    {
        name = Function(name);
        return await grains.GetGrain<IFunctionGrain>(name).Get() is { } d
            ? TypedResults.Ok(new ConcurrencyBody(d.ReservedConcurrentExecutions))
            : TypedResults.NotFound(new FleetApi.ErrorView("not_found", $"function '{name}' does not exist"));
    }

    private static async Task<NoContent> DeleteConcurrency(string name, IGrainFactory grains, FunctionResolver resolver)
    {
        name = Function(name);
        await grains.GetGrain<IFunctionGrain>(name).PutConcurrency(null);
        resolver.Invalidate(name);
        return TypedResults.NoContent();
    }

    private static Task<Ok<EventInvokeConfigView>> PutEventInvokeConfig(string name, string? qualifier, EventInvokeConfigBody? body, IGrainFactory grains, FunctionResolver resolver)
        => SetEventInvokeConfig(name, qualifier, body, merge: false, grains, resolver);

    private static Task<Ok<EventInvokeConfigView>> UpdateEventInvokeConfig(string name, string? qualifier, EventInvokeConfigBody? body, IGrainFactory grains, FunctionResolver resolver)
        => SetEventInvokeConfig(name, qualifier, body, merge: true, grains, resolver);

    /// <summary>
    /// Lambda's Put (replace: a setting left out is removed) and Update (merge) of one qualifier's asynchronous invocation
    /// settings: <c>MaximumRetryAttempts</c> 0-2, <c>MaximumEventAgeInSeconds</c> 60-21,600, and <c>DestinationConfig</c>
    /// (function destinations only). On Update, <c>OnSuccess</c> or <c>OnFailure</c> left out is kept, and one with an
    /// empty or absent <c>Destination</c> is removed.
    /// </summary>
    private static async Task<Ok<EventInvokeConfigView>> SetEventInvokeConfig(string name, string? qualifier, EventInvokeConfigBody? body, bool merge, IGrainFactory grains, FunctionResolver resolver)
    {
        (name, qualifier) = Target(name, qualifier);
        var request = new EventInvokeConfigRequest
        {
            MaximumRetryAttempts = body?.MaximumRetryAttempts,
            MaximumEventAgeInSeconds = body?.MaximumEventAgeInSeconds,
            OnSuccess = DestinationOf(body?.DestinationConfig?.OnSuccess, merge),
            OnFailure = DestinationOf(body?.DestinationConfig?.OnFailure, merge),
        };
        var config = await grains.GetGrain<IFunctionGrain>(name).PutEventInvokeConfigWithDestinations(qualifier, request, merge);
        resolver.Invalidate(name);
        return TypedResults.Ok(EventInvokeConfigOf(name, qualifier, config));
    }

    /// <summary>A destination as the grain takes it: null not given (kept on a merge), "" none.</summary>
    private static string? DestinationOf(DestinationBody? given, bool merge)
        => given is null ? (merge ? null : "") : given.Destination ?? "";

    /// <summary>
    /// The function and qualifier a request names, as Lambda takes them where an operation takes a qualifier (Invoke,
    /// GetFunction, DeleteFunction, the event invoke config): the path's name in any of Lambda's forms
    /// (<see cref="FunctionNames"/>: <c>name</c>, the partial ARN <c>ACCOUNT:function:name</c>, the function ARN, ...),
    /// optionally qualified (<c>name:live</c>), instead of, or as well as, <c>?Qualifier=</c>; when both are given they must
    /// agree. Invoke and GetFunction (<paramref name="namespaced"/>) take Lambda's NamespacedFunctionName pattern (up to 170
    /// characters, '.' allowed in the name); the other operations Lambda's FunctionName pattern (up to 140, no '.'). A value
    /// the pattern refuses is a 400; one it allows that names no function (a name no function of this platform can have, a
    /// version or alias that does not exist) is left to be not found (404), as in Lambda; Invoke leaves that to the resolver.
    /// </summary>
    private static (string Name, string? Qualifier) Target(string name, string? qualifier, bool namespaced = false, bool invoke = false)
    {
        if (qualifier is { Length: 0 }) qualifier = null;
        var (bare, derived) = namespaced || invoke
            ? FunctionNames.Parse(name, "FunctionName")
            : FunctionNames.Parse(name, "FunctionName", FunctionNames.MaxLengthWithoutPeriods, periods: false);
        if (qualifier is not null && !FunctionNames.IsValidQualifierParameter(qualifier))
            throw new FunctionValidationException($"Qualifier '{qualifier}' is not valid: 1-{FunctionNames.MaxQualifierLength} letters, digits, '$', '_' or '-' ($LATEST, a version number or an alias)");
        if (derived is not null && qualifier is not null && FunctionDefinition.QualifierKey(derived) != FunctionDefinition.QualifierKey(qualifier))
            throw new FunctionValidationException($"The derived qualifier from the function name ('{derived}') does not match the specified qualifier ('{qualifier}')");
        // Not a grain to activate (and a storage read) for a name no function can have: the function does not exist.
        if (!invoke && !FunctionValidation.IsValidName(bare)) throw new FunctionNotFoundException($"function '{bare}' does not exist");
        return (bare, qualifier ?? derived);
    }

    /// <summary>
    /// The function an operation on the function as a whole names (Lambda's CreateFunction, UpdateFunctionCode and
    /// UpdateFunctionConfiguration, PublishVersion, ListVersionsByFunction, the alias operations, the reserved concurrency
    /// operations): the path's name in any of Lambda's forms, by Lambda's FunctionName pattern (up to 140 characters, no
    /// '.'; ListVersionsByFunction, <paramref name="namespaced"/>, its NamespacedFunctionName pattern: up to 170, '.'
    /// allowed). These operations take no qualifier, so a qualified name (<c>name:1</c>, an alias ARN) is a 400, as Lambda
    /// permits them on functions only. A name no function of this platform can have is not found (404), except where the
    /// function is being created (<paramref name="mayBeNew"/>: the configuration's own 400 says what a name may be).
    /// </summary>
    private static string Function(string name, bool namespaced = false, bool mayBeNew = false)
    {
        var (bare, qualifier) = namespaced
            ? FunctionNames.Parse(name, "FunctionName")
            : FunctionNames.Parse(name, "FunctionName", FunctionNames.MaxLengthWithoutPeriods, periods: false);
        if (qualifier is not null)
        {
            throw new FunctionValidationException(
                $"FunctionName '{name}' names the version or alias '{qualifier}': this operation is permitted on functions only, not on versions or aliases; give the function's name or its unqualified ARN");
        }

        if (!mayBeNew && !FunctionValidation.IsValidName(bare)) throw new FunctionNotFoundException($"function '{bare}' does not exist");
        return bare;
    }

    private static async Task<Results<Ok<EventInvokeConfigView>, NotFound<FleetApi.ErrorView>>> GetEventInvokeConfig(string name, string? qualifier, IGrainFactory grains)
    {
        (name, qualifier) = Target(name, qualifier);
        if (await grains.GetGrain<IFunctionGrain>(name).Get() is not { } d) return TypedResults.NotFound(new FleetApi.ErrorView("not_found", $"function '{name}' does not exist"));
        if (!d.HasQualifier(qualifier)) return TypedResults.NotFound(new FleetApi.ErrorView("not_found", $"function '{name}' has no version or alias '{qualifier}'"));
        return d.EventInvokeConfigOf(qualifier) is { } config
            ? TypedResults.Ok(EventInvokeConfigOf(name, qualifier, config))
            : TypedResults.NotFound(new FleetApi.ErrorView("not_found", $"function '{name}' ({FunctionDefinition.QualifierKey(qualifier)}) has no event invoke config"));
    }

    private static async Task<NoContent> DeleteEventInvokeConfig(string name, string? qualifier, IGrainFactory grains, FunctionResolver resolver)
    {
        (name, qualifier) = Target(name, qualifier);
        await grains.GetGrain<IFunctionGrain>(name).DeleteEventInvokeConfig(qualifier);
        resolver.Invalidate(name);
        return TypedResults.NoContent();
    }

    /// <summary>Lambda's answer shape: <c>DestinationConfig</c> is always there, with <c>{}</c> for a destination not set.</summary>
    private static EventInvokeConfigView EventInvokeConfigOf(string name, string? qualifier, EventInvokeConfig config)
        => new(name, FunctionDefinition.QualifierKey(qualifier), config.MaximumRetryAttempts, config.MaximumEventAgeInSeconds, config.LastModifiedUtc,
            new DestinationConfigBody(new DestinationBody(config.OnSuccess), new DestinationBody(config.OnFailure)));

    /// <summary>Lambda's name of the response header every Invoke answer carries its request id in.</summary>
    public const string AmznRequestIdHeader = "x-amzn-RequestId";

    private static void SetRequestId(HttpResponse response, string requestId)
    {
        response.Headers[RequestIdHeader] = requestId;
        response.Headers[AmznRequestIdHeader] = requestId;
    }

    /// <summary>
    /// Gives the invocation's answer, whatever it is (200, 202, 204 and every refusal: 400, 404, 413, 429, 502), its request
    /// id in <c>X-Request-Id</c> and Lambda's <c>x-amzn-RequestId</c>: now, and again as the answer starts in case the
    /// response was cleared meanwhile (an error body written by the server's error handling).
    /// </summary>
    private static void StampRequestId(HttpResponse response, string requestId)
    {
        SetRequestId(response, requestId);
        response.OnStarting(() =>
        {
            if (!response.Headers.ContainsKey(RequestIdHeader)) SetRequestId(response, requestId);
            return Task.CompletedTask;
        });
    }

    /// <summary>Writes one invocation's outcome the way Lambda's Invoke does.</summary>
    public static IResult Respond(InvocationResult result, HttpResponse response, bool tail)
    {
        SetRequestId(response, result.RequestId);
        if (result.ExecutedVersion is { } version) SetHeader(response, ExecutedVersionHeader, version);
        if (tail && result.LogTail is { } log) SetHeader(response, LogResultHeader, Convert.ToBase64String(Encoding.UTF8.GetBytes(log)));
        if (result.Error is not { } error) return TypedResults.Text(result.PayloadJson ?? "null", "application/json", Encoding.UTF8, StatusCodes.Status200OK);
        var view = new InvocationErrorView(error.Kind.ToString(), error.Type, error.Message, result.RequestId, StackTrace: error.StackTrace, Cause: ErrorCauseView.Of(error.Cause), Causes: ErrorCauseView.Of(error.Causes));
        switch (error.Kind)
        {
            case InvocationErrorKind.NotFound:
                return TypedResults.NotFound(view);
            case InvocationErrorKind.Throttled:
                return TypedResults.Json(view with { ErrorType = "TooManyRequestsException", Reason = error.Type }, statusCode: StatusCodes.Status429TooManyRequests);
            case InvocationErrorKind.InvalidRequest:
                return TypedResults.BadRequest(view);
            case InvocationErrorKind.InvalidPackage:
                return TypedResults.Json(view, statusCode: StatusCodes.Status502BadGateway);
            default:
                // The function failed (Timeout, MemoryLimitExceeded, Unhandled): 200 with the error and
                // X-Function-Error: Unhandled, as Lambda answers; errorKind in the body says which.
                SetHeader(response, FunctionErrorHeader, "Unhandled");
                return TypedResults.Ok(view);
        }
    }

    private static async Task<Results<Ok<InvocationRecord>, NotFound<FleetApi.ErrorView>>> GetInvocation(string requestId, IGrainFactory grains)
        => await grains.GetGrain<IInvocationRecordGrain>(requestId).Get() is { } record
            ? TypedResults.Ok(record)
            : TypedResults.NotFound(new FleetApi.ErrorView("not_found", $"no asynchronous invocation '{requestId}'"));

    private static async Task<Created<LayerView>> PublishLayer(string name, HttpRequest request, string? description, string? compatibleRuntimes, FunctionDeployer deployer)
    {
        var zip = await ReadBodyAsync(request, deployer.MaxPackageBytes);
        var runtimes = (compatibleRuntimes ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var layer = await deployer.PublishLayerAsync(name, zip, description, runtimes);
        return TypedResults.Created($"/layers/{name}/versions/{layer.Version}", LayerOf(layer));
    }

    public sealed record BindingBody(string TopicFilter, string[] Functions, string? Description, bool? Enabled);

    public sealed record BindingView(string Name, string TopicFilter, IReadOnlyList<string> Functions, string? Description, bool Enabled, bool BuiltIn);

    /// <summary>The default binding every sensor runs first: the built-in functions (read-only).</summary>
    public static readonly BindingView BuiltInBinding = new(
        "builtin", "sensors/+/telemetry", Fleet.Functions.BuiltIn.BuiltInFunctions.Chain,
        "the built-in steps (Fleet.Functions.BuiltIn), run first in every sensor's environment; configured per sensor with PUT /sensors/{id}/config", true, true);

    private static async Task<Ok<BindingView[]>> ListBindings(IGrainFactory grains)
    {
        var table = await grains.GetGrain<IFunctionBindingsGrain>(0).Get();
        return TypedResults.Ok(table.Bindings.Select(b => new BindingView(b.Name, b.TopicFilter, b.Functions, b.Description, b.Enabled, false)).Prepend(BuiltInBinding).ToArray());
    }

    private static async Task<Ok<FunctionBinding>> PutBinding(string name, BindingBody body, IGrainFactory grains, BindingCache cache)
    {
        if (name == BuiltInBinding.Name) throw new FunctionValidationException("'builtin' is the built-in binding; configure it per sensor with PUT /sensors/{id}/config");
        var binding = new FunctionBinding
        {
            Name = name, TopicFilter = body.TopicFilter ?? "", Functions = body.Functions ?? [], Description = body.Description, Enabled = body.Enabled ?? true,
        };
        var table = await grains.GetGrain<IFunctionBindingsGrain>(0).Put(binding);
        cache.Apply(table);
        // As stored: its functions as name[:qualifier], whatever form of Lambda's they were given in.
        return TypedResults.Ok(table.Bindings.LastOrDefault(b => b.Name == name) ?? binding);
    }

    private static async Task<NoContent> DeleteBinding(string name, IGrainFactory grains, BindingCache cache)
    {
        cache.Apply(await grains.GetGrain<IFunctionBindingsGrain>(0).Delete(name));
        return TypedResults.NoContent();
    }

    private static async Task<Ok<string[]>> ListLayers(IGrainFactory grains) => TypedResults.Ok(await grains.GetGrain<IFunctionCatalogGrain>(0).Layers());

    private static async Task<Ok<LayerView[]>> ListLayerVersions(string name, IGrainFactory grains)
        => TypedResults.Ok((await grains.GetGrain<ILayerGrain>(name).List()).Select(LayerOf).ToArray());

    private static async Task<NoContent> DeleteLayerVersion(string name, int version, IGrainFactory grains)
    {
        await grains.GetGrain<ILayerGrain>(name).DeleteVersion(version);
        return TypedResults.NoContent();
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, long limit)
    {
        if (request.ContentLength > limit)
            throw new RequestTooLargeException($"the body is {request.ContentLength:N0} bytes; at most {limit:N0} are allowed");
        // Raise the server's default body limit (30 MB) to this route's own, so a 50 MB package can arrive.
        if (request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            size.MaxRequestBodySize = limit + 1;
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer);
        if (buffer.Length > limit)
            throw new RequestTooLargeException($"the body is over {limit:N0} bytes");
        return buffer.ToArray();
    }

    private static bool IsJson(string text)
    {
        try
        {
            using var _ = JsonDocument.Parse(text);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>
    /// The function as <c>$LATEST</c> is, or (<paramref name="version"/>) as one of its published versions is: that version's
    /// configuration, code, revision, description and publication time; the versions, aliases and the function's reserved
    /// concurrency are the function's either way.
    /// </summary>
    private static FunctionView View(FunctionDefinition d, FunctionMetrics metrics, ResolvedFunction? version = null)
    {
        var published = version is null || version.Version == FunctionDefinition.Latest
            ? null
            : d.Versions.FirstOrDefault(v => v.Version.ToString(System.Globalization.CultureInfo.InvariantCulture) == version.Version);
        var c = published?.Configuration ?? d.Configuration;
        var code = published?.Code ?? d.Code;
        return new FunctionView(
            d.Name, c.Runtime, c.Handler, c.TimeoutSeconds, c.MemoryMb, c.Environment, c.Layers, published is null ? c.Description : published.Description, c.Isolation,
            d.ReservedConcurrentExecutions, code.Sha256, code.Size, published?.RevisionId ?? d.RevisionId, published?.PublishedUtc ?? d.LastModifiedUtc,
            Versions(d).ToArray(), d.Aliases, metrics.All.TryGetValue(d.Name, out var stats) ? stats.View() : null,
            published?.Version.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? FunctionDefinition.Latest);
    }

    private static IEnumerable<VersionView> Versions(FunctionDefinition d)
        => d.Versions.Select(VersionOf).Prepend(new VersionView(FunctionDefinition.Latest, d.Code.Sha256, d.Configuration.Description, d.LastModifiedUtc, d.Configuration.Handler, d.Configuration.TimeoutSeconds, d.Configuration.MemoryMb));

    private static VersionView VersionOf(FunctionVersion v)
        => new(v.Version.ToString(), v.Code.Sha256, v.Description, v.PublishedUtc, v.Configuration.Handler, v.Configuration.TimeoutSeconds, v.Configuration.MemoryMb);

    private static LayerView LayerOf(LayerVersion l) => new(l.Name, l.Version, l.Code.Sha256, l.Code.Size, l.Description, l.CompatibleRuntimes, l.CreatedUtc);
}
