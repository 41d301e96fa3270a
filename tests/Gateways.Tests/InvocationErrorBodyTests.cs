using System.Text.Json.Nodes;
using Fleet.Gateways.Http;
using Fleet.Grains.Functions;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Fleet.Gateways.Tests;

/// <summary>A function error's body over HTTP: Lambda's error document, with its <c>cause</c> when the error wraps the exception thrown.</summary>
public sealed class InvocationErrorBodyTests
{
    private static async Task<(int Status, JsonNode Body, IHeaderDictionary Headers)> Respond(InvocationResult result)
    {
        var http = new DefaultHttpContext { RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider() };
        http.Response.Body = new MemoryStream();
        await FunctionsApi.Respond(result, http.Response, tail: false).ExecuteAsync(http);
        http.Response.Body.Position = 0;
        return (http.Response.StatusCode, JsonNode.Parse(http.Response.Body)!, http.Response.Headers);
    }

    [Fact]
    public async Task A_constructor_that_threw_answers_lambdas_LambdaException_with_its_cause_nested()
    {
        const string Message = "An exception was thrown when the constructor for type 'Bad.H' was invoked. Check inner exception for more details.";
        var failed = InvocationResult.Failed("req-1", InvocationErrorKind.Unhandled, "LambdaException", Message, "fn", "$LATEST");
        var result = failed with
        {
            Error = failed.Error! with
            {
                Cause = new InvocationErrorCause("InvalidOperationException", "no config", ["at Bad.H..ctor()"], new InvocationErrorCause("FileNotFoundException", "settings.json is missing")),
            },
        };

        var (status, body, headers) = await Respond(result);

        Assert.Equal(200, status); // a function error: 200 with X-Function-Error, as Lambda
        Assert.Equal("Unhandled", (string?)headers["X-Function-Error"]);
        Assert.Equal("LambdaException", (string)body["errorType"]!);
        Assert.Equal(Message, (string)body["errorMessage"]!);
        Assert.Null(body["stackTrace"]);
        Assert.True(JsonNode.DeepEquals(
            JsonNode.Parse("""
                {"errorType": "InvalidOperationException", "errorMessage": "no config", "stackTrace": ["at Bad.H..ctor()"],
                 "cause": {"errorType": "FileNotFoundException", "errorMessage": "settings.json is missing"}}
                """),
            body["cause"]), body.ToJsonString());
    }

    [Fact]
    public async Task An_error_without_a_cause_has_no_cause_property()
    {
        var (_, body, _) = await Respond(InvocationResult.Failed("req-2", InvocationErrorKind.Unhandled, "InvalidOperationException", "sensor offline", "fn", "$LATEST"));

        Assert.Equal("InvalidOperationException", (string)body["errorType"]!);
        Assert.False(body.AsObject().ContainsKey("cause"));
        Assert.False(body.AsObject().ContainsKey("causes"));
    }

    [Fact]
    public async Task An_aggregate_answers_its_inner_exceptions_as_causes()
    {
        var failed = InvocationResult.Failed("req-3", InvocationErrorKind.Unhandled, "AggregateException", "One or more errors occurred.", "fn", "$LATEST");
        var io = new InvocationErrorCause("IOException", "disk full", ["at H.Save()"]);
        var result = failed with { Error = failed.Error! with { Cause = io, Causes = [io, new InvocationErrorCause("TimeoutException", "slow")] } };

        var (_, body, _) = await Respond(result);

        Assert.True(JsonNode.DeepEquals(
            JsonNode.Parse("""
                [{"errorType": "IOException", "errorMessage": "disk full", "stackTrace": ["at H.Save()"]},
                 {"errorType": "TimeoutException", "errorMessage": "slow"}]
                """),
            body["causes"]), body.ToJsonString());
        Assert.Equal("IOException", (string)body["cause"]!["errorType"]!);
    }
}
