using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Fleet.EndToEnd.Tests;

/// <summary>
/// A real local HTTP endpoint that behaves like a throttled API: every 4th request gets 429 with
/// Retry-After, every 7th a 500; while <see cref="Rejecting"/> is on, anomalies with an even seq get 400, and while
/// <see cref="Hanging"/> is on, every request hangs.
/// It records every request's arrival time and the ids it accepted.
/// </summary>
public sealed class ThrottlingWebhook : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;
    private int _hung;

    public ThrottlingWebhook()
    {
        Port = SiloProcess.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{Port}");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.MapPost("/hook", async (HttpContext context) =>
        {
            if (Hanging)
            {
                Interlocked.Increment(ref _hung);
                await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { });
                return Results.StatusCode(503);
            }

            var n = Interlocked.Increment(ref _requests);
            Arrivals.Enqueue(DateTime.UtcNow);
            var body = await JsonDocument.ParseAsync(context.Request.Body);
            var seq = body.RootElement.GetProperty("seq").GetInt64();
            if (Rejecting && seq % 2 == 0) return Results.StatusCode(400);
            if (n % 4 == 0)
            {
                context.Response.Headers.RetryAfter = "1";
                return Results.StatusCode(429);
            }

            if (n % 7 == 0) return Results.StatusCode(500);
            Accepted.Add(seq);
            return Results.Ok();
        });
    }

    public int Port { get; }
    public string Url => $"http://127.0.0.1:{Port}/hook";
    public volatile bool Rejecting;

    /// <summary>While on, requests hang until the caller gives up (nothing is accepted or recorded).</summary>
    public volatile bool Hanging;

    public int Hung => Volatile.Read(ref _hung);
    public ConcurrentQueue<DateTime> Arrivals { get; } = new();
    public ConcurrentBag<long> Accepted { get; } = new();

    public Task StartAsync() => _app.StartAsync();

    /// <summary>The most requests that arrived within any window of the given length.</summary>
    public int MaxInWindow(TimeSpan window)
    {
        var times = Arrivals.OrderBy(t => t).ToArray();
        var max = 0;
        for (int i = 0, j = 0; i < times.Length; i++)
        {
            while (times[i] - times[j] >= window) j++;
            max = Math.Max(max, i - j + 1);
        }

        return max;
    }

    /// <summary>How many requests arrived, and the time from the first to the last.</summary>
    public (int Count, TimeSpan Span) ArrivalSpan()
    {
        var times = Arrivals.OrderBy(t => t).ToArray();
        return times.Length == 0 ? (0, TimeSpan.Zero) : (times.Length, times[^1] - times[0]);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
