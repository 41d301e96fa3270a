using System.Text.Json;

namespace Fleet.Nab;

/// <summary>A NAB application profile (cost matrix). tnWeight is never used by NAB and is not kept.</summary>
public sealed record NabProfile(string Name, double TpWeight, double FpWeight, double FnWeight)
{
    public static NabProfile Standard { get; } = new("standard", 1.0, 0.11, 1.0);
    public static NabProfile LowFp { get; } = new("reward_low_FP_rate", 1.0, 0.22, 1.0);
    public static NabProfile LowFn { get; } = new("reward_low_FN_rate", 1.0, 0.11, 2.0);

    /// <summary>The three NAB profiles, in NAB's order.</summary>
    public static IReadOnlyList<NabProfile> Defaults { get; } = new[] { Standard, LowFp, LowFn };

    /// <summary>Short label for tables.</summary>
    public string Short => Name switch
    {
        "standard" => "standard",
        "reward_low_FP_rate" => "low FP",
        "reward_low_FN_rate" => "low FN",
        _ => Name,
    };

    /// <summary>Reads NAB's config/profiles.json layout.</summary>
    public static IReadOnlyList<NabProfile> Load(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var list = new List<NabProfile>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            var cm = p.Value.GetProperty("CostMatrix");
            list.Add(new NabProfile(p.Name,
                cm.GetProperty("tpWeight").GetDouble(),
                cm.GetProperty("fpWeight").GetDouble(),
                cm.GetProperty("fnWeight").GetDouble()));
        }

        return list;
    }
}
