using Fleet.Functions.Hosting;
using Fleet.Functions.Hosting.JavaScript;
using Fleet.Grains.Functions;

namespace Fleet.Functions.Tests;

/// <summary>
/// Who decides that an invocation timed out: the environment's timer, or the runtime that notices the deadline itself
/// (the JavaScript engine's deadline constraint). Either way the caller must see a Timeout, never the runtime's exception.
/// </summary>
public sealed class ExecutionEnvironmentTimeoutTests
{
    [Theory]
    [InlineData("exports.handler = () => { while (true) { } };")]
    [InlineData("exports.handler = async () => { await new Promise((r) => setTimeout(r, 60000)); return 'late'; };")]
    public async Task A_javascript_handler_past_its_timeout_is_reported_as_timed_out_however_the_deadline_was_noticed(string source)
    {
        var packages = new InMemoryPackages();
        var zip = FunctionPackages.Zip(("index.js", FunctionPackages.Text(source)));
        var factory = packages.Factory(null, new JavaScriptRuntime());
        // Several rounds: the engine's own deadline and the environment's timer expire within a millisecond of each other.
        for (var round = 0; round < 8; round++)
        {
            await using var environment = factory.Create(packages.Function(zip, "index.handler", FunctionRuntimes.JavaScript, timeoutSeconds: 1), "t");
            // A per-request cap below the function's timeout is the deadline too (a caller's remaining time).
            var result = await environment.InvokeAsync(new InvocationRequest(Guid.NewGuid().ToString(), "{}", null, TimeoutMs: 300));

            Assert.True(result.Error?.Kind == InvocationErrorKind.Timeout, $"round {round}: {result.Error?.Kind} {result.Error?.Type}: {result.Error?.Message}");
            Assert.Contains("timed out after 0.30 seconds", result.Error!.Message);
        }
    }
}
