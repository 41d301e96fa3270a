using System.Net.Http.Json;
using System.Net;
using Fleet.Gateways.Mqtt;
using Fleet.Grains.Functions;

namespace Fleet.Gateways.Tests;

/// <summary>
/// <c>PUT /bindings/{name}</c> stores only a binding that can run, as Lambda's CreateEventSourceMapping requires its
/// function to exist: a function (or its version or alias) that does not exist is a 404, a topic filter that can never
/// match a sensor's telemetry topic (<c>sensors/{sensorId}/telemetry</c>) a 400 that says why; and its functions may be
/// given in any of Lambda's forms.
/// </summary>
public sealed class FunctionBindingsApiTests(FunctionsGatewayHostFixture fixture) : IClassFixture<FunctionsGatewayHostFixture>
{
    private GatewayHost Host => fixture.Host;

    private static string Binding() => "b-" + Guid.NewGuid().ToString("n")[..8];

    private async Task<(HttpStatusCode Status, System.Text.Json.Nodes.JsonNode? Body)> Put(string binding, string topicFilter, params string[] functions)
        => await FunctionsHttp.Read(await Host.Http.PutAsync($"/bindings/{binding}",
            FunctionsHttp.Json(System.Text.Json.JsonSerializer.Serialize(new { topicFilter, functions }))));

    private async Task<bool> Listed(string binding)
    {
        var (_, list) = await FunctionsHttp.Read(await Host.Http.GetAsync("/bindings"));
        return list!.AsArray().Any(b => (string)b!["name"]! == binding);
    }

    [Fact]
    public async Task A_binding_to_a_function_that_does_not_exist_is_refused_with_a_404()
    {
        var binding = Binding();
        var (status, body) = await Put(binding, "sensors/+/telemetry", "nosuch");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("function 'nosuch' does not exist", (string)body!["detail"]!);
        Assert.False(await Listed(binding));

        // One missing link of a chain, and a version or alias the function does not have, alike.
        var name = await FunctionsHttp.Deploy(Host, "bind", "return event;");
        Assert.Equal(HttpStatusCode.NotFound, (await Put(binding, "sensors/+/telemetry", name, "nosuch")).Status);
        var (alias, aliasBody) = await Put(binding, "sensors/+/telemetry", $"{name}:live");
        Assert.Equal(HttpStatusCode.NotFound, alias);
        Assert.Contains("no version or alias 'live'", (string)aliasBody!["detail"]!);
        Assert.Equal(HttpStatusCode.NotFound, (await Put(binding, "sensors/+/telemetry", $"{name}:3")).Status);
        Assert.False(await Listed(binding));

        Assert.Equal(HttpStatusCode.OK, (await Put(binding, "sensors/+/telemetry", name, $"{name}:$LATEST")).Status);
        Assert.True(await Listed(binding));
        Assert.Equal(HttpStatusCode.NoContent, (await Host.Http.DeleteAsync($"/bindings/{binding}")).StatusCode);
    }

    [Theory]
    [InlineData("foo/+", "first level is 'foo'")]
    [InlineData("sensors/+", "2 levels")]
    [InlineData("sensors/+/telemetry/extra", "4 levels")]
    [InlineData("sensors/+/status", "third level is 'status'")]
    [InlineData("+/+/alerts", "third level is 'alerts'")]
    [InlineData("sensors/room 7/telemetry", "'room 7' is not a sensor id")]
    [InlineData("alerts/#", "first level is 'alerts'")]
    public async Task A_topic_filter_that_can_never_match_a_sensors_readings_is_a_400_that_says_why(string topicFilter, string why)
    {
        var name = await FunctionsHttp.Deploy(Host, "bind-topic", "return event;");
        var binding = Binding();
        var (status, body) = await Put(binding, topicFilter, name);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var detail = (string)body!["detail"]!;
        Assert.Contains("can never match a sensor's readings", detail);
        Assert.Contains(why, detail);
        Assert.Contains("sensors/{sensorId}/telemetry", detail);
        Assert.False(await Listed(binding));
    }

    [Theory]
    [InlineData("sensors/+/telemetry")]
    [InlineData("sensors/room-7/telemetry")]
    [InlineData("sensors/plant.1:a_b/telemetry")]
    [InlineData("sensors/#")]
    [InlineData("#")]
    [InlineData("+/+/+")]
    [InlineData("sensors/+/telemetry/#")]
    public async Task A_topic_filter_that_matches_some_sensors_readings_is_accepted(string topicFilter)
    {
        var name = await FunctionsHttp.Deploy(Host, "bind-ok", "return event;");
        var binding = Binding();
        Assert.Equal(HttpStatusCode.OK, (await Put(binding, topicFilter, name)).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await Host.Http.DeleteAsync($"/bindings/{binding}")).StatusCode);
    }

    [Fact]
    public async Task A_bindings_functions_may_be_given_as_lambdas_arns_and_are_stored_as_names()
    {
        var name = await FunctionsHttp.Deploy(Host, "bind-arn", "return event;");
        Assert.Equal(HttpStatusCode.Created, (await FunctionsHttp.Read(await Host.Http.PostAsync($"/functions/{name}/versions", FunctionsHttp.Json("{}")))).Status);
        var binding = Binding();
        var (status, body) = await Put(binding, "sensors/+/telemetry", $"arn:aws:lambda:us-west-2:123456789012:function:{name}:1", $"123456789012:function:{name}");
        Assert.True(status == HttpStatusCode.OK, body?.ToJsonString());
        Assert.Equal([$"{name}:1", name], body!["functions"]!.AsArray().Select(f => (string)f!).ToArray());
        Assert.Equal(HttpStatusCode.NoContent, (await Host.Http.DeleteAsync($"/bindings/{binding}")).StatusCode);

        var (bad, badBody) = await Put(binding, "sensors/+/telemetry", "arn:aws:sqs:us-west-2:123456789012:queue");
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.Contains("functions[0]", (string)badBody!["detail"]!);
    }

    /// <summary>The bindings' sensor id rule (in the grains, which cannot see the gateways) is the gateways' own.</summary>
    [Theory]
    [InlineData("room-7")]
    [InlineData("a.b:c_d-E9")]
    [InlineData("")]
    [InlineData("room 7")]
    [InlineData("a/b")]
    [InlineData("é")]
    [InlineData("+")]
    public void The_bindings_sensor_id_rule_is_the_gateways(string id)
    {
        Assert.Equal(SensorTopic.IsValidSensorId(id), Topics.IsSensorId(id));
        Assert.Equal(SensorTopic.IsValidSensorId(new string('a', 128)), Topics.IsSensorId(new string('a', 128)));
        Assert.Equal(SensorTopic.IsValidSensorId(new string('a', 129)), Topics.IsSensorId(new string('a', 129)));
    }

    /// <summary>
    /// A function whose (valid) name looks like an ARN segment (12 digits: an account; "function") bound by alias: the
    /// binding is stored as written, not read by Lambda's pattern as another function ("live").
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_binding_to_an_alias_of_a_function_whose_name_looks_like_an_arn_segment_is_stored_as_given(bool accountLike)
    {
        var name = accountLike ? string.Concat(Enumerable.Range(0, 12).Select(_ => (char)('0' + Random.Shared.Next(10)))) : "function";
        using (var put = await Host.Http.PutAsJsonAsync($"/functions/{name}", new { runtime = "javascript", handler = "index.handler", zipFile = Convert.ToBase64String(FunctionsHttp.Package("return event;")) }))
            Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Created, (await FunctionsHttp.Read(await Host.Http.PostAsync($"/functions/{name}/versions", FunctionsHttp.Json("{}")))).Status);
        Assert.Equal(HttpStatusCode.OK, (await FunctionsHttp.Read(await Host.Http.PutAsync($"/functions/{name}/aliases/live", FunctionsHttp.Json("""{"functionVersion": "1"}""")))).Status);

        var binding = "rv-" + Guid.NewGuid().ToString("n")[..8];
        var (status, body) = await FunctionsHttp.Read(await Host.Http.PutAsync($"/bindings/{binding}",
            FunctionsHttp.Json(System.Text.Json.JsonSerializer.Serialize(new { topicFilter = $"sensors/{binding}/telemetry", functions = new[] { $"{name}:live" } }))));
        try
        {
            Assert.True(status == HttpStatusCode.OK, $"{status} {body?.ToJsonString()}");
            Assert.Equal($"{name}:live", (string)body!["functions"]![0]!);
        }
        finally
        {
            await Host.Http.DeleteAsync($"/bindings/{binding}");
        }
    }
}
