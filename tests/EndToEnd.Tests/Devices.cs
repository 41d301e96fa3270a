using System.Diagnostics;
using MQTTnet;
using MQTTnet.Formatter;

namespace Fleet.EndToEnd.Tests;

/// <summary>Real MQTT devices: Debian's mosquitto_pub and an MQTTnet client.</summary>
public static class Devices
{
    /// <summary>Publishes each line as one message with mosquitto_pub -l (MQTT 3.1.1, empty client id as it sends by default).</summary>
    public static async Task MosquittoPubAsync(int port, string topic, IEnumerable<string> lines, int qos = 1)
    {
        var start = new ProcessStartInfo("mosquitto_pub", $"-h 127.0.0.1 -p {port} -t {topic} -q {qos} -l")
        {
            RedirectStandardInput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("mosquitto_pub is not installed: run ./build.sh test, which installs mosquitto-clients", ex);
        }

        using (process)
        {
            foreach (var line in lines) await process.StandardInput.WriteLineAsync(line);
            process.StandardInput.Close();
            var error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"mosquitto_pub failed ({process.ExitCode}): {error}");
        }
    }

    public static async Task<IMqttClient> ConnectAsync(int port, MqttProtocolVersion version = MqttProtocolVersion.V500, string? clientId = null)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", port)
            .WithClientId(clientId ?? "test-" + Guid.NewGuid().ToString("N")[..8])
            .WithProtocolVersion(version)
            .WithCleanSession()
            .Build());
        return client;
    }

    public static Task<MqttClientPublishResult> PublishAsync(this IMqttClient client, string topic, string payload, int qos = 1)
        => client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithQualityOfServiceLevel((MQTTnet.Protocol.MqttQualityOfServiceLevel)qos)
            .Build());

    public static string Reading(long seq, double value, long? ts = null)
        => $"{{\"ts\":{ts ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()},\"seq\":{seq},\"value\":{value.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}";
}
