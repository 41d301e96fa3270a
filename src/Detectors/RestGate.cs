namespace Fleet.Detectors;

/// <summary>
/// The warm-up and refractory ("rest") period every detector applies to its raw score: silent for the first
/// <c>warmup</c> points; after a score at or above <c>level</c>, silent for <c>rest</c> points (one alert per event,
/// NAB charges every repeated alert); with <c>extend</c>, a score at or above <c>level</c> during the rest restarts it
/// (CAD's suppression). One int of state (<see cref="Left"/>, saved by the owning detector).
/// </summary>
internal struct RestGate
{
    /// <summary>Points of rest left.</summary>
    public int Left;

    public double Pass(long count, int warmup, double score, double level, int rest, bool extend = false)
    {
        if (count <= warmup) return 0;
        if (Left > 0)
        {
            Left--;
            if (extend && score >= level) Left = rest;
            return 0;
        }

        if (score >= level) Left = rest;
        return score > 0 ? Math.Min(score, 1) : 0; // NaN (a detector's arithmetic gone wrong) reports nothing rather than NaN
    }
}
