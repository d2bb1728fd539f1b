using System.Text.Json;
using MmuSim.Core;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Analysis;

/// <summary>A sweep's runs against separate replays, configuration by configuration, through the command line.</summary>
[Collection("Console")]
public sealed class SweepTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmusim-sweep").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static string Trace(string name) => Path.Combine(TestPaths.RepositoryRoot, name);

    /// <summary>The summary JSON with its text normalized (the writer's bytes are what is compared).</summary>
    private static string Canonical(JsonElement e) => JsonSerializer.Serialize(e);

    /// <summary>A `replay --json` summary without its provenance (what ran it), which a sweep's runs do not carry.</summary>
    private static string CanonicalFigures(JsonElement e) =>
        JsonSerializer.Serialize(e.EnumerateObject().Where(p => p.Name != "provenance").ToDictionary(p => p.Name, p => p.Value));

    [Theory]
    [InlineData("traces/bench/mixed-2stage.trace", "off", new string[0])]
    [InlineData("traces/analysis/zipf-asids.trace.xz", "off", new string[0])]
    [InlineData("traces/lackey/sumsort.lackey.gz", "off", new[] { "--page-size", "mixed" })]
    [InlineData("traces/sample/two-pes.trace", "off", new string[0])]
    [InlineData("traces/bench/mixed-2stage.trace", "on", new string[0])]
    [InlineData("traces/analysis/zipf-asids.trace.xz", "on", new string[0])]
    [InlineData("traces/lackey/sumsort.lackey.gz", "on", new[] { "--page-size", "mixed" })]
    [InlineData("traces/sample/two-pes.trace", "on", new string[0])]
    [InlineData("traces/bench/mixed-2stage.trace", "off", new[] { "--timing", "timeline" })]
    [InlineData("traces/bench/mixed-2stage.trace", "on", new[] { "--timing", "timeline" })]
    public void EachRunEqualsASeparateReplay(string trace, string stream, string[] inputOptions)
    {
        string json = Path.Combine(_dir, "sweep.json");
        string[] args = ["sweep", Trace(trace), "--preset", "neoverse-n1", "--preset", "cortex-a53", "--preset", "uncached",
            "--vary", "memoryLatency=100,250", "--json", json, "--quiet", "--jobs", "2", "--stream", stream, .. inputOptions];
        var (exit, _, err) = Support.Cli.Run(args);
        Assert.True(exit == 0, err);
        using var sweep = JsonDocument.Parse(File.ReadAllBytes(json));
        Assert.Equal("mmusim sweep", sweep.RootElement.GetProperty("tool").GetString());
        var runs = sweep.RootElement.GetProperty("runs").EnumerateArray().ToArray();
        Assert.Equal(6, runs.Length);
        int i = 0;
        foreach (var run in runs)
        {
            // The run's model, as a configuration file, replayed on its own.
            string config = Path.Combine(_dir, $"c{i}.json"), summary = Path.Combine(_dir, $"s{i}.json");
            File.WriteAllText(config, run.GetProperty("summary").GetProperty("model").GetRawText());
            var (rexit, _, rerr) = Support.Cli.Run(["replay", Trace(trace), "--config", config, "--json", summary, "--quiet", .. inputOptions]);
            Assert.True(rexit == 0, rerr);
            using var alone = JsonDocument.Parse(File.ReadAllBytes(summary));
            Assert.Equal(CanonicalFigures(alone.RootElement), CanonicalFigures(run.GetProperty("summary")));
            Assert.Equal([Trace(trace)], run.GetProperty("trace").EnumerateArray().Select(t => t.GetString()!).ToArray());
            i++;
        }
        Assert.Equal(["neoverse-n1:memoryLatency=100", "neoverse-n1:memoryLatency=250", "cortex-a53:memoryLatency=100",
            "cortex-a53:memoryLatency=250", "uncached:memoryLatency=100", "uncached:memoryLatency=250"],
            runs.Select(r => r.GetProperty("config").GetString()!).ToArray());
    }

    /// <summary>
    /// `sweep --report` is the report `mmusim report` makes of the sweep's own --json file: the same runs side by side,
    /// the same figures and charts; only the line naming the source differs (and the charts' SVG, whose clip-path
    /// numbers ScottPlot counts per process, so it is compared as the list of charts).
    /// </summary>
    [Fact]
    public void TheSweepsReportIsTheReportOfItsJson()
    {
        string json = Path.Combine(_dir, "s.json"), html = Path.Combine(_dir, "s.html"), fromJson = Path.Combine(_dir, "r.html");
        var (exit, _, err) = Support.Cli.Run("sweep", Trace("traces/bench/mixed-1stage.trace"), "--preset", "bench", "--preset", "cortex-a55",
            "--json", json, "--report", html, "--quiet");
        Assert.True(exit == 0, err);
        var (rexit, _, rerr) = Support.Cli.Run("report", json, "-o", fromJson);
        Assert.True(rexit == 0, rerr);
        static string WithoutSvg(string h) => System.Text.RegularExpressions.Regex.Replace(h, "<svg[\\s\\S]*?</svg>", "<svg/>");
        string expected = File.ReadAllText(fromJson).Replace("from: " + json, "from: sweep of mixed-1stage.trace", StringComparison.Ordinal);
        Assert.Equal(WithoutSvg(expected), WithoutSvg(File.ReadAllText(html)));
        Assert.True(File.ReadAllText(html).Split("<svg").Length > 3, "the report has its charts");
        Assert.Contains("data-run=\"cortex-a55\"", File.ReadAllText(html), StringComparison.Ordinal);
    }

    [Fact]
    public void PlotWithoutReportIsABadOption()
    {
        var (exit, _, err) = Support.Cli.Run("sweep", Trace("traces/bench/mixed-1stage.trace"), "--preset", "bench", "--plot", _dir, "--quiet");
        Assert.Equal((1, "mmusim: --plot goes with --report (or use mmusim report --plot on a --json file)\n"), (exit, err.Replace("\r\n", "\n")));
    }

    [Fact]
    public void CsvHasOneRowPerConfigurationWithTheSummaryNames()
    {
        string csv = Path.Combine(_dir, "s.csv"), json = Path.Combine(_dir, "s.json");
        var (exit, _, err) = Support.Cli.Run("sweep", Trace("traces/bench/mixed-1stage.trace"), "--preset", "bench", "--preset", "cortex-a55",
            "--csv", csv, "--json", json, "--quiet");
        Assert.True(exit == 0, err);
        string[] lines = File.ReadAllLines(csv);
        Assert.Equal("config,trace,accesses,faults,tlbHits,walks,descriptorReads,readsPerWalk1D,readsPerWalk2D,translationCycles,cyclesPerAccess", lines[0]);
        Assert.Equal(3, lines.Length);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
        var runs = doc.RootElement.GetProperty("runs").EnumerateArray().ToArray();
        for (int r = 0; r < 2; r++)
        {
            string[] f = lines[r + 1].Split(',');
            var s = runs[r].GetProperty("summary");
            Assert.Equal(runs[r].GetProperty("config").GetString(), f[0]);
            Assert.Equal(s.GetProperty("accesses").GetRawText(), f[2]);
            Assert.Equal(s.GetProperty("walks").GetRawText(), f[5]);
            Assert.Equal(s.GetProperty("descriptorReads").GetRawText(), f[6]);
            Assert.Equal(s.GetProperty("translationCycles").GetRawText(), f[9]);
        }
    }

    [Theory]
    [InlineData(new[] { "--vary", "tlbs[9].entries=4" }, 2, "mmusim: --vary: 'tlbs[9].entries': the model has no tlbs[9]\n")]
    [InlineData(new[] { "--vary", "memoryLatency" }, 2, "mmusim: --vary: 'memoryLatency' is not PATH=V1,V2,... (e.g. tlbs[2].entries=512,1024)\n")]
    [InlineData(new[] { "--vary", "tlbs[2].ways=3" }, 2, "mmusim: --vary neoverse-n1:tlbs[2].ways=3: tlbs[2].ways: 3 does not divide entries (1280)\n")]
    [InlineData(new[] { "--preset", "bench", "--preset", "bench" }, 2, "mmusim: --config: two configurations are named 'bench' (a sweep names each run by its configuration)\n")]
    [InlineData(new[] { "--submit" }, 1, "mmusim: --submit, --wait and --sbatch go with --slurm DIR\n")]
    [InlineData(new[] { "--jobs", "0" }, 1, "mmusim: bad --jobs 0 (at least 1)\n")]
    [InlineData(new[] { "--vary", "tlbs[2].entries=512,1024;tlbs[2].ways=4" }, 2,
        "mmusim: --vary: 'tlbs[2].entries=512,1024;tlbs[2].ways=4': paths joined by ';' change together, value by value, so each needs as many values (tlbs[2].entries: 2, tlbs[2].ways: 1)\n")]
    [InlineData(new[] { "--vary", "memoryLatency=100;" }, 2, "mmusim: --vary: '' is not PATH=V1,V2,... (e.g. tlbs[2].entries=512,1024)\n")]
    public void BadOptionsAreOneLineErrors(string[] options, int code, string expected)
    {
        var (exit, output, err) = Support.Cli.Run(["sweep", Trace("traces/bench/lru.trace"), "--quiet", .. options]);
        Assert.Equal(code, exit);
        Assert.Equal(expected, err.Replace("\r\n", "\n"));
        Assert.Equal("", output);
    }

    /// <summary>
    /// A malformed line far into the input, found while the first runs already replay what came before it (the parse
    /// overlaps the runs): the sweep stops with the parser's error and writes no table, and the runs stop with it.
    /// </summary>
    [Theory]
    [InlineData("off")]
    [InlineData("on")]
    public void MalformedInputLateInTheTraceStopsTheRunsUnderWay(string stream)
    {
        string bad = Path.Combine(_dir, "late-bad.trace"), json = Path.Combine(_dir, "late.json");
        string good = File.ReadAllText(Trace("traces/bench/mixed-2stage.trace"));
        File.WriteAllText(bad, good + "R zz\n");
        int line = good.Split('\n').Length;
        var (exit, output, err) = Support.Cli.Run("sweep", Trace("traces/sample/example.trace"), bad, "--preset", "neoverse-n1", "--preset", "cortex-a55",
            "--vary", "memoryLatency=100,200", "--jobs", "2", "--json", json, "--quiet", "--stream", stream);
        Assert.Equal(2, exit);
        Assert.StartsWith($"mmusim: {bad}:{line}:", err);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("", output);
        Assert.False(File.Exists(json));
    }

    [Fact]
    public void MalformedInputStopsBeforeAnyRunNamingTheLine()
    {
        string bad = Path.Combine(_dir, "bad.trace");
        File.WriteAllText(bad, "R 0x1000\nR zz\n");
        var (exit, output, err) = Support.Cli.Run("sweep", bad, "--quiet");
        Assert.Equal(2, exit);
        Assert.StartsWith($"mmusim: {bad}:2:", err);
        Assert.Equal("", output);
    }

    /// <summary>
    /// A streamed sweep (every run following the parser at once, each input held a few chunks at a time) gives the
    /// JSON of a recorded one, byte for byte: traces as one stream, each trace alone, a trace named twice.
    /// </summary>
    [Theory]
    [InlineData(new[] { "traces/sample/example.trace", "traces/bench/mixed-2stage.trace" }, new string[0])]
    [InlineData(new[] { "traces/sample/example.trace", "traces/bench/mixed-2stage.trace", "traces/sample/two-pes.trace" }, new[] { "--each-trace" })]
    [InlineData(new[] { "traces/sample/two-pes.trace", "traces/sample/two-pes.trace" }, new[] { "--each-trace" })]
    [InlineData(new[] { "traces/lackey/sumsort.lackey.gz" }, new[] { "--page-size", "mixed", "--jobs", "1" })]
    public void AStreamedSweepEqualsARecordedOne(string[] traces, string[] options)
    {
        string streamed = Path.Combine(_dir, "streamed.json"), recorded = Path.Combine(_dir, "recorded.json");
        string[] common = ["sweep", .. traces.Select(Trace), "--preset", "neoverse-n1", "--preset", "cortex-a53", "--vary", "memoryLatency=100,250", "--quiet", .. options];
        var (e1, out1, err1) = Support.Cli.Run([.. common, "--stream", "on", "--json", streamed]);
        var (e2, out2, err2) = Support.Cli.Run([.. common, "--stream", "off", "--json", recorded]);
        Assert.True(e1 == 0 && e2 == 0, err1 + err2);
        Assert.Equal(out2, out1);
        Assert.Equal(File.ReadAllText(recorded), File.ReadAllText(streamed));
    }

    /// <summary>Runs that reach the memory cap part-way stop at the same access, streamed or recorded, and the others go on.</summary>
    [Fact]
    public void RunsStoppedByTheMemoryCapStopAlikeStreamedOrRecorded()
    {
        string trace = Path.Combine(_dir, "pages.lackey");
        // 3,000 loads on distinct pages: demand paging needs 12 MiB of frames, three times the cap.
        File.WriteAllLines(trace, Enumerable.Range(0, 3000).Select(i => $" L {0x10000000 + i * 4096:x8},8"));
        string streamed = Path.Combine(_dir, "streamed.json"), recorded = Path.Combine(_dir, "recorded.json");
        string[] common = ["sweep", trace, Trace("traces/sample/example.trace"), "--each-trace", "--max-memory", "4m", "--vary", "memoryLatency=100,250", "--quiet"];
        var (e1, out1, err1) = Support.Cli.Run([.. common, "--stream", "on", "--json", streamed]);
        var (e2, out2, err2) = Support.Cli.Run([.. common, "--stream", "off", "--json", recorded]);
        Assert.Equal((3, out2, err2), (e1, out1, err1));
        Assert.Equal(File.ReadAllText(recorded), File.ReadAllText(streamed));
        using var doc = JsonDocument.Parse(File.ReadAllBytes(streamed));
        Assert.Equal([true, true, false, false], doc.RootElement.GetProperty("runs").EnumerateArray().Select(r => r.TryGetProperty("error", out _)).ToArray());
    }

    [Fact]
    public void StreamingWhatCannotBeStreamedIsAOneLineError()
    {
        var (exit, output, err) = Support.Cli.Run("sweep", Trace("traces/sample/example.trace"), Trace("traces/sample/example.trace"), "--stream", "on", "--quiet");
        Assert.Equal((1, "", "mmusim: --stream on: a run reads the same input twice, which a streamed input (read once) cannot give\n"), (exit, output, err.ReplaceLineEndings("\n")));
        (exit, output, err) = Support.Cli.Run("sweep", Trace("traces/sample/example.trace"), "--stream", "on", "--quiet",
            "--vary", "memoryLatency=" + string.Join(",", Enumerable.Range(1, 65)));
        Assert.Equal((1, "", "mmusim: --stream on: 65 runs are more than the 64 a streamed sweep runs at once\n"), (exit, output, err.ReplaceLineEndings("\n")));
    }

    /// <summary>`--stream auto`, case by case: what streams and what is recorded whole.</summary>
    [Theory]
    // Every run has a thread: streamed, whatever the input.
    [InlineData(true, 2, 2, 100L, false, true)]
    // More runs than threads, a small file: recorded (a run keeps the host's caches from start to end).
    [InlineData(true, 16, 2, 100L, false, false)]
    // Standard input (no length): streamed.
    [InlineData(true, 16, 2, null, false, true)]
    // A file whose recording would take more than a quarter of the memory (1 GB of 4 GB): streamed; 999 MB is not.
    [InlineData(true, 16, 2, 1_000_000_001L, false, true)]
    [InlineData(true, 16, 2, 999_000_000L, false, false)]
    // Compressed: taken as ten times its size.
    [InlineData(true, 16, 2, 100_000_001L, true, true)]
    [InlineData(true, 16, 2, 99_000_000L, true, false)]
    // A sweep that cannot stream (too many runs, an input read twice) is recorded, even from standard input.
    [InlineData(false, 2, 2, null, false, false)]
    public void AutoStreamsWhatItShould(bool streamable, int runs, int jobs, long? length, bool compressed, bool streams) =>
        Assert.Equal(streams, MmuSim.Analysis.Sweep.StreamsByDefault(streamable, runs, jobs, [(length, compressed)], 4_000_000_000L));

    /// <summary>
    /// Paths joined by ';' in one --vary change together (the L2 TLB's entries with its ways, which must divide them),
    /// and each --vary multiplies the others: the configurations, their names and their models.
    /// </summary>
    [Fact]
    public void PathsJoinedBySemicolonsChangeTogether()
    {
        var n1 = new MmuSim.Analysis.SweepConfig("neoverse-n1", Presets.All["neoverse-n1"]);
        var configs = MmuSim.Analysis.Sweep.Expand([n1], ["tlbs[2].entries=512,1024;tlbs[2].ways=4,8", "memoryLatency=100,200"]);
        Assert.Equal(["neoverse-n1:tlbs[2].entries=512,tlbs[2].ways=4,memoryLatency=100", "neoverse-n1:tlbs[2].entries=512,tlbs[2].ways=4,memoryLatency=200",
            "neoverse-n1:tlbs[2].entries=1024,tlbs[2].ways=8,memoryLatency=100", "neoverse-n1:tlbs[2].entries=1024,tlbs[2].ways=8,memoryLatency=200"],
            configs.Select(c => c.Name).ToArray());
        Assert.Equal([(512, 4, 100), (512, 4, 200), (1024, 8, 100), (1024, 8, 200)],
            configs.Select(c => (c.Model.Caching.Tlbs[2].Entries, c.Model.Caching.Tlbs[2].Ways, c.Model.Timing.MemoryLatency)).ToArray());
    }
}
