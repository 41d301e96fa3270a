using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Fleet.Grains.Functions;
using Fleet.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Fleet.Gateways.Tests;

/// <summary>What the function API tests share: deploying a small JavaScript function and reading an answer.</summary>
internal static class FunctionsHttp
{
    public static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    /// <summary>A JavaScript function (index.handler) whose handler body is <paramref name="body"/>, under a fresh name.</summary>
    public static async Task<string> Deploy(GatewayHost host, string prefix, string body)
    {
        var name = prefix + "-" + Guid.NewGuid().ToString("n")[..8];
        using var put = await host.Http.PutAsJsonAsync($"/functions/{name}", new { runtime = "javascript", handler = "index.handler", zipFile = Convert.ToBase64String(Package(body)) });
        Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
        return name;
    }

    /// <summary>The zip of a JavaScript function (index.handler) whose handler body is <paramref name="body"/>; <paramref name="parameters"/> its parameters.</summary>
    public static byte[] Package(string body, string parameters = "event")
    {
        using var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var entry = archive.CreateEntry("index.js").Open();
            entry.Write(Encoding.UTF8.GetBytes($"exports.handler = async ({parameters}) => {{ {body} }};"));
        }

        return zip.ToArray();
    }

    /// <summary>PUT /functions/{function}/event-invoke-config with <paramref name="body"/>; asserts a 200.</summary>
    public static async Task ConfigureEvents(GatewayHost host, string function, string body)
    {
        var (status, answer) = await Read(await host.Http.PutAsync($"/functions/{function}/event-invoke-config", Json(body)));
        Assert.True(status == HttpStatusCode.OK, answer?.ToJsonString());
    }

    /// <summary>Invokes <paramref name="function"/> asynchronously (Event); asserts a 202 and returns the request id.</summary>
    public static async Task<string> InvokeEvent(GatewayHost host, string function, string payload = "{}")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/functions/{function}/invocations") { Content = Json(payload) };
        request.Headers.Add("X-Amz-Invocation-Type", "Event");
        var (status, body) = await Read(await host.Http.SendAsync(request));
        Assert.Equal(HttpStatusCode.Accepted, status);
        return (string)body!["requestId"]!;
    }

    /// <summary>Polls <c>GET /invocations/{id}</c> until the event has finished (Succeeded or Failed); fails after 20 s.</summary>
    public static async Task<JsonNode> Finished(GatewayHost host, string requestId)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            using var response = await host.Http.GetAsync($"/invocations/{requestId}");
            if (response.IsSuccessStatusCode)
            {
                var record = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
                if ((string?)record["status"] is "Succeeded" or "Failed") return record;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{requestId} did not finish: {(int)response.StatusCode}");
            await Task.Delay(50);
        }
    }

    /// <summary>
    /// Stores, as a silo that crashed would have left it, a finished event <paramref name="sourceId"/> of
    /// <paramref name="source"/> whose invocation record is still to be sent to <paramref name="destination"/> as event
    /// <paramref name="destinationId"/>, then activates it (it sends the record). Returns the grains.
    /// </summary>
    public static async Task<IGrainFactory> ResumeFinishedEventWithPendingRecord(GatewayHost host, string sourceId, string source, string destinationId, string destination)
    {
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        var storage = host.Services.GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(StorageNames.Default);
        var now = DateTime.UtcNow;
        var state = new Orleans.GrainState<InvocationRecordState>(new InvocationRecordState
        {
            Record = new InvocationRecord
            {
                RequestId = sourceId, Function = source, Status = InvocationStatus.Succeeded, Attempts = 1, AcceptedUtc = now, CompletedUtc = now,
                Result = new InvocationResult { RequestId = sourceId, PayloadJson = "1" }, DestinationRequestId = destinationId,
            },
            Destination = new PendingDestination(destinationId, destination, """{"version":"1.0"}"""),
        });
        await storage.WriteStateAsync("invocation", grains.GetGrain<IInvocationRecordGrain>(sourceId).GetGrainId(), state);
        await grains.GetGrain<IInvocationRecordGrain>(sourceId).Get();
        return grains;
    }

    public static async Task<(HttpStatusCode Status, JsonNode? Body)> Read(HttpResponseMessage response)
    {
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
        }
    }
}
