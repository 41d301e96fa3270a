using System.Text.Json;

namespace Fleet.Nab;

/// <summary>An anomaly window as inclusive row indices.</summary>
public readonly record struct NabWindow(int Start, int End)
{
    public int Width => End - Start + 1;
}

/// <summary>Reads NAB's combined_windows.json and turns window edges into row indices.</summary>
public static class NabWindows
{
    /// <summary>"category/file.csv" -> list of (start, end) timestamps, as in the JSON.</summary>
    public static Dictionary<string, List<(string Start, string End)>> Load(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var map = new Dictionary<string, List<(string, string)>>(StringComparer.Ordinal);
        foreach (var file in doc.RootElement.EnumerateObject())
        {
            var list = new List<(string, string)>();
            foreach (var w in file.Value.EnumerateArray())
            {
                list.Add((w[0].GetString()!, w[1].GetString()!));
            }

            map[file.Name] = list;
        }

        return map;
    }

    /// <summary>
    /// Row index of each window edge: the first row whose timestamp equals the edge (NAB does the same).
    /// Rows are never re-keyed by timestamp, so duplicate or backwards timestamps elsewhere don't matter.
    /// </summary>
    public static NabWindow[] ToRows(NabSeries series, IEnumerable<(string Start, string End)> windows)
    {
        var result = new List<NabWindow>();
        foreach (var (start, end) in windows)
        {
            var l = IndexOf(series, start);
            var r = IndexOf(series, end);
            if (r < l) throw new InvalidDataException($"{series.Key}: window {start}..{end} ends before it starts");
            result.Add(new NabWindow(l, r));
        }

        result.Sort((a, b) => a.Start.CompareTo(b.Start));
        return result.ToArray();
    }

    private static int IndexOf(NabSeries series, string timestamp)
    {
        var ms = NabSeries.ParseTimestampMs(timestamp)
                 ?? throw new InvalidDataException($"{series.Key}: bad window timestamp '{timestamp}'");
        var idx = Array.IndexOf(series.TimestampsMs, ms);
        if (idx < 0) throw new InvalidDataException($"{series.Key}: window edge {timestamp} matches no row");
        return idx;
    }
}
