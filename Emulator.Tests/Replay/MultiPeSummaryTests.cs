using System.Text.Json;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Replay;

/// <summary>The summaries of a replay on several PEs: figures per PE and in total, text and `--json`.</summary>
[Collection("Console")]
public sealed class MultiPeSummaryTests
{
    private static readonly string TwoPes = Path.Combine(TestPaths.Traces, "sample", "two-pes.trace");

    private static JsonElement Json(string trace)
    {
        string json = Path.GetTempFileName();
        try
        {
            var (exit, _, err) = Support.Cli.Run("replay", trace, "--quiet", "--json", json);
            Assert.True(exit == 0, err);
            return JsonDocument.Parse(File.ReadAllText(json)).RootElement.Clone();
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Fact]
    public void TheJsonSummaryGivesEachPeAndTheirTotal()
    {
        var root = Json(TwoPes);
        Assert.Equal(2, root.GetProperty("pes").GetInt32());
        var per = root.GetProperty("perPe").EnumerateArray().ToList();
        Assert.Equal([0, 1], per.Select(p => p.GetProperty("cpu").GetInt32()));
        // The hand-counted figures of traces/sample/two-pes.trace.
        Assert.Equal([2L, 5L], per.Select(p => p.GetProperty("accesses").GetInt64()));
        Assert.Equal([2L, 0L], per.Select(p => p.GetProperty("tlbis").GetInt64()));
        Assert.Equal([1L, 0L], per.Select(p => p.GetProperty("broadcastTlbis").GetInt64()));
        Assert.Equal([3L, 0L], per.Select(p => p.GetProperty("dsbs").GetInt64()));
        Assert.Equal([3L, 2L], per.Select(p => p.GetProperty("isbs").GetInt64()));
        Assert.Equal([0L, 1L], per.Select(p => p.GetProperty("faults").GetInt64()));
        Assert.Equal([0L, 1L], per.Select(p => p.GetProperty("atInstructions").GetInt64()));
        foreach (string field in new[] { "accesses", "reads", "writes", "fetches", "atInstructions", "tlbis", "faults", "tlbHits",
                     "walks", "descriptorReads", "translationCycles", "broadcastTlbis", "dsbs", "isbs" })
        {
            Assert.Equal(per.Sum(p => p.GetProperty(field).GetInt64()), root.GetProperty(field).GetInt64());
        }
        Assert.Equal(49, root.GetProperty("lines").GetInt64());
        Assert.All(per, p => Assert.False(p.TryGetProperty("lines", out _)));
        Assert.Equal(2, per[1].GetProperty("tlbs").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "L1D")
            .GetProperty("hits").GetInt64());
    }

    [Fact]
    public void ASinglePeSummaryKeepsItsVersionOneShape()
    {
        var root = Json(Path.Combine(TestPaths.Traces, "sample", "example.trace"));
        Assert.False(root.TryGetProperty("pes", out _));
        Assert.False(root.TryGetProperty("perPe", out _));
        Assert.False(root.TryGetProperty("dsbs", out _));
        Assert.True(root.TryGetProperty("tlbs", out _));
    }
}
