using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Fleet.Gateways.Http;

/// <summary>
/// Requests the API cannot bind (a query value of the wrong type such as <c>?limit=abc</c>, a body that is not JSON
/// where JSON is expected, a wrong content type) get the API's error body, <c>{"error":"bad_request","detail":...}</c>
/// with the framework's reason, instead of an empty 400: every route, present and future, the same way.
/// </summary>
public static class HttpErrors
{
    public static IServiceCollection AddFleetHttpErrors(this IServiceCollection services)
        => services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);

    public static IApplicationBuilder UseFleetHttpErrors(this IApplicationBuilder app)
        => app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
                if (context.Response.StatusCode == StatusCodes.Status415UnsupportedMediaType && !context.Response.HasStarted)
                {
                    // The framework refuses a JSON body sent without its content type with an empty 415.
                    await context.Response.WriteAsJsonAsync(new FleetApi.ErrorView("unsupported_media_type",
                        $"this route takes a JSON body: send it with Content-Type: application/json (got {context.Request.ContentType ?? "none"})"));
                }
            }
            catch (BadHttpRequestException e) when (!context.Response.HasStarted)
            {
                context.Response.Clear();
                context.Response.StatusCode = e.StatusCode;
                var detail = e.InnerException is JsonException json ? Describe(json) : Describe(e.Message);
                await context.Response.WriteAsJsonAsync(new FleetApi.ErrorView("bad_request", detail));
            }
        });

    /// <summary>
    /// What is wrong with a JSON body, and where, in the API's words rather than .NET's: "the value at
    /// $.allowedLatenessMs must be an integer", not "could not be converted to System.Nullable`1[System.Int64]".
    /// </summary>
    public static string Describe(JsonException e)
    {
        var where = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : $" at {e.Path}";
        var message = e.Message;
        var converted = TypeMismatch.Match(message);
        if (converted.Success)
        {
            var type = converted.Groups["type"].Value;
            // A record bound through its constructor is named instead of the member that failed: look the member up.
            if (MemberType(type, e.Path) is { } member) type = member;
            return $"the value{where} must be {Friendly(type)}";
        }

        var unmapped = Unmapped.Match(message);
        if (unmapped.Success)
        {
            var owner = AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetType(unmapped.Groups["type"].Value)).FirstOrDefault(t => t is not null);
            var known = owner?.GetProperties().Where(p => p.CanWrite).Select(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name)).ToArray();
            return $"unknown field '{unmapped.Groups["name"].Value}'{where}" + (known is { Length: > 0 } ? $"; the fields here are {string.Join(", ", known)}" : "");
        }

        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        if (cut < 0) cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut > 0) message = message[..cut].TrimEnd(' ', '|');
        return $"the body is not valid JSON{where}: {message}";
    }

    /// <summary>A query or route value the framework could not bind, named as the API user wrote it.</summary>
    private static string Describe(string message)
    {
        // The framework's words for a JSON body that is missing ("Implicit body inferred for parameter ... but no body
        // was provided. Did you mean to use a Service instead?") speak to the API's author, not its user.
        if (message.StartsWith("Implicit body inferred", StringComparison.Ordinal) || message.StartsWith("Required parameter", StringComparison.Ordinal) && message.Contains("body", StringComparison.Ordinal))
            return "this route takes a JSON body, and none was sent";
        var bind = BindFailure.Match(message);
        if (!bind.Success) return message;
        var type = bind.Groups["type"].Value.Replace("Nullable<", "", StringComparison.Ordinal).TrimEnd('>', '?');
        var expected = type switch
        {
            "int" or "long" or "short" or "uint" or "ulong" => "an integer",
            "double" or "float" or "decimal" => "a number",
            "bool" => "true or false",
            _ => "a value of another form",
        };
        return $"{bind.Groups["name"].Value} must be {expected} (got \"{bind.Groups["value"].Value}\")";
    }

    private static readonly Regex BindFailure = new(@"^Failed to bind parameter ""(?<type>[^""]+) (?<name>[^"" ]+)"" from ""(?<value>.*)""\.?$", RegexOptions.CultureInvariant);

    private static readonly Regex Unmapped = new(@"The JSON property '(?<name>[^']*)' could not be mapped to any \.NET member contained in type '(?<type>[^']+)'", RegexOptions.CultureInvariant);

    private static readonly Regex TypeMismatch = new(@"could not be converted to (?<type>\S+?)\.( Path| LineNumber|$)", RegexOptions.CultureInvariant);

    /// <summary>The type of the member <paramref name="path"/> ends in, when <paramref name="type"/> is one of the API's records.</summary>
    private static string? MemberType(string type, string? path)
    {
        if (!type.StartsWith("Fleet.", StringComparison.Ordinal) || path is null) return null;
        var name = path[(path.LastIndexOf('.') + 1)..];
        var owner = AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetType(type)).FirstOrDefault(t => t is not null);
        var property = owner?.GetProperties().FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
        if (property is null) return null;
        var t = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        return t.IsArray ? t.FullName : t.IsGenericType ? t.GetGenericTypeDefinition().FullName : t.FullName;
    }

    private static string Friendly(string type)
    {
        // System.Nullable`1[System.Int32], or with the assembly: System.Nullable`1[[System.Int32, System.Private.CoreLib, ...]]
        var t = Regex.Replace(type, @"^System\.Nullable`1\[\[?([^,\]]+).*$", "$1");
        return t switch
        {
            "System.Int16" or "System.Int32" or "System.Int64" or "System.UInt16" or "System.UInt32" or "System.UInt64" or "System.Byte" => "an integer",
            "System.Double" or "System.Single" or "System.Decimal" => "a number",
            "System.String" => "a string",
            "System.Boolean" => "true or false",
            "System.DateTime" or "System.DateTimeOffset" => "a date and time (ISO 8601)",
            "System.TimeSpan" => "a duration (hh:mm:ss)",
            _ when t.EndsWith("[]", StringComparison.Ordinal) || t.Contains("List`1", StringComparison.Ordinal) || t.Contains("IEnumerable`1", StringComparison.Ordinal) => "an array",
            _ when t.Contains("Dictionary`2", StringComparison.Ordinal) => "an object (name: value)",
            _ => "an object",
        };
    }
}
