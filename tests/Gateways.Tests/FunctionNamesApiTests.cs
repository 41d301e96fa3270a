using System.Net;

namespace Fleet.Gateways.Tests;

/// <summary>
/// The function name in the path, over HTTP, as Lambda takes it: Invoke by its pattern (1-170 characters, '.' allowed), the
/// event invoke config by its own (1-140, no '.'); a value the pattern refuses is a 400, one it allows that names no
/// function (a name no function can have, a qualifier no version or alias has) a 404.
/// </summary>
public sealed class FunctionNamesApiTests(FunctionsGatewayHostFixture fixture) : IClassFixture<FunctionsGatewayHostFixture>
{
    private GatewayHost Host => fixture.Host;

    private async Task<(HttpStatusCode Status, System.Text.Json.Nodes.JsonNode? Body)> Invoke(string functionName)
        => await FunctionsHttp.Read(await Host.Http.PostAsync($"/functions/{Uri.EscapeDataString(functionName)}/invocations", FunctionsHttp.Json("""{"n": 2}""")));

    [Fact]
    public async Task Invoke_takes_every_form_of_lambdas_pattern()
    {
        var name = await FunctionsHttp.Deploy(Host, "names", "return { doubled: event.n * 2 };");
        foreach (var form in new[] { name, $"us-west-2:123456789012:function:{name}", $"123456789012:{name}", $"123456789012:{name}:$LATEST", $"function:{name}" })
        {
            var (status, body) = await Invoke(form);
            Assert.True(status == HttpStatusCode.OK, $"{form}: {status} {body?.ToJsonString()}");
            Assert.Equal(4, (int)body!["doubled"]!);
        }
    }

    [Theory]
    [InlineData("no.such.function")] // '.' is in Invoke's pattern, in no function's name
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")] // 82: longer than a name, within 170
    [InlineData("arn:aws:lambda:us-west-2:123456789012:function:no.such.function:live")]
    public async Task Invoke_of_a_name_lambdas_pattern_allows_but_no_function_has_is_not_found(string functionName)
    {
        var (status, body) = await Invoke(functionName);
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("ResourceNotFoundException", (string)body!["errorType"]!);
    }

    [Fact]
    public async Task Invoke_of_a_qualifier_lambdas_pattern_allows_but_no_version_or_alias_has_is_not_found()
    {
        var name = await FunctionsHttp.Deploy(Host, "names-q", "return 1;");
        using var dollar = await Host.Http.PostAsync($"/functions/{name}/invocations?Qualifier={Uri.EscapeDataString("a$b")}", FunctionsHttp.Json("{}"));
        Assert.Equal(HttpStatusCode.NotFound, dollar.StatusCode);
        using var huge = await Host.Http.PostAsync($"/functions/{name}/invocations?Qualifier=12345678901", FunctionsHttp.Json("{}"));
        Assert.Equal(HttpStatusCode.NotFound, huge.StatusCode);
        using var bad = await Host.Http.PostAsync($"/functions/{name}/invocations?Qualifier={Uri.EscapeDataString("bad!q")}", FunctionsHttp.Json("{}"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Theory]
    [InlineData("fn\n")] // $ would have let the newline through
    [InlineData("not a name")]
    public async Task Invoke_of_a_value_lambdas_pattern_refuses_is_a_400(string functionName)
    {
        var (status, body) = await Invoke(functionName);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("does not name a function", (string)body!["detail"]!);
    }

    [Fact]
    public async Task Invoke_of_a_function_name_over_170_characters_is_a_400()
    {
        var (status, body) = await Invoke("arn:aws:lambda:us-west-2:123456789012:function:" + new string('a', 64) + ":" + new string('b', 128));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("at most 170", (string)body!["detail"]!);
    }

    [Fact]
    public async Task The_event_invoke_config_takes_lambdas_pattern_of_its_own()
    {
        var name = await FunctionsHttp.Deploy(Host, "names-eic", "return 1;");
        using (var put = await Host.Http.PutAsync($"/functions/us-west-2:123456789012:function:{name}/event-invoke-config", FunctionsHttp.Json("""{"MaximumRetryAttempts": 1}""")))
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await FunctionsHttp.Read(await Host.Http.GetAsync($"/functions/123456789012:{name}/event-invoke-config"))).Status);

        // No '.' in its pattern (a 400); a name its pattern allows that no function has: a 404; over 140 characters: a 400.
        Assert.Equal(HttpStatusCode.BadRequest, (await FunctionsHttp.Read(await Host.Http.GetAsync("/functions/no.such.function/event-invoke-config"))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await FunctionsHttp.Read(await Host.Http.GetAsync($"/functions/{new string('a', 82)}/event-invoke-config"))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await FunctionsHttp.Read(await Host.Http.GetAsync($"/functions/{new string('a', 141)}/event-invoke-config"))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await FunctionsHttp.Read(await Host.Http.GetAsync($"/functions/{name}%0A/event-invoke-config"))).Status);
        // A qualifier Lambda's Qualifier pattern allows that no version or alias has: not found.
        Assert.Equal(HttpStatusCode.NotFound, (await FunctionsHttp.Read(await Host.Http.PutAsync($"/functions/{name}/event-invoke-config?Qualifier=a%24b", FunctionsHttp.Json("{}")))).Status);
    }
}
