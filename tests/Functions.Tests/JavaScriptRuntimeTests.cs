using System.Diagnostics;
using System.Text.Json;
using Fleet.Functions.Hosting;
using Fleet.Functions.Hosting.JavaScript;

namespace Fleet.Functions.Tests;

public sealed class JavaScriptRuntimeTests
{
    private static readonly JavaScriptRuntime Runtime = new();

    private static FunctionCode Code(string handler, (string Path, string Content)[] files, int memoryMb = 128, int timeoutSeconds = 3, params (string Path, string Content)[][] layers)
    {
        static string Extract((string Path, string Content)[] entries)
            => FunctionPackages.Extract(FunctionPackages.Zip(entries.Select(e => (e.Path, FunctionPackages.Text(e.Content))).ToArray()));

        return new FunctionCode(
            TestFunctionContext.Resolved("javascript", handler, timeoutSeconds, memoryMb),
            Extract(files),
            layers.Select(Extract).ToList(),
            Path.GetTempPath());
    }

    private static Task<IFunctionInstance> Start(string source, string handler = "index.handler", int memoryMb = 128, JavaScriptRuntime? runtime = null)
        => (runtime ?? Runtime).StartAsync(Code(handler, [("index.js", source)], memoryMb), CancellationToken.None);

    private static async Task<string> InvokeOnce(string source, string payload = "{}", TestFunctionContext? context = null)
    {
        await using var instance = await Start(source);
        return await instance.InvokeAsync(payload, context ?? new TestFunctionContext());
    }

    private static void AssertJson(string expected, string actual)
        => Assert.True(JsonElement.DeepEquals(JsonDocument.Parse(expected).RootElement, JsonDocument.Parse(actual).RootElement), $"expected {expected}, got {actual}");

    [Fact]
    public async Task A_sync_handler_returns_its_value_as_json()
    {
        var result = await InvokeOnce("exports.handler = (event) => ({ sum: event.a + event.b, echo: event.s, list: [1, 'two', null] });", """{"a":1,"b":2,"s":"x"}""");
        AssertJson("""{"sum":3,"echo":"x","list":[1,"two",null]}""", result);
    }

    [Fact]
    public async Task An_async_handler_is_awaited_through_timers_and_promises()
    {
        var result = await InvokeOnce("""
            module.exports = {
              handler: async (event) => {
                await new Promise((resolve) => setTimeout(resolve, 20));
                const later = await Promise.resolve(event.n).then((n) => n * 2);
                return { doubled: later };
              },
            };
            """, """{"n":21}""");
        AssertJson("""{"doubled":42}""", result);
    }

    [Fact]
    public async Task A_handler_returning_nothing_answers_null()
    {
        Assert.Equal("null", await InvokeOnce("exports.handler = async () => { };"));
        Assert.Equal("null", await InvokeOnce("module.exports.handler = function () { return undefined; };"));
    }

    [Fact]
    public async Task A_callback_style_handler_answers_through_its_callback()
    {
        var result = await InvokeOnce("exports.handler = (event, context, callback) => { setTimeout(() => callback(null, { ok: event.v }), 5); };", """{"v":true}""");
        AssertJson("""{"ok":true}""", result);

        var error = await Assert.ThrowsAsync<FunctionErrorException>(() => InvokeOnce("exports.handler = (event, context, callback) => callback(new TypeError('no good'));"));
        Assert.Equal("TypeError", error.ErrorType);
        Assert.Equal("no good", error.Message);
    }

    [Fact]
    public async Task Warm_invocations_share_module_state_and_a_new_instance_starts_over()
    {
        const string source = "let count = 0; exports.handler = async () => ({ count: ++count });";
        await using (var instance = await Start(source))
        {
            AssertJson("""{"count":1}""", await instance.InvokeAsync("{}", new TestFunctionContext()));
            AssertJson("""{"count":2}""", await instance.InvokeAsync("{}", new TestFunctionContext()));
        }

        await using var fresh = await Start(source);
        AssertJson("""{"count":1}""", await fresh.InvokeAsync("{}", new TestFunctionContext()));
    }

    [Fact]
    public async Task Require_resolves_relative_modules_json_and_caches_them()
    {
        var code = Code("lib/app.handler",
        [
            ("lib/app.js", """
                const util = require('./util');
                const again = require('./util.js');
                const config = require('../config.json');
                const helper = require('../shared/helper');
                exports.handler = () => ({ shout: util.shout('hi'), same: util === again, loads: util.loads, name: config.name, helper: helper(), file: __filename });
                """),
            ("lib/util.js", "let loads = 0; loads++; module.exports = { shout: (s) => s.toUpperCase() + '!', loads };"),
            ("config.json", """{ "name": "fleet" }"""),
            ("shared/helper/index.js", "module.exports = () => 'helped';"),
        ]);
        await using var instance = await Runtime.StartAsync(code, CancellationToken.None);
        var result = await instance.InvokeAsync("{}", new TestFunctionContext());
        AssertJson("""{"shout":"HI!","same":true,"loads":1,"name":"fleet","helper":"helped","file":"/var/task/lib/app.js"}""", result);
    }

    [Fact]
    public async Task Bare_requires_use_the_package_then_the_layers_with_the_later_layer_winning()
    {
        var code = Code("index.handler",
            [
                ("index.js", """
                    exports.handler = () => ({
                      greet: require('greet').who,
                      only: require('only-first'),
                      shared: require('shared'),
                      sub: require('greet/extra'),
                    });
                    """),
                ("node_modules/shared.js", "module.exports = 'package';"),
            ],
            layers:
            [
                [
                    ("nodejs/node_modules/greet/index.js", "module.exports = { who: 'layer1' };"),
                    ("nodejs/node_modules/greet/extra.js", "module.exports = 'extra from layer1';"),
                    ("nodejs/node_modules/only-first/index.js", "module.exports = 'first';"),
                    ("nodejs/node_modules/shared/index.js", "module.exports = 'layer1';"),
                ],
                [
                    ("nodejs/node_modules/greet/package.json", """{ "name": "greet", "main": "lib/main.js" }"""),
                    ("nodejs/node_modules/greet/lib/main.js", "module.exports = { who: require('./who') };"),
                    ("nodejs/node_modules/greet/lib/who.js", "module.exports = 'layer2';"),
                ],
            ]);
        await using var instance = await Runtime.StartAsync(code, CancellationToken.None);
        var result = await instance.InvokeAsync("{}", new TestFunctionContext());
        AssertJson("""{"greet":"layer2","only":"first","shared":"package","sub":"extra from layer1"}""", result);
    }

    [Fact]
    public async Task A_missing_module_is_a_catchable_node_style_error_at_run_time()
    {
        var result = await InvokeOnce("""
            exports.handler = () => {
              try { require('lodash-lite'); return 'loaded'; }
              catch (e) { return { code: e.code, message: e.message.split('\n')[0], isError: e instanceof Error }; }
            };
            """);
        AssertJson("""{"code":"MODULE_NOT_FOUND","message":"Cannot find module 'lodash-lite'","isError":true}""", result);
    }

    [Fact]
    public async Task A_module_may_not_require_files_outside_its_package()
    {
        var result = await InvokeOnce("""
            exports.handler = () => {
              try { require('../../../../../../etc/hostname'); return 'escaped'; }
              catch (e) { return e.code; }
            };
            """);
        Assert.Equal("\"MODULE_NOT_FOUND\"", result);
    }

    [Fact]
    public async Task Process_env_and_the_context_carry_the_invocation()
    {
        var context = new TestFunctionContext(environment: new Dictionary<string, string> { ["GREETING"] = "hello" }) { FunctionName = "orders", FunctionVersion = "7", InvokedAlias = "live" };
        var result = await InvokeOnce("""
            exports.handler = (event, context) => ({
              greeting: process.env.GREETING,
              functionName: context.functionName,
              functionVersion: context.functionVersion,
              invokedAlias: context.invokedAlias,
              requestId: context.awsRequestId,
              memory: context.memoryLimitInMB,
              remaining: context.getRemainingTimeInMillis(),
              lambdaName: process.env.AWS_LAMBDA_FUNCTION_NAME,
            });
            """, context: context);
        using var doc = JsonDocument.Parse(result);
        var root = doc.RootElement;
        Assert.Equal("hello", root.GetProperty("greeting").GetString());
        Assert.Equal("orders", root.GetProperty("functionName").GetString());
        Assert.Equal("7", root.GetProperty("functionVersion").GetString());
        Assert.Equal("live", root.GetProperty("invokedAlias").GetString());
        Assert.Equal(context.RequestId, root.GetProperty("requestId").GetString());
        Assert.Equal("128", root.GetProperty("memory").GetString());
        Assert.InRange(root.GetProperty("remaining").GetDouble(), 1, 3000);
        Assert.Equal("test", root.GetProperty("lambdaName").GetString());
    }

    [Fact]
    public async Task The_context_has_lambdas_invoked_function_arn_and_log_names()
    {
        var context = new TestFunctionContext()
        {
            FunctionName = "orders",
            InvokedFunctionArn = "arn:aws:lambda:us-east-1:000000000000:function:orders:live",
            LogGroupName = "/aws/lambda/orders",
            LogStreamName = "2026/05/01/[3]0123456789abcdef0123456789abcdef",
        };
        var result = await InvokeOnce("""
            exports.handler = async (event, context) => ({
              arn: context.invokedFunctionArn,
              group: context.logGroupName,
              stream: context.logStreamName,
            });
            """, context: context);
        using var doc = JsonDocument.Parse(result);
        Assert.Equal("arn:aws:lambda:us-east-1:000000000000:function:orders:live", doc.RootElement.GetProperty("arn").GetString());
        Assert.Equal("/aws/lambda/orders", doc.RootElement.GetProperty("group").GetString());
        Assert.Equal("2026/05/01/[3]0123456789abcdef0123456789abcdef", doc.RootElement.GetProperty("stream").GetString());
    }

    [Fact]
    public async Task Console_writes_to_the_invocation_logger_with_node_formatting_and_levels()
    {
        var context = new TestFunctionContext();
        await InvokeOnce("""
            exports.handler = () => {
              console.log('hello %s', 'world', { a: 1, b: 'x' }, [1, 2]);
              console.warn('careful', 42);
              console.error(new TypeError('bad thing'));
              return null;
            };
            """, context: context);
        Assert.Contains(context.Entries, e => e.Level == FunctionLogLevel.Information && e.Message == "hello world { a: 1, b: 'x' } [ 1, 2 ]");
        Assert.Contains(context.Entries, e => e.Level == FunctionLogLevel.Warning && e.Message == "careful 42");
        Assert.Contains(context.Entries, e => e.Level == FunctionLogLevel.Error && e.Message.Contains("TypeError", StringComparison.Ordinal) && e.Message.Contains("bad thing", StringComparison.Ordinal));
    }

    [Fact]
    public async Task What_the_cold_start_logs_reaches_the_first_invocation_only()
    {
        await using var instance = await Start("console.log('loading'); exports.handler = () => 1;");
        var first = new TestFunctionContext();
        await instance.InvokeAsync("{}", first);
        var entry = Assert.Single(first.Entries);
        Assert.Equal("loading", entry.Message);
        Assert.Equal("init", entry.Fields?["phase"]);

        var second = new TestFunctionContext();
        await instance.InvokeAsync("{}", second);
        Assert.Empty(second.Entries);
    }

    [Fact]
    public async Task A_thrown_error_fails_the_invocation_with_its_name_and_message_and_the_instance_stays_usable()
    {
        await using var instance = await Start("""
            exports.handler = (event) => {
              if (event.kind === 'error') throw new Error('boom');
              if (event.kind === 'type') return null.missing;
              if (event.kind === 'string') throw 'just a string';
              return 'fine';
            };
            """);
        var error = await Assert.ThrowsAsync<FunctionErrorException>(() => instance.InvokeAsync("""{"kind":"error"}""", new TestFunctionContext()));
        Assert.Equal(("Error", "boom"), (error.ErrorType, error.Message));
        // Lambda's error document carries the script's stack (stackTrace), not the interpreter's .NET frames.
        var stack = Fleet.Functions.Hosting.ExecutionEnvironment.StackLines(error.InnerException);
        Assert.NotNull(stack);
        Assert.Contains(stack, line => line.Contains("index.js:2:", StringComparison.Ordinal)); // the line that threw
        Assert.DoesNotContain(stack, line => line.Contains("Jint.", StringComparison.Ordinal));

        var type = await Assert.ThrowsAsync<FunctionErrorException>(() => instance.InvokeAsync("""{"kind":"type"}""", new TestFunctionContext()));
        Assert.Equal("TypeError", type.ErrorType);
        Assert.Contains("missing", type.Message, StringComparison.Ordinal);

        var thrownString = await Assert.ThrowsAsync<FunctionErrorException>(() => instance.InvokeAsync("""{"kind":"string"}""", new TestFunctionContext()));
        Assert.Equal(("string", "just a string"), (thrownString.ErrorType, thrownString.Message));

        Assert.Equal("\"fine\"", await instance.InvokeAsync("{}", new TestFunctionContext()));
    }

    [Fact]
    public async Task A_rejected_promise_fails_the_invocation_with_the_rejection()
    {
        var error = await Assert.ThrowsAsync<FunctionErrorException>(() => InvokeOnce("exports.handler = async () => { await null; throw new RangeError('out of range'); };"));
        Assert.Equal(("RangeError", "out of range"), (error.ErrorType, error.Message));

        var rejected = await Assert.ThrowsAsync<FunctionErrorException>(() => InvokeOnce("exports.handler = () => new Promise((_, reject) => setTimeout(() => reject(new Error('later')), 5));"));
        Assert.Equal(("Error", "later"), (rejected.ErrorType, rejected.Message));
    }

    [Fact]
    public async Task An_unhandled_rejection_fails_the_invocation_as_in_node()
    {
        var error = await Assert.ThrowsAsync<FunctionErrorException>(() => InvokeOnce("exports.handler = async () => { Promise.reject(new Error('forgotten')); await new Promise((r) => setTimeout(r, 5)); return 'done'; };"));
        Assert.Equal("Runtime.UnhandledPromiseRejection", error.ErrorType);
        Assert.Contains("forgotten", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_promise_that_can_never_settle_answers_null_as_lambda_does()
    {
        var context = new TestFunctionContext();
        var result = await InvokeOnce("exports.handler = () => new Promise(() => { });", context: context);
        Assert.Equal("null", result);
        Assert.Contains(context.Entries, e => e.Level == FunctionLogLevel.Warning);
    }

    [Theory]
    [InlineData("exports.handler = () => { while (true) { } };")]
    [InlineData("exports.handler = async () => { await new Promise((r) => setTimeout(r, 60000)); return 'late'; };")]
    public async Task A_handler_running_or_waiting_past_the_timeout_is_stopped_at_the_timeout(string source)
    {
        await using var instance = await Start(source);
        var watch = Stopwatch.StartNew();
        var error = await Record.ExceptionAsync(() => instance.InvokeAsync("{}", new TestFunctionContext(TimeSpan.FromSeconds(1))));
        watch.Stop();
        Assert.True(error is TimeoutException or OperationCanceledException, $"expected a timeout, got {error?.GetType().Name ?? "nothing"}");
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(4)); // the 1 s limit, plus slack for a loaded CI machine
    }

    [Fact]
    public async Task A_memory_bomb_exceeds_the_functions_memory_limit()
    {
        await using var instance = await Start("""
            const kept = [];
            exports.handler = () => { while (true) kept.push('x'.repeat(10000) + kept.length); };
            """, memoryMb: 128);
        var error = await Assert.ThrowsAsync<FunctionMemoryLimitException>(() => instance.InvokeAsync("{}", new TestFunctionContext()));
        Assert.Contains("128 MB", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_memory_bomb_at_the_top_level_fails_the_cold_start()
    {
        var error = await Assert.ThrowsAsync<FunctionMemoryLimitException>(() => Start("""
            const kept = [];
            while (true) kept.push('y'.repeat(10000) + kept.length);
            """, memoryMb: 128));
        Assert.Contains("128 MB", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_statement_limit_fails_the_invocation()
    {
        var runtime = new JavaScriptRuntime(new JavaScriptRuntimeOptions { MaxStatements = 10_000 });
        await using var instance = await Start("exports.handler = (event) => { let n = 0; for (let i = 0; i < event.loops; i++) { n += i; } return n; };", runtime: runtime);
        Assert.Equal("4950", await instance.InvokeAsync("""{"loops":100}""", new TestFunctionContext()));
        var error = await Assert.ThrowsAsync<FunctionErrorException>(() => instance.InvokeAsync("""{"loops":1000000}""", new TestFunctionContext()));
        Assert.Equal("Runtime.StatementLimitExceeded", error.ErrorType);
    }

    [Fact]
    public async Task Unbounded_recursion_is_a_range_error_and_the_instance_survives()
    {
        await using var instance = await Start("""
            function down(n) { return down(n + 1) + 1; }
            exports.handler = (event) => event.recurse ? down(0) : 'ok';
            """);
        var error = await Assert.ThrowsAsync<FunctionErrorException>(() => instance.InvokeAsync("""{"recurse":true}""", new TestFunctionContext()));
        Assert.Equal(("RangeError", "Maximum call stack size exceeded"), (error.ErrorType, error.Message));
        Assert.Equal("\"ok\"", await instance.InvokeAsync("{}", new TestFunctionContext()));
    }

    [Fact]
    public async Task A_missing_handler_file_is_an_import_module_error()
    {
        var error = await Assert.ThrowsAsync<FunctionLoadException>(() => Runtime.StartAsync(Code("app.handler", [("index.js", "exports.handler = () => 1;")]), CancellationToken.None));
        Assert.Equal("Runtime.ImportModuleError", error.ErrorType);
        Assert.Contains("app.js", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_module_missing_at_the_top_level_is_an_import_module_error()
    {
        var error = await Assert.ThrowsAsync<FunctionLoadException>(() => Start("const lib = require('not-installed'); exports.handler = () => lib;"));
        Assert.Equal("Runtime.ImportModuleError", error.ErrorType);
        Assert.Contains("Cannot find module 'not-installed'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_or_non_function_export_is_handler_not_found()
    {
        var missing = await Assert.ThrowsAsync<FunctionLoadException>(() => Start("exports.other = () => 1;"));
        Assert.Equal("Runtime.HandlerNotFound", missing.ErrorType);
        Assert.Contains("index.handler", missing.Message, StringComparison.Ordinal);

        var notFunction = await Assert.ThrowsAsync<FunctionLoadException>(() => Start("exports.handler = 42;"));
        Assert.Equal("Runtime.HandlerNotFound", notFunction.ErrorType);
        Assert.Contains("not a function", notFunction.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_handler_name_is_rejected()
    {
        var error = await Assert.ThrowsAsync<FunctionLoadException>(() => Runtime.StartAsync(Code("index", [("index.js", "exports.handler = () => 1;")]), CancellationToken.None));
        Assert.Equal("Runtime.MalformedHandlerName", error.ErrorType);
    }

    [Fact]
    public async Task A_syntax_error_in_the_handler_or_a_required_module_is_a_user_code_syntax_error()
    {
        var direct = await Assert.ThrowsAsync<FunctionLoadException>(() => Start("exports.handler = () => { let x = ; };"));
        Assert.Equal("Runtime.UserCodeSyntaxError", direct.ErrorType);
        Assert.Contains("/var/task/index.js", direct.Message, StringComparison.Ordinal);

        var nested = await Assert.ThrowsAsync<FunctionLoadException>(() => Runtime.StartAsync(
            Code("index.handler", [("index.js", "const b = require('./broken'); exports.handler = () => b;"), ("broken.js", "module.exports = {;")]),
            CancellationToken.None));
        Assert.Equal("Runtime.UserCodeSyntaxError", nested.ErrorType);
        Assert.Contains("broken.js", nested.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_top_level_throw_is_an_init_error_named_after_the_javascript_error()
    {
        var typeError = await Assert.ThrowsAsync<FunctionInitException>(() => Start("const config = null; const port = config.port; exports.handler = () => port;"));
        Assert.Equal("TypeError", typeError.ErrorType);
        Assert.Contains("port", typeError.InnerException?.Message, StringComparison.Ordinal);

        var plain = await Assert.ThrowsAsync<FunctionInitException>(() => Start("throw new Error('no database'); exports.handler = () => 1;"));
        Assert.Equal("Error", plain.ErrorType);
        Assert.Equal("no database", plain.InnerException?.Message);
    }

    [Fact]
    public async Task Context_invoke_calls_another_function_and_awaits_its_json_result()
    {
        string? calledName = null;
        string? calledPayload = null;
        var context = new TestFunctionContext
        {
            OnInvoke = (name, payload) =>
            {
                calledName = name;
                calledPayload = payload is JsonElement e ? e.GetRawText() : null;
                return Task.FromResult(JsonDocument.Parse("""{"total":5,"items":["a"]}""").RootElement.Clone());
            },
        };
        var result = await InvokeOnce("""
            exports.handler = async (event, context) => {
              const answer = await context.invoke('pricing:live', { sku: event.sku, qty: 2 });
              return { total: answer.total, first: answer.items[0] };
            };
            """, """{"sku":"A-1"}""", context);
        AssertJson("""{"total":5,"first":"a"}""", result);
        Assert.Equal("pricing:live", calledName);
        AssertJson("""{"sku":"A-1","qty":2}""", calledPayload!);
    }

    [Fact]
    public async Task A_failed_context_invoke_rejects_with_the_callees_error_type()
    {
        var result = await InvokeOnce("""
            exports.handler = async (event, context) => {
              try { await context.invoke('nowhere', {}); return 'resolved'; }
              catch (e) { return { name: e.name, errorType: e.errorType, fn: e.functionName }; }
            };
            """);
        AssertJson("""{"name":"FunctionInvocationError","errorType":"NotFound","fn":"nowhere"}""", result);
    }

    [Fact]
    public async Task A_disposed_instance_refuses_invocations()
    {
        var instance = await Start("exports.handler = () => 1;");
        Assert.Equal("1", await instance.InvokeAsync("{}", new TestFunctionContext()));
        await instance.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => instance.InvokeAsync("{}", new TestFunctionContext()));
    }
}
