using MmuSim.Analysis;
using MmuSim.Caching;
using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Paging;
using MmuSim.Replay;
using MmuSim.Tests.Support;
using MmuSim.Timing;

namespace MmuSim.Tests.Analysis;

/// <summary>
/// One-pass curves against individual replays of the geometries they stand for, through the emulator's own TLB
/// (LRU): fully associative TLBs of many sizes, set-associative ones at the curve's set count, and an L2 behind a
/// fully associative L1. The replays take the plain (batched, predicted) path, the curve pass the per-access one.
/// </summary>
public sealed class MrcReplayTests
{
    /// <summary>Traces without TLB maintenance (where the curves are exact); "+mixed" demand-pages with 4K, 2M and 1G mappings.</summary>
    public static TheoryData<string> Traces() => new()
    {
        "traces/lackey/sumsort.lackey.gz",
        "traces/lackey/sumsort.lackey.gz+mixed",
        "traces/bench/mixed-2stage.trace",
        "traces/bench/mixed-1stage.trace",
        "traces/bench/lru.trace",
        "traces/analysis/zipf-asids.trace.xz",
    };

    private static ReplayOptions Options(string trace) => trace.EndsWith("+mixed", StringComparison.Ordinal)
        ? new ReplayOptions { Paging = new DemandPagingOptions { Stage1Sizes = PageSizePolicy.Mixed, Stage2Sizes = PageSizePolicy.Mixed } }
        : new ReplayOptions();

    private static string PathOf(string trace) => Path.Combine(TestPaths.RepositoryRoot, trace.Split('+')[0]);

    private static MrcResult Curves(string trace, MrcOptions options)
    {
        var (result, error) = MrcRun.RunAsync([PathOf(trace)], ModelConfig.Default, options, Options(trace), 4UL << 30).AsTask().GetAwaiter().GetResult();
        Assert.Null(error);
        return result;
    }

    /// <summary>Misses of each TLB level after a plain replay through exactly these levels (no walk caches).</summary>
    private static long[] ReplayMisses(string trace, params TlbConfig[] tlbs)
    {
        var model = new ModelConfig("t", new CachingConfig(tlbs, [], null, ModelConfig.Default.Caching.CoalesceContiguous), new TimingConfig([], 100));
        var core = new SimulatedCore(new PhysicalMemory(), model);
        var replayer = new Replayer(core, null, Options(trace));
        replayer.ReplayFilesAsync([PathOf(trace)]).AsTask().GetAwaiter().GetResult();
        return core.Caches.Tlbs.Select(t => t.Stats.Misses).ToArray();
    }

    private static long MissesAt(MissCurve c, int entries)
    {
        int i = Array.IndexOf(c.Entries, entries);
        // Past the curve's last point nothing more is evicted: the misses stay at the floor.
        return i >= 0 ? c.Misses[i] : c.Misses[^1];
    }

    [Theory]
    [MemberData(nameof(Traces))]
    public void FullyAssociativeCurveEqualsReplaysOfEachSize(string trace)
    {
        var r = Curves(trace, new MrcOptions());
        Assert.Equal(0, r.Removals);
        var full = r.Curves[0];
        if (trace.EndsWith("+mixed", StringComparison.Ordinal))
        {
            Assert.True(r.PageShifts.Count > 1, "the mixed demand paging maps more than one page size");
            Assert.Contains(r.Curves, c => c.PageShift == 21);
        }
        Assert.Equal("fully-associative", full.Name);
        Assert.Equal(r.Footprint, full.Entries.Length);
        foreach (int e in new[] { 1, 2, 3, 5, 8, 16, 48, 100, r.Footprint - 1, r.Footprint, r.Footprint + 7 }.Where(e => e >= 1).Distinct())
        {
            long[] misses = ReplayMisses(trace, new TlbConfig("T", TlbServes.Unified, e, e, 1));
            Assert.True(MissesAt(full, e) == misses[0], $"{trace}: {e} entries: curve {MissesAt(full, e)}, replay {misses[0]}");
        }
    }

    [Theory]
    [MemberData(nameof(Traces))]
    public void SetAssociativeCurveEqualsReplaysOfEachAssociativity(string trace)
    {
        var r = Curves(trace, new MrcOptions { SetCounts = [4, 16] });
        foreach (int sets in new[] { 4, 16 })
        {
            var c = r.Curves.Single(c => c.Name == $"sets={sets}");
            Assert.Equal(sets, c.Sets);
            foreach (int ways in new[] { 1, 2, 3, 4, 8, c.Entries.Length, c.Entries.Length + 1 }.Distinct())
            {
                long[] misses = ReplayMisses(trace, new TlbConfig("T", TlbServes.Unified, sets * ways, ways, 1));
                Assert.True(MissesAt(c, sets * ways) == misses[0], $"{trace}: {sets} sets × {ways} ways: curve {MissesAt(c, sets * ways)}, replay {misses[0]}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Traces))]
    public void L2CurveEqualsReplaysBehindTheL1(string trace)
    {
        foreach (int l1 in new[] { 1, 8 })
        {
            var r = Curves(trace, new MrcOptions { L1Entries = l1, SetCounts = [8] });
            var l2 = r.Curves.Single(c => c.Name == "l2-of-l1-misses");
            var l2Sets = r.Curves.Single(c => c.Name == "l2-of-l1-misses, sets=8");
            foreach (int e in new[] { 1, 4, 16, 64 })
            {
                long[] misses = ReplayMisses(trace, new TlbConfig("L1", TlbServes.Unified, l1, l1, 1), new TlbConfig("L2", TlbServes.Unified, e, e, 3));
                Assert.True(MissesAt(l2, e) == misses[1], $"{trace}: L1 {l1}, L2 {e} entries: curve {MissesAt(l2, e)}, replay {misses[1]}");
                Assert.Equal(l2.Accesses, misses[0]);
            }
            foreach (int ways in new[] { 1, 2, 4 })
            {
                long[] misses = ReplayMisses(trace, new TlbConfig("L1", TlbServes.Unified, l1, l1, 1), new TlbConfig("L2", TlbServes.Unified, 8 * ways, ways, 3));
                Assert.True(MissesAt(l2Sets, 8 * ways) == misses[1], $"{trace}: L1 {l1}, L2 8 sets × {ways} ways: curve {MissesAt(l2Sets, 8 * ways)}, replay {misses[1]}");
            }
        }
    }
}
