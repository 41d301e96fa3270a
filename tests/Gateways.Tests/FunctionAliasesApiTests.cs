using System.Net;

namespace Fleet.Gateways.Tests;

/// <summary>
/// <c>PUT /functions/{name}/aliases/{alias}</c> as Lambda's CreateAlias/UpdateAlias takes it: <c>FunctionVersion</c> is
/// required and of Lambda's form (<c>$LATEST</c> or a version number); a body without it is a 400 that names it, not a
/// 404 about a version "".
/// </summary>
public sealed class FunctionAliasesApiTests(FunctionsGatewayHostFixture fixture) : IClassFixture<FunctionsGatewayHostFixture>
{
    private GatewayHost Host => fixture.Host;

    [Theory]
    [InlineData("""{"version": "1"}""")] // the wrong field name
    [InlineData("{}")]
    [InlineData("""{"functionVersion": ""}""")]
    [InlineData("""{"functionVersion": null, "description": "live"}""")]
    public async Task An_alias_without_its_function_version_is_a_400_that_names_the_field(string body)
    {
        var name = await FunctionsHttp.Deploy(Host, "alias-req", "return 1;");
        var (status, answer) = await FunctionsHttp.Read(await Host.Http.PutAsync($"/functions/{name}/aliases/live", FunctionsHttp.Json(body)));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_request", (string)answer!["error"]!);
        Assert.Contains("FunctionVersion is required", (string)answer["detail"]!);
    }

    [Fact]
    public async Task A_function_version_that_is_not_a_version_is_a_400_and_one_the_function_lacks_a_404()
    {
        var name = await FunctionsHttp.Deploy(Host, "alias-ver", "return 1;");
        var (bad, badBody) = await FunctionsHttp.Read(await Host.Http.PutAsync($"/functions/{name}/aliases/live", FunctionsHttp.Json("""{"functionVersion": "latest"}""")));
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.Contains("'latest' is not a version", (string)badBody!["detail"]!);

        Assert.Equal(HttpStatusCode.NotFound, (await FunctionsHttp.Read(await Host.Http.PutAsync($"/functions/{name}/aliases/live", FunctionsHttp.Json("""{"functionVersion": "7"}""")))).Status);

        var (ok, alias) = await FunctionsHttp.Read(await Host.Http.PutAsync($"/functions/{name}/aliases/live", FunctionsHttp.Json("""{"functionVersion": "$LATEST"}""")));
        Assert.Equal(HttpStatusCode.OK, ok);
        Assert.Equal("$LATEST", (string)alias!["functionVersion"]!);
    }
}
