using System.Text.Json;
using Fleet.Functions.Hosting.Isolated;

namespace Fleet.Functions.Tests;

/// <summary>
/// The host reads error frames from this worker and from an older one (a silo upgraded while a worker still runs the old
/// build, or a worker deployed apart from the host): this worker sends <c>errorType</c> (the short name, as Lambda reports
/// it) and <c>exceptionType</c> (the full name); the older one only <c>errorType</c>, the full name.
/// </summary>
public sealed class WorkerProtocolSkewTests
{
    private static JsonElement Reply(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Theory]
    // This worker.
    [InlineData("""{"type":"error","requestId":"r","errorType":"OperationCanceledException","exceptionType":"System.OperationCanceledException","message":"The operation was canceled."}""", true)]
    [InlineData("""{"type":"error","requestId":"r","errorType":"TaskCanceledException","exceptionType":"System.Threading.Tasks.TaskCanceledException","message":"A task was canceled."}""", true)]
    [InlineData("""{"type":"error","requestId":"r","errorType":"InvalidOperationException","exceptionType":"System.InvalidOperationException","message":"no"}""", false)]
    // exceptionType decides when it is there: the function's own type that happens to share the short name is no cancellation.
    [InlineData("""{"type":"error","requestId":"r","errorType":"OperationCanceledException","exceptionType":"MyApp.OperationCanceledException","message":"mine"}""", false)]
    // An older worker: no exceptionType, the full name as errorType.
    [InlineData("""{"type":"error","requestId":"r","errorType":"System.OperationCanceledException","message":"The operation was canceled."}""", true)]
    [InlineData("""{"type":"error","requestId":"r","errorType":"System.Threading.Tasks.TaskCanceledException","message":"A task was canceled."}""", true)]
    [InlineData("""{"type":"error","requestId":"r","errorType":"TaskCanceledException","message":"A task was canceled."}""", true)]
    [InlineData("""{"type":"error","requestId":"r","errorType":"System.InvalidOperationException","message":"no"}""", false)]
    [InlineData("""{"type":"error","requestId":"r","message":"no type at all"}""", false)]
    public void A_cancellation_is_recognised_from_this_worker_and_from_an_older_one(string reply, bool cancellation)
        => Assert.Equal(cancellation, IsolatedFunctionInstance.IsCancellation(Reply(reply)));

    private const string LambdaMessage = "An exception was thrown when the constructor for type 'Tests.Broken' was invoked. Check inner exception for more details.";

    [Fact]
    public void A_constructor_that_threw_in_this_worker_is_lambdas_LambdaException_with_the_cause_it_sent()
    {
        var reply = Reply("""
            {"type":"startFailed","errorType":"LambdaException","message":"MESSAGE","init":true,
             "exceptionType":"System.InvalidOperationException","stackTrace":"   at Tests.Broken..ctor()",
             "cause":{"errorType":"InvalidOperationException","errorMessage":"cannot initialise","stackTrace":["at Tests.Broken..ctor()"],
                      "cause":{"errorType":"FileNotFoundException","errorMessage":"settings.json is missing"}}}
            """.Replace("MESSAGE", LambdaMessage));

        var init = IsolatedFunctionInstance.InitException(reply, "LambdaException", LambdaMessage, "Fn::Tests.Broken::Handle");

        Assert.Equal("LambdaException", init.ErrorType);
        Assert.Equal(LambdaMessage, init.ErrorMessage);
        Assert.IsType<InvalidOperationException>(init.InnerException);
        Assert.Equal("InvalidOperationException", init.Cause!.ErrorType);
        Assert.Equal("cannot initialise", init.Cause.ErrorMessage);
        Assert.Equal(["at Tests.Broken..ctor()"], init.Cause.StackTrace);
        Assert.Equal("FileNotFoundException", init.Cause.Cause!.ErrorType);
        Assert.Null(init.Cause.Cause.StackTrace);
    }

    [Theory]
    [InlineData("InvalidOperationException", "System.InvalidOperationException")] // the previous worker: the short name and the full one
    [InlineData("System.InvalidOperationException", null)] // older still: the full name only
    public void A_constructor_that_threw_in_an_older_worker_is_a_LambdaException_too_its_exception_the_cause(string errorType, string? exceptionType)
    {
        var typeField = exceptionType is null ? "" : $"\"exceptionType\":\"{exceptionType}\",";
        var reply = Reply($$"""{"type":"startFailed","errorType":"{{errorType}}","message":"cannot initialise","init":true,{{typeField}}"stackTrace":"   at Tests.Broken..ctor()\n   at Other.Frame()"}""");

        var init = IsolatedFunctionInstance.InitException(reply, errorType, "cannot initialise", "Fn::Tests.Broken::Handle");

        Assert.Equal("LambdaException", init.ErrorType);
        Assert.Equal(LambdaMessage, init.ErrorMessage);
        Assert.IsType<InvalidOperationException>(init.InnerException);
        Assert.Equal("InvalidOperationException", init.Cause!.ErrorType);
        Assert.Equal("cannot initialise", init.Cause.ErrorMessage);
        Assert.Equal(["at Tests.Broken..ctor()", "at Other.Frame()"], init.Cause.StackTrace);
    }
}
