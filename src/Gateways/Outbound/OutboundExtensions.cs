using Fleet.Grains.Outbound;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Fleet.Gateways.Outbound;

public static class OutboundExtensions
{
    /// <summary>Adds the outbound adapters as the grains' <see cref="IOutboundPort"/>.</summary>
    public static IServiceCollection AddOutbound(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<OutboundOptions>()
            .Bind(configuration.GetSection(OutboundOptions.Section))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<OutboundOptions>, OutboundOptionsValidator>();
        services.AddHttpClient();
        services.AddSingleton<OutboundDispatcher>();
        services.AddSingleton<IOutboundPort>(sp => sp.GetRequiredService<OutboundDispatcher>());
        services.AddHostedService(sp => sp.GetRequiredService<OutboundDispatcher>());
        return services;
    }

    private sealed class OutboundOptionsValidator : IValidateOptions<OutboundOptions>
    {
        public ValidateOptionsResult Validate(string? name, OutboundOptions options)
        {
            var errors = OutboundOptions.Validate(options).ToList();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
