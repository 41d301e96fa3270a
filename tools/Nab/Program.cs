using System.Globalization;
using Fleet.Detectors;
using Fleet.Nab;

return NabCli.Execute(args);

namespace Fleet.Nab
{
    /// <summary>Command line: run | score | bench | tune | trace. See docs/anomaly.md.</summary>
    public static class NabCli
    {
        private const string DefaultData = "../shared/data/nab/data";

        private const string Usage = """
            usage: Fleet.Nab <command> [options]
              run    --data DIR --out DIR [--detector NAME] [--param k=v ...]
                     run one detector online over every <category>/<file>.csv of DIR and write
                     OUT/<detector>/<category>/<detector>_<file>.csv (timestamp,value,anomaly_score)
              score  --results DIR [--detector NAME] [--data DIR] [--windows FILE] [--profiles FILE]
                     score a results folder (as written by run) with NAB's rules
              bench  [--data DIR] [--windows FILE] [--profiles FILE] [--detector A,B,...] [--md FILE]
                     run every catalog detector (or the named ones), score, print the table
              tune   --detector NAME --grid "k=v1,v2;k2=v3" [--holdout CAT,CAT] [--data DIR]
                     parameter grid on the data, scores reported separately for held-out categories
              trace  --out DIR [--data DIR] [--detector fusion|fusion-lite] [--param k=v ...]
                     write fusion's internals row by row, OUT/<category>_<file> (for tools/Nab/replay)
              run, bench and tune also take --range file: hand each detector the file's min and max as
                     parameters min/max, as NAB does for its detectors (look-ahead: for comparison with
                     published entries only; detectors without a known-range option reject it)
            defaults: --data ../shared/data/nab/data, --windows/--profiles next to the data folder,
                      --detector the catalog default
            """;

        public static int Execute(string[] args)
        {
            if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
            {
                Console.WriteLine(Usage);
                return args.Length == 0 ? 2 : 0;
            }

            try
            {
                var opts = Options.Parse(args.Skip(1).ToArray());
                return args[0] switch
                {
                    "run" => RunCommand(opts),
                    "score" => ScoreCommand(opts),
                    "bench" => BenchCommand(opts),
                    "tune" => TuneCommand(opts),
                    "trace" => TraceCommand(opts),
                    _ => throw new ArgumentException($"unknown command '{args[0]}'\n{Usage}"),
                };
            }
            catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException)
            {
                Console.Error.WriteLine("error: " + e.Message);
                return 1;
            }
        }

        private static (string Data, string Windows, IReadOnlyList<NabProfile> Profiles) Paths(Options o)
        {
            var data = Path.GetFullPath(o.Get("data") ?? DefaultData);
            var parent = Path.GetDirectoryName(data.TrimEnd(Path.DirectorySeparatorChar)) ?? ".";
            var windows = o.Get("windows") ?? Path.Combine(parent, "windows.json");
            var profilesPath = o.Get("profiles") ?? Path.Combine(parent, "profiles.json");
            var profiles = File.Exists(profilesPath) ? NabProfile.Load(profilesPath) : NabProfile.Defaults;
            return (data, windows, profiles);
        }

        private static int RunCommand(Options o)
        {
            var data = o.Get("data") ?? DefaultData;
            var outDir = o.Get("out") ?? throw new ArgumentException("run needs --out DIR");
            var name = o.Get("detector") ?? DetectorCatalog.DefaultName;
            var parameters = o.Parameters();
            var create = Factory(name, parameters, o);
            var series = NabSeries.LoadFolder(data);
            long points = 0;
            double seconds = 0;
            foreach (var s in series)
            {
                var run = NabHarness.Run(s, create);
                NabHarness.Write(NabHarness.ResultPath(outDir, name, s), s, run.Scores);
                points += s.Length;
                seconds += run.Seconds;
            }

            Console.WriteLine($"{name}: {series.Count} series, {points} points, {points / Math.Max(seconds, 1e-9):N0} points/s -> {Path.Combine(outDir, name)}");
            return 0;
        }

        private static int TraceCommand(Options o)
        {
            var data = o.Get("data") ?? DefaultData;
            var outDir = o.Get("out") ?? throw new ArgumentException("trace needs --out DIR");
            var name = o.Get("detector") ?? DetectorCatalog.DefaultName;
            var create = Factory(name, o.Parameters(), o);
            var series = NabSeries.LoadFolder(data);
            foreach (var s in series)
            {
                if (create(s) is not IFusionTraceable detector) throw new ArgumentException($"'{name}' has no trace; fusion and fusion-lite have");
                NabTrace.Write(outDir, s, detector);
            }

            Console.WriteLine($"{name}: {series.Count} traces -> {outDir}");
            return 0;
        }

        private static int ScoreCommand(Options o)
        {
            var (data, windowsPath, profiles) = Paths(o);
            var resultsDir = o.Get("results") ?? throw new ArgumentException("score needs --results DIR");
            var series = NabSeries.LoadFolder(data);
            var windows = NabBench.WindowsFor(series, windowsPath);
            var detectors = o.Get("detector") is { } d
                ? d.Split(',', StringSplitOptions.RemoveEmptyEntries)
                : Directory.GetDirectories(resultsDir).Select(Path.GetFileName).OfType<string>().OrderBy(x => x, StringComparer.Ordinal).ToArray();
            foreach (var det in detectors)
            {
                var files = new List<ScoredFile>();
                foreach (var s in series)
                {
                    var path = NabHarness.ResultPath(resultsDir, det, s);
                    var scores = NabHarness.ReadScores(path);
                    if (scores.Length != s.Length) throw new InvalidDataException($"{path}: {scores.Length} rows, data has {s.Length}");
                    files.Add(new ScoredFile(s.Key, s.Category, scores, windows[s.Key]));
                }

                var sweeps = NabScorer.Sweep(files, profiles);
                Console.WriteLine($"{det}: " + string.Join("  ", sweeps.Select(sw =>
                    string.Create(CultureInfo.InvariantCulture, $"{sw.Profile.Name} {sw.Normalised:F2} (raw {sw.Raw:F4}, threshold {sw.Threshold:R})"))));
            }

            return 0;
        }

        private static int BenchCommand(Options o)
        {
            var (data, windowsPath, profiles) = Paths(o);
            var series = NabSeries.LoadFolder(data);
            var windows = NabBench.WindowsFor(series, windowsPath);
            var names = o.Get("detector") is { } d ? d.Split(',', StringSplitOptions.RemoveEmptyEntries) : DetectorCatalog.Names.ToArray();
            var parameters = o.Parameters();
            var results = new List<BenchResult>();
            foreach (var name in names)
            {
                var create = Factory(name, parameters, o);
                // Warm the JIT on the first series so throughput measures steady state, then the real run.
                NabHarness.Run(series[0], create);
                var r = NabBench.Evaluate(name, create, series, windows, profiles);
                results.Add(r);
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{name}: {string.Join(" / ", r.Sweeps.Select(s => s.Normalised.ToString("F1", CultureInfo.InvariantCulture)))}  {r.PointsPerSecond:N0} pts/s"));
            }

            if (o.Get("files") is "1")
            {
                foreach (var r in results)
                {
                    foreach (var f in r.Files)
                    {
                        var c = NabScorer.ScoreFile(f, r.Sweeps[0].Profile, r.Sweeps[0].Threshold);
                        var hits = string.Join(" ", f.Windows.Select(w =>
                        {
                            for (var i = Math.Max(w.Start, f.Probation); i <= w.End; i++)
                            {
                                if (f.Scores[i] >= r.Sweeps[0].Threshold) return $"+{i - w.Start}/{w.Width}";
                            }

                            return $"miss/{w.Width}";
                        }));
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Detector} {f.Key,-60} raw {c.Raw,7:F2} FP {c.Fp,3} {hits}"));
                    }
                }
            }

            var table = NabBench.Table(results);
            Console.WriteLine(table);
            if (o.Get("md") is { } md) File.WriteAllText(md, table);
            return 0;
        }

        private static int TuneCommand(Options o)
        {
            var (data, windowsPath, profiles) = Paths(o);
            var name = o.Get("detector") ?? DetectorCatalog.DefaultName;
            var series = NabSeries.LoadFolder(data);
            var windows = NabBench.WindowsFor(series, windowsPath);
            var holdout = (o.Get("holdout") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
            var grid = (o.Get("grid") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries)
                .Select(g => g.Split('=', 2))
                .Select(kv => (Key: kv[0].Trim(), Values: kv[1].Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()))
                .ToArray();
            var baseParams = o.Parameters();
            var combos = new List<Dictionary<string, double>> { new(baseParams) };
            foreach (var (key, values) in grid)
            {
                combos = combos.SelectMany(c => values.Select(v => new Dictionary<string, double>(c) { [key] = v })).ToList();
            }

            foreach (var combo in combos)
            {
                var create = Factory(name, combo, o);
                var r = NabBench.Evaluate(name, create, series, windows, profiles);
                var train = r.Files.Where(f => !holdout.Contains(f.Category)).ToArray();
                var test = r.Files.Where(f => holdout.Contains(f.Category)).ToArray();
                var line = string.Join(" ", grid.Select(g => $"{g.Key}={combo[g.Key].ToString(CultureInfo.InvariantCulture)}"));
                var all = string.Join("/", r.Sweeps.Select(s => s.Normalised.ToString("F1", CultureInfo.InvariantCulture)));
                var extra = "";
                if (holdout.Count > 0)
                {
                    var tr = NabScorer.Sweep(train, profiles);
                    var te = NabScorer.Sweep(test, profiles);
                    extra = "  train " + string.Join("/", tr.Select(s => s.Normalised.ToString("F1", CultureInfo.InvariantCulture)))
                          + "  holdout " + string.Join("/", te.Select(s => s.Normalised.ToString("F1", CultureInfo.InvariantCulture)));
                }

                Console.WriteLine($"{line}  all {all}{extra}  thr {r.Sweeps[0].Threshold.ToString("0.####", CultureInfo.InvariantCulture)}");
            }

            return 0;
        }

        private static Func<NabSeries, IAnomalyDetector> Factory(string name, IReadOnlyDictionary<string, double> parameters, Options o)
        {
            if (!DetectorCatalog.Exists(name)) throw new ArgumentException($"unknown detector '{name}'; known: {string.Join(", ", DetectorCatalog.Names)}");
            DetectorCatalog.Create(name, parameters); // validate once, up front
            switch (o.Get("range") ?? "none")
            {
                case "none":
                    return _ => DetectorCatalog.Create(name, parameters);
                case "file":
                    // NAB's convention: every detector is handed the file's min and max (look-ahead). Only for comparison
                    // with published NAB entries; the shipped numbers never use it.
                    DetectorCatalog.Create(name, new Dictionary<string, double>(parameters) { ["min"] = 0, ["max"] = 1 });
                    return s => DetectorCatalog.Create(name, new Dictionary<string, double>(parameters)
                    {
                        ["min"] = s.Values.Min(),
                        ["max"] = s.Values.Max() > s.Values.Min() ? s.Values.Max() : s.Values.Min() + 1,
                    });
                default:
                    throw new ArgumentException("--range is 'none' (default) or 'file'");
            }
        }
    }

    /// <summary>--key value options; --param k=v may repeat.</summary>
    public sealed class Options
    {
        private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
        private readonly List<string> _params = new();

        public static Options Parse(string[] args)
        {
            var o = new Options();
            for (var i = 0; i < args.Length; i++)
            {
                var a = args[i];
                if (!a.StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
                {
                    throw new ArgumentException($"expected '--option value', got '{a}'");
                }

                var key = a[2..];
                var value = args[++i];
                if (key == "param") o._params.Add(value);
                else o._values[key] = value;
            }

            return o;
        }

        public string? Get(string key) => _values.TryGetValue(key, out var v) ? v : null;

        public Dictionary<string, double> Parameters()
        {
            var d = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var p in _params)
            {
                var kv = p.Split('=', 2);
                if (kv.Length != 2 || !double.TryParse(kv[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                {
                    throw new ArgumentException($"--param expects name=number, got '{p}'");
                }

                d[kv[0]] = v;
            }

            return d;
        }
    }
}
