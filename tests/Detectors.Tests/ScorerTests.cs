using Fleet.Nab;
using Xunit;

namespace Fleet.Detectors.Tests;

/// <summary>Pins the scorer to ../shared/data/nab/SCORING.md (§2, §4, §5, §6, §7, §9).</summary>
public class ScorerTests
{
    private static readonly NabProfile Ones = new("ones", 1, 1, 1);

    private static ScoredFile File(int n, NabWindow[] windows, int probation, params int[] detections)
    {
        var scores = new double[n];
        foreach (var d in detections) scores[d] = 1.0;
        return new ScoredFile("c/f.csv", "c", scores, windows, probation);
    }

    [Fact]
    public void ScaledSigmoidMatchesReferenceValues()
    {
        Assert.Equal(0.9866142981514305, NabScorer.ScaledSigmoid(-1), 15);
        Assert.Equal(0.8482836399575131, NabScorer.ScaledSigmoid(-0.5), 15);
        Assert.Equal(0.5545997223493822, NabScorer.ScaledSigmoid(-0.25), 15);
        Assert.Equal(0.0, NabScorer.ScaledSigmoid(0), 15);
        Assert.Equal(-0.8482836399575131, NabScorer.ScaledSigmoid(0.5), 15);
        Assert.Equal(-0.9999993881955461, NabScorer.ScaledSigmoid(3), 15);
        Assert.Equal(-1.0, NabScorer.ScaledSigmoid(3.0001));
        Assert.Equal(0.9866142981514305, NabScorer.A, 15);
    }

    [Theory]
    [InlineData(4033, 604)]
    [InlineData(1127, 169)]
    [InlineData(15903, 750)]
    [InlineData(5000, 750)]
    [InlineData(100, 15)]
    public void ProbationIsMinOfFifteenPercentAnd750(int n, int p) => Assert.Equal(p, NabScorer.ProbationLength(n));

    [Fact]
    public void FirstRowOfWindowIsWorthExactlyTpWeight()
    {
        foreach (var width in new[] { 1, 2, 10, 29, 1499 })
        {
            var f = File(3000, new[] { new NabWindow(1000, 1000 + width - 1) }, 0, 1000);
            Assert.Equal(1.0, NabScorer.ScoreFile(f, NabProfile.Standard, 0.5).Raw, 12);
            Assert.Equal(1.0, NabScorer.ScoreFile(f, NabProfile.LowFn, 0.5).Raw, 12);
        }
    }

    [Fact]
    public void UnitWeightCases()
    {
        Assert.Equal(-1.0, NabScorer.ScoreFile(File(100, Array.Empty<NabWindow>(), 0, 50), Ones, 0.5).Raw, 12);
        Assert.Equal(-1.0, NabScorer.ScoreFile(File(100, new[] { new NabWindow(40, 49) }, 0), Ones, 0.5).Raw, 12);
    }

    [Fact]
    public void WidthTenWindowValuesUnderStandardProfile()
    {
        var expected = new[] { 1.0, 0.99130, 0.97711, 0.95415, 0.91743, 0.85979, 0.77193, 0.64377, 0.46839, 0.24824 };
        var window = new[] { new NabWindow(100, 109) };
        for (var k = 0; k < 10; k++)
        {
            Assert.Equal(expected[k], NabScorer.ScoreFile(File(1000, window, 0, 100 + k), NabProfile.Standard, 0.5).Raw, 5);
        }

        // One row after the window: a false positive of -0.02979 plus the missed window's -1.
        Assert.Equal(-1 - 0.02979, NabScorer.ScoreFile(File(1000, window, 0, 110), NabProfile.Standard, 0.5).Raw, 5);
        // Far away (and before any window): the full -A_FP.
        Assert.Equal(-1 - 0.11, NabScorer.ScoreFile(File(1000, window, 0, 900), NabProfile.Standard, 0.5).Raw, 12);
        Assert.Equal(-1 - 0.11, NabScorer.ScoreFile(File(1000, window, 0, 50), NabProfile.Standard, 0.5).Raw, 12);
    }

    [Fact]
    public void HundredRowWindowInThousandRowFile()
    {
        var window = new[] { new NabWindow(500, 599) };
        var last = NabScorer.ScoreFile(File(1000, window, 0, 599), Ones, 0.5).Raw;
        var after = NabScorer.ScoreFile(File(1000, window, 0, 600), Ones, 0.5).Raw;
        Assert.Equal(0.025334, last, 6);
        Assert.Equal(-0.025247 - 1, after, 6);
        Assert.Equal(8.7e-5, last + after + 1, 5);
    }

    [Fact]
    public void OrderingFacts()
    {
        var w = new[] { new NabWindow(500, 599) };
        var p = NabProfile.Standard;
        Assert.True(NabScorer.ScoreFile(File(1000, w, 0, 510), p, 0.5).Raw > NabScorer.ScoreFile(File(1000, w, 0, 520), p, 0.5).Raw);
        Assert.Equal(NabScorer.ScoreFile(File(1000, w, 0, 510), p, 0.5).Raw, NabScorer.ScoreFile(File(1000, w, 0, 510, 530), p, 0.5).Raw, 12);
        Assert.True(NabScorer.ScoreFile(File(1000, w, 0, 100, 200), p, 0.5).Raw < NabScorer.ScoreFile(File(1000, w, 0, 100), p, 0.5).Raw);
        Assert.True(NabScorer.ScoreFile(File(1000, w, 0, 610), p, 0.5).Raw > NabScorer.ScoreFile(File(1000, w, 0, 700), p, 0.5).Raw);
        // Only the most recent ended window matters: a detection just before a window pays full price.
        Assert.Equal(-1 - 0.11, NabScorer.ScoreFile(File(1000, w, 0, 499), p, 0.5).Raw, 12);
    }

    [Fact]
    public void ProbationaryRowsAreIgnored()
    {
        var f = File(1000, new[] { new NabWindow(500, 599) }, 150, 10, 149);
        Assert.Equal(-1.0, NabScorer.ScoreFile(f, Ones, 0.5).Raw, 12);
        var counts = NabScorer.ScoreFile(File(1000, Array.Empty<NabWindow>(), 150, 10, 150), Ones, 0.5);
        Assert.Equal(1, counts.Fp);
        Assert.Equal(849, counts.Tn);
    }

    [Fact]
    public void DetectionUsesGreaterOrEqual()
    {
        var scores = new double[1000];
        scores[500] = 0.7;
        var f = new ScoredFile("c/f.csv", "c", scores, new[] { new NabWindow(500, 599) }, 0);
        Assert.Equal(1.0, NabScorer.ScoreFile(f, Ones, 0.7).Raw, 12);
        Assert.Equal(-1.0, NabScorer.ScoreFile(f, Ones, 0.7000001).Raw, 12);
    }

    private static IReadOnlyList<ScoredFile> Corpus(Func<int, NabWindow[], double[]> scorer)
    {
        // Three files: two with windows (one has two), one without; lengths give probation 150, 300, 75.
        var specs = new (int N, NabWindow[] W)[]
        {
            (1000, new[] { new NabWindow(200, 299), new NabWindow(600, 649) }),
            (2000, new[] { new NabWindow(1000, 1199) }),
            (500, Array.Empty<NabWindow>()),
        };
        return specs.Select((s, i) => new ScoredFile($"c/f{i}.csv", i == 2 ? "none" : "c", scorer(s.N, s.W), s.W)).ToList();
    }

    [Fact]
    public void NullDetectorScoresZeroOnEveryProfile()
    {
        var files = Corpus((n, _) => Enumerable.Repeat(0.5, n).ToArray());
        foreach (var r in NabScorer.Sweep(files, NabProfile.Defaults))
        {
            Assert.Equal(1.1, r.Threshold);
            Assert.Equal(-r.Profile.FnWeight * 3, r.Raw, 12);
            Assert.Equal(0.0, r.Normalised, 12);
        }
    }

    [Fact]
    public void PerfectDetectorScoresHundredOnEveryProfile()
    {
        var files = Corpus((n, ws) =>
        {
            var s = new double[n];
            foreach (var w in ws) s[w.Start] = 1.0;
            return s;
        });
        foreach (var r in NabScorer.Sweep(files, NabProfile.Defaults))
        {
            Assert.Equal(1.0, r.Threshold);
            Assert.Equal(100.0, r.Normalised, 9);
        }
    }

    [Fact]
    public void LastRowOfEveryWindowHandComputed()
    {
        var files = Corpus((n, ws) =>
        {
            var s = new double[n];
            foreach (var w in ws) s[w.End] = 1.0;
            return s;
        });
        // Each window is worth S(-1/W)/A: W = 100, 50, 200.
        var raw = (NabScorer.ScaledSigmoid(-1.0 / 100) + NabScorer.ScaledSigmoid(-1.0 / 50) + NabScorer.ScaledSigmoid(-1.0 / 200)) / NabScorer.A;
        var std = NabScorer.Sweep(files, NabProfile.Standard);
        Assert.Equal(raw, std.Raw, 12);
        Assert.Equal(100 * (raw + 3) / 6, std.Normalised, 9);
        var lowFn = NabScorer.Sweep(files, NabProfile.LowFn);
        Assert.Equal(100 * (raw + 6) / 9, lowFn.Normalised, 9);
    }

    [Fact]
    public void SweepPicksBestThresholdAndHighestOnTies()
    {
        // File 0: window 0 detected early at score 0.9; a false positive at 0.8 right before window 1 (full -A_FP);
        // window 1 detected at its first row with 0.6. File 1: a false positive at 0.6.
        var files = Corpus((n, ws) => new double[n]);
        files[0].Scores[200] = 0.9;
        files[0].Scores[599] = 0.8;
        files[0].Scores[600] = 0.6;
        files[2].Scores[100] = 0.6;
        // t = 0.9: +1 -1 -1 = -1; t = 0.8: -1 - fp; t = 0.6: +1 + 1 - 1 - 2 fp; t = 0: everything.
        var std = NabScorer.Sweep(files, NabProfile.Standard);
        Assert.Equal(0.6, std.Threshold);
        Assert.Equal(1 - 0.22, std.Raw, 12);
        var check = files.Sum(f => NabScorer.ScoreFile(f, NabProfile.Standard, 0.6).Raw);
        Assert.Equal(check, std.Raw, 12);

        // With A_FP = 1 both 0.9 (-1) and 0.6 (1 + 1 - 1 - 2 = -1) tie, and nothing (-3) loses: highest threshold wins.
        var ones = NabScorer.Sweep(files, Ones);
        Assert.Equal(0.9, ones.Threshold);
        Assert.Equal(-1.0, ones.Raw, 12);
    }

    [Fact]
    public void SweepMatchesBruteForceOnRandomScores()
    {
        var rng = new Random(7);
        var files = Corpus((n, _) => Enumerable.Range(0, n).Select(_ => Math.Round(rng.NextDouble(), 2)).ToArray());
        foreach (var profile in NabProfile.Defaults)
        {
            var best = double.NegativeInfinity;
            var bestT = 0.0;
            var candidates = files.SelectMany(f => f.Scores.Skip(f.Probation)).Append(1.1).Distinct().OrderByDescending(x => x);
            foreach (var t in candidates)
            {
                var raw = files.Sum(f => NabScorer.ScoreFile(f, profile, t).Raw);
                if (raw > best + 1e-12)
                {
                    best = raw;
                    bestT = t;
                }
            }

            var r = NabScorer.Sweep(files, profile);
            Assert.Equal(bestT, r.Threshold);
            Assert.Equal(best, r.Raw, 9);
        }
    }
}
