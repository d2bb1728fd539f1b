using System.Text.Json;
using System.Text.RegularExpressions;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Corpus;

/// <summary>
/// traces/maintenance (the TLB-maintenance checker corpus, copied from the shared corpus): every trace replays through
/// `mmusim replay` without an error, with one result per result-producing line, each naming its PE when the trace
/// has `cpu` lines, and its binary conversion replays to the same results; `--check-maintenance` gives exactly its
/// expected findings (README.md there: kind or kind_also, line and cpu; cause or cause_also), none for -fix and -ok.
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

    [Theory]
    [MemberData(nameof(Traces))]
    public void TheCheckerGivesExactlyTheExpectedFindings(string name)
    {
        string trace = Path.Combine(Folder, name);
        string findings = Path.GetTempFileName();
        try
        {
            var (exit, _, err) = Support.Cli.Run("replay", trace, "--quiet", "--check-maintenance", findings);
            Assert.True(exit == 0, $"{name}: exit {exit}: {err}");
            var got = File.ReadAllLines(findings).Select(l => JsonDocument.Parse(l).RootElement).ToList();
            using var expectedDoc = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(trace, ".expected-findings.json")));
            var expected = expectedDoc.RootElement.EnumerateArray().ToList();
            Assert.Equal(expected.Count, got.Count);
            foreach (var e in expected)
            {
                var kinds = new List<string> { e.GetProperty("kind").GetString()! };
                if (e.TryGetProperty("kind_also", out var ka))
                {
                    kinds.AddRange(ka.EnumerateArray().Select(k => k.GetString()!));
                }
                var causes = new List<long> { e.GetProperty("cause").GetInt64() };
                if (e.TryGetProperty("cause_also", out var ca))
                {
                    causes.AddRange(ca.EnumerateArray().Select(c => c.GetInt64()));
                }
                var match = got.SingleOrDefault(f => f.GetProperty("line").GetInt64() == e.GetProperty("line").GetInt64()
                    && f.GetProperty("cpu").GetInt32() == e.GetProperty("cpu").GetInt32()
                    && kinds.Contains(f.GetProperty("kind").GetString()!));
                Assert.True(match.ValueKind == JsonValueKind.Object, $"{name}: no finding for {e}");
                Assert.Contains(match.GetProperty("cause").GetInt64(), causes);
                Assert.Contains(match.GetProperty("severity").GetString(), new[] { "error", "note" });
                Assert.False(string.IsNullOrWhiteSpace(match.GetProperty("fix").GetString()));
                if (e.TryGetProperty("va", out var va))
                {
                    Assert.Equal(va.GetString(), match.GetProperty("va").GetString());
                    Assert.Equal(e.GetProperty("el").GetInt32(), match.GetProperty("el").GetInt32());
                    Assert.True(match.TryGetProperty("replayed", out _) && match.TryGetProperty("possible", out _));
                }
                else
                {
                    Assert.False(match.TryGetProperty("possible", out _));
                }
            }
        }
        finally
        {
            File.Delete(findings);
        }
    }

    private static string WithoutLine(string result) => Regex.Replace(result, "^\\{\"line\":\\d+,", "{");
}
