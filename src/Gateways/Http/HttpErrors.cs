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
            }
            catch (BadHttpRequestException e) when (!context.Response.HasStarted)
            {
                context.Response.Clear();
                context.Response.StatusCode = e.StatusCode;
                await context.Response.WriteAsJsonAsync(new FleetApi.ErrorView("bad_request", e.Message));
            }
        });
}
