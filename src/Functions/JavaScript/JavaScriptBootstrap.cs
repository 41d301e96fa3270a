using Jint;
using Jint.Native;

namespace Fleet.Functions.Hosting.JavaScript;

/// <summary>
/// The Node-like globals every instance gets before the function's code runs (<c>console</c>, <c>process</c>,
/// timers, <c>queueMicrotask</c>) and the helpers the host calls. The helpers close over the built-ins as they
/// were at start-up, so a function that replaces <c>Promise</c> or <c>JSON</c> does not change how the host
/// reads its result.
/// </summary>
internal sealed class JavaScriptBootstrap
{
    private const string Source = """
        (function (host) {
          'use strict';
          const g = globalThis;
          const P = Promise;
          const then = P.prototype.then;
          const resolved = (v) => P.resolve(v);
          const stringify = JSON.stringify;
          const parse = JSON.parse;
          const keys = Object.keys;
          const isArray = Array.isArray;
          const ErrorType = Error;
          const DateType = Date;
          const MapType = Map;
          const SetType = Set;
          const identifier = /^[A-Za-z_$][\w$]*$/;

          function quote(s) {
            return "'" + String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n') + "'";
          }

          // A small util.inspect: what console.log prints for a value that is not a string.
          function inspect(v, depth, seen) {
            switch (typeof v) {
              case 'string': return depth === 0 ? v : quote(v);
              case 'bigint': return String(v) + 'n';
              case 'symbol': return v.toString();
              case 'function': return v.name ? '[Function: ' + v.name + ']' : '[Function (anonymous)]';
              case 'object': break;
              default: return String(v);
            }
            if (v === null) return 'null';
            if (v instanceof ErrorType) {
              const head = String(v.name) + ': ' + String(v.message);
              const stack = typeof v.stack === 'string' ? v.stack : '';
              return stack.startsWith(head) ? stack : stack.length > 0 ? head + '\n' + stack : head;
            }
            if (v instanceof DateType) return isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
            if (seen.indexOf(v) >= 0) return '[Circular]';
            if (depth > 2) return isArray(v) ? '[Array]' : '[Object]';
            seen.push(v);
            try {
              if (isArray(v)) return v.length === 0 ? '[]' : '[ ' + v.map((x) => inspect(x, depth + 1, seen)).join(', ') + ' ]';
              if (v instanceof MapType) {
                const parts = [];
                v.forEach((value, key) => parts.push(inspect(key, depth + 1, seen) + ' => ' + inspect(value, depth + 1, seen)));
                return 'Map(' + v.size + ') ' + (parts.length ? '{ ' + parts.join(', ') + ' }' : '{}');
              }
              if (v instanceof SetType) {
                const parts = [];
                v.forEach((value) => parts.push(inspect(value, depth + 1, seen)));
                return 'Set(' + v.size + ') ' + (parts.length ? '{ ' + parts.join(', ') + ' }' : '{}');
              }
              const k = keys(v);
              if (k.length === 0) return '{}';
              return '{ ' + k.map((key) => (identifier.test(key) ? key : quote(key)) + ': ' + inspect(v[key], depth + 1, seen)).join(', ') + ' }';
            } finally {
              seen.pop();
            }
          }

          // util.format: a leading string may hold %s %d %i %f %j %o %O %c %%; the other arguments follow, space-separated.
          function format(args) {
            const parts = [];
            let i = 0;
            if (typeof args[0] === 'string') {
              i = 1;
              parts.push(args[0].replace(/%[sdifjoOc%]/g, (m) => {
                if (m === '%%') return '%';
                if (i >= args.length) return m;
                const a = args[i++];
                switch (m) {
                  case '%s': return typeof a === 'string' ? a : inspect(a, 0, []);
                  case '%d': return typeof a === 'bigint' ? a + 'n' : typeof a === 'object' && a !== null ? 'NaN' : String(Number(a));
                  case '%i': return typeof a === 'bigint' ? a + 'n' : String(parseInt(a, 10));
                  case '%f': return String(parseFloat(a));
                  case '%j': try { return String(stringify(a)); } catch (e) { return '[Circular]'; }
                  case '%c': return '';
                  default: return typeof a === 'string' ? quote(a) : inspect(a, 0, []);
                }
              }));
            }
            for (; i < args.length; i++) parts.push(inspect(args[i], 0, []));
            return parts.join(' ');
          }

          const console = {};
          const levels = { log: 'info', info: 'info', warn: 'warn', error: 'error', debug: 'debug', trace: 'trace' };
          for (const name of keys(levels)) {
            const level = levels[name];
            console[name] = function (...args) { host.log(level, format(args)); };
          }
          console.dir = function (v) { host.log('info', inspect(v, typeof v === 'string' ? 1 : 0, [])); };
          g.console = console;

          function microtask(fn, args) {
            then.call(resolved(undefined), () => fn(...args));
          }

          function requireFunction(fn) {
            if (typeof fn !== 'function') throw new TypeError('The "callback" argument must be of type function. Received ' + inspect(fn, 1, []));
          }

          g.setTimeout = function setTimeout(fn, ms, ...args) { requireFunction(fn); return host.setTimer(fn, ms, args, false); };
          g.setInterval = function setInterval(fn, ms, ...args) { requireFunction(fn); return host.setTimer(fn, ms, args, true); };
          g.setImmediate = function setImmediate(fn, ...args) { requireFunction(fn); return host.setTimer(fn, -1, args, false); };
          g.clearTimeout = function clearTimeout(id) { host.clearTimer(id); };
          g.clearInterval = function clearInterval(id) { host.clearTimer(id); };
          g.clearImmediate = function clearImmediate(id) { host.clearTimer(id); };
          g.queueMicrotask = function queueMicrotask(fn) { requireFunction(fn); microtask(fn, []); };

          const env = {};
          g.process = {
            env,
            platform: 'linux',
            release: { name: 'jint' },
            argv: [],
            cwd() { return host.taskRoot; },
            nextTick(fn, ...args) { requireFunction(fn); microtask(fn, args); },
          };

          return {
            watch(v, ok, fail) { then.call(resolved(v), ok, fail); },
            isThenable(v) { return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function'; },
            // context.invoke: the payload goes to the host as JSON; the host settles the promise when the callee answers.
            makeInvoke(hostInvoke) {
              return function invoke(functionName, payload) {
                let res, rej;
                const p = new P((a, b) => { res = a; rej = b; });
                hostInvoke(functionName, payload === undefined ? undefined : stringify(payload), res, rej);
                return p;
              };
            },
            stringify(v) { const s = stringify(v); return s === undefined ? 'null' : s; },
            parse(s) { return parse(s); },
            setEnv(values) {
              const target = g.process !== null && typeof g.process === 'object' && g.process.env !== null && typeof g.process.env === 'object' ? g.process.env : env;
              for (const k of keys(values)) target[k] = values[k];
            },
          };
        })
        """;

    private JavaScriptBootstrap(JsValue watch, JsValue isThenable, JsValue makeInvoke, JsValue stringify, JsValue parse, JsValue setEnv)
    {
        Watch = watch;
        IsThenable = isThenable;
        MakeInvoke = makeInvoke;
        Stringify = stringify;
        Parse = parse;
        SetEnv = setEnv;
    }

    /// <summary><c>watch(value, onFulfilled, onRejected)</c>: settles through <c>Promise.resolve(value).then</c>.</summary>
    public JsValue Watch { get; }

    public JsValue IsThenable { get; }

    /// <summary><c>makeInvoke(hostInvoke)</c>: <c>context.invoke</c>, calling <c>hostInvoke(name, payloadJson, resolve, reject)</c>.</summary>
    public JsValue MakeInvoke { get; }

    /// <summary>JSON.stringify, with <c>undefined</c> as <c>"null"</c>.</summary>
    public JsValue Stringify { get; }

    public JsValue Parse { get; }

    public JsValue SetEnv { get; }

    /// <summary>Installs the globals on <paramref name="engine"/>; <paramref name="host"/> carries <c>log</c>, <c>setTimer</c>, <c>clearTimer</c>, <c>taskRoot</c>.</summary>
    public static JavaScriptBootstrap Install(Engine engine, JsValue host)
    {
        var factory = engine.Evaluate(Source, "fleet:bootstrap");
        var helpers = engine.Call(factory, JsValue.Undefined, [host]);
        return new JavaScriptBootstrap(
            helpers.Get("watch"),
            helpers.Get("isThenable"),
            helpers.Get("makeInvoke"),
            helpers.Get("stringify"),
            helpers.Get("parse"),
            helpers.Get("setEnv"));
    }
}
