using Fleet.Nab;
using Xunit;

namespace Fleet.Detectors.Tests;

/// <summary>The harness and scorer on a tiny hand-made NAB-layout folder (no dependency on ../shared).</summary>
public class HarnessTests
{
    private static string Fixture => Path.Combine(AppContext.BaseDirectory, "Fixtures", "nab");

    [Fact]
    public void RunWritesNabResultsLayout()
    {
        var outDir = Path.Combine(Path.GetTempPath(), "nab-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var rc = NabCli.Execute(new[] { "run", "--data", Path.Combine(Fixture, "corpus"), "--out", outDir, "--detector", "ewma-z" });
            Assert.Equal(0, rc);
            var spike = Path.Combine(outDir, "ewma-z", "artificialTiny", "ewma-z_spike.csv");
            var flat = Path.Combine(outDir, "ewma-z", "realTiny", "ewma-z_flat_dup.csv");
            Assert.True(File.Exists(spike));
            Assert.True(File.Exists(flat));
            var lines = File.ReadAllLines(spike);
            Assert.Equal("timestamp,value,anomaly_score", lines[0]);
            Assert.Equal(201, lines.Length);
            var input = File.ReadAllLines(Path.Combine(Fixture, "corpus", "artificialTiny", "spike.csv"));
            for (var i = 1; i < input.Length; i++) Assert.StartsWith(input[i] + ",", lines[i]);
            // One row per input row even with a duplicated timestamp.
            Assert.Equal(121, File.ReadAllLines(flat).Length);
            var scores = NabHarness.ReadScores(spike);
            Assert.All(scores, s => Assert.InRange(s, 0.0, 1.0));
            Assert.Equal(scores.Max(), scores[150]);

            Assert.Equal(0, NabCli.Execute(new[]
            {
                "score", "--results", outDir, "--data", Path.Combine(Fixture, "corpus"),
                "--windows", Path.Combine(Fixture, "windows.json"), "--profiles", Path.Combine(Fixture, "profiles.json"),
            }));
        }
        finally
        {
            if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
        }
    }

    [Fact]
    public void WindowsMapToRowIndicesAndSpikeScoresPerfectly()
    {
        var series = NabSeries.LoadFolder(Path.Combine(Fixture, "corpus"));
        Assert.Equal(2, series.Count);
        var windows = Fleet.Nab.NabBench.WindowsFor(series, Path.Combine(Fixture, "windows.json"));
        Assert.Equal(new NabWindow(140, 159), windows["artificialTiny/spike.csv"].Single());
        Assert.Empty(windows["realTiny/flat_dup.csv"]);

        // A detector that fires only at the window's first row scores 100; the null detector scores 0.
        var perfect = series.Select(s =>
        {
            var sc = new double[s.Length];
            foreach (var w in windows[s.Key]) sc[w.Start] = 1;
            return new ScoredFile(s.Key, s.Category, sc, windows[s.Key]);
        }).ToList();
        Assert.All(NabScorer.Sweep(perfect, NabProfile.Defaults), r => Assert.Equal(100.0, r.Normalised, 9));
        var none = series.Select(s => new ScoredFile(s.Key, s.Category, new double[s.Length], windows[s.Key])).ToList();
        Assert.All(NabScorer.Sweep(none, NabProfile.Defaults), r => Assert.Equal(0.0, r.Normalised, 9));

        var profiles = NabProfile.Load(Path.Combine(Fixture, "profiles.json"));
        Assert.Equal(NabProfile.Defaults, profiles);
    }

    [Fact]
    public void RangeFileHandsEachSeriesItsMinAndMax()
    {
        var outDir = Path.Combine(Path.GetTempPath(), "nab-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var corpus = Path.Combine(Fixture, "corpus");
            Assert.Equal(0, NabCli.Execute(new[] { "run", "--data", corpus, "--out", outDir, "--detector", "cad", "--range", "file", "--param", "warmup=1", "--param", "rest=0" }));
            var spike = NabHarness.ReadScores(Path.Combine(outDir, "cad", "artificialTiny", "cad_spike.csv"));

            // The same scores as a detector created by hand with that file's min and max.
            var series = NabSeries.LoadFolder(corpus).Single(s => s.FileName == "spike.csv");
            var byHand = NabHarness.Run(series, () => DetectorCatalog.Create("cad", new Dictionary<string, double>
            {
                ["min"] = series.Values.Min(), ["max"] = series.Values.Max(), ["warmup"] = 1, ["rest"] = 0,
            }));
            Assert.Equal(byHand.Scores, spike);
            var plain = NabHarness.Run(series, () => DetectorCatalog.Create("cad", new Dictionary<string, double> { ["warmup"] = 1, ["rest"] = 0 }));
            Assert.NotEqual(plain.Scores, spike);

            // A detector without a known-range option refuses it, and so does an unknown mode.
            Assert.Equal(1, NabCli.Execute(new[] { "run", "--data", corpus, "--out", outDir, "--detector", "fusion", "--range", "file" }));
            Assert.Equal(1, NabCli.Execute(new[] { "run", "--data", corpus, "--out", outDir, "--detector", "cad", "--range", "bogus" }));
        }
        finally
        {
            if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
        }
    }

    [Fact]
    public void BenchEvaluatesEveryDetectorOnTheFixture()
    {
        var series = NabSeries.LoadFolder(Path.Combine(Fixture, "corpus"));
        var windows = Fleet.Nab.NabBench.WindowsFor(series, Path.Combine(Fixture, "windows.json"));
        var results = DetectorCatalog.Names
            .Select(n => Fleet.Nab.NabBench.Evaluate(n, () => DetectorCatalog.Create(n), series, windows, NabProfile.Defaults))
            .ToList();
        var table = Fleet.Nab.NabBench.Table(results);
        foreach (var n in DetectorCatalog.Names) Assert.Contains("| " + n + " |", table);
        Assert.Contains("artificialTiny", table);
    }

    [Theory]
    [InlineData(DetectorCatalog.DefaultName)]
    [InlineData(FusionDetector.LiteName)]
    public void TracingFusionChangesNothingAndShowsWhatTheGateSaw(string name)
    {
        var series = NabSeries.LoadFolder(Path.Combine(Fixture, "corpus")).Single(s => s.Key == "artificialTiny/spike.csv");
        var plain = DetectorCatalog.Create(name);
        var traced = (IFusionTraceable)DetectorCatalog.Create(name);
        var trace = new Collect { Rows = new List<FusionTrace>() };
        for (var i = 0; i < series.Length; i++)
        {
            var score = traced.Next(series.TimestampsMs[i], series.Values[i], ref trace);
            Assert.Equal(plain.Next(series.TimestampsMs[i], series.Values[i]), score);
            // the gate only ever lowers the score the trace saw
            if (i > 0) Assert.True(score <= trace.Rows[^1].Score, $"row {i}: {score} > {trace.Rows[^1].Score}");
        }

        Assert.Equal(plain.SaveState(), traced.SaveState());
        Assert.Equal(Enumerable.Range(2, series.Length - 1).Select(c => (long)c), trace.Rows.Select(r => r.Count)); // from the second row on
        var spike = trace.Rows[150 - 1]; // row 150 is the spike
        Assert.Equal(series.Values[150], spike.Value);
        Assert.True(spike.Novel && spike.RawZ > 10 && spike.Score >= 0.9, spike.ToString());
        Assert.Equal(series.TimestampsMs[150] / 60_000, spike.Minute);
    }

    [Fact]
    public void TraceWritesOneFilePerSeriesAndRefusesDetectorsWithoutOne()
    {
        var outDir = Path.Combine(Path.GetTempPath(), "nab-trace-" + Guid.NewGuid().ToString("N"));
        try
        {
            Assert.Equal(0, NabCli.Execute(new[] { "trace", "--data", Path.Combine(Fixture, "corpus"), "--out", outDir }));
            var lines = File.ReadAllLines(Path.Combine(outDir, "artificialTiny_spike.csv"));
            Assert.Equal(NabTrace.Header, lines[0]);
            Assert.Equal(200, lines.Length); // the header, then rows 2..200
            Assert.All(lines.Skip(1), l => Assert.Equal(14, l.Split(',').Length));
            Assert.StartsWith("151,", lines[150]);
            Assert.True(File.Exists(Path.Combine(outDir, "realTiny_flat_dup.csv")));

            Assert.Equal(1, NabCli.Execute(new[] { "trace", "--data", Path.Combine(Fixture, "corpus"), "--out", outDir, "--detector", "ewma-z" }));
        }
        finally
        {
            if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
        }
    }

    private struct Collect : IFusionTrace
    {
        public List<FusionTrace> Rows;

        public static bool Enabled => true;

        public readonly void Step(in FusionTrace point) => Rows.Add(point);
    }
}
