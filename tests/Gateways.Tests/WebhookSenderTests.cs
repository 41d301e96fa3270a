using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Fleet.Gateways.Outbound;
using Fleet.Grains.Sensors;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Fleet.Gateways.Tests;

/// <summary>A real Kestrel server on 127.0.0.1 (ephemeral port) that answers per path and records what it got.</summary>
public sealed class WebhookServer : IAsyncLifetime
{
    private WebApplication? _app;

    public ConcurrentQueue<(string Path, string ContentType, string Body)> Received { get; } = new();

    /// <summary>The Idempotency-Key header of each request, by path, in arrival order.</summary>
    public ConcurrentQueue<(string Path, string? Key)> IdempotencyKeys { get; } = new();

    public Uri BaseUri { get; private set; } = null!;

    /// <summary>/hook/flaky answers 400 until this is set, then 200: a downstream that gets fixed.</summary>
    public volatile bool FlakyFixed;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapPost("/hook/{behaviour}", async (string behaviour, HttpContext context) =>
        {
            using var reader = new StreamReader(context.Request.Body);
            Received.Enqueue(("/hook/" + behaviour, context.Request.ContentType ?? "", await reader.ReadToEndAsync()));
            IdempotencyKeys.Enqueue(("/hook/" + behaviour, context.Request.Headers["Idempotency-Key"].FirstOrDefault()));
            var response = context.Response;
            switch (behaviour)
            {
                case "ok":
                    response.StatusCode = 200;
                    break;
                case "accepted":
                    response.StatusCode = 202;
                    break;
                case "throttle":
                    response.StatusCode = 429;
                    response.Headers.RetryAfter = "7";
                    break;
                case "throttle-date":
                    response.StatusCode = 429;
                    response.Headers.RetryAfter = DateTimeOffset.UtcNow.AddSeconds(30).ToString("R");
                    break;
                case "throttle-60-days":
                    response.StatusCode = 429;
                    response.Headers.RetryAfter = (60 * 86400).ToString(System.Globalization.CultureInfo.InvariantCulture);
                    break;
                case "throttle-bare":
                    response.StatusCode = 429;
                    break;
                case "unavailable":
                    response.StatusCode = 503;
                    response.Headers.RetryAfter = "2";
                    break;
                case "error":
                    response.StatusCode = 500;
                    break;
                case "timeout":
                    response.StatusCode = 408;
                    break;
                case "bad":
                    response.StatusCode = 400;
                    break;
                case "flaky":
                    response.StatusCode = FlakyFixed ? 200 : 400;
                    break;
                case "gone":
                    response.StatusCode = 404;
                    break;
                default:
                    response.StatusCode = 418;
                    break;
            }
        });
        await app.StartAsync();
        _app = app;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        BaseUri = new Uri(address);
        Assert.NotEqual(0, BaseUri.Port);
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}

public sealed class WebhookSenderTests(WebhookServer server) : IClassFixture<WebhookServer>, IDisposable
{
    private static readonly Anomaly Sample = new(
        "sensor-7", "temperature", 1_732_450_000_000, 42, 99.5, 0.93, "ewma-z", new DateTime(2024, 11, 24, 12, 0, 0, DateTimeKind.Utc))
    {
        Kind = "level", Expected = 21.5, Lower = 12.25, Upper = 30.75,
    };

    private static readonly Guid SampleId = Guid.Parse("6f1c2d4e-8a9b-4c3d-9e0f-112233445566");

    private readonly HttpClient _http = new();

    public void Dispose() => _http.Dispose();

    private Task<SendResult> Send(string behaviour)
        => new WebhookSender(_http, new Uri(server.BaseUri, "/hook/" + behaviour)).SendAsync(new OutboundItem(SampleId, Sample, DateTime.UtcNow), CancellationToken.None);

    [Fact]
    public async Task Ok_is_delivered_and_posts_the_anomaly_as_json()
    {
        var result = await Send("ok");
        Assert.True(result.Delivered);
        Assert.False(result.Throttled);
        Assert.Null(result.Error);

        var (_, contentType, body) = Assert.Single(server.Received, r => r.Path == "/hook/ok");
        Assert.StartsWith("application/json", contentType);
        var posted = JsonSerializer.Deserialize<Anomaly>(body, JsonSerializerOptions.Web);
        Assert.Equal(Sample, posted);
    }

    [Fact]
    public async Task Every_attempt_of_an_item_carries_its_id_as_the_Idempotency_Key()
    {
        var item = new OutboundItem(Guid.NewGuid(), Sample, DateTime.UtcNow);
        var sender = new WebhookSender(_http, new Uri(server.BaseUri, "/hook/accepted"));
        await sender.SendAsync(item, CancellationToken.None);
        await sender.SendAsync(item, CancellationToken.None); // a retry or redrive of the same item: the same key, so the receiver can drop it
        var other = item with { Id = Guid.NewGuid() };
        await sender.SendAsync(other, CancellationToken.None); // another item: another key

        var keys = server.IdempotencyKeys.Where(k => k.Path == "/hook/accepted").Select(k => k.Key).ToList();
        Assert.Equal(2, keys.Count(key => key == item.Id.ToString()));
        Assert.Equal(1, keys.Count(key => key == other.Id.ToString()));
    }

    [Fact]
    public async Task Any_2xx_is_delivered()
    {
        Assert.True((await Send("accepted")).Delivered);
    }

    [Fact]
    public async Task Too_many_requests_is_throttled_with_the_retry_after_delay()
    {
        var result = await Send("throttle");
        Assert.False(result.Delivered);
        Assert.True(result.Throttled);
        Assert.True(result.Retryable);
        Assert.Equal(TimeSpan.FromSeconds(7), result.RetryAfter);
        Assert.Equal("HTTP 429", result.Error);
    }

    [Fact]
    public async Task Retry_after_as_an_http_date_becomes_the_remaining_wait()
    {
        var result = await Send("throttle-date");
        Assert.True(result.Throttled);
        Assert.NotNull(result.RetryAfter);
        // 30 s ahead, to the second (the header has whole seconds); allow for slow machines.
        Assert.InRange(result.RetryAfter!.Value, TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(31));
    }

    [Fact]
    public async Task Too_many_requests_without_retry_after_is_throttled_with_no_delay()
    {
        var result = await Send("throttle-bare");
        Assert.True(result.Throttled);
        Assert.Null(result.RetryAfter);
    }

    [Fact]
    public async Task Service_unavailable_is_transient_and_keeps_retry_after()
    {
        var result = await Send("unavailable");
        Assert.False(result.Delivered);
        Assert.True(result.Retryable);
        Assert.False(result.Throttled);
        Assert.Equal(TimeSpan.FromSeconds(2), result.RetryAfter);
        Assert.Equal("HTTP 503", result.Error);
    }

    [Theory]
    [InlineData("error", "HTTP 500")]
    [InlineData("timeout", "HTTP 408")]
    public async Task Server_errors_and_request_timeout_are_transient(string behaviour, string error)
    {
        var result = await Send(behaviour);
        Assert.False(result.Delivered);
        Assert.True(result.Retryable);
        Assert.False(result.Throttled);
        Assert.Equal(error, result.Error);
    }

    [Theory]
    [InlineData("bad", "HTTP 400")]
    [InlineData("gone", "HTTP 404")]
    [InlineData("teapot", "HTTP 418")]
    public async Task Client_errors_are_permanent(string behaviour, string error)
    {
        var result = await Send(behaviour);
        Assert.False(result.Delivered);
        Assert.False(result.Retryable);
        Assert.False(result.Throttled);
        Assert.Equal(error, result.Error);
    }

    [Fact]
    public async Task Connection_refused_is_transient()
    {
        // A port that was free a moment ago and has nothing listening now.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var result = await new WebhookSender(_http, new Uri($"http://127.0.0.1:{port}/hook/ok")).SendAsync(new OutboundItem(SampleId, Sample, DateTime.UtcNow), CancellationToken.None);
        Assert.False(result.Delivered);
        Assert.True(result.Retryable);
        Assert.StartsWith("connection:", result.Error);
    }
}
