using System.Net;
using System.Net.Http.Json;

namespace Fleet.Gateways.Tests;

/// <summary>
/// Every function route takes Lambda's FunctionName forms (the name, the function ARN, the partial ARN, ...) with the
/// qualifier rules of the Lambda operation it is: GetFunction and DeleteFunction take a qualifier in the name (or
/// <c>?Qualifier=</c>); the operations on the function as a whole (CreateFunction/Update*, PublishVersion,
/// ListVersionsByFunction, the alias and the concurrency operations) take none (a qualified name is a 400). A value
/// Lambda's pattern refuses is a 400, one it allows that names no function a 404.
/// </summary>
public sealed class FunctionRoutesNamesApiTests(FunctionsGatewayHostFixture fixture) : IClassFixture<FunctionsGatewayHostFixture>
{
    private const string Arn = "arn:aws:lambda:us-west-2:123456789012:function:";
    private const string Partial = "123456789012:function:";

    private GatewayHost Host => fixture.Host;

    private static string E(string functionName) => Uri.EscapeDataString(functionName);

    private Task<(HttpStatusCode Status, System.Text.Json.Nodes.JsonNode? Body)> Get(string path) => Send(HttpMethod.Get, path);

    private async Task<(HttpStatusCode Status, System.Text.Json.Nodes.JsonNode? Body)> Send(HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null) request.Content = FunctionsHttp.Json(json);
        return await FunctionsHttp.Read(await Host.Http.SendAsync(request));
    }

    [Fact]
    public async Task Get_function_takes_the_function_arn_and_the_partial_arn()
    {
        var name = await FunctionsHttp.Deploy(Host, "routes-get", "return 1;");
        foreach (var form in new[] { Arn + name, Partial + name, $"us-west-2:123456789012:function:{name}", $"123456789012:{name}" })
        {
            var (status, body) = await Get($"/functions/{E(form)}");
            Assert.True(status == HttpStatusCode.OK, $"{form}: {status} {body?.ToJsonString()}");
            Assert.Equal(name, (string)body!["name"]!);
        }
    }

    [Fact]
    public async Task Every_operation_on_the_function_takes_its_arn()
    {
        var name = await FunctionsHttp.Deploy(Host, "routes-all", "return 1;");
        var arn = E(Arn + name);

        // UpdateFunctionConfiguration and UpdateFunctionCode.
        var (updated, config) = await Send(HttpMethod.Put, $"/functions/{arn}",
            System.Text.Json.JsonSerializer.Serialize(new { runtime = "javascript", handler = "index.handler", timeout = 7, zipFile = Convert.ToBase64String(FunctionsHttp.Package("return 2;")) }));
        Assert.True(updated == HttpStatusCode.OK, $"{updated} {config?.ToJsonString()}");
        Assert.Equal(name, (string)config!["name"]!);
        Assert.Equal(7, (int)config["timeout"]!);
        using (var code = await Host.Http.PutAsync($"/functions/{arn}/code", new ByteArrayContent(FunctionsHttp.Package("return 3;"))))
            Assert.True(code.IsSuccessStatusCode, await code.Content.ReadAsStringAsync());

        // PublishVersion, ListVersionsByFunction.
        var (published, version) = await Send(HttpMethod.Post, $"/functions/{arn}/versions", "{}");
        Assert.Equal(HttpStatusCode.Created, published);
        Assert.Equal("1", (string)version!["version"]!);
        var (listed, versions) = await Get($"/functions/{E(Partial + name)}/versions");
        Assert.Equal(HttpStatusCode.OK, listed);
        Assert.Equal(2, versions!.AsArray().Count);

        // The alias operations.
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Put, $"/functions/{arn}/aliases/live", """{"functionVersion": "1"}""")).Status);
        var (aliases, aliasList) = await Get($"/functions/{arn}/aliases");
        Assert.Equal(HttpStatusCode.OK, aliases);
        Assert.Equal("live", (string)aliasList!.AsArray().Single()!["name"]!);
        Assert.Equal(HttpStatusCode.NoContent, (await Send(HttpMethod.Delete, $"/functions/{E(Partial + name)}/aliases/live")).Status);

        // The reserved concurrency operations.
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Put, $"/functions/{arn}/concurrency", """{"ReservedConcurrentExecutions": 5}""")).Status);
        var (_, concurrency) = await Get($"/functions/{arn}/concurrency");
        Assert.Equal(5, (int)concurrency!["ReservedConcurrentExecutions"]!);
        Assert.Equal(HttpStatusCode.NoContent, (await Send(HttpMethod.Delete, $"/functions/{arn}/concurrency")).Status);

        // DeleteFunction of one version by a qualified ARN, then of the function by its ARN.
        Assert.Equal(HttpStatusCode.NoContent, (await Send(HttpMethod.Delete, $"/functions/{E(Arn + name + ":1")}")).Status);
        var (_, after) = await Get($"/functions/{name}/versions");
        Assert.Single(after!.AsArray());
        Assert.Equal(HttpStatusCode.NoContent, (await Send(HttpMethod.Delete, $"/functions/{arn}")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Get($"/functions/{name}")).Status);
    }

    [Fact]
    public async Task Creating_a_function_by_its_arn_creates_it_under_its_name()
    {
        var name = "routes-new-" + Guid.NewGuid().ToString("n")[..8];
        using var put = await Host.Http.PutAsJsonAsync($"/functions/{E(Arn + name)}",
            new { runtime = "javascript", handler = "index.handler", zipFile = Convert.ToBase64String(FunctionsHttp.Package("return 1;")) });
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal($"/functions/{name}", put.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.OK, (await Get($"/functions/{name}")).Status);
    }

    [Fact]
    public async Task Get_function_with_a_qualifier_shows_that_version()
    {
        var name = await FunctionsHttp.Deploy(Host, "routes-ver", "return 1;");
        Assert.Equal(HttpStatusCode.Created, (await Send(HttpMethod.Post, $"/functions/{name}/versions", "{}")).Status);
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Put, $"/functions/{name}/aliases/live", """{"functionVersion": "1"}""")).Status);
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Put, $"/functions/{name}",
            System.Text.Json.JsonSerializer.Serialize(new { runtime = "javascript", handler = "index.handler", timeout = 9 }))).Status);

        var (_, latest) = await Get($"/functions/{name}");
        Assert.Equal(9, (int)latest!["timeout"]!);
        Assert.Equal("$LATEST", (string)latest["version"]!);
        foreach (var path in new[] { $"/functions/{name}:1", $"/functions/{E(Arn + name + ":live")}", $"/functions/{name}?Qualifier=live", $"/functions/{name}?Qualifier=1" })
        {
            var (status, v1) = await Get(path);
            Assert.True(status == HttpStatusCode.OK, $"{path}: {status} {v1?.ToJsonString()}");
            Assert.Equal(3, (int)v1!["timeout"]!);
            Assert.Equal("1", (string)v1["version"]!);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await Get($"/functions/{name}:7")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Get($"/functions/{name}:prod")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await Get($"/functions/{name}:1?Qualifier=2")).Status);
    }

    [Fact]
    public async Task An_operation_on_the_function_as_a_whole_refuses_a_qualified_name()
    {
        var name = await FunctionsHttp.Deploy(Host, "routes-q", "return 1;");
        Assert.Equal(HttpStatusCode.Created, (await Send(HttpMethod.Post, $"/functions/{name}/versions", "{}")).Status);
        var requests = new (HttpMethod Method, string Path, string? Body)[]
        {
            (HttpMethod.Put, $"/functions/{name}:1", """{"runtime": "javascript", "handler": "index.handler"}"""),
            (HttpMethod.Post, $"/functions/{name}:1/versions", "{}"),
            (HttpMethod.Get, $"/functions/{E(Arn + name + ":$LATEST")}/versions", null),
            (HttpMethod.Put, $"/functions/{name}:1/aliases/live", """{"functionVersion": "1"}"""),
            (HttpMethod.Get, $"/functions/{name}:1/aliases", null),
            (HttpMethod.Delete, $"/functions/{name}:1/aliases/live", null),
            (HttpMethod.Put, $"/functions/{E(Arn + name + ":1")}/concurrency", """{"ReservedConcurrentExecutions": 1}"""),
            (HttpMethod.Get, $"/functions/{name}:1/concurrency", null),
            (HttpMethod.Delete, $"/functions/{name}:1/concurrency", null),
        };
        foreach (var (method, path, body) in requests)
        {
            var (status, answer) = await Send(method, path, body);
            Assert.True(status == HttpStatusCode.BadRequest, $"{method} {path}: {status} {answer?.ToJsonString()}");
            Assert.Contains("permitted on functions only", (string)answer!["detail"]!);
        }

        using (var code = await Host.Http.PutAsync($"/functions/{name}:1/code", new ByteArrayContent(FunctionsHttp.Package("return 2;"))))
            Assert.Equal(HttpStatusCode.BadRequest, code.StatusCode);
        var (_, concurrency) = await Get($"/functions/{name}/concurrency");
        Assert.Null(concurrency!["ReservedConcurrentExecutions"]);
    }

    [Theory]
    [InlineData("not a name")]
    [InlineData("arn:aws:sqs:us-west-2:123456789012:queue")]
    [InlineData("12345:function:fn")] // a partial ARN whose account is not 12 digits
    [InlineData("fn:a:b")] // two qualifiers
    public async Task A_name_lambdas_pattern_refuses_is_a_400_on_every_route(string functionName)
    {
        var f = E(functionName);
        var requests = new (HttpMethod Method, string Path, string? Body)[]
        {
            (HttpMethod.Get, $"/functions/{f}", null),
            (HttpMethod.Delete, $"/functions/{f}", null),
            (HttpMethod.Put, $"/functions/{f}", """{"runtime": "javascript", "handler": "index.handler"}"""),
            (HttpMethod.Post, $"/functions/{f}/versions", "{}"),
            (HttpMethod.Get, $"/functions/{f}/versions", null),
            (HttpMethod.Put, $"/functions/{f}/aliases/live", """{"functionVersion": "1"}"""),
            (HttpMethod.Get, $"/functions/{f}/aliases", null),
            (HttpMethod.Delete, $"/functions/{f}/aliases/live", null),
            (HttpMethod.Put, $"/functions/{f}/concurrency", """{"ReservedConcurrentExecutions": 1}"""),
            (HttpMethod.Get, $"/functions/{f}/concurrency", null),
            (HttpMethod.Delete, $"/functions/{f}/concurrency", null),
        };
        foreach (var (method, path, body) in requests)
        {
            var (status, answer) = await Send(method, path, body);
            Assert.True(status == HttpStatusCode.BadRequest, $"{method} {path}: {status} {answer?.ToJsonString()}");
            Assert.Contains("FunctionName", (string)answer!["detail"]!);
        }
    }

    [Fact]
    public async Task Each_route_takes_the_length_and_characters_of_its_lambda_operation()
    {
        // GetFunction and ListVersionsByFunction: up to 170 characters, '.' allowed; a name no function has is not found.
        Assert.Equal(HttpStatusCode.NotFound, (await Get("/functions/no.such.function")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Get("/functions/no.such.function/versions")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Get($"/functions/{new string('a', 150)}")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await Get($"/functions/{new string('a', 171)}")).Status);
        // The others: up to 140, no '.'.
        Assert.Equal(HttpStatusCode.BadRequest, (await Get("/functions/no.such.function/aliases")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await Get("/functions/no.such.function/concurrency")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await Send(HttpMethod.Delete, "/functions/no.such.function")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await Get($"/functions/{new string('a', 141)}/concurrency")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Get($"/functions/{new string('a', 100)}/concurrency")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Send(HttpMethod.Post, $"/functions/{E(Arn + "no-such-function")}/versions", "{}")).Status);
    }
}
