using System.Globalization;
using System.Text;
using Fleet.Detectors;

namespace Fleet.Nab;

/// <summary>
/// Writes a fusion detector's internals row by row (<see cref="FusionTrace"/>) for every series of a folder: the input
/// of the research replays in tools/Nab/replay, which rebuild fusion's calibration, damping and gate from it to try
/// variants quickly. One file per series, OUT/&lt;category&gt;_&lt;file&gt;, a header and then one line per row from the
/// second row on (the first only starts the level).
/// </summary>
public static class NabTrace
{
    public const string Header = "count,value,raw_z,calibrated_z,log_q99,log_q90,score,repeated,level,scale,novel,minute,hi,lo";

    public static void Write(string outDir, NabSeries series, IFusionTraceable detector)
    {
        var lines = new Lines(new StringBuilder(series.Length * 160).Append(Header).Append('\n'));
        for (var i = 0; i < series.Length; i++)
        {
            detector.Next(series.TimestampsMs[i], series.Values[i], ref lines);
        }

        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, series.Category + "_" + series.FileName), lines.Text.ToString());
    }

    private struct Lines(StringBuilder text) : IFusionTrace
    {
        public readonly StringBuilder Text = text;

        public static bool Enabled => true;

        public readonly void Step(in FusionTrace p)
        {
            var c = CultureInfo.InvariantCulture;
            Text.Append(c, $"{p.Count},{p.Value:R},{p.RawZ:R},{p.CalibratedZ:R},{p.LogQ:R},{p.LogQ90:R},{p.Score:R},{(p.Repeated ? 1 : 0)},")
                .Append(c, $"{p.Level:R},{p.Scale:R},{(p.Novel ? 1 : 0)},{p.Minute},{p.Hi:R},{p.Lo:R}\n");
        }
    }
}
