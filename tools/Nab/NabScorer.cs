namespace Fleet.Nab;

/// <summary>The result of the threshold sweep for one profile.</summary>
public readonly record struct SweepResult(NabProfile Profile, double Threshold, double Raw, int WindowCount)
{
    /// <summary>NAB's 0..100 normalisation with this file set's own window count.</summary>
    public double Normalised => NabScorer.Normalise(Raw, Profile, WindowCount);
}

/// <summary>Per-file counts at a threshold (information only, as in NAB's *_scores.csv).</summary>
public readonly record struct FileCounts(double Raw, int Tp, int Fp, int Fn, int Tn, int WindowsDetected, int Windows);

/// <summary>
/// NAB scoring exactly as ../shared/data/nab/SCORING.md: row-index windows, probationary period,
/// the scaled sigmoid, per-profile weights, the exhaustive threshold sweep, and normalisation.
/// </summary>
public static class NabScorer
{
    /// <summary>NAB's probationary fraction and the file length it is capped at.</summary>
    public const double ProbationFraction = 0.15;

    /// <summary>The "detect nothing" threshold candidate.</summary>
    public const double NothingThreshold = 1.1;

    /// <summary>A = S(-1): the value of detecting on a window's first row before scaling.</summary>
    public static readonly double A = ScaledSigmoid(-1.0);

    /// <summary>S(y) = -1 if y &gt; 3, else 2 sigma(-5y) - 1.</summary>
    public static double ScaledSigmoid(double y) => y > 3.0 ? -1.0 : 2.0 / (1.0 + Math.Exp(5.0 * y)) - 1.0;

    /// <summary>P = min(floor(0.15 N), 0.15 * 5000).</summary>
    public static int ProbationLength(int n) => (int)Math.Min(Math.Floor(ProbationFraction * n), ProbationFraction * 5000);

    /// <summary>
    /// Per-row, profile-independent description: window index (-1 = out of window, -2 = probationary) and the
    /// unweighted value (S(y)/A in a window, S(y) out of one; multiply by tpWeight / fpWeight).
    /// </summary>
    public static void RowKinds(ScoredFile file, Span<int> window, Span<double> baseValue)
    {
        var n = file.Length;
        var k = 0;
        var prevEnd = -1;
        var prevWidth = 0;
        var wins = file.Windows;
        for (var i = 0; i < n; i++)
        {
            while (k < wins.Length && wins[k].End < i)
            {
                prevEnd = wins[k].End;
                prevWidth = wins[k].Width;
                k++;
            }

            if (k < wins.Length && wins[k].Start <= i)
            {
                var y = -(double)(wins[k].End - i + 1) / wins[k].Width;
                window[i] = k;
                baseValue[i] = ScaledSigmoid(y) / A;
            }
            else if (prevEnd >= 0)
            {
                var y = prevWidth > 1 ? (double)(i - prevEnd) / (prevWidth - 1) : double.PositiveInfinity;
                window[i] = -1;
                baseValue[i] = ScaledSigmoid(y);
            }
            else
            {
                window[i] = -1;
                baseValue[i] = -1.0;
            }

            if (i < file.Probation) window[i] = -2;
        }
    }

    /// <summary>Windows with at least one non-probationary row (the scorable ones).</summary>
    public static bool IsScorable(ScoredFile file, NabWindow w) => w.End >= file.Probation;

    /// <summary>§5: the score of one file at threshold t (detection = non-probationary and score &gt;= t).</summary>
    public static FileCounts ScoreFile(ScoredFile file, NabProfile profile, double threshold)
    {
        var n = file.Length;
        var win = new int[n];
        var bv = new double[n];
        RowKinds(file, win, bv);
        var best = new double[file.Windows.Length];
        var hit = new bool[file.Windows.Length];
        double fp = 0;
        int tp = 0, fpCount = 0, fnCount = 0, tn = 0;
        for (var i = 0; i < n; i++)
        {
            if (win[i] == -2) continue;
            var detected = file.Scores[i] >= threshold;
            if (win[i] >= 0)
            {
                if (detected)
                {
                    tp++;
                    var v = profile.TpWeight * bv[i];
                    var w = win[i];
                    if (!hit[w] || v > best[w]) best[w] = v;
                    hit[w] = true;
                }
                else
                {
                    fnCount++;
                }
            }
            else if (detected)
            {
                fpCount++;
                fp += profile.FpWeight * bv[i];
            }
            else
            {
                tn++;
            }
        }

        double raw = fp;
        var detectedWindows = 0;
        var scorable = 0;
        for (var w = 0; w < file.Windows.Length; w++)
        {
            if (!IsScorable(file, file.Windows[w])) continue;
            scorable++;
            if (hit[w])
            {
                raw += best[w];
                detectedWindows++;
            }
            else
            {
                raw -= profile.FnWeight;
            }
        }

        return new FileCounts(raw, tp, fpCount, fnCount, tn, detectedWindows, scorable);
    }

    /// <summary>§7: 100 (Raw - null) / (perfect - null), null = -fn Nw, perfect = tp Nw.</summary>
    public static double Normalise(double raw, NabProfile profile, int windowCount)
    {
        var nullRaw = -profile.FnWeight * windowCount;
        var perfectRaw = profile.TpWeight * windowCount;
        return 100.0 * (raw - nullRaw) / (perfectRaw - nullRaw);
    }

    /// <summary>Total windows of a file set (the Nw of the normalisation).</summary>
    public static int WindowCount(IEnumerable<ScoredFile> files) => files.Sum(f => f.Windows.Length);

    /// <summary>§6: exhaustive sweep of one threshold per profile over the whole file set.</summary>
    public static SweepResult Sweep(IReadOnlyList<ScoredFile> files, NabProfile profile) => Sweep(files, new[] { profile })[0];

    /// <summary>§6.2: the O(n log n) sweep for several profiles, sorting once.</summary>
    public static SweepResult[] Sweep(IReadOnlyList<ScoredFile> files, IReadOnlyList<NabProfile> profiles)
    {
        var total = 0;
        foreach (var f in files) total += Math.Max(0, f.Length - f.Probation);
        var scores = new double[total];
        var winIds = new int[total];
        var baseValues = new double[total];
        var windowCount = 0;
        var scorableIds = new List<int>();
        var pos = 0;
        foreach (var f in files)
        {
            var win = new int[f.Length];
            var bv = new double[f.Length];
            RowKinds(f, win, bv);
            for (var w = 0; w < f.Windows.Length; w++)
            {
                if (IsScorable(f, f.Windows[w])) scorableIds.Add(windowCount + w);
            }

            for (var i = 0; i < f.Length; i++)
            {
                if (win[i] == -2) continue;
                scores[pos] = f.Scores[i];
                winIds[pos] = win[i] >= 0 ? windowCount + win[i] : -1;
                baseValues[pos] = bv[i];
                pos++;
            }

            windowCount += f.Windows.Length;
        }

        // Highest score first; a stable order inside a group does not matter (groups are applied whole).
        var order = new int[total];
        for (var i = 0; i < total; i++) order[i] = i;
        var keys = new double[total];
        for (var i = 0; i < total; i++) keys[i] = -scores[i];
        Array.Sort(keys, order);

        var results = new SweepResult[profiles.Count];
        var best = new double[windowCount];
        for (var p = 0; p < profiles.Count; p++)
        {
            var prof = profiles[p];
            Array.Clear(best);
            double sumBest = 0;
            foreach (var id in scorableIds)
            {
                best[id] = -prof.FnWeight;
                sumBest -= prof.FnWeight;
            }

            double fpSum = 0;
            var bestThreshold = NothingThreshold;
            var bestRaw = sumBest;
            var j = 0;
            while (j < total)
            {
                var s = scores[order[j]];
                while (j < total && scores[order[j]] == s)
                {
                    var idx = order[j];
                    var w = winIds[idx];
                    if (w < 0)
                    {
                        fpSum += prof.FpWeight * baseValues[idx];
                    }
                    else
                    {
                        var v = prof.TpWeight * baseValues[idx];
                        if (v > best[w])
                        {
                            sumBest += v - best[w];
                            best[w] = v;
                        }
                    }

                    j++;
                }

                var raw = fpSum + sumBest;
                if (raw > bestRaw)
                {
                    bestRaw = raw;
                    bestThreshold = s;
                }
            }

            // Report the raw score as NAB does next: re-score every file at t* and add up.
            double exact = 0;
            foreach (var f in files) exact += ScoreFile(f, prof, bestThreshold).Raw;
            results[p] = new SweepResult(prof, bestThreshold, exact, windowCount);
        }

        return results;
    }
}
