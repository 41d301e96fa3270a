using System.Globalization;

namespace Fleet.Nab;

/// <summary>One data file of a NAB-layout folder: rows in file order (never re-keyed by timestamp).</summary>
public sealed class NabSeries
{
    public NabSeries(string category, string fileName, string[] timestamps, string[] rawValues, long[] timestampsMs, double[] values)
    {
        Category = category;
        FileName = fileName;
        Timestamps = timestamps;
        RawValues = rawValues;
        TimestampsMs = timestampsMs;
        Values = values;
    }

    public string Category { get; }

    /// <summary>File name with extension, e.g. "art_flatline.csv".</summary>
    public string FileName { get; }

    /// <summary>NAB's key for the file: "category/file.csv".</summary>
    public string Key => Category + "/" + FileName;

    public string[] Timestamps { get; }
    public string[] RawValues { get; }
    public long[] TimestampsMs { get; }
    public double[] Values { get; }
    public int Length => Values.Length;

    /// <summary>Every <c>category/*.csv</c> under a NAB-layout data folder, in ordinal order.</summary>
    public static IReadOnlyList<NabSeries> LoadFolder(string dataDir)
    {
        if (!Directory.Exists(dataDir)) throw new DirectoryNotFoundException($"data folder not found: {dataDir}");
        var list = new List<NabSeries>();
        foreach (var catDir in Directory.GetDirectories(dataDir).OrderBy(d => d, StringComparer.Ordinal))
        {
            foreach (var file in Directory.GetFiles(catDir, "*.csv").OrderBy(f => f, StringComparer.Ordinal))
            {
                list.Add(Load(Path.GetFileName(catDir), file));
            }
        }

        if (list.Count == 0) throw new InvalidDataException($"no <category>/<file>.csv series under {dataDir}");
        return list;
    }

    public static NabSeries Load(string category, string path)
    {
        var ts = new List<string>();
        var raw = new List<string>();
        var ms = new List<long>();
        var vals = new List<double>();
        using var reader = new StreamReader(path);
        var header = reader.ReadLine() ?? throw new InvalidDataException($"{path}: empty file");
        var cols = header.Split(',');
        var tIdx = Array.FindIndex(cols, c => c.Trim() == "timestamp");
        var vIdx = Array.FindIndex(cols, c => c.Trim() == "value");
        if (tIdx < 0 || vIdx < 0) throw new InvalidDataException($"{path}: header must have timestamp and value columns");
        string? line;
        var row = 0;
        long lastMs = 0;
        while ((line = reader.ReadLine()) != null)
        {
            if (line.Length == 0) continue;
            var parts = line.Split(',');
            var t = parts[tIdx].Trim();
            var v = parts[vIdx].Trim();
            if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                throw new InvalidDataException($"{path}: row {row}: bad value '{v}'");
            }

            var msValue = ParseTimestampMs(t) ?? lastMs + 1;
            lastMs = msValue;
            ts.Add(t);
            raw.Add(v);
            ms.Add(msValue);
            vals.Add(value);
            row++;
        }

        return new NabSeries(category, Path.GetFileName(path), ts.ToArray(), raw.ToArray(), ms.ToArray(), vals.ToArray());
    }

    public static long? ParseTimestampMs(string timestamp)
    {
        if (DateTime.TryParse(timestamp, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var dt))
        {
            return (long)(dt - DateTime.UnixEpoch).TotalMilliseconds;
        }

        return null;
    }
}
