using Fleet.Grains.Functions;

namespace Fleet.Grains.Tests;

/// <summary>The create-time rules match the whole value: a trailing newline (which a pattern ending in $ lets through) breaks them.</summary>
public sealed class FunctionValidationTests
{
    private static FunctionConfiguration Config(string name = "fn", string runtime = FunctionRuntimes.JavaScript, string handler = "index.handler", string? key = null)
        => new()
        {
            Name = name,
            Runtime = runtime,
            Handler = handler,
            Environment = key is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [key] = "v" },
        };

    [Fact]
    public void A_valid_configuration_has_no_errors()
    {
        Assert.Empty(FunctionValidation.Errors(Config()));
        Assert.Empty(FunctionValidation.Errors(Config(runtime: FunctionRuntimes.DotNet, handler: "App::App.Handler::Handle", key: "KEY")));
    }

    [Theory]
    [InlineData("fn\n")]
    [InlineData("\nfn")]
    public void A_name_with_a_newline_is_not_a_name(string name)
    {
        Assert.False(FunctionValidation.IsValidName(name));
        Assert.Contains(FunctionValidation.Errors(Config(name: name)), e => e.StartsWith("name must be", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("live\n", false)]
    [InlineData("live", true)]
    [InlineData("123\n", false)]
    [InlineData("123", false)] // all digits reads as a version
    [InlineData("1a", true)]
    public void An_alias_name_matches_as_a_whole(string alias, bool valid)
        => Assert.Equal(valid, FunctionValidation.IsValidAlias(alias));

    [Fact]
    public void An_environment_key_or_a_handler_with_a_trailing_newline_is_refused()
    {
        Assert.Contains(FunctionValidation.Errors(Config(key: "KEY\n")), e => e.Contains("environment variable name", StringComparison.Ordinal));
        Assert.Contains(FunctionValidation.Errors(Config(handler: "index.handler\n")), e => e.Contains("must be file.export", StringComparison.Ordinal));
        Assert.Contains(FunctionValidation.Errors(Config(runtime: FunctionRuntimes.DotNet, handler: "App::App.Handler::Handle\n")), e => e.Contains("must be Assembly::Namespace.Type::Method", StringComparison.Ordinal));
    }
}
