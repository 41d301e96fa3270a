using System.Net;
using System.Text.Json.Nodes;

namespace Fleet.Gateways.Tests;

/// <summary>
/// A JavaScript handler's <c>context</c> over the HTTP API has Node's standard Lambda fields, <c>invokedFunctionArn</c>
/// first: the ARN the caller invoked by, with its qualifier (none, a version, an alias, <c>$LATEST</c>), on the platform's
/// region and account, synchronously and asynchronously alike.
/// </summary>
public sealed class FunctionContextApiTests(FunctionsGatewayHostFixture fixture) : IClassFixture<FunctionsGatewayHostFixture>
{
    private GatewayHost Host => fixture.Host;

    private const string Probe = """
        return {
          arn: context.invokedFunctionArn, name: context.functionName, version: context.functionVersion,
          memory: context.memoryLimitInMB, requestId: context.awsRequestId, group: context.logGroupName,
          stream: context.logStreamName, remaining: context.getRemainingTimeInMillis(),
        };
        """;

    private async Task<JsonNode> Invoke(string function)
    {
        var (status, body) = await FunctionsHttp.Read(await Host.Http.PostAsync($"/functions/{Uri.EscapeDataString(function)}/invocations", FunctionsHttp.Json("{}")));
        Assert.True(status == HttpStatusCode.OK, $"{function}: {status} {body?.ToJsonString()}");
        return body!;
    }

    [Fact]
    public async Task The_context_has_the_invoked_function_arn_with_the_qualifier_used_and_lambdas_other_fields()
    {
        var name = "ctx-" + Guid.NewGuid().ToString("n")[..8];
        using (var put = await Host.Http.PutAsync($"/functions/{name}", FunctionsHttp.Json(System.Text.Json.JsonSerializer.Serialize(new
        {
            runtime = "javascript", handler = "index.handler", memorySize = 256, zipFile = Convert.ToBase64String(FunctionsHttp.Package(Probe, "event, context")),
        }))))
        {
            Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
        }

        Assert.Equal(HttpStatusCode.Created, (await FunctionsHttp.Read(await Host.Http.PostAsync($"/functions/{name}/versions", FunctionsHttp.Json("{}")))).Status);
        Assert.Equal(HttpStatusCode.OK, (await FunctionsHttp.Read(await Host.Http.PutAsync($"/functions/{name}/aliases/live", FunctionsHttp.Json("""{"functionVersion": "1"}""")))).Status);
        var arn = $"arn:aws:lambda:us-east-1:000000000000:function:{name}";

        var unqualified = await Invoke(name);
        Assert.Equal(arn, (string)unqualified["arn"]!);
        Assert.Equal(name, (string)unqualified["name"]!);
        Assert.Equal("$LATEST", (string)unqualified["version"]!);
        Assert.Equal("256", (string)unqualified["memory"]!);
        Assert.True(Guid.TryParse((string)unqualified["requestId"]!, out _));
        Assert.Equal($"/aws/lambda/{name}", (string)unqualified["group"]!);
        Assert.Matches(@"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$", (string)unqualified["stream"]!);
        Assert.InRange((double)unqualified["remaining"]!, 1, 3000);
        // The same warm environment, the same log stream.
        Assert.Equal((string)unqualified["stream"]!, (string)(await Invoke(name))["stream"]!);

        Assert.Equal(arn + ":1", (string)(await Invoke($"{name}:1"))["arn"]!);
        Assert.Equal(arn + ":$LATEST", (string)(await Invoke($"{name}:$LATEST"))["arn"]!);
        var viaAlias = await Invoke($"{name}:live");
        Assert.Equal(arn + ":live", (string)viaAlias["arn"]!);
        Assert.Equal("1", (string)viaAlias["version"]!);
        // The caller's ARN names the function; the context's is the platform's own (its region and account).
        Assert.Equal(arn + ":live", (string)(await Invoke($"arn:aws:lambda:us-west-2:123456789012:function:{name}:live"))["arn"]!);

        // Asynchronously: the event's invocation has the same ARN.
        var record = await FunctionsHttp.Finished(Host, await FunctionsHttp.InvokeEvent(Host, $"{name}:live"));
        Assert.Equal("Succeeded", (string?)record["status"]);
        var result = JsonNode.Parse(record!.ToJsonString())!;
        Assert.Contains(arn + ":live", result.ToJsonString());
    }
}
