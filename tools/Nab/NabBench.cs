using System.Globalization;
using System.Text;
using Fleet.Detectors;

namespace Fleet.Nab;

/// <summary>One detector's scores and costs over a data set.</summary>
public sealed record BenchResult(
    string Detector,
    SweepResult[] Sweeps,
    IReadOnlyList<ScoredFile> Files,
    double PointsPerSecond,
    int MaxStateSize,
    int MaxSavedStateBytes,
    double AllocatedBytesPerPoint);

/// <summary>Runs detectors over a data set, scores them and prints markdown tables.</summary>
public static class NabBench
{
    /// <summary>Ground truth for each series (row-index windows); throws if a series has no entry.</summary>
    public static Dictionary<string, NabWindow[]> WindowsFor(IReadOnlyList<NabSeries> series, string windowsPath)
    {
        var all = NabWindows.Load(windowsPath);
        var map = new Dictionary<string, NabWindow[]>(StringComparer.Ordinal);
        foreach (var s in series)
        {
            if (!all.TryGetValue(s.Key, out var w))
            {
                throw new InvalidDataException($"{s.Key} has no entry in {windowsPath}");
            }

            map[s.Key] = NabWindows.ToRows(s, w);
        }

        return map;
    }

    public static BenchResult Evaluate(
        string detectorName,
        Func<IAnomalyDetector> create,
        IReadOnlyList<NabSeries> series,
        IReadOnlyDictionary<string, NabWindow[]> windows,
        IReadOnlyList<NabProfile> profiles,
        Action<SeriesRun>? onRun = null) => Evaluate(detectorName, _ => create(), series, windows, profiles, onRun);

    public static BenchResult Evaluate(
        string detectorName,
        Func<NabSeries, IAnomalyDetector> create,
        IReadOnlyList<NabSeries> series,
        IReadOnlyDictionary<string, NabWindow[]> windows,
        IReadOnlyList<NabProfile> profiles,
        Action<SeriesRun>? onRun = null)
    {
        var files = new List<ScoredFile>();
        double seconds = 0;
        long points = 0, alloc = 0;
        int state = 0, saved = 0;
        foreach (var s in series)
        {
            var run = NabHarness.Run(s, create);
            onRun?.Invoke(run);
            seconds += run.Seconds;
            points += s.Length;
            alloc += run.AllocatedBytes;
            state = Math.Max(state, run.StateSize);
            saved = Math.Max(saved, run.SavedStateBytes);
            files.Add(new ScoredFile(s.Key, s.Category, run.Scores, windows[s.Key]));
        }

        var sweeps = NabScorer.Sweep(files, profiles);
        return new BenchResult(detectorName, sweeps, files, points / Math.Max(seconds, 1e-9), state, saved, (double)alloc / points);
    }

    private static string F(double x, string fmt = "F1") => x.ToString(fmt, CultureInfo.InvariantCulture);

    public static string Table(IReadOnlyList<BenchResult> results, string? title = null)
    {
        var sb = new StringBuilder();
        if (results.Count == 0) return "";
        var profiles = results[0].Sweeps.Select(s => s.Profile).ToArray();
        var nw = results[0].Sweeps[0].WindowCount;
        sb.AppendLine(title ?? $"NAB scores ({results[0].Files.Count} files, {nw} windows, normalised with Nw = {nw})");
        sb.AppendLine();
        sb.Append("| detector |");
        foreach (var p in profiles) sb.Append(' ').Append(p.Short).Append(" |");
        sb.Append(" thr std | thr low FP | thr low FN | points/s | state B | saved B | alloc B/pt |\n");
        sb.Append("|---|");
        foreach (var _ in profiles) sb.Append("---:|");
        sb.Append("---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var r in results)
        {
            sb.Append("| ").Append(r.Detector).Append(" |");
            foreach (var s in r.Sweeps) sb.Append(' ').Append(F(s.Normalised)).Append(" |");
            foreach (var s in r.Sweeps) sb.Append(' ').Append(F(s.Threshold, "0.####")).Append(" |");
            sb.Append(' ').Append(F(r.PointsPerSecond, "N0")).Append(" |");
            sb.Append(' ').Append(r.MaxStateSize).Append(" |");
            sb.Append(' ').Append(r.MaxSavedStateBytes).Append(" |");
            sb.Append(' ').Append(F(r.AllocatedBytesPerPoint, "0.##")).Append(" |\n");
        }

        // Per category, at each profile's corpus-wide threshold, normalised with the category's own window count.
        var categories = results[0].Files.Select(f => f.Category).Distinct().ToArray();
        for (var pi = 0; pi < profiles.Length; pi++)
        {
            var prof = profiles[pi];
            sb.AppendLine();
            sb.AppendLine($"Per category, profile {prof.Name} (at the corpus threshold; score normalised with the category's windows; categories without windows show their false-positive count; TP = windows detected / windows)");
            sb.AppendLine();
            sb.Append("| detector |");
            foreach (var c in categories) sb.Append(' ').Append(c).Append(" |");
            sb.Append(" total | windows detected | FP rows |\n|---|");
            foreach (var _ in categories) sb.Append("---:|");
            sb.Append("---:|---:|---:|\n");
            foreach (var r in results)
            {
                var t = r.Sweeps[pi].Threshold;
                sb.Append("| ").Append(r.Detector).Append(" |");
                int det = 0, wins = 0, fps = 0;
                foreach (var c in categories)
                {
                    var cf = r.Files.Where(f => f.Category == c).ToArray();
                    double raw = 0;
                    int cfp = 0, cw = 0;
                    foreach (var f in cf)
                    {
                        var fc = NabScorer.ScoreFile(f, prof, t);
                        raw += fc.Raw;
                        cfp += fc.Fp;
                        det += fc.WindowsDetected;
                        cw += f.Windows.Length;
                    }

                    wins += cw;
                    fps += cfp;
                    sb.Append(' ').Append(cw > 0 ? F(NabScorer.Normalise(raw, prof, cw)) : $"FP {cfp}").Append(" |");
                }

                sb.Append(' ').Append(F(r.Sweeps[pi].Normalised)).Append(" | ").Append(det).Append('/').Append(wins)
                  .Append(" | ").Append(fps).Append(" |\n");
            }
        }

        return sb.ToString();
    }
}
