using System.Diagnostics;
using System.Globalization;
using System.Text;
using Fleet.Detectors;

namespace Fleet.Nab;

/// <summary>What one detector did on one series: a score per row plus cost measurements.</summary>
public sealed record SeriesRun(NabSeries Series, double[] Scores, double Seconds, long AllocatedBytes, int StateSize, int SavedStateBytes);

/// <summary>
/// Runs a detector over a series exactly as the sensor grain feeds it: a fresh detector per series, one
/// (timestamp, value) at a time, in file order, no look-ahead, no labels, the same parameters for every series.
/// </summary>
public static class NabHarness
{
    public static SeriesRun Run(NabSeries series, Func<IAnomalyDetector> create) => Run(series, _ => create());

    /// <summary>The same, with a detector made for the series (see <see cref="NabCli"/>'s --range).</summary>
    public static SeriesRun Run(NabSeries series, Func<NabSeries, IAnomalyDetector> create)
    {
        var detector = create(series);
        var scores = new double[series.Length];
        var ts = series.TimestampsMs;
        var values = series.Values;
        var alloc0 = GC.GetAllocatedBytesForCurrentThread();
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < values.Length; i++)
        {
            scores[i] = detector.Next(ts[i], values[i]);
        }

        sw.Stop();
        var alloc = GC.GetAllocatedBytesForCurrentThread() - alloc0;
        for (var i = 0; i < scores.Length; i++)
        {
            var s = scores[i];
            if (double.IsNaN(s) || s < 0 || s > 1)
            {
                throw new InvalidOperationException($"{detector.Name} returned {s} at row {i} of {series.Key}; scores must be in [0, 1]");
            }
        }

        return new SeriesRun(series, scores, sw.Elapsed.TotalSeconds, alloc, detector.StateSize, detector.SaveState().Length);
    }

    /// <summary>NAB's results layout: DIR/&lt;detector&gt;/&lt;category&gt;/&lt;detector&gt;_&lt;file&gt;.csv.</summary>
    public static string ResultPath(string outDir, string detector, NabSeries series)
        => Path.Combine(outDir, detector, series.Category, detector + "_" + series.FileName);

    /// <summary>Writes timestamp,value,anomaly_score (the input's timestamp and value text, unchanged).</summary>
    public static void Write(string path, NabSeries series, double[] scores)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var sb = new StringBuilder(series.Length * 40);
        sb.Append("timestamp,value,anomaly_score\n");
        for (var i = 0; i < series.Length; i++)
        {
            sb.Append(series.Timestamps[i]).Append(',').Append(series.RawValues[i]).Append(',')
              .Append(scores[i].ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }

        File.WriteAllText(path, sb.ToString());
    }

    /// <summary>Reads the anomaly_score column of a results file.</summary>
    public static double[] ReadScores(string path)
    {
        using var reader = new StreamReader(path);
        var header = (reader.ReadLine() ?? throw new InvalidDataException($"{path}: empty")).Split(',');
        var col = Array.FindIndex(header, h => h.Trim() == "anomaly_score");
        if (col < 0) throw new InvalidDataException($"{path}: no anomaly_score column");
        var list = new List<double>();
        string? line;
        while ((line = reader.ReadLine()) != null)
        {
            if (line.Length == 0) continue;
            list.Add(double.Parse(line.Split(',')[col], NumberStyles.Float, CultureInfo.InvariantCulture));
        }

        return list.ToArray();
    }
}
