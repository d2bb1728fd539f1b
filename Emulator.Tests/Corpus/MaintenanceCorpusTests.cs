using System.Text.Json;
using System.Text.RegularExpressions;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Corpus;

/// <summary>
/// traces/maintenance (the TLB-maintenance checker corpus, copied from the shared corpus): every trace replays through
/// `mmusim replay` without an error, with one result per result-producing line, each naming its PE when the trace
/// has `cpu` lines, and its binary conversion replays to the same results. Its findings are the checker's, later.
/// </summary>
[Collection("Console")]
public sealed class MaintenanceCorpusTests
{
    private static string Folder => Path.Combine(TestPaths.Traces, "maintenance");

    public static TheoryData<string> Traces()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Folder, "*.trace").OrderBy(f => f, StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(f));
        }
        return data;
    }

    [Fact]
    public void TheCorpusIsComplete()
    {
        var traces = Directory.GetFiles(Folder, "*.trace").Select(Path.GetFileNameWithoutExtension).ToList();
        Assert.Equal(19, traces.Count);
        Assert.True(File.Exists(Path.Combine(Folder, "README.md")));
        Assert.All(traces, t => Assert.True(File.Exists(Path.Combine(Folder, t + ".expected-findings.json")), t));
    }

    private static readonly Regex ResultLine = new(@"^\s*(R|W|X|at|ldtr|sttr|dump)\s", RegexOptions.IgnoreCase);

    [Theory]
    [MemberData(nameof(Traces))]
    public void EveryTraceReplaysWithoutError(string name)
    {
        string trace = Path.Combine(Folder, name);
        string results = Path.GetTempFileName();
        string binary = Path.GetTempFileName() + ".mbt";
        string binaryResults = Path.GetTempFileName();
        try
        {
            var (exit, output, err) = Support.Cli.Run("replay", trace, "--quiet", "--results", results);
            Assert.True(exit == 0, $"{name}: exit {exit}: {err}");
            Assert.Equal("", err);
            Assert.StartsWith("lines", output);

            string[] lines = File.ReadAllLines(trace);
            bool cpuLines = lines.Any(l => Regex.IsMatch(l, @"^\s*cpu\s", RegexOptions.IgnoreCase));
            var got = File.ReadAllLines(results);
            Assert.Equal(lines.Count(l => ResultLine.IsMatch(l)), got.Length);
            foreach (string line in got)
            {
                using var doc = JsonDocument.Parse(line);
                var r = doc.RootElement;
                Assert.Matches(ResultLine, lines[r.GetProperty("line").GetInt32() - 1]);
                if (r.GetProperty("op").GetString() != "dump")
                {
                    Assert.Equal(cpuLines, r.TryGetProperty("cpu", out _));
                }
            }

            Assert.Equal(0, Support.Cli.Run("convert", trace, binary).Exit);
            Assert.Equal(0, Support.Cli.Run("replay", binary, "--quiet", "--results", binaryResults).Exit);
            // Binary records are numbered as the lines of the text convert writes (no comments): compare without line.
            Assert.Equal(got.Select(WithoutLine), File.ReadAllLines(binaryResults).Select(WithoutLine));
        }
        finally
        {
            File.Delete(results);
            File.Delete(binary);
            File.Delete(binaryResults);
        }
    }

    private static string WithoutLine(string result) => Regex.Replace(result, "^\\{\"line\":\\d+,", "{");
}
