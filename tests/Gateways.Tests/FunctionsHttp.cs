using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

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

    public static async Task<(HttpStatusCode Status, JsonNode? Body)> Read(HttpResponseMessage response)
    {
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
        }
    }
}
