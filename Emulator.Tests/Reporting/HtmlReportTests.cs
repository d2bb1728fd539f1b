using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using MmuSim.Reporting;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Reporting;

/// <summary>
/// `mmusim report` and `replay --report`: the HTML's text structure against golden files (the SVG drawings left
/// out: their bytes are ScottPlot's), the numbers in its tables against the JSON they came from, escaping, no
/// network reference, --plot files, and bad input. Fixtures in ReportFixtures/ follow the shapes of `mmusim sweep`
/// (runs of real `replay --json` summaries of traces/sample/example.trace) and `mmusim mrc` (a synthetic curve set).
/// </summary>
[Collection("Console")]
public sealed partial class HtmlReportTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-report-" + Guid.NewGuid().ToString("N"));

    public HtmlReportTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static string Fixture(string name) => Path.Combine(TestPaths.RepositoryRoot, "Emulator.Tests", "Reporting", "ReportFixtures", name);

    private static string Trace(string rel) => Path.Combine(TestPaths.RepositoryRoot, rel);

    private string Tmp(string name) => Path.Combine(_dir, name);

    /// <summary>The HTML with each chart's SVG line replaced by a marker, and the temp and repository paths made relative.</summary>
    private string TextStructure(string html) =>
        SvgLine().Replace(html, "<svg (chart drawn by ScottPlot)>")
            .Replace(_dir + Path.DirectorySeparatorChar, "TMP/")
            .Replace(TestPaths.RepositoryRoot + Path.DirectorySeparatorChar, "");

    [GeneratedRegex("^<svg .*$", RegexOptions.Multiline)]
    private static partial Regex SvgLine();

    private static void AssertGolden(string name, string actual) => GoldenFile.AssertMatches(name + ".html.txt", actual);

    [Fact]
    public void ReplayReportMatchesItsGoldenFile()
    {
        string html = Tmp("example.html");
        var r = Support.Cli.Run("replay", Trace("traces/sample/example.trace"), "--quiet", "--report", html);
        Assert.Equal(0, r.Exit);
        Assert.Equal("", r.Err);
        AssertGolden("report-replay-example", TextStructure(File.ReadAllText(html)));
    }

    [Fact]
    public void SweepAndCurvesReportMatchesItsGoldenFile()
    {
        string html = Tmp("sweep.html");
        var r = Support.Cli.Run("report", Fixture("sweep.json"), Fixture("mrc.json"), "-o", html);
        Assert.Equal(("", 0), (r.Err, r.Exit));
        AssertGolden("report-sweep-mrc", TextStructure(File.ReadAllText(html)));
    }

    [Fact]
    public void MultiPeTimelineReportMatchesItsGoldenFile()
    {
        string html = Tmp("two-pes.html");
        var r = Support.Cli.Run("replay", Trace("traces/sample/two-pes.trace"), "--quiet", "--timing", "timeline", "--report", html);
        Assert.Equal(("", 0), (r.Err, r.Exit));
        AssertGolden("report-replay-two-pes-timeline", TextStructure(File.ReadAllText(html)));
    }

    [Fact]
    public void MultiPeColumnsAndTheirTotalHoldTheSummaryFigures()
    {
        string json = Tmp("two-pes.json"), html = Tmp("two-pes-total.html");
        var r = Support.Cli.Run("replay", Trace("traces/sample/two-pes.trace"), "--quiet", "--preset", "neoverse-n1", "--timing", "timeline", "--json", json);
        Assert.Equal(0, r.Exit);
        r = Support.Cli.Run("report", json, "-o", html);
        Assert.Equal(("", 0), (r.Err, r.Exit));
        AssertMultiPeTablesEqualJson(File.ReadAllText(html), "two-pes", json);
    }

    /// <summary>
    /// A multi-PE summary's report: each PE's column holds its perPe figures (timeline included), and the total
    /// column the summary's whole-run figures, structures summed over the PEs, walk latency from the PEs' histograms
    /// together (percentiles by the simulator's own <see cref="MmuSim.Core.CycleHistogram"/>), and the timeline's
    /// counts added up.
    /// </summary>
    internal static void AssertMultiPeTablesEqualJson(string html, string run, string jsonPath)
    {
        var cells = Cells(html);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(jsonPath));
        var root = doc.RootElement;
        var pes = root.GetProperty("perPe").EnumerateArray().ToList();
        Assert.True(pes.Count > 1);
        string Value(string table, string column, string? item, string field) => cells[(table, column, item, field)].Value;
        string N(JsonElement e) => e.GetInt64().ToString(CultureInfo.InvariantCulture);
        string total = $"{run} total";
        foreach (string f in new[] { "lines", "accesses", "reads", "writes", "fetches", "faults", "tlbHits", "walks", "descriptorReads", "translationCycles" })
        {
            Assert.Equal(N(root.GetProperty(f)), Value("summary-table", total, null, f));
        }
        var merged = new MmuSim.Core.CycleHistogram();
        foreach (var pe in pes)
        {
            string column = $"{run} PE {pe.GetProperty("cpu").GetInt32()}";
            foreach (string f in new[] { "accesses", "walks", "descriptorReads", "translationCycles" })
            {
                Assert.Equal(N(pe.GetProperty(f)), Value("summary-table", column, null, f));
            }
            AssertTimelineEqualsJson(cells, column, pe.GetProperty("timeline"));
            foreach (var b in pe.GetProperty("walkCycles").GetProperty("histogram").EnumerateArray())
            {
                for (long i = 0; i < b.GetProperty("count").GetInt64(); i++)
                {
                    merged.Add(b.GetProperty("cycles").GetInt64());
                }
            }
        }
        foreach (var name in pes[0].GetProperty("tlbs").EnumerateArray().Select(t => t.GetProperty("name").GetString()!))
        {
            foreach (string f in new[] { "lookups", "hits", "misses", "evictions" })
            {
                long sum = pes.Sum(pe => pe.GetProperty("tlbs").EnumerateArray().First(t => t.GetProperty("name").GetString() == name).GetProperty(f).GetInt64());
                Assert.Equal(sum.ToString(CultureInfo.InvariantCulture), Value("structures-table", total, name, f));
            }
        }
        Assert.Equal(merged.Count.ToString(CultureInfo.InvariantCulture), Value("latency-table", total, null, "count"));
        Assert.Equal(merged.Sum.ToString(CultureInfo.InvariantCulture), Value("latency-table", total, null, "total"));
        Assert.Equal(merged.Max.ToString(CultureInfo.InvariantCulture), Value("latency-table", total, null, "max"));
        foreach (int p in new[] { 50, 90, 99 })
        {
            Assert.Equal(merged.Percentile(p).ToString(CultureInfo.InvariantCulture), Value("latency-table", total, null, $"p{p}"));
        }
        foreach (string f in new[] { "stalledCycles", "windowStallCycles", "queueStallCycles", "mergedMisses", "sharedLineWaits", "missBufferWaits", "memoryWaits" })
        {
            long sum = pes.Sum(pe => pe.GetProperty("timeline").GetProperty(f).GetInt64());
            Assert.Equal(sum.ToString(CultureInfo.InvariantCulture), Value("timeline-table", total, null, f));
        }
        long waits = pes.Sum(pe => pe.GetProperty("timeline").GetProperty("walkWait").GetProperty("count").GetInt64());
        Assert.Equal(waits.ToString(CultureInfo.InvariantCulture), Value("timeline-table", total, null, "walkWait.count"));
        // What is each PE's own has no total.
        foreach (string f in new[] { "totalCycles", "meanWalksInFlight", "walkerOccupancy", "descriptorMlp", "walkWait.p50", "walkService.p99" })
        {
            Assert.False(cells.ContainsKey(("timeline-table", total, null, f)), f);
        }
    }

    /// <summary>The timeline table's column <paramref name="run"/> holds the figures of <paramref name="t"/> (a `timeline` object).</summary>
    internal static void AssertTimelineEqualsJson(Dictionary<(string Table, string? Run, string? Item, string Field), (string Value, string Text)> cells,
        string run, JsonElement t)
    {
        foreach (string f in new[] { "totalCycles", "stalledCycles", "windowStallCycles", "queueStallCycles", "mergedMisses", "sharedLineWaits", "missBufferWaits", "memoryWaits" })
        {
            var (value, text) = cells[("timeline-table", run, null, f)];
            Assert.Equal(t.GetProperty(f).GetInt64().ToString(CultureInfo.InvariantCulture), value);
            Assert.Equal(value, text.Replace(",", ""));
        }
        Assert.Equal(t.GetProperty("walkWait").GetProperty("count").GetInt64().ToString(CultureInfo.InvariantCulture), cells[("timeline-table", run, null, "walkWait.count")].Value);
        foreach (string d in new[] { "walkWait", "walkService" })
        {
            foreach (string f in new[] { "p50", "p90", "p99", "max" })
            {
                Assert.Equal(t.GetProperty(d).GetProperty(f).GetInt64().ToString(CultureInfo.InvariantCulture), cells[("timeline-table", run, null, $"{d}.{f}")].Value);
            }
            Assert.Equal(t.GetProperty(d).GetProperty("mean").GetDouble(), double.Parse(cells[("timeline-table", run, null, $"{d}.mean")].Value, CultureInfo.InvariantCulture));
        }
        foreach (string f in new[] { "meanWalksInFlight", "walkerOccupancy", "meanQueue", "descriptorMlp" })
        {
            Assert.Equal(t.GetProperty(f).GetDouble(), double.Parse(cells[("timeline-table", run, null, f)].Value, CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Each number cell of a table: (table id, run or null, item or null, field) → (data-value, text).</summary>
    internal static Dictionary<(string Table, string? Run, string? Item, string Field), (string Value, string Text)> Cells(string html)
    {
        var cells = new Dictionary<(string, string?, string?, string), (string, string)>();
        foreach (Match t in TableElement().Matches(html))
        {
            string table = t.Groups[1].Value;
            foreach (Match row in RowElement().Matches(t.Groups[2].Value))
            {
                string? rowRun = Attr(row.Groups[1].Value, "data-run");
                string? item = Attr(row.Groups[1].Value, "data-item") ?? Attr(row.Groups[1].Value, "data-curve");
                foreach (Match td in CellElement().Matches(row.Groups[2].Value))
                {
                    string attrs = td.Groups[1].Value;
                    if (Attr(attrs, "data-field") is not { } field || Attr(attrs, "data-value") is not { } value)
                    {
                        continue;
                    }
                    var key = (table, Attr(attrs, "data-run") ?? rowRun, item, field);
                    if (table.EndsWith("-table", StringComparison.Ordinal) && (table.StartsWith("mrc", StringComparison.Ordinal) || table == "faults-table"))
                    {
                        key = (table, Attr(attrs, "data-run") ?? rowRun, $"{item}#{cells.Count}", field);
                    }
                    cells[key] = (System.Net.WebUtility.HtmlDecode(value), System.Net.WebUtility.HtmlDecode(td.Groups[2].Value));
                }
            }
        }
        return cells;
    }

    private static string? Attr(string attrs, string name)
    {
        var m = Regex.Match(attrs, $"\\b{name}=\"([^\"]*)\"");
        return m.Success ? System.Net.WebUtility.HtmlDecode(m.Groups[1].Value) : null;
    }

    [GeneratedRegex("<table id=\"([^\"]+)\">(.*?)</table>", RegexOptions.Singleline)]
    private static partial Regex TableElement();

    [GeneratedRegex("<tr([^>]*)>(.*?)</tr>", RegexOptions.Singleline)]
    private static partial Regex RowElement();

    [GeneratedRegex("<td([^>]*)>(.*?)</td>", RegexOptions.Singleline)]
    private static partial Regex CellElement();

    /// <summary>
    /// The figures of the summary, walk and latency tables equal the JSON summary's, value and text (thousands
    /// separators and rounding aside), for every run of a report of several real replays.
    /// </summary>
    internal static void AssertTablesEqualJson(string html, IReadOnlyList<(string Run, string JsonPath)> runs)
    {
        var cells = Cells(html);
        foreach (var (run, path) in runs)
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var s = doc.RootElement;
            foreach (string f in new[] { "lines", "accesses", "reads", "writes", "fetches", "atInstructions", "tlbis", "faults", "tlbHits", "walks", "descriptorReads", "translationCycles" })
            {
                var (value, text) = cells[("summary-table", run, null, f)];
                Assert.Equal(s.GetProperty(f).GetInt64().ToString(CultureInfo.InvariantCulture), value);
                Assert.Equal(value, text.Replace(",", ""));
            }
            foreach (string f in new[] { "walks1D", "descriptorReads1D", "walks2D", "descriptorReads2D" })
            {
                var (value, text) = cells[("walks-table", run, null, f)];
                Assert.Equal(s.GetProperty(f).GetInt64().ToString(CultureInfo.InvariantCulture), value);
                Assert.Equal(value, text.Replace(",", ""));
            }
            foreach (string f in new[] { "readsPerWalk1D", "readsPerWalk2D" })
            {
                var j = s.GetProperty(f);
                if (j.ValueKind == JsonValueKind.Null)
                {
                    Assert.False(cells.ContainsKey(("walks-table", run, null, f)));
                    continue;
                }
                var (value, text) = cells[("walks-table", run, null, f)];
                Assert.Equal(j.GetDouble(), double.Parse(value, CultureInfo.InvariantCulture));
                Assert.Equal(j.GetDouble().ToString("0.00", CultureInfo.InvariantCulture), text);
            }
            var wc = s.GetProperty("walkCycles");
            foreach (string f in new[] { "count", "total", "p50", "p90", "p99", "max" })
            {
                var (value, _) = cells[("latency-table", run, null, f)];
                Assert.Equal(wc.GetProperty(f).GetInt64().ToString(CultureInfo.InvariantCulture), value);
            }
            foreach (var t in s.GetProperty("tlbs").EnumerateArray())
            {
                string name = t.GetProperty("name").GetString()!;
                Assert.Equal(t.GetProperty("lookups").GetInt64().ToString(CultureInfo.InvariantCulture), cells[("structures-table", run, name, "lookups")].Value);
                Assert.Equal(t.GetProperty("hits").GetInt64().ToString(CultureInfo.InvariantCulture), cells[("structures-table", run, name, "hits")].Value);
            }
        }
    }

    /// <summary>Replays <paramref name="trace"/> under each preset to TMP/NAME-PRESET.json; returns (run name, path).</summary>
    private List<(string Run, string Path)> Summaries(string trace, params string[] presets)
    {
        var list = new List<(string, string)>();
        string name = Path.GetFileName(trace).Split('.')[0];
        foreach (string p in presets)
        {
            string json = Tmp($"{name}-{p}.json");
            var r = Support.Cli.Run("replay", Trace(trace), "--quiet", "--preset", p, "--json", json);
            Assert.Equal(0, r.Exit);
            list.Add(($"{name}-{p}", json));
        }
        return list;
    }

    [Fact]
    public void TablesHoldTheFiguresOfTheSummaries()
    {
        var runs = Summaries("traces/sample/example.trace", "neoverse-n1", "cortex-a55", "uncached");
        string html = Tmp("three.html");
        var r = Support.Cli.Run(["report", .. runs.Select(x => x.Path), "-o", html]);
        Assert.Equal(("", 0), (r.Err, r.Exit));
        AssertTablesEqualJson(File.ReadAllText(html), runs);
    }

    [Fact]
    public void MissRatioChartHasALogPercentAxisAndLegendsThatNameEachCurvesLookups()
    {
        // Looked at on sort under lackey: on a 0-1 linear axis every size past 32 entries lay on zero, and the L2's
        // curve (a ratio of the L1's misses) looked worse than the L1's, both labelled "miss ratio".
        var inputs = new ReportInputs();
        inputs.Load(Fixture("mrc.json"));
        var chart = Assert.Single(ReportCharts.Build([], inputs.Curves));
        Assert.Equal("miss ratio (%, log scale)", chart.Plot.Axes.Left.Label.Text);
        Assert.Equal(["fully-associative (of 1,000 lookups)", "sets=4 (of 1,000 lookups)", "l2-of-l1-misses (of 952 lookups)"],
            chart.Plot.Legend.GetItems().Select(i => i.LabelText));
        _ = chart.Svg(); // the tick generator hands out its ticks once the chart is laid out
        var ticks = ((ScottPlot.TickGenerators.NumericManual)chart.Plot.Axes.Left.TickGenerator).Ticks.Where(t => t.IsMajor);
        Assert.Equal(["10 %", "100 %"], ticks.OrderBy(t => t.Position).Select(t => t.Label).TakeLast(2));
        Assert.Equal(["0.1 %", "0.001 %", "1000 %"], new[] { -1, -3, 3 }.Select(ReportCharts.PercentLabel));
        // Every point sits at log10 of its ratio in percent: the first of the fully associative curve is 952 / 1000.
        var first = ((ScottPlot.Plottables.Scatter)chart.Plot.GetPlottables().First()).Data.GetScatterPoints()[0];
        Assert.Equal((0.0, Math.Log10(95.2)), (first.X, first.Y));
    }

    [Fact]
    public void RunNamesMayBreakAfterColonsAndCommasButNotInsideAValue()
    {
        // Six runs named `PRESET:memoryLatency=V` overran a 1400-pixel window; breaking anywhere split `100` in two.
        string json = Tmp("vary.json"), html = Tmp("vary.html");
        Assert.Equal(0, Support.Cli.Run("sweep", Trace("traces/sample/example.trace"), "--vary", "memoryLatency=50,100", "--vary", "tlbs[2].ways=5", "--quiet", "--json", json).Exit);
        Assert.Equal(0, Support.Cli.Run("report", json, "-o", html).Exit);
        string summaryHead = File.ReadAllLines(html).First(l => l.StartsWith("<thead><tr><th></th>", StringComparison.Ordinal));
        Assert.Equal("<thead><tr><th></th><th>neoverse-n1:<wbr>memoryLatency=50,<wbr>tlbs[2].ways=5</th><th>neoverse-n1:<wbr>memoryLatency=100,<wbr>tlbs[2].ways=5</th></tr></thead>", summaryHead);
    }

    [Fact]
    public void CurvesOfAnMrcThatStoppedEarlySaySo()
    {
        // mrc keeps the curves of the lines before a malformed one, its JSON with "error"; the report showed them as
        // if they were the whole input's.
        string bad = Tmp("bad.trace"), json = Tmp("bad-mrc.json"), html = Tmp("bad-mrc.html");
        File.WriteAllText(bad, string.Join("\n", File.ReadAllLines(Trace("traces/bench/lru.trace"))) + "\nR zz\n");
        Assert.Equal(2, Support.Cli.Run("mrc", bad, "--json", json, "--quiet").Exit);
        Assert.Equal(("", 0), (Support.Cli.Run("report", json, "-o", html).Err, 0));
        Assert.Equal($"<p class=\"note stopped\">Stopped early: {bad}:51:3: bad virtual address &#39;zz&#39;: &#39;z&#39; is not a decimal digit. These curves cover only the lookups before it.</p>",
            File.ReadAllLines(html).Single(l => l.Contains("Stopped early", StringComparison.Ordinal)));
    }

    [Fact]
    public void EveryChartIsInlineSvgWithIdsOfItsOwn()
    {
        string html = Tmp("sweep.html");
        Assert.Equal(0, Support.Cli.Run("report", Fixture("sweep.json"), Fixture("mrc.json"), "-o", html).Exit);
        string text = File.ReadAllText(html);
        var figures = Regex.Matches(text, "<figure id=\"chart-([a-z0-9-]+)\" class=\"chart\">\n<svg ").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(["hit-rates", "reads-per-walk", "served-by", "walk-latency-cdf", "faults", "mrc"], figures);
        // ScottPlot numbers its clip paths from 1 in every chart: each id must be unique in the document, and every
        // reference must name an id of the same chart.
        var ids = Regex.Matches(text, " id=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        foreach (Match m in Regex.Matches(text, "url\\(#([^)]+)\\)"))
        {
            Assert.Contains(m.Groups[1].Value, ids);
        }
    }

    [Fact]
    public void NamesFromInputAreEscapedAndNothingIsFetched()
    {
        string html = Tmp("sweep.html");
        Assert.Equal(0, Support.Cli.Run("report", Fixture("sweep.json"), "-o", html).Exit);
        string text = File.ReadAllText(html);
        // The sweep's configurations are named `a55 <small>` and `uncached & "slow"`.
        Assert.DoesNotContain("<small>", text);
        Assert.DoesNotContain("& \"slow\"", text);
        Assert.Contains("<th>a55 &lt;small&gt;</th>", text);
        Assert.Contains("<th>uncached &amp; &quot;slow&quot;</th>", text);
        // Self-contained: no script, no stylesheet or image to fetch; the only URLs are the SVG namespaces.
        Assert.DoesNotContain("<script", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<link", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(" src=", text, StringComparison.OrdinalIgnoreCase);
        var urls = Regex.Matches(text, "https?://[^\"' )]+").Select(m => m.Value).Distinct().Order().ToList();
        Assert.Equal(["http://www.w3.org/1999/xlink", "http://www.w3.org/2000/svg"], urls);
    }

    [Fact]
    public void PlotWritesEachChartAsSvgAndPng()
    {
        string dir = Tmp("plots");
        var r = Support.Cli.Run("report", Fixture("sweep.json"), Fixture("mrc.json"), "-o", Tmp("r.html"), "--plot", dir);
        Assert.Equal(("", 0), (r.Err, r.Exit));
        string[] ids = ["faults", "hit-rates", "mrc", "reads-per-walk", "served-by", "walk-latency-cdf"];
        Assert.Equal(ids.SelectMany(i => new[] { i + ".png", i + ".svg" }).Order(StringComparer.Ordinal),
            Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (string id in ids)
        {
            var svg = XDocument.Load(Path.Combine(dir, id + ".svg")).Root!;
            Assert.Equal(("svg", "800", "420"), (svg.Name.LocalName, svg.Attribute("width")?.Value, svg.Attribute("height")?.Value));
            using var png = SkiaSharp.SKBitmap.Decode(Path.Combine(dir, id + ".png"));
            Assert.Equal((800, 420), (png.Width, png.Height));
            Assert.True(PixelStdDev(png) > 5, $"{id}.png is blank");
        }
    }

    /// <summary>The standard deviation of the pixels' luminance (0 for a blank image).</summary>
    internal static double PixelStdDev(SkiaSharp.SKBitmap bmp)
    {
        double sum = 0, sq = 0;
        long n = 0;
        for (int y = 0; y < bmp.Height; y += 2)
        {
            for (int x = 0; x < bmp.Width; x += 2)
            {
                var c = bmp.GetPixel(x, y);
                double l = 0.299 * c.Red + 0.587 * c.Green + 0.114 * c.Blue;
                sum += l;
                sq += l * l;
                n++;
            }
        }
        double mean = sum / n;
        return Math.Sqrt(Math.Max(0, sq / n - mean * mean));
    }

    [Fact]
    public void MalformedJsonNamesFileLineAndColumn()
    {
        string bad = Tmp("bad.json");
        File.WriteAllText(bad, "{\n  \"schema\": \"mmusim.summary/1\",\n  \"accesses\": 12,,\n}\n");
        var r = Support.Cli.Run("report", bad, "-o", Tmp("out.html"));
        Assert.Equal(2, r.Exit);
        Assert.Equal($"mmusim: {bad}:3:18: invalid JSON: ',' is an invalid start of a property name. Expected a '\"'\n", r.Err.Replace("\r\n", "\n"));
        Assert.False(File.Exists(Tmp("out.html")));
    }

    [Fact]
    public void MissingFieldIsNamedByItsKeyPath()
    {
        string sweep = File.ReadAllText(Fixture("sweep.json"));
        string bad = Tmp("sweep.json");
        File.WriteAllText(bad, sweep.Replace("\"accesses\": 5,", "", StringComparison.Ordinal));
        var r = Support.Cli.Run("report", bad, "-o", Tmp("out.html"));
        Assert.Equal(2, r.Exit);
        Assert.Equal($"mmusim: {bad}: runs[0].summary.accesses: missing\n", r.Err.Replace("\r\n", "\n"));
    }

    [Fact]
    public void UnknownToolAndUnknownShapeAreRefused()
    {
        string tool = Tmp("tool.json");
        File.WriteAllText(tool, "{\"tool\": \"mmusim <x>\"}");
        var r = Support.Cli.Run("report", tool, "-o", Tmp("out.html"));
        Assert.Equal((2, $"mmusim: {tool}: tool: 'mmusim <x>' is not a file a report reads (mmusim mrc, mmusim sweep, mmusim merge)\n"), (r.Exit, r.Err.Replace("\r\n", "\n")));
        string other = Tmp("other.json");
        File.WriteAllText(other, "[1, 2]");
        r = Support.Cli.Run("report", other, "-o", Tmp("out.html"));
        Assert.Equal((2, $"mmusim: {other}: not a JSON object (a `replay --json` summary, an mrc, sweep or merge file)\n"), (r.Exit, r.Err.Replace("\r\n", "\n")));
    }

    [Fact]
    public void MissingInputAndAnOutputThatIsAnInputAreErrors()
    {
        string missing = Tmp("none.json");
        var r = Support.Cli.Run("report", missing, "-o", Tmp("out.html"));
        Assert.Equal((2, $"mmusim: {missing}: no such file or directory\n"), (r.Exit, r.Err.Replace("\r\n", "\n")));
        string copy = Tmp("sweep.json");
        File.Copy(Fixture("sweep.json"), copy);
        r = Support.Cli.Run("report", copy, "-o", copy);
        Assert.Equal((1, $"mmusim: {copy}: is also an input; refusing to overwrite it\n"), (r.Exit, r.Err.Replace("\r\n", "\n")));
        Assert.Equal(File.ReadAllText(Fixture("sweep.json")), File.ReadAllText(copy));
    }

    [Fact]
    public void ReplayRefusesPlotWithoutReportAndABadReportPathBeforeReplaying()
    {
        var r = Support.Cli.Run("replay", Trace("traces/sample/example.trace"), "--quiet", "--plot", Tmp("p"));
        Assert.Equal((1, "mmusim: --plot goes with --report (or use mmusim report --plot on a --json summary)\n"), (r.Exit, r.Err.Replace("\r\n", "\n")));
        string nowhere = Tmp("no/such/dir/r.html");
        r = Support.Cli.Run("replay", Trace("traces/sample/example.trace"), "--quiet", "--report", nowhere);
        Assert.Equal((1, $"mmusim: {nowhere}: no such file or directory\n"), (r.Exit, r.Err.Replace("\r\n", "\n")));
        Assert.Equal("", r.Out); // refused before the replay: no summary printed
    }

    [Fact]
    public void ReportOfAReplayEqualsTheReportOfItsJsonSummary()
    {
        string json = Tmp("example.json");
        var r = Support.Cli.Run("replay", Trace("traces/sample/example.trace"), "--quiet", "--json", json, "--report", Tmp("direct.html"));
        Assert.Equal(0, r.Exit);
        Assert.Equal(0, Support.Cli.Run("report", json, "-o", Tmp("via-json.html")).Exit);
        // The same figures and sections; only the run's name (trace name or JSON file name) and source differ.
        string direct = TextStructure(File.ReadAllText(Tmp("direct.html"))).Replace("traces/sample/example.trace", "SOURCE").Replace("example.trace", "RUN");
        string viaJson = TextStructure(File.ReadAllText(Tmp("via-json.html"))).Replace("TMP/example.json", "SOURCE").Replace("example", "RUN");
        Assert.Equal(viaJson, direct);
    }

    [Fact]
    public void ASummaryOfSeveralPesGivesARunPerPe()
    {
        string json = Tmp("two-pes.json");
        Assert.Equal(0, Support.Cli.Run("replay", Trace("traces/sample/two-pes.trace"), "--quiet", "--json", json).Exit);
        string html = Tmp("two-pes.html");
        Assert.Equal(0, Support.Cli.Run("report", json, "-o", html).Exit);
        var cells = Cells(File.ReadAllText(html));
        using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
        var perPe = doc.RootElement.GetProperty("perPe").EnumerateArray().ToList();
        Assert.Equal(2, perPe.Count);
        foreach (var pe in perPe)
        {
            string run = $"two-pes PE {pe.GetProperty("cpu").GetInt32()}";
            Assert.Equal(pe.GetProperty("accesses").GetInt64().ToString(CultureInfo.InvariantCulture), cells[("summary-table", run, null, "accesses")].Value);
            Assert.Equal(pe.GetProperty("walks").GetInt64().ToString(CultureInfo.InvariantCulture), cells[("summary-table", run, null, "walks")].Value);
            Assert.Equal(pe.GetProperty("walkCycles").GetProperty("p90").GetInt64().ToString(CultureInfo.InvariantCulture), cells[("latency-table", run, null, "p90")].Value);
        }
    }

    [Fact]
    public void AnOlderSummaryWithoutHistogramOrFirstLinesStillMakesAReport()
    {
        string json = Tmp("example.json");
        Assert.Equal(0, Support.Cli.Run("replay", Trace("traces/sample/example.trace"), "--quiet", "--json", json).Exit);
        var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(json))!.AsObject();
        root["walkCycles"]!.AsObject().Remove("histogram");
        foreach (var f in root["faultsByKind"]!.AsArray())
        {
            f!.AsObject().Remove("firstLines");
        }
        string old = Tmp("old.json");
        File.WriteAllText(old, root.ToJsonString());
        string html = Tmp("old.html");
        Assert.Equal(("", 0), (Support.Cli.Run("report", old, "-o", html) is var r ? (r.Err, r.Exit) : default));
        string text = File.ReadAllText(html);
        // No CDF without the histogram; the percentiles and fault counts are still there.
        Assert.DoesNotContain("chart-walk-latency-cdf", text);
        Assert.Equal(root["walkCycles"]!["p50"]!.GetValue<long>().ToString(CultureInfo.InvariantCulture), Cells(text)[("latency-table", "old", null, "p50")].Value);
        Assert.Contains("<td>translation S1 L3</td><td>translation</td>", text);
    }

    [Fact]
    public void ALargeCurveIsThinnedForItsChartButNotForItsTable()
    {
        // A footprint of 100,000 pages: a point per size, misses falling as 1/entries.
        const int footprint = 100_000;
        var points = string.Join(",", Enumerable.Range(1, footprint).Select(e => $"{{\"entries\":{e},\"misses\":{footprint + 10_000_000 / e},\"accesses\":20000000}}"));
        string mrc = Tmp("large.json");
        File.WriteAllText(mrc, $"{{\"tool\":\"mmusim mrc\",\"inputs\":[\"large.trace\"],\"pageSize\":4096,\"footprint\":{footprint},\"curves\":[{{\"name\":\"fully-associative\",\"sets\":1,\"points\":[{points}]}}]}}");
        string html = Tmp("large.html");
        Assert.Equal(0, Support.Cli.Run("report", mrc, "-o", html).Exit);
        string text = File.ReadAllText(html);
        Assert.True(text.Length < 400_000, $"report of {text.Length} characters");
        // The table: every power of two up to the footprint, and the footprint.
        var entries = Cells(text).Where(c => c.Key.Table == "mrc-table" && c.Key.Field == "entries").Select(c => long.Parse(c.Value.Value, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(Enumerable.Range(0, 17).Select(k => 1L << k).Append(footprint), entries);
    }

    [Fact]
    public void ThinKeepsEndsAndTheLastPointOfEachBin()
    {
        double[] xs = Enumerable.Range(0, 10_001).Select(i => (double)i).ToArray();
        double[] ys = xs.Select(x => x / 10_000).ToArray();
        var (tx, ty) = ReportCharts.Thin((xs, ys), 101);
        Assert.True(tx.Length <= 102, $"{tx.Length} points");
        Assert.Equal((0.0, 0.0), (tx[0], ty[0]));
        Assert.Equal((10_000.0, 1.0), (tx[^1], ty[^1]));
        Assert.True(tx.Zip(tx.Skip(1)).All(p => p.First < p.Second));
        var (sx, sy) = ReportCharts.Thin((xs[..50], ys[..50]), 101);
        Assert.Equal(xs[..50], sx);
        Assert.Equal(ys[..50], sy);
    }

    /// <summary>
    /// A real `mmusim mrc` output (ReportFixtures/mrc-sumsort.json: the lackey trace, `--sets 16 --l1 16`, written by
    /// the mrc command of the analysis branch; its input path made relative): every curve's table rows are its
    /// points at each power of two and the last, with the file's numbers.
    /// </summary>
    [Fact]
    public void ARealMrcFileGivesItsPointsInTheTable()
    {
        string html = Tmp("mrc.html");
        Assert.Equal(("", 0), Support.Cli.Run("report", Fixture("mrc-sumsort.json"), "-o", html) is var r ? (r.Err, r.Exit) : default);
        string text = File.ReadAllText(html);
        Assert.Contains("<figure id=\"chart-mrc\" class=\"chart\">", text);
        var rows = Regex.Matches(text, "<tr data-curve=\"([^\"]+)\"><th>[^<]*</th><td class=\"n\" data-field=\"entries\" data-value=\"(\\d+)\">[^<]*</td><td class=\"n\" data-field=\"misses\" data-value=\"(\\d+)\">[^<]*</td><td class=\"n\" data-field=\"accesses\" data-value=\"(\\d+)\">")
            .Select(m => $"{System.Net.WebUtility.HtmlDecode(m.Groups[1].Value)} {m.Groups[2].Value} {m.Groups[3].Value} {m.Groups[4].Value}").ToList();
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Fixture("mrc-sumsort.json")));
        var expected = new List<string>();
        foreach (var c in doc.RootElement.GetProperty("curves").EnumerateArray())
        {
            var points = c.GetProperty("points").EnumerateArray().ToList();
            long last = points[^1].GetProperty("entries").GetInt64();
            expected.AddRange(points
                .Where(p => p.GetProperty("entries").GetInt64() is var e && ((e & (e - 1)) == 0 || e == last))
                .Select(p => $"{c.GetProperty("name").GetString()} {p.GetProperty("entries").GetInt64()} {p.GetProperty("misses").GetInt64()} {p.GetProperty("accesses").GetInt64()}"));
        }
        Assert.Equal(4, doc.RootElement.GetProperty("curves").GetArrayLength());
        Assert.Equal(expected, rows);
    }

    [Fact]
    public void PowersOfTwoAreLabelledInKAndM()
    {
        Assert.Equal(["1", "512", "1K", "64K", "1M", "2G"], new[] { 0, 9, 10, 16, 20, 31 }.Select(ReportCharts.PowerOfTwo));
    }

    [Fact]
    public void CdfRisesToOneAtTheLargestValue()
    {
        var (xs, ys) = ReportCharts.Cdf([(7, 1), (45, 1), (640, 1), (803, 1)]);
        Assert.Equal([0, 7, 45, 640, 803], xs);
        Assert.Equal([0, 0.25, 0.5, 0.75, 1], ys);
    }
}
