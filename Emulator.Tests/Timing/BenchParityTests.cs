using System.Text.Json;
using MmuSim.Core;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Timing;

/// <summary>
/// The yardstick's model (preset "bench"): on its traces, per-access PA, IPA, fault and cycles, and the L1 hits,
/// L2 hits, walks, descriptor reads, faults and cycles must equal what the native C yardstick produced (traces/bench/README.md).
/// </summary>
public class BenchParityTests
{
    public static TheoryData<string> Traces()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(TestPaths.Traces, "bench"), "*.trace").OrderBy(f => f, StringComparer.Ordinal))
        {
            data.Add(Path.GetFileNameWithoutExtension(f));
        }
        return data;
    }

    [Fact]
    public void TracesArePresent() => Assert.True(Traces().Count >= 9);

    [Theory]
    [MemberData(nameof(Traces))]
    public async Task SameResultsAndCountersAsTheYardstick(string name)
    {
        string dir = Path.Combine(TestPaths.Traces, "bench");
        var (core, outcomes) = await Machine.ReplayFile(Path.Combine(dir, name + ".trace"), Presets.Bench);
        var expected = File.ReadAllLines(Path.Combine(dir, name + ".expected.jsonl")).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var accesses = outcomes.Where(o => o.Op is ResultOp.Read or ResultOp.Write or ResultOp.Fetch).ToList();
        if (expected.Count == 0)
        {
            expected = []; // lru.trace: the yardstick's expected file holds only counters
        }
        else
        {
            Assert.Equal(expected.Count, accesses.Count);
        }
        for (int i = 0; i < expected.Count; i++)
        {
            var e = expected[i];
            var a = accesses[i];
            string where = $"{name}.trace:{a.Line}";
            Assert.True(e.GetProperty("line").GetInt64() == a.Line, where);
            Assert.True(e.GetProperty("cycles").GetInt64() == a.Cycles, $"{where}: cycles {a.Cycles}, yardstick {e.GetProperty("cycles").GetInt64()}");
            if (e.TryGetProperty("fault", out var f))
            {
                Assert.True(a.IsFault, where);
                Assert.Equal(f.GetProperty("type").GetString(), MmuSim.Faults.FaultInfo.TypeName(a.Fault.Type));
                Assert.Equal(f.GetProperty("stage").GetInt32(), a.Fault.Stage);
                Assert.Equal(f.GetProperty("level").GetInt32(), a.Fault.Level);
                Assert.Equal(f.GetProperty("s1ptw").GetBoolean(), a.Fault.S1Ptw);
            }
            else
            {
                Assert.False(a.IsFault, where);
                Assert.Equal(Corpus.CorpusComparer.Hex(e, "pa"), a.Pa);
                if (e.TryGetProperty("ipa", out _))
                {
                    Assert.True(a.HasIpa, where);
                    Assert.Equal(Corpus.CorpusComparer.Hex(e, "ipa"), a.Ipa);
                }
            }
        }

        var counters = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, name + ".counters.json"))).RootElement;
        var s = core.Stats;
        var tlbs = core.Caches.Tlbs;
        long Expect(string key) => counters.GetProperty(key).GetInt64();
        Assert.Equal(Expect("accesses"), s.Accesses);
        Assert.Equal(Expect("walks"), s.Walks);
        Assert.Equal(Expect("descriptor_reads"), s.DescriptorReads);
        Assert.Equal(Expect("cycles"), s.TranslationCycles);
        if (counters.TryGetProperty("l1_hits", out var l1))
        {
            Assert.Equal(l1.GetInt64(), tlbs[0].Stats.Hits);
        }
        if (counters.TryGetProperty("l2_hits", out var l2))
        {
            Assert.Equal(l2.GetInt64(), tlbs[1].Stats.Hits);
        }
        if (counters.TryGetProperty("faults", out var faults))
        {
            Assert.Equal(faults.GetInt64(), s.Faults);
        }
    }
}
