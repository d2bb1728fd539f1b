using System.Globalization;
using System.Text.RegularExpressions;
using ScottPlot;

namespace MmuSim.Reporting;

/// <summary>A chart of a report: its id (the HTML element's and the --plot file's name), title and ScottPlot plot.</summary>
public sealed partial class ReportChart(string id, string title, Plot plot)
{
    public const int Width = 800;
    public const int Height = 420;

    public string Id { get; } = id;
    public string Title { get; } = title;
    public Plot Plot { get; } = plot;

    /// <summary>
    /// The chart as an SVG element to inline in HTML: without the XML declaration, and with every id (clip paths)
    /// prefixed by the chart's id, since ScottPlot numbers them from 1 in each chart and one HTML document holds several.
    /// </summary>
    public string InlineSvg()
    {
        string svg = Svg();
        int start = svg.IndexOf("<svg", StringComparison.Ordinal);
        svg = start > 0 ? svg[start..] : svg;
        svg = IdAttribute().Replace(svg, m => $"id=\"{Id}-{m.Groups[1].Value}\"");
        return IdReference().Replace(svg, m => $"{m.Groups[1].Value}#{Id}-");
    }

    /// <summary>The chart as a standalone SVG document.</summary>
    public string Svg() => Plot.GetSvgXml(Width, Height);

    /// <summary>The chart as a PNG image.</summary>
    public byte[] Png() => Plot.GetImageBytes(Width, Height, ImageFormat.Png);

    [GeneratedRegex("id=\"([^\"]+)\"")]
    private static partial Regex IdAttribute();

    [GeneratedRegex("(url\\(|href=\")#")]
    private static partial Regex IdReference();
}

/// <summary>
/// The charts of a report (drawn with ScottPlot): per-structure hit rates, reads per walk, where descriptor reads were
/// served, the walk-latency CDF, walks in service on the timeline, faults by kind, and each file's miss-ratio curves. Runs are the series of each chart,
/// in the order given, in the same colours throughout.
/// </summary>
public static class ReportCharts
{
    private static readonly IPalette Colours = new ScottPlot.Palettes.Category10();

    /// <summary>The font every chart uses: DejaVu Sans is Debian's default sans-serif (fonts-dejavu-core).</summary>
    private const string FontName = "DejaVu Sans";

    public static IReadOnlyList<ReportChart> Build(IReadOnlyList<ReportRun> runs, IReadOnlyList<MrcCurveSet> curves)
    {
        var charts = new List<ReportChart>();
        if (runs.Count != 0)
        {
            var structures = Groups(runs, r => r.Summary.Structures.Select(s => s.Name));
            if (structures.Count != 0)
            {
                charts.Add(Grouped("hit-rates", "Hit rate per structure", "hit rate (%)", runs, structures,
                    (r, g) => r.Summary.Structures.FirstOrDefault(s => s.Name == g)?.HitRate * 100));
            }
            charts.Add(Grouped("reads-per-walk", "Descriptor reads per walk", "reads per walk", runs, ["1D walks", "2D walks"],
                (r, g) => g == "1D walks" ? r.Summary.ReadsPerWalk1D : r.Summary.ReadsPerWalk2D));
            var served = Groups(runs, r => r.Summary.ServedBy.Select(s => s.By));
            if (served.Count != 0)
            {
                charts.Add(Grouped("served-by", "Where descriptor reads were served", "share of descriptor accesses (%)", runs, served,
                    (r, g) => ServedShare(r.Summary, g) * 100));
            }
            if (runs.Any(r => r.Summary.WalkCycles is { Histogram.Count: > 0 }))
            {
                charts.Add(WalkLatencyCdf(runs));
            }
            var timed = runs.Where(r => r.Summary.Timeline is { WalksInFlight.Count: > 0 }).ToList();
            if (timed.Count != 0)
            {
                int most = timed.Max(r => r.Summary.Timeline!.WalksInFlight.Count);
                var inFlight = Enumerable.Range(0, most).Select(k => k.ToString(CultureInfo.InvariantCulture)).ToList();
                // Only the runs that have a timeline (a legend entry without bars says nothing), each in its colour of every chart.
                var chart = Grouped("walks-in-flight", "Walks in service (timeline)", "share of cycles (%)", timed, inFlight,
                    (r, g) => WalksInFlightShare(r.Summary, int.Parse(g, CultureInfo.InvariantCulture)) * 100,
                    timed.Select(t => IndexOf(runs, t)).ToList());
                chart.Plot.XLabel("walks in service at once");
                charts.Add(chart);
            }
            var faults = Groups(runs, r => r.Summary.FaultsByKind.Select(FaultLabel));
            if (faults.Count != 0)
            {
                var chart = Grouped("faults", "Faults by kind, stage and level", "faults", runs, faults,
                    (r, g) => r.Summary.FaultsByKind.FirstOrDefault(f => FaultLabel(f) == g)?.Count);
                // Counts: no tick between 0 and 1 faults.
                chart.Plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
                charts.Add(chart);
            }
        }
        for (int i = 0; i < curves.Count; i++)
        {
            charts.Add(MissRatioCurves(curves.Count == 1 ? "mrc" : $"mrc-{i + 1}", curves[i]));
        }
        return charts;
    }

    /// <summary>A fault cell as the charts and tables name it: "translation S1 L3", "alignment S1".</summary>
    public static string FaultLabel(FaultCell f) => f.Level is { } l ? $"{f.Type} S{f.Stage} L{l}" : $"{f.Type} S{f.Stage}";

    /// <summary>The share (0 to 1) of a run's descriptor accesses that <paramref name="by"/> served or made unnecessary.</summary>
    public static double? ServedShare(RunSummary s, string by)
    {
        long total = s.ServedBy.Sum(x => x.Count);
        var e = s.ServedBy.FirstOrDefault(x => x.By == by);
        return e is null || total == 0 ? null : (double)e.Count / total;
    }

    /// <summary>The share (0 to 1) of a timeline run's cycles with <paramref name="k"/> walks in service; null without a timeline.</summary>
    public static double? WalksInFlightShare(RunSummary s, int k)
    {
        if (s.Timeline is not { WalksInFlight.Count: > 0 } t)
        {
            return null;
        }
        long total = t.WalksInFlight.Sum();
        return total == 0 ? null : k < t.WalksInFlight.Count ? (double)t.WalksInFlight[k] / total : 0;
    }

    /// <summary>The groups of a grouped chart: every name any run has, in the order they first appear.</summary>
    private static List<string> Groups(IReadOnlyList<ReportRun> runs, Func<ReportRun, IEnumerable<string>> names)
    {
        var groups = new List<string>();
        foreach (var r in runs)
        {
            foreach (string n in names(r))
            {
                if (!groups.Contains(n))
                {
                    groups.Add(n);
                }
            }
        }
        return groups;
    }

    private static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plt = new Plot();
        plt.Font.Set(FontName);
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel(yLabel);
        return plt;
    }

    /// <summary>
    /// Bars in groups (one group per <paramref name="groups"/> entry, one bar per run in it); a run without a value
    /// for a group (null) has no bar there.
    /// </summary>
    /// <param name="colours">Each run's colour index (default: its position), so that a chart of some of the runs keeps their colours.</param>
    private static ReportChart Grouped(string id, string title, string yLabel, IReadOnlyList<ReportRun> runs,
        IReadOnlyList<string> groups, Func<ReportRun, string, double?> value, IReadOnlyList<int>? colours = null)
    {
        colours ??= Enumerable.Range(0, runs.Count).ToList();
        var plt = NewPlot(title, "", yLabel);
        double width = 0.8 / runs.Count;
        var bars = new List<Bar>();
        for (int g = 0; g < groups.Count; g++)
        {
            for (int r = 0; r < runs.Count; r++)
            {
                if (value(runs[r], groups[g]) is { } v)
                {
                    bars.Add(new Bar
                    {
                        Position = g - 0.4 + width * (r + 0.5),
                        Value = v,
                        Size = width * 0.9,
                        FillColor = Colours.GetColor(colours[r]),
                        LineWidth = 0,
                    });
                }
            }
        }
        plt.Add.Bars(bars);
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int g = 0; g < groups.Count; g++)
        {
            ticks.AddMajor(g, groups[g]);
        }
        plt.Axes.Bottom.TickGenerator = ticks;
        if (groups.Max(g => g.Length) * groups.Count > 70)
        {
            // Long group names (fault kinds) would overlap side by side.
            plt.Axes.Bottom.TickLabelStyle.Rotation = -30;
            plt.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
        }
        plt.Axes.Margins(bottom: 0);
        plt.Axes.SetLimitsX(-0.6, groups.Count - 0.4);
        Legend(plt, runs, colours);
        return new ReportChart(id, title, plt);
    }

    private static int IndexOf(IReadOnlyList<ReportRun> runs, ReportRun run)
    {
        for (int i = 0; i < runs.Count; i++)
        {
            if (ReferenceEquals(runs[i], run))
            {
                return i;
            }
        }
        return -1;
    }

    private static void Legend(Plot plt, IReadOnlyList<ReportRun> runs, IReadOnlyList<int> colours)
    {
        for (int r = 0; r < runs.Count; r++)
        {
            plt.Legend.ManualItems.Add(new LegendItem { LabelText = runs[r].Name, FillColor = Colours.GetColor(colours[r]) });
        }
        plt.ShowLegend(Edge.Right);
    }

    /// <summary>
    /// The walk-latency distribution as a CDF per run: the fraction of walks that took at most x cycles, a step at
    /// each value that occurred (the summary's exact histogram).
    /// </summary>
    private static ReportChart WalkLatencyCdf(IReadOnlyList<ReportRun> runs)
    {
        const string title = "Walk latency (CDF)";
        var plt = NewPlot(title, "cycles per walk", "fraction of walks ≤ x");
        for (int r = 0; r < runs.Count; r++)
        {
            if (runs[r].Summary.WalkCycles is not { Histogram.Count: > 0 } w)
            {
                continue;
            }
            var (xs, ys) = Thin(Cdf(w.Histogram), MaxLinePoints);
            var line = plt.Add.Scatter(xs, ys, Colours.GetColor(r));
            line.ConnectStyle = ConnectStyle.StepHorizontal;
            line.MarkerSize = 0;
            line.LineWidth = 2;
            // Runs whose walks took the same cycles (the same model, additive and timeline) draw the same steps: a
            // pattern per run keeps the one drawn first visible through the gaps of the next.
            line.LinePattern = (r % 3) switch { 0 => LinePattern.Solid, 1 => LinePattern.Dashed, _ => LinePattern.Dotted };
            line.LegendText = runs[r].Name;
        }
        plt.Axes.SetLimitsY(0, 1.02);
        plt.ShowLegend(Edge.Right);
        return new ReportChart("walk-latency-cdf", title, plt);
    }

    /// <summary>2^k as an axis label: 512, 1K, 64K, 1M, 4G.</summary>
    public static string PowerOfTwo(int k) => k switch
    {
        < 10 => (1L << k).ToString(CultureInfo.InvariantCulture),
        < 20 => $"{1L << (k - 10)}K",
        < 30 => $"{1L << (k - 20)}M",
        _ => $"{1L << (k - 30)}G",
    };

    /// <summary>
    /// The most points a line keeps: a curve of every TLB size up to a large footprint, or a CDF of thousands of
    /// distinct cycle counts, would make megabytes of SVG path for no visible difference at 800 pixels.
    /// </summary>
    public const int MaxLinePoints = 2000;

    /// <summary>
    /// A line of at most <paramref name="max"/> points (xs ascending): the x range cut into max − 1 equal bins, each
    /// keeping its last point (for a CDF, the highest fraction reached in it), the first and last points always kept.
    /// Fewer points come back as they are.
    /// </summary>
    public static (double[] Xs, double[] Ys) Thin((double[] Xs, double[] Ys) line, int max)
    {
        var (xs, ys) = line;
        if (xs.Length <= max)
        {
            return line;
        }
        double lo = xs[0], width = (xs[^1] - lo) / (max - 1);
        var kx = new List<double>(max + 1) { xs[0] };
        var ky = new List<double>(max + 1) { ys[0] };
        for (int i = 1; i < xs.Length; i++)
        {
            bool lastOfBin = i == xs.Length - 1 || Math.Floor((xs[i + 1] - lo) / width) != Math.Floor((xs[i] - lo) / width);
            if (lastOfBin)
            {
                kx.Add(xs[i]);
                ky.Add(ys[i]);
            }
        }
        return (kx.ToArray(), ky.ToArray());
    }

    /// <summary>The CDF of a histogram: from (0, 0), at each value the fraction of samples at most that value.</summary>
    public static (double[] Xs, double[] Ys) Cdf(IReadOnlyList<(long Cycles, long Count)> histogram)
    {
        long total = histogram.Sum(b => b.Count);
        var xs = new double[histogram.Count + 1];
        var ys = new double[histogram.Count + 1];
        long seen = 0;
        for (int i = 0; i < histogram.Count; i++)
        {
            seen += histogram[i].Count;
            xs[i + 1] = histogram[i].Cycles;
            ys[i + 1] = (double)seen / total;
        }
        xs[0] = Math.Min(0, xs[1]);
        return (xs, ys);
    }

    /// <summary>
    /// One file's curves: miss ratio against TLB entries, entries on a log2 axis and the ratio, in percent as the
    /// tables give it, on a log10 axis. On a linear 0-1 axis a real trace's curves lay flat on zero past the first few
    /// sizes (sort under lackey: 4.7 % at 16 entries, 0.08 % at 32, 0.004 % at 326), where the choice of a TLB's size
    /// is made. Each legend names its curve's lookups: an L2's ratio is of the L1's misses, not of all accesses, and
    /// the same axis showed its 10 % floor as worse than the L1 curve's 0.004 %.
    /// </summary>
    private static ReportChart MissRatioCurves(string id, MrcCurveSet set)
    {
        string title = $"Miss-ratio curves ({string.Join(", ", set.Inputs.Select(Path.GetFileName))})";
        var plt = NewPlot(title, "TLB entries", "miss ratio (%, log scale)");
        long maxEntries = 1;
        double lowest = 100;
        for (int c = 0; c < set.Curves.Count; c++)
        {
            // A ratio of 0 has no place on a log axis (no lookups, or none missed): such points are left out.
            var points = set.Curves[c].Points.Where(p => p.Entries > 0 && p.Misses > 0 && p.Accesses > 0).ToList();
            if (points.Count == 0)
            {
                continue;
            }
            var (xs, ys) = Thin((points.Select(p => Math.Log2(p.Entries)).ToArray(), points.Select(p => Math.Log10(100 * p.MissRatio)).ToArray()), MaxLinePoints);
            var line = plt.Add.Scatter(xs, ys, Colours.GetColor(c));
            line.MarkerSize = xs.Length > 64 ? 0 : 4;
            line.LineWidth = 2;
            line.LegendText = $"{set.Curves[c].Name} (of {set.Curves[c].Points[0].Accesses.ToString("N0", CultureInfo.InvariantCulture)} lookups)";
            maxEntries = Math.Max(maxEntries, points[^1].Entries);
            lowest = Math.Min(lowest, points.Min(p => 100 * p.MissRatio));
        }
        // A labelled tick at each power of ten percent from 100 % down to below the lowest point, minor ticks between.
        var yTicks = new ScottPlot.TickGenerators.NumericManual();
        int bottom = Math.Min(-1, (int)Math.Floor(Math.Log10(lowest)));
        for (int k = bottom; k <= 2; k++)
        {
            yTicks.AddMajor(k, PercentLabel(k));
            for (int m = 2; m <= 9 && k < 2; m++)
            {
                yTicks.AddMinor(k + Math.Log10(m));
            }
        }
        plt.Axes.Left.TickGenerator = yTicks;
        plt.Axes.SetLimitsY(bottom, 2.05);
        // A tick at each power of two; at most about a dozen labelled (the others minor), in K and M (1024, 1024²)
        // so that the labels of a large footprint do not run into each other.
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        int powers = 1;
        while ((1L << powers) <= maxEntries * 2 && powers < 62)
        {
            powers++;
        }
        int step = (powers + 11) / 12;
        for (int k = 0; k < powers; k++)
        {
            if (k % step == 0)
            {
                ticks.AddMajor(k, PowerOfTwo(k));
            }
            else
            {
                ticks.AddMinor(k);
            }
        }
        plt.Axes.Bottom.TickGenerator = ticks;
        plt.ShowLegend(Edge.Bottom); // below: long curve names beside the plot left it a third of the width
        return new ReportChart(id, title, plt);
    }

    /// <summary>10^<paramref name="k"/> percent as a label: "100 %", "1 %", "0.001 %".</summary>
    internal static string PercentLabel(int k) =>
        (k >= 0 ? Math.Pow(10, k).ToString("0", CultureInfo.InvariantCulture) : "0." + new string('0', -k - 1) + "1") + " %";
}
