using System.Net;
using System.Net.Http.Json;
using Fleet.Grains.Sensors;

namespace Fleet.Gateways.Outbound;

/// <summary>
/// POSTs the anomaly as JSON, with the item's id as its <c>Idempotency-Key</c> header (the same on every retry and
/// redrive, so a receiver can drop repeats); classifies the answer for the retry policy (429 and Retry-After included).
/// </summary>
public sealed class WebhookSender(HttpClient http, Uri url) : IOutboundSender
{
    public async Task<SendResult> SendAsync(OutboundItem item, CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = JsonContent.Create(item.Payload) };
            request.Headers.Add("Idempotency-Key", item.Id.ToString());
            using var response = await http.SendAsync(request, cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                return SendResult.Ok;
            }

            var retryAfter = RetryAfter(response);
            var status = (int)response.StatusCode;
            return response.StatusCode switch
            {
                HttpStatusCode.TooManyRequests => SendResult.Throttle(retryAfter, "HTTP 429"),
                HttpStatusCode.RequestTimeout => SendResult.Transient("HTTP 408", retryAfter),
                _ when status >= 500 => SendResult.Transient($"HTTP {status}", retryAfter),
                _ => SendResult.Permanent($"HTTP {status}"),
            };
        }
        catch (HttpRequestException ex)
        {
            return SendResult.Transient($"connection: {ex.Message}");
        }
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta) return delta;
        if (header?.Date is { } date)
        {
            var wait = date - DateTimeOffset.UtcNow;
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }
}
