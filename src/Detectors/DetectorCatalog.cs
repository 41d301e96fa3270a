namespace Fleet.Detectors;

/// <summary>The detectors a sensor can be configured with, by name.</summary>
public static class DetectorCatalog
{
    /// <summary>The detector used when a sensor names none.</summary>
    public const string DefaultName = FusionDetector.CatalogName;

    /// <summary>The cheapest useful detector (28 bytes of state), for metrics where cost matters more than recall.</summary>
    public const string LightName = EwmaZScoreDetector.CatalogName;

    private static readonly Dictionary<string, Func<IReadOnlyDictionary<string, double>, IAnomalyDetector>> Factories =
        new(StringComparer.OrdinalIgnoreCase)
        {
            [EwmaZScoreDetector.CatalogName] = EwmaZScoreDetector.Create,
            [NullDetector.CatalogName] = NullDetector.Create,
            [WindowedGaussianDetector.CatalogName] = WindowedGaussianDetector.Create,
            [EnsembleDetector.CatalogName] = p => new EnsembleDetector(p),
            [SpectralResidualDetector.CatalogName] = p => new SpectralResidualDetector(p),
            [RandomCutForestDetector.CatalogName] = p => new RandomCutForestDetector(p),
            [RelativeEntropyDetector.CatalogName] = p => new RelativeEntropyDetector(p),
            [FusionDetector.CatalogName] = p => new FusionDetector<RobustBaseline>(p),
            [FusionDetector.LiteName] = p => new FusionDetector<LevelBaseline>(p),
            [ContextNoveltyDetector.CatalogName] = p => new ContextNoveltyDetector(p),
            [FusionCadDetector.CatalogName] = p => new FusionCadDetector(p),
            [FusionCadDetector.DampLowName] = p => new FusionCadDetector(FusionCadDetector.DampLowName, p),
        };

    public static IReadOnlyCollection<string> Names => Factories.Keys;

    /// <summary>
    /// Fault injection for tests of the hosts' isolation (a detector that throws): adds a detector under a name that
    /// must start with "test-". Not for production detectors, which belong in the table above.
    /// </summary>
    internal static void RegisterForTest(string name, Func<IReadOnlyDictionary<string, double>, IAnomalyDetector> factory)
    {
        if (!name.StartsWith("test-", StringComparison.Ordinal)) throw new ArgumentException("test detectors are named test-*", nameof(name));
        TestFactories[name] = factory;
    }

    // Kept apart from the table (which is read without locks and listed in Names).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Func<IReadOnlyDictionary<string, double>, IAnomalyDetector>> TestFactories =
        new(StringComparer.OrdinalIgnoreCase);

    public static bool Exists(string name) => Factories.ContainsKey(name) || TestFactories.ContainsKey(name);

    public static IAnomalyDetector Create(DetectorSpec spec) => Create(spec.Name, spec.Parameters);

    public static IAnomalyDetector Create(string name, IReadOnlyDictionary<string, double>? parameters = null)
    {
        if (!Factories.TryGetValue(name, out var factory) && !TestFactories.TryGetValue(name, out factory))
        {
            throw new ArgumentException($"unknown detector '{name}'; known: {string.Join(", ", Factories.Keys)}", nameof(name));
        }

        return factory(parameters ?? EmptyParameters);
    }

    private static readonly IReadOnlyDictionary<string, double> EmptyParameters = new Dictionary<string, double>();
}
