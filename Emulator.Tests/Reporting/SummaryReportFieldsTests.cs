using System.Text.Json;
using MmuSim.Core;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Reporting;

/// <summary>
/// The `--json` summary fields the report reads: `faultsByKind[].firstLines` against the faults in the replay's own
/// results (the first five of each kind, in trace order), and `walkCycles.histogram` against the summary's count,
/// total, maximum and nearest-rank percentiles.
/// </summary>
[Collection("Console")]
public sealed class SummaryReportFieldsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-fields-" + Guid.NewGuid().ToString("N"));

    public SummaryReportFieldsTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string, string> Traces() => new()
    {
        { "traces/sample/example.trace", "neoverse-n1" },
        { "traces/qemu/p0001.trace", "neoverse-n1" },
        { "traces/qemu/p0008.trace", "cortex-a55" },
        { "traces/qemu-v2/u0000.trace", "uncached" },
        { "traces/sample/two-pes.trace", "neoverse-n1" },
        { "traces/lackey/sumsort.lackey.gz", "cortex-a76" },
    };

    [Theory]
    [MemberData(nameof(Traces))]
    public void FirstLinesAndHistogramAgreeWithTheReplay(string trace, string preset)
    {
        string json = Path.Combine(_dir, "s.json"), results = Path.Combine(_dir, "r.jsonl");
        var r = Support.Cli.Run("replay", Path.Combine(TestPaths.RepositoryRoot, trace), "--quiet", "--preset", preset, "--json", json, "--results", results);
        Assert.Equal(0, r.Exit);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
        var s = doc.RootElement;

        // The faults of the results, by kind, in trace order (AT results report PAR, not a fault taken).
        var expected = new Dictionary<string, List<string>>();
        foreach (string line in File.ReadLines(results))
        {
            using var rd = JsonDocument.Parse(line);
            var o = rd.RootElement;
            if (!o.TryGetProperty("fault", out var f) || o.GetProperty("op").GetString() == "at")
            {
                continue;
            }
            string key = $"{f.GetProperty("type").GetString()} {f.GetProperty("stage").GetInt32()} {(f.TryGetProperty("level", out var l) && l.ValueKind == JsonValueKind.Number ? l.GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture) : "-")}";
            string where = $"{o.GetProperty("line").GetInt64()} {o.GetProperty("op").GetString()} {o.GetProperty("va").GetString()} {o.GetProperty("el").GetInt32()}";
            (expected.TryGetValue(key, out var list) ? list : expected[key] = []).Add(where);
        }
        var actual = new Dictionary<string, List<string>>();
        long total = 0;
        foreach (var cell in s.GetProperty("faultsByKind").EnumerateArray())
        {
            var level = cell.GetProperty("level");
            string key = $"{cell.GetProperty("type").GetString()} {cell.GetProperty("stage").GetInt32()} {(level.ValueKind == JsonValueKind.Null ? "-" : level.GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture))}";
            actual[key] = cell.GetProperty("firstLines").EnumerateArray()
                .Select(x => $"{x.GetProperty("line").GetInt64()} {x.GetProperty("op").GetString()} {x.GetProperty("va").GetString()} {x.GetProperty("el").GetInt32()}")
                .ToList();
            Assert.Equal(expected[key].Count, cell.GetProperty("count").GetInt64());
            total += cell.GetProperty("count").GetInt64();
        }
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (key, lines) in expected)
        {
            Assert.Equal(lines.Take(Statistics.KeptFaultLines), actual[key]);
        }
        Assert.Equal(s.GetProperty("faults").GetInt64(), total);

        // A multi-PE summary keeps each PE's walk cycles under perPe.
        var all = s.TryGetProperty("perPe", out var perPe)
            ? perPe.EnumerateArray().Select(pe => pe.GetProperty("walkCycles")).ToList()
            : [s.GetProperty("walkCycles")];
        foreach (var wc in all)
        {
            AssertHistogram(wc);
        }
    }

    private static void AssertHistogram(JsonElement wc)
    {
        var buckets = wc.GetProperty("histogram").EnumerateArray().Select(b => (Cycles: b.GetProperty("cycles").GetInt64(), Count: b.GetProperty("count").GetInt64())).ToList();
        long count = wc.GetProperty("count").GetInt64();
        Assert.Equal(count, buckets.Sum(b => b.Count));
        Assert.Equal(wc.GetProperty("total").GetInt64(), buckets.Sum(b => b.Cycles * b.Count));
        Assert.True(buckets.Zip(buckets.Skip(1)).All(p => p.First.Cycles < p.Second.Cycles), "histogram not ascending");
        Assert.All(buckets, b => Assert.True(b.Count > 0));
        if (count == 0)
        {
            return;
        }
        Assert.Equal(wc.GetProperty("max").GetInt64(), buckets[^1].Cycles);
        foreach (int p in new[] { 50, 90, 99 })
        {
            // Nearest rank: the smallest value with at least p% of the walks at or below it.
            long rank = Math.Max(1, (long)Math.Ceiling(p / 100.0 * count)), seen = 0;
            long value = buckets.First(b => (seen += b.Count) >= rank).Cycles;
            Assert.Equal(wc.GetProperty($"p{p}").GetInt64(), value);
        }
    }
}
