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
}
