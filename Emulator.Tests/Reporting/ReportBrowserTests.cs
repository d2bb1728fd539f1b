using System.Diagnostics;
using System.Text.RegularExpressions;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Reporting;

/// <summary>
/// The report in a real browser: Debian's headless Chromium (installed by .ci/install-chromium.sh) loads a report of
/// real replays (the sample trace under three presets, the lackey trace of a sorting program, the ChampSim sample)
/// and a miss-ratio curve file; its DOM must hold every chart as rendered SVG and the tables the JSON's figures, and
/// its screenshot must not be blank. Outside CI a machine without Chromium skips the test; under CI=true it fails.
/// </summary>
[Collection("Console")]
public sealed partial class ReportBrowserTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-browser-" + Guid.NewGuid().ToString("N"));

    public ReportBrowserTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string? Chromium() =>
        new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);

    /// <summary>Runs Chromium headless on <paramref name="args"/>; stdout, bounded to a minute.</summary>
    private string RunChromium(string chromium, params string[] args)
    {
        var psi = new ProcessStartInfo(chromium)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Root (as CI runs) needs --no-sandbox; a profile of its own keeps runs apart; no GPU on a CI machine.
        foreach (string a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                     $"--user-data-dir={Path.Combine(_dir, "profile")}" }.Concat(args))
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(90)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("chromium did not finish in 90 s");
        }
        Assert.True(p.ExitCode == 0, $"chromium exited {p.ExitCode}: {stderr.Result}");
        return stdout.Result;
    }

    [SkippableFact]
    public void ReportRendersInChromiumWithEveryChartAndTheJsonFigures()
    {
        string? chromium = Chromium();
        Skip.If(chromium is null && Environment.GetEnvironmentVariable("CI") != "true",
            "Chromium is not installed (.ci/install-chromium.sh installs it; under CI=true this fails)");
        Assert.True(chromium is not null, "Chromium is not installed: .ci/install-chromium.sh should have installed it");

        var runs = new List<(string Run, string Path)>();
        foreach (var (trace, presets) in new[]
                 {
                     ("traces/sample/example.trace", new[] { "neoverse-n1", "cortex-a55", "uncached" }),
                     ("traces/lackey/sumsort.lackey.gz", new[] { "neoverse-n1" }),
                     ("traces/champsim/sample.champsim.xz", new[] { "cortex-a76" }),
                 })
        {
            foreach (string preset in presets)
            {
                string name = Path.GetFileName(trace).Split('.')[0] + "-" + preset;
                string json = Path.Combine(_dir, name + ".json");
                var r = Support.Cli.Run("replay", Path.Combine(TestPaths.RepositoryRoot, trace), "--quiet", "--preset", preset, "--json", json);
                Assert.Equal(0, r.Exit);
                runs.Add((name, json));
            }
        }
        // On the timeline: one PE under neoverse-n1 (several walkers), and two PEs, which the report shows with their total.
        var timed = new List<(string Run, string Path)>();
        foreach (var (trace, name) in new[] { ("traces/sample/example.trace", "example-n1-timeline"), ("traces/sample/two-pes.trace", "two-pes-timeline") })
        {
            string json = Path.Combine(_dir, name + ".json");
            var r = Support.Cli.Run("replay", Path.Combine(TestPaths.RepositoryRoot, trace), "--quiet", "--preset", "neoverse-n1", "--timing", "timeline", "--json", json);
            Assert.Equal(0, r.Exit);
            timed.Add((name, json));
        }
        string html = Path.Combine(_dir, "report.html");
        var rep = Support.Cli.Run(["report", .. runs.Select(x => x.Path), .. timed.Select(x => x.Path), HtmlReportTests.Fixture("mrc.json"), "-o", html]);
        Assert.Equal(("", 0), (rep.Err, rep.Exit));

        string dom = RunChromium(chromium!, "--dump-dom", new Uri(html).AbsoluteUri);
        // Every chart is in the DOM the browser built, as an SVG element with drawn paths and text.
        foreach (string id in new[] { "hit-rates", "reads-per-walk", "served-by", "walk-latency-cdf", "walks-in-flight", "faults", "mrc" })
        {
            var figure = Regex.Match(dom, $"<figure id=\"chart-{id}\" class=\"chart\">(.*?)</figure>", RegexOptions.Singleline);
            Assert.True(figure.Success, $"chart {id} missing from the DOM");
            Assert.Matches("<svg[^>]*width=\"800\"", figure.Groups[1].Value);
            Assert.Contains("<path", figure.Groups[1].Value);
            Assert.Contains("<text", figure.Groups[1].Value);
        }
        // Every run's legend entry was drawn in the hit-rate chart.
        foreach (var (run, _) in runs)
        {
            Assert.Contains(run, Regex.Match(dom, "<figure id=\"chart-hit-rates\".*?</figure>", RegexOptions.Singleline).Value);
        }
        // The tables, as the browser parsed them, hold the JSON summaries' figures.
        HtmlReportTests.AssertTablesEqualJson(dom, [.. runs, timed[0]]);
        using (var single = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(timed[0].Path)))
        {
            HtmlReportTests.AssertTimelineEqualsJson(HtmlReportTests.Cells(dom), timed[0].Run, single.RootElement.GetProperty("timeline"));
        }
        HtmlReportTests.AssertMultiPeTablesEqualJson(dom, timed[1].Run, timed[1].Path);

        string png = Path.Combine(_dir, "report.png");
        RunChromium(chromium!, $"--screenshot={png}", "--window-size=1200,2400", new Uri(html).AbsoluteUri);
        using var shot = SkiaSharp.SKBitmap.Decode(png);
        Assert.Equal((1200, 2400), (shot.Width, shot.Height));
        // A blank page (white, or one colour) has no variance; tables, text and bars give plenty.
        Assert.True(HtmlReportTests.PixelStdDev(shot) > 20, $"the screenshot looks blank (luminance stddev {HtmlReportTests.PixelStdDev(shot):0.0})");
    }
}
