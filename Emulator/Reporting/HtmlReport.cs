using System.Globalization;
using System.Net;
using System.Text;

namespace MmuSim.Reporting;

/// <summary>
/// The HTML report of one or several runs and miss-ratio curve files: one self-contained file (styles inline, charts
/// as inline SVG, no script, nothing fetched), sections in a fixed order — summary, hit rates per structure, reads per
/// walk, where descriptor reads were served, walk latency, the timeline (runs with --timing timeline), faults,
/// miss-ratio curves — each with its table and chart, runs side by side; a multi-PE run shows each PE and its total. Every text that comes from input (run, structure, model and file names) is HTML-escaped. Each
/// number cell carries its exact value in <c>data-value</c> (the summary's figure, unrounded) beside the text shown.
/// Each chart's SVG is on a line of its own, so the text structure can be compared apart from the drawing.
/// </summary>
public static class HtmlReport
{
    public static void Write(IReadOnlyList<ReportRun> runs, IReadOnlyList<MrcCurveSet> curves, Stream stream) =>
        Write(runs, curves, ReportCharts.Build(runs, curves), stream);

    /// <summary>As <see cref="Write(IReadOnlyList{ReportRun}, IReadOnlyList{MrcCurveSet}, Stream)"/> with charts already built (shared with --plot).</summary>
    public static void Write(IReadOnlyList<ReportRun> runs, IReadOnlyList<MrcCurveSet> curves, IReadOnlyList<ReportChart> charts, Stream stream)
    {
        using var w = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
        var h = new Html(w);
        var chartById = charts.ToDictionary(c => c.Id, StringComparer.Ordinal);
        w.WriteLine("<!DOCTYPE html>");
        w.WriteLine("<html lang=\"en\">");
        w.WriteLine("<head>");
        w.WriteLine("<meta charset=\"utf-8\">");
        w.WriteLine("<title>MmuSim report</title>");
        w.WriteLine("<style>");
        w.WriteLine(Style);
        w.WriteLine("</style>");
        w.WriteLine("</head>");
        w.WriteLine("<body>");
        w.WriteLine("<h1>MmuSim report</h1>");
        var sources = runs.Select(r => r.Source).Concat(curves.Select(c => c.Source)).Distinct(StringComparer.Ordinal).ToList();
        w.WriteLine($"<p class=\"inputs\">{runs.Count} run(s), {curves.Count} miss-ratio curve file(s) from: {string.Join(", ", sources.Select(Html.Escape))}</p>");
        if (runs.Count != 0)
        {
            SummarySection(h, runs);
            StructureSection(h, runs, chartById);
            WalkSection(h, runs, chartById);
            ServedSection(h, runs, chartById);
            LatencySection(h, runs, chartById);
            TimelineSection(h, runs, chartById);
            FaultSection(h, runs, chartById);
        }
        for (int i = 0; i < curves.Count; i++)
        {
            MrcSection(h, curves[i], chartById[curves.Count == 1 ? "mrc" : $"mrc-{i + 1}"]);
        }
        w.WriteLine("</body>");
        w.WriteLine("</html>");
    }

    private const string Style = """
        body { font-family: "DejaVu Sans", sans-serif; margin: 1.5em; color: #222; }
        h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
        table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; display: block; overflow-x: auto; max-width: 100%; }
        th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; }
        th { background: #f0f0f0; text-align: left; }
        td.n { text-align: right; font-variant-numeric: tabular-nums; }
        figure { margin: 0.6em 0; } figcaption { font-size: 0.85em; color: #555; }
        .inputs, .note { color: #555; font-size: 0.9em; }
        """;

    /// <summary>A row of a side-by-side table: its label, the field its cells hold, and each run's cell.</summary>
    private sealed record Row(string Label, string Field, Func<RunSummary, Cell> Value, string? Item = null);

    /// <summary>A table cell: a count, a ratio (2 decimals), a fraction shown as a percentage, a text, or nothing.</summary>
    private readonly record struct Cell(char Kind, long Count = 0, double? Fraction = null, string? Text = null)
    {
        public static Cell Of(long n) => new('n', n);
        public static Cell Ratio(double? v) => new('r', Fraction: v);
        public static Cell Percent(double? v) => new('%', Fraction: v);
        public static Cell Of(string text) => new('t', Text: text);
        public static Cell Maybe(long? n) => n is { } v ? Of(v) : None;
        public static readonly Cell None = new('-');
    }

    /// <summary>Runs side by side: one row per figure, one column per run.</summary>
    private static void SideBySide(Html h, string id, IReadOnlyList<ReportRun> runs, IEnumerable<Row> rows, string firstHeader = "")
    {
        h.TableStart(id, [firstHeader, .. runs.Select(r => r.Name)]);
        foreach (var row in rows)
        {
            h.W.Write(row.Item is null ? "<tr>" : $"<tr data-item=\"{Html.Escape(row.Item)}\">");
            h.W.Write($"<th>{Html.Escape(row.Label)}</th>");
            foreach (var r in runs)
            {
                h.Cell(r.Name, row.Field, row.Value(r.Summary));
            }
            h.RowEnd();
        }
        h.TableEnd();
    }

    private static void SummarySection(Html h, IReadOnlyList<ReportRun> runs)
    {
        h.Section("summary", "Summary");
        SideBySide(h, "summary-table", runs,
        [
            new("model", "model", s => Cell.Of(s.Model)),
            new("lines", "lines", s => s.Lines is { } l ? Cell.Of(l) : Cell.None),
            new("accesses", "accesses", s => Cell.Of(s.Accesses)),
            new("reads", "reads", s => Cell.Of(s.Reads)),
            new("writes", "writes", s => Cell.Of(s.Writes)),
            new("fetches", "fetches", s => Cell.Of(s.Fetches)),
            new("at instructions", "atInstructions", s => Cell.Of(s.AtInstructions)),
            new("tlbis", "tlbis", s => Cell.Of(s.Tlbis)),
            new("faults", "faults", s => Cell.Of(s.Faults)),
            new("tlb hits", "tlbHits", s => Cell.Of(s.TlbHits)),
            new("walks", "walks", s => Cell.Of(s.Walks)),
            new("descriptor reads", "descriptorReads", s => Cell.Of(s.DescriptorReads)),
            new("translation cycles", "translationCycles", s => Cell.Of(s.TranslationCycles)),
            new("cycles per access", "cyclesPerAccess", s => Cell.Ratio(s.CyclesPerAccess)),
            new("timing", "timing", s => s.Timing is { } t ? Cell.Of(t) : Cell.None),
        ]);
        if (runs.Any(r => r.Summary.StoppedOnFault))
        {
            h.W.WriteLine($"<p class=\"note\">Stopped at the first fault (--stop-on-fault): {string.Join(", ", runs.Where(r => r.Summary.StoppedOnFault).Select(r => Html.Escape(r.Name)))}.</p>");
        }
        h.SectionEnd();
    }

    /// <summary>The names of the structures (or other items) of all runs, in the order they first appear.</summary>
    private static List<string> Items(IReadOnlyList<ReportRun> runs, Func<RunSummary, IEnumerable<string>> names)
    {
        var items = new List<string>();
        foreach (var r in runs)
        {
            items.AddRange(names(r.Summary).Where(n => !items.Contains(n)));
        }
        return items;
    }

    private static void StructureSection(Html h, IReadOnlyList<ReportRun> runs, Dictionary<string, ReportChart> charts)
    {
        h.Section("structures", "Hit rates per structure");
        var names = Items(runs, s => s.Structures.Select(x => x.Name));
        SideBySide(h, "hit-rates-table", runs,
            names.Select(n => new Row(n, "hitRate", s => s.Structures.FirstOrDefault(x => x.Name == n) is { } st ? Cell.Percent(st.HitRate) : Cell.None, n)),
            "hit rate");
        h.Chart(charts, "hit-rates", "hits per lookup of each TLB, walk cache, IPA cache and walker cache");
        h.W.WriteLine(runs.Count == 1 ? "<details open>" : "<details>"); // several runs: the side-by-side table above is the one to read
        h.W.WriteLine("<summary>Lookups, hits, misses and evictions</summary>");
        h.TableStart("structures-table", "run", "structure", "kind", "lookups", "hits", "misses", "hit rate", "evictions");
        foreach (var r in runs)
        {
            foreach (var st in r.Summary.Structures)
            {
                h.RowStart(r.Name, st.Name);
                h.Text(st.Kind);
                h.Cell(r.Name, "lookups", Cell.Of(st.Lookups));
                h.Cell(r.Name, "hits", Cell.Of(st.Hits));
                h.Cell(r.Name, "misses", Cell.Of(st.Misses));
                h.Cell(r.Name, "hitRate", Cell.Percent(st.HitRate));
                h.Cell(r.Name, "evictions", Cell.Of(st.Evictions));
                h.RowEnd();
            }
        }
        h.TableEnd();
        h.W.WriteLine("</details>");
        h.SectionEnd();
    }

    private static void WalkSection(Html h, IReadOnlyList<ReportRun> runs, Dictionary<string, ReportChart> charts)
    {
        h.Section("walks", "Descriptor reads per walk");
        SideBySide(h, "walks-table", runs,
        [
            new("walks 1D", "walks1D", s => Cell.Of(s.Walks1D)),
            new("reads 1D", "descriptorReads1D", s => Cell.Of(s.DescriptorReads1D)),
            new("reads per walk 1D", "readsPerWalk1D", s => Cell.Ratio(s.ReadsPerWalk1D)),
            new("walks 2D", "walks2D", s => Cell.Of(s.Walks2D)),
            new("reads 2D", "descriptorReads2D", s => Cell.Of(s.DescriptorReads2D)),
            new("reads per walk 2D", "readsPerWalk2D", s => Cell.Ratio(s.ReadsPerWalk2D)),
        ]);
        h.Chart(charts, "reads-per-walk", "1D: one stage; 2D: stage 1 with every table access translated by stage 2");
        h.SectionEnd();
    }

    private static void ServedSection(Html h, IReadOnlyList<ReportRun> runs, Dictionary<string, ReportChart> charts)
    {
        h.Section("served", "Where descriptor reads were served");
        var names = Items(runs, s => s.ServedBy.Select(x => x.By));
        SideBySide(h, "served-table", runs,
            names.Select(n => new Row(n, "count", s => s.ServedBy.FirstOrDefault(x => x.By == n) is { } e ? Cell.Of(e.Count) : Cell.None, n)),
            "served by");
        h.W.WriteLine("<p class=\"note\">Walk and IPA cache figures are descriptor reads their hits made unnecessary; walker caches and memory served the reads that were made.</p>");
        h.Chart(charts, "served-by", "share of each run's descriptor accesses");
        h.SectionEnd();
    }

    private static void LatencySection(Html h, IReadOnlyList<ReportRun> runs, Dictionary<string, ReportChart> charts)
    {
        h.Section("latency", "Walk latency");
        SideBySide(h, "latency-table", runs,
        [
            new("walks", "count", s => s.WalkCycles is { } c ? Cell.Of(c.Count) : Cell.None),
            new("total cycles", "total", s => s.WalkCycles is { } c ? Cell.Of(c.Total) : Cell.None),
            new("mean", "mean", s => Cell.Ratio(s.WalkCycles?.Mean)),
            new("p50", "p50", s => Cell.Maybe(s.WalkCycles?.P50)),
            new("p90", "p90", s => Cell.Maybe(s.WalkCycles?.P90)),
            new("p99", "p99", s => Cell.Maybe(s.WalkCycles?.P99)),
            new("max", "max", s => s.WalkCycles is { } c ? Cell.Of(c.Max) : Cell.None),
        ], "cycles per walk");
        h.W.WriteLine("<p class=\"note\">Cycles of each walk (walk-cache and IPA-cache lookups, descriptor reads, updates; no TLB lookups); nearest-rank percentiles.</p>");
        h.Chart(charts, "walk-latency-cdf", "fraction of walks that took at most x cycles");
        h.SectionEnd();
    }

    /// <summary>
    /// The timeline's figures (runs with --timing timeline; nothing when no run has them): stalls, walk wait and
    /// service apart, walks in service, merged misses and descriptor-level parallelism, and a chart of how many walks
    /// were in service over the cycles.
    /// </summary>
    private static void TimelineSection(Html h, IReadOnlyList<ReportRun> runs, Dictionary<string, ReportChart> charts)
    {
        if (runs.All(r => r.Summary.Timeline is null))
        {
            return;
        }
        h.Section("timeline", "Timeline");
        static Func<RunSummary, Cell> Count(Func<TimelineFigures, long?> f) => s => s.Timeline is { } t ? Cell.Maybe(f(t)) : Cell.None;
        static Func<RunSummary, Cell> Ratio(Func<TimelineFigures, double?> f) => s => s.Timeline is { } t ? Cell.Ratio(f(t)) : Cell.None;
        SideBySide(h, "timeline-table", runs,
        [
            new("total cycles", "totalCycles", Count(t => t.TotalCycles)),
            new("stalled cycles", "stalledCycles", Count(t => t.StalledCycles)),
            new("window stall cycles", "windowStallCycles", Count(t => t.WindowStallCycles)),
            new("queue stall cycles", "queueStallCycles", Count(t => t.QueueStallCycles)),
            new("walk wait: walks", "walkWait.count", Count(t => t.WalkWait.Count)),
            new("walk wait: mean", "walkWait.mean", Ratio(t => t.WalkWait.Mean)),
            new("walk wait: p50", "walkWait.p50", Count(t => t.WalkWait.P50)),
            new("walk wait: p90", "walkWait.p90", Count(t => t.WalkWait.P90)),
            new("walk wait: p99", "walkWait.p99", Count(t => t.WalkWait.P99)),
            new("walk wait: max", "walkWait.max", Count(t => t.WalkWait.Max)),
            new("walk service: mean", "walkService.mean", Ratio(t => t.WalkService.Mean)),
            new("walk service: p50", "walkService.p50", Count(t => t.WalkService.P50)),
            new("walk service: p90", "walkService.p90", Count(t => t.WalkService.P90)),
            new("walk service: p99", "walkService.p99", Count(t => t.WalkService.P99)),
            new("walk service: max", "walkService.max", Count(t => t.WalkService.Max)),
            new("mean walks in flight", "meanWalksInFlight", Ratio(t => t.MeanWalksInFlight)),
            new("walker occupancy", "walkerOccupancy", s => s.Timeline is { } t ? Cell.Percent(t.WalkerOccupancy) : Cell.None),
            new("mean queue", "meanQueue", Ratio(t => t.MeanQueue)),
            new("merged misses", "mergedMisses", Count(t => t.MergedMisses)),
            new("descriptor MLP", "descriptorMlp", Ratio(t => t.DescriptorMlp)),
            new("shared-line waits", "sharedLineWaits", Count(t => t.SharedLineWaits)),
            new("miss-buffer waits", "missBufferWaits", Count(t => t.MissBufferWaits)),
            new("memory waits", "memoryWaits", Count(t => t.MemoryWaits)),
        ], "on the timeline");
        h.W.WriteLine("<p class=\"note\">Wait: cycles a walk queued for a walker; service: cycles from its start to its end; nearest-rank percentiles. "
            + "Descriptor MLP: the mean number of descriptor reads in flight while at least one walk is in service. A multi-PE total adds up what adds up; a PE's own length, occupancy, queue, MLP and percentiles are left out (-).</p>");
        h.Chart(charts, "walks-in-flight", "share of each run's cycles with 0, 1, 2, … walks in service");
        h.SectionEnd();
    }

    private static void FaultSection(Html h, IReadOnlyList<ReportRun> runs, Dictionary<string, ReportChart> charts)
    {
        h.Section("faults", "Faults by kind, stage and level");
        if (runs.All(r => r.Summary.FaultsByKind.Count == 0))
        {
            h.W.WriteLine("<p class=\"note\">No run faulted.</p>");
            h.SectionEnd();
            return;
        }
        h.TableStart("faults-table", "run", "fault", "type", "stage", "level", "count", "first lines");
        foreach (var r in runs)
        {
            foreach (var f in r.Summary.FaultsByKind)
            {
                h.RowStart(r.Name, ReportCharts.FaultLabel(f));
                h.Text(f.Type);
                h.Cell(r.Name, "stage", Cell.Of(f.Stage));
                h.Cell(r.Name, "level", f.Level is { } l ? Cell.Of(l) : Cell.None);
                h.Cell(r.Name, "count", Cell.Of(f.Count));
                var lines = f.FirstLines.Select(x => $"line {x.Line}: {x.Op} {x.Va} at EL{x.El}");
                h.Text(string.Join("; ", lines) + (f.Count > f.FirstLines.Count && f.FirstLines.Count != 0 ? "; …" : ""));
                h.RowEnd();
            }
        }
        h.TableEnd();
        h.Chart(charts, "faults", "faults of each (type, stage, level)");
        h.SectionEnd();
    }

    /// <summary>
    /// A file's curves: the chart, and a table of the points at each power-of-two size and the largest (a curve has
    /// a point for every size up to the footprint, too many to read).
    /// </summary>
    private static void MrcSection(Html h, MrcCurveSet set, ReportChart chart)
    {
        h.Section(chart.Id, $"Miss-ratio curves: {Path.GetFileName(set.Source)}");
        h.W.WriteLine($"<p class=\"note\">Traces: {string.Join(", ", set.Inputs.Select(Html.Escape))}; page size {Html.Escape(set.PageSize)}; footprint {set.Footprint.ToString("N0", CultureInfo.InvariantCulture)} pages. LRU replacement.</p>");
        if (set.Error is not null)
        {
            // An mrc stopped early writes its curves with "error": they must not pass for the whole input's.
            h.W.WriteLine($"<p class=\"note stopped\">Stopped early: {Html.Escape(set.Error)}. These curves cover only the lookups before it.</p>");
        }
        h.TableStart(chart.Id + "-table", "curve", "entries", "misses", "accesses", "miss ratio");
        foreach (var c in set.Curves)
        {
            long last = c.Points.Count == 0 ? 0 : c.Points[^1].Entries;
            foreach (var p in c.Points.Where(p => (p.Entries & (p.Entries - 1)) == 0 || p.Entries == last))
            {
                h.W.Write($"<tr data-curve=\"{Html.Escape(c.Name)}\"><th>{Html.Escape(c.Name)}</th>");
                h.Cell(null, "entries", Cell.Of(p.Entries));
                h.Cell(null, "misses", Cell.Of(p.Misses));
                h.Cell(null, "accesses", Cell.Of(p.Accesses));
                h.Cell(null, "missRatio", Cell.Percent(p.Accesses == 0 ? null : p.MissRatio));
                h.RowEnd();
            }
        }
        h.TableEnd();
        h.Chart(new Dictionary<string, ReportChart> { [chart.Id] = chart }, chart.Id, "misses per access of an LRU TLB of each size");
        h.SectionEnd();
    }

    /// <summary>Writes escaped HTML elements.</summary>
    private sealed class Html(TextWriter w)
    {
        public TextWriter W { get; } = w;

        public static string Escape(string s) => WebUtility.HtmlEncode(s);

        public void Section(string id, string title)
        {
            W.WriteLine($"<section id=\"{Escape(id)}\">");
            W.WriteLine($"<h2>{Escape(title)}</h2>");
        }

        public void SectionEnd() => W.WriteLine("</section>");

        public void TableStart(string id, params string[] headers)
        {
            W.WriteLine($"<table id=\"{Escape(id)}\">");
            // A sweep's run names (`neoverse-n1:memoryLatency=100`) may break after ':' and ',' as well as at '-': six of
            // them overran a 1400-pixel window, the last columns cut off. Never inside a value ("10" + "0" misleads);
            // a table still too wide scrolls by itself (the style's overflow-x).
            W.WriteLine("<thead><tr>" + string.Concat(headers.Select(x => $"<th>{Escape(x).Replace(":", ":<wbr>", StringComparison.Ordinal).Replace(",", ",<wbr>", StringComparison.Ordinal)}</th>")) + "</tr></thead>");
            W.WriteLine("<tbody>");
        }

        public void TableEnd()
        {
            W.WriteLine("</tbody>");
            W.WriteLine("</table>");
        }

        /// <summary>A row named by its run (and item: structure, fault, …) in data attributes and its first cells.</summary>
        public void RowStart(string run, string? item = null)
        {
            W.Write($"<tr data-run=\"{Escape(run)}\"");
            if (item is not null)
            {
                W.Write($" data-item=\"{Escape(item)}\"");
            }
            W.Write($"><th>{Escape(run)}</th>");
            if (item is not null)
            {
                W.Write($"<td>{Escape(item)}</td>");
            }
        }

        public void RowEnd() => W.WriteLine("</tr>");

        public void Text(string s) => W.Write($"<td>{Escape(s)}</td>");

        /// <summary>A cell of <paramref name="run"/> (null: not a run's) holding <paramref name="field"/>; numbers carry their exact value.</summary>
        public void Cell(string? run, string field, HtmlReport.Cell c)
        {
            string attrs = (run is null ? "" : $" data-run=\"{Escape(run)}\"") + $" data-field=\"{field}\"";
            switch (c.Kind)
            {
                case 'n':
                    W.Write($"<td class=\"n\"{attrs} data-value=\"{c.Count.ToString(CultureInfo.InvariantCulture)}\">{c.Count.ToString("N0", CultureInfo.InvariantCulture)}</td>");
                    break;
                case 'r' or '%' when c.Fraction is { } x:
                    string shown = c.Kind == 'r' ? x.ToString("0.00", CultureInfo.InvariantCulture) : (100 * x).ToString("0.00", CultureInfo.InvariantCulture) + "%";
                    W.Write($"<td class=\"n\"{attrs} data-value=\"{x.ToString("R", CultureInfo.InvariantCulture)}\">{shown}</td>");
                    break;
                case 't':
                    W.Write($"<td{attrs}>{Escape(c.Text!)}</td>");
                    break;
                default:
                    W.Write($"<td class=\"n\"{attrs}>-</td>");
                    break;
            }
        }

        public void Chart(Dictionary<string, ReportChart> charts, string id, string caption)
        {
            if (!charts.TryGetValue(id, out var c))
            {
                return;
            }
            W.WriteLine($"<figure id=\"chart-{Escape(c.Id)}\" class=\"chart\">");
            W.WriteLine(c.InlineSvg().ReplaceLineEndings(" "));
            W.WriteLine($"<figcaption>{Escape(c.Title)}: {Escape(caption)}</figcaption>");
            W.WriteLine("</figure>");
        }
    }
}
