using System.Net;
using System.Text.Json.Nodes;

namespace Fleet.Gateways.Tests;

/// <summary>
/// Lambda's Invoke answers every request with its request id (<c>x-amzn-RequestId</c>), not only a synchronous result:
/// an accepted event (202), a dry run (204) and every refusal carry it, here also as <c>X-Request-Id</c>.
/// </summary>
public sealed class InvocationRequestIdTests(FunctionsGatewayHostFixture fixture) : IClassFixture<FunctionsGatewayHostFixture>
{
    private GatewayHost Host => fixture.Host;

    private async Task<(HttpStatusCode Status, string RequestId, JsonNode? Body)> Invoke(string path, string body, string? type = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = FunctionsHttp.Json(body) };
        if (type is not null) request.Headers.Add("X-Invocation-Type", type);
        using var response = await Host.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.Headers.TryGetValues("X-Request-Id", out var ids), $"{path} ({type ?? "RequestResponse"}) answered {(int)response.StatusCode} without X-Request-Id");
        Assert.True(response.Headers.TryGetValues("x-amzn-RequestId", out var amzn), $"{path} ({type ?? "RequestResponse"}) answered {(int)response.StatusCode} without x-amzn-RequestId");
        var id = Assert.Single(ids);
        Assert.Equal(id, Assert.Single(amzn));
        Assert.True(Guid.TryParse(id, out _), id);
        return (response.StatusCode, id, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    [Fact]
    public async Task An_accepted_event_and_a_dry_run_carry_the_request_id()
    {
        var name = await FunctionsHttp.Deploy(Host, "reqid", "return 1;");

        var (accepted, eventId, body) = await Invoke($"/functions/{name}/invocations", "{}", "Event");
        Assert.Equal(HttpStatusCode.Accepted, accepted);
        Assert.Equal(eventId, (string)body!["requestId"]!);

        var (dry, _, _) = await Invoke($"/functions/{name}/invocations", "{}", "DryRun");
        Assert.Equal(HttpStatusCode.NoContent, dry);

        var (ok, _, _) = await Invoke($"/functions/{name}/invocations", "{}");
        Assert.Equal(HttpStatusCode.OK, ok);
    }

    [Fact]
    public async Task Every_refusal_carries_the_request_id()
    {
        var name = await FunctionsHttp.Deploy(Host, "reqid-no", "return 1;");

        // Not found, asynchronously and as a dry run: the body's requestId is the header's.
        foreach (var type in new[] { "Event", "DryRun" })
        {
            var (status, id, body) = await Invoke("/functions/no-such-function/invocations", "{}", type);
            Assert.Equal(HttpStatusCode.NotFound, status);
            Assert.Equal(id, (string)body!["requestId"]!);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await Invoke("/functions/no-such-function/invocations", "{}")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await Invoke($"/functions/{name}/invocations", "not json")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await Invoke($"/functions/{name}/invocations", "{}", "Sometimes")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await Invoke("/functions/not%20a%20name/invocations", "{}")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await Invoke($"/functions/{name}/invocations?Qualifier=bad!q", "{}")).Status);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await Invoke($"/functions/{name}/invocations", "\"" + new string('a', 1_100_000) + "\"", "Event")).Status);
    }
}
