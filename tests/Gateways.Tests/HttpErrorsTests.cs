using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Fleet.Gateways.Tests;

/// <summary>
/// Bodies the framework binds (the function API's) get the API's error body in the API's words: what is wrong and where,
/// never a .NET type name, and never an empty 400 or 415.
/// </summary>
public sealed class HttpErrorsTests(FunctionsGatewayHostFixture fixture) : IClassFixture<FunctionsGatewayHostFixture>
{
    private GatewayHost Host => fixture.Host;

    private static async Task<JsonNode> ErrorOf(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!;
    }

    [Fact]
    public async Task A_json_body_sent_without_its_content_type_gets_an_error_body_not_an_empty_415()
    {
        var error = await ErrorOf(await Host.Http.PutAsync("/functions/ct-none", new StringContent("{}", Encoding.UTF8, "text/plain")), HttpStatusCode.UnsupportedMediaType);
        Assert.Equal("unsupported_media_type", (string?)error["error"]);
        Assert.Equal("this route takes a JSON body: send it with Content-Type: application/json (got text/plain; charset=utf-8)", (string?)error["detail"]);
    }

    [Theory]
    [InlineData("""{"runtime": "javascript",""", "the body is not valid JSON")]
    [InlineData("""{"timeout": "soon"}""", "the value at $.timeout must be an integer")]
    [InlineData("""{"environment": [1]}""", "the value at $.environment must be an object (name: value)")]
    public async Task A_function_body_that_cannot_be_read_says_what_and_where(string body, string detail)
    {
        var error = await ErrorOf(await Host.Http.PutAsync("/functions/bad-body", FunctionsHttp.Json(body)), HttpStatusCode.BadRequest);
        Assert.Equal("bad_request", (string?)error["error"]);
        Assert.StartsWith(detail, (string?)error["detail"]);
        Assert.DoesNotContain("System.", (string?)error["detail"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("null")]
    public async Task A_missing_json_body_is_named_in_the_users_words(string body)
    {
        var name = await FunctionsHttp.Deploy(Host, "no-body", "return 1;");
        var error = await ErrorOf(await Host.Http.PutAsync($"/functions/{name}/aliases/live", FunctionsHttp.Json(body)), HttpStatusCode.BadRequest);
        Assert.DoesNotContain("Implicit body", (string?)error["detail"]);
        Assert.DoesNotContain("Service", (string?)error["detail"]);
    }
}
