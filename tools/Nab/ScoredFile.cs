namespace Fleet.Nab;

/// <summary>One file's detector output with its ground truth, ready to score.</summary>
public sealed class ScoredFile
{
    public ScoredFile(string key, string category, double[] scores, NabWindow[] windows, int? probation = null)
    {
        Key = key;
        Category = category;
        Scores = scores;
        Windows = windows;
        Probation = probation ?? NabScorer.ProbationLength(scores.Length);
    }

    public string Key { get; }
    public string Category { get; }
    public double[] Scores { get; }
    public NabWindow[] Windows { get; }
    public int Length => Scores.Length;

    /// <summary>Rows 0..Probation-1 are ignored by the scorer.</summary>
    public int Probation { get; }
}
