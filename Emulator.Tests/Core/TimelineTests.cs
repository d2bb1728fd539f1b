using CsCheck;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Tests.Support;
using MmuSim.Timing;
using MmuSim.Tracing;

namespace MmuSim.Tests.Core;

/// <summary>
/// The timeline (<c>--timing timeline</c>): timelines computed by hand on small machines (4-level stage-1 walks of
/// 4 memory reads, 24 for a nested walk), and the equivalence with the additive model when nothing overlaps.
/// </summary>
public class TimelineTests
{
    /// <summary>One unified 16-entry TLB (1 cycle), memory 100 cycles, no walk or walker caches, and the given timeline.</summary>
    private static Machine Small(string timeline, bool twoStage = false, bool tlb = true, string walkerCaches = "[]") =>
        Timed(new Machine(Machine.Config($$"""
            { "tlbs": [{{(tlb ? """{ "name": "L1", "serves": "unified", "entries": 16, "ways": 16, "latency": 1 }""" : "")}}],
              "walkerCaches": {{walkerCaches}}, "memoryLatency": 100, "timeline": {{timeline}} }
            """), twoStage));

    private static Machine Timed(Machine m)
    {
        m.Core.StartTimeline(detailed: true);
        return m;
    }

    private static (long Issue, long Complete) Run(Machine m, ulong va, TraceOp op = TraceOp.Read)
    {
        var t = m.Core.Timeline!;
        t.BeginAccess(m.Line);
        m.Access(op, va);
        long complete = t.EndAccess();
        return (t.LastIssue, complete);
    }

    private static Machine Mapped(Machine m, params ulong[] vas)
    {
        foreach (ulong va in vas)
        {
            m.MapPage(va, Machine.DataIpa + va);
        }
        return m;
    }

    [Fact]
    public void TwoIndependentMissesOverlapOnTwoWalkers()
    {
        var m = Mapped(Small("""{ "window": 4, "walkers": 2 }"""), 0x1000, 0x40_0000);
        // Issue 0, lookup 1, walk 1..401; issue 1, lookup 2, the other walker 2..402.
        Assert.Equal((0L, 401L), Run(m, 0x1000));
        Assert.Equal((1L, 402L), Run(m, 0x40_0000));
        var t = m.Core.Timeline!;
        Assert.Equal(402, t.TotalCycles);
        Assert.Equal(0, t.WaitCycles.Sum);
        Assert.Equal(800, t.ServiceCycles.Sum);
        // Cycles with 0, 1, 2 walks in service: [0,1) none, [1,2) one, [2,401) two, [401,402) one.
        Assert.Equal([1L, 2L, 399L], t.WalksInFlight());
    }

    [Fact]
    public void TwoIndependentMissesSerializeOnOneWalker()
    {
        var m = Mapped(Small("""{ "window": 4, "walkers": 1 }"""), 0x1000, 0x40_0000);
        Assert.Equal((0L, 401L), Run(m, 0x1000));
        // Requested at 2, the walker is free at 401: 399 cycles of wait, then 400 of service.
        Assert.Equal((1L, 801L), Run(m, 0x40_0000));
        var t = m.Core.Timeline!;
        Assert.Equal(801, t.TotalCycles);
        Assert.Equal(399, t.WaitCycles.Sum);
        Assert.Equal(400, t.ServiceCycles.Percentile(50));
    }

    [Fact]
    public void HitUnderMissCompletesAtOnceButRetiresInOrder()
    {
        var m = Mapped(Small("""{ "window": 4, "walkers": 1 }"""), 0x1000, 0x40_0000);
        Assert.Equal((0L, 401L), Run(m, 0x1000));      // warms the TLB with 0x1000
        m.Core.Instructions(1000);                     // and the walk is over before the next issue
        Assert.Equal((1001L, 1402L), Run(m, 0x40_0000)); // miss: lookup 1001..1002, walk 1002..1402
        Assert.Equal((1002L, 1003L), Run(m, 0x1010));  // hit under the miss: done after its lookup
        var t = m.Core.Timeline!;
        Assert.Equal(1402, t.LastRetire);              // but it retires after the miss before it
        Assert.Equal(0, t.MergedMisses);
    }

    [Fact]
    public void HitOnAnEntryWhoseWalkHasNotFinishedIsMerged()
    {
        var m = Mapped(Small("""{ "window": 4, "walkers": 2 }"""), 0x1000);
        Assert.Equal((0L, 401L), Run(m, 0x1000));
        // The functional replay hits the entry the first access's walk filled; that walk ends at 401.
        Assert.Equal((1L, 401L), Run(m, 0x1008));
        var t = m.Core.Timeline!;
        Assert.Equal(1, t.MergedMisses);
        Assert.Equal(1, m.Core.Stats.TlbHits);
        Assert.Equal(m.Line - 2, t.Parts[0].MergedInto);
    }

    [Fact]
    public void FullWindowStallsIssue()
    {
        var m = Mapped(Small("""{ "window": 2, "walkers": 1 }"""), 0x1000, 0x40_0000, 0x80_0000);
        Assert.Equal((0L, 401L), Run(m, 0x1000));
        Assert.Equal((1L, 801L), Run(m, 0x40_0000));
        // Ready at 2, but two accesses are in flight: it issues when the oldest retires, at 401.
        Assert.Equal((401L, 1201L), Run(m, 0x80_0000));
        var t = m.Core.Timeline!;
        Assert.Equal(399, t.WindowStallCycles);
        Assert.Equal(2, t.LastDesiredIssue);
    }

    [Fact]
    public void FullQueueStopsIssueUntilAMissEnters()
    {
        var m = Mapped(Small("""{ "window": 8, "walkers": 1, "walkQueue": 1 }"""), 0x1000, 0x40_0000, 0x80_0000, 0xC0_0000);
        Assert.Equal((0L, 401L), Run(m, 0x1000));      // walker 1..401
        Assert.Equal((1L, 801L), Run(m, 0x40_0000));   // queued 2..401, walks 401..801
        // Requested at 3 with the one queue place taken until 401: it enters at 401 and the PE issues nothing before.
        Assert.Equal((2L, 1201L), Run(m, 0x80_0000));
        var t = m.Core.Timeline!;
        Assert.Equal(401, t.Parts[0].Enqueued);
        Assert.Equal((401L, 1601L), Run(m, 0xC0_0000)); // ready at 3, stalled until 401
        Assert.Equal(398, t.QueueStallCycles);
        Assert.Equal(399 + 798 + 799, t.WaitCycles.Sum);
    }

    [Fact]
    public void NestedWalkIsOneDependentChainOf24Reads()
    {
        var m = Mapped(Small("""{ "window": 4, "walkers": 2 }""", twoStage: true), 0x1000);
        Assert.Equal((0L, 2401L), Run(m, 0x1000));
        var t = m.Core.Timeline!;
        Assert.Equal(24, t.Steps.Length);
        for (int i = 0; i < 24; i++)
        {
            Assert.Equal((1L + 100 * i, 101L + 100 * i), (t.Steps[i].Start, t.Steps[i].End));
        }
        Assert.Equal(1.0, t.DescriptorMlp);
    }

    [Fact]
    public void MemoryLimitGivesTheOlderWalkPriority()
    {
        // One memory request at a time, two walkers: the older walk (in trace order) keeps memory busy with its 24 reads
        // (1..2401); every read of the younger one finds memory taken until then, so they follow: 2401..4801.
        var m = Mapped(Small("""{ "window": 4, "walkers": 2, "memoryRequests": 1 }""", twoStage: true), 0x1000, 0x40_0000);
        Assert.Equal((0L, 2401L), Run(m, 0x1000));
        Assert.Equal((1L, 4801L), Run(m, 0x40_0000));
        var t = m.Core.Timeline!;
        Assert.Equal((2401L, 2501L), (t.Steps[0].Start, t.Steps[0].End));
        Assert.Equal(TimelineWait.MemoryRequests, t.Steps[0].Wait);
        Assert.Equal(1, t.MemoryWaits);
        Assert.Equal(2, t.Parts[0].Start);               // it had a walker from 2: the memory limit, not the walkers, held it
        // Without the limit the two walks overlap completely.
        var free = Mapped(Small("""{ "window": 4, "walkers": 2 }""", twoStage: true), 0x1000, 0x40_0000);
        Run(free, 0x1000);
        Assert.Equal((1L, 2402L), Run(free, 0x40_0000));
    }

    [Fact]
    public void MissBufferLimitHoldsReadsThatMissTheWalkerCache()
    {
        // An L1 walker cache with one miss buffer; tables in distinct lines, so every read of both walks misses it.
        var m = Mapped(Small("""{ "window": 4, "walkers": 2, "walkerCacheMisses": 1 }""", tlb: false,
            walkerCaches: """[ { "name": "L1D$", "sizeBytes": 32768, "ways": 4, "lineBytes": 64, "latency": 4 } ]"""), 0x1000, 0x80_0000_0000);
        Assert.Equal((0L, 400L), Run(m, 0x1000));
        // VA 0x80_0000_0000 is L0 entry 1: the same line as the first walk's L0 entry 0 (the second read waits for it),
        // then tables of its own: three misses, each waiting for the one miss buffer, which the first walk holds until 400.
        var (issue, complete) = Run(m, 0x80_0000_0000);
        Assert.Equal(1, issue);
        var t = m.Core.Timeline!;
        Assert.Equal(TimelineWait.SharedLine, t.Steps[0].Wait);
        Assert.Equal((400L, 500L), (t.Steps[1].Start, t.Steps[1].End));
        Assert.Equal(TimelineWait.WalkerCacheMisses, t.Steps[1].Wait);
        Assert.Equal(700, complete);
    }

    [Fact]
    public void ReadsSharingAWalkerCacheLineWaitForTheLine()
    {
        // No TLB; an L1 walker cache (4 cycles). 0x1000 and 0x2000 share their L0..L2 descriptors and the line of
        // their L3 descriptors: functionally the second walk hits all four (16 cycles), but each line is still on its
        // way for the first walk, so each read ends when that line arrives.
        var m = Mapped(Small("""{ "window": 4, "walkers": 2 }""", tlb: false,
            walkerCaches: """[ { "name": "L1D$", "sizeBytes": 32768, "ways": 4, "lineBytes": 64, "latency": 4 } ]"""), 0x1000, 0x2000);
        Assert.Equal((0L, 400L), Run(m, 0x1000));
        var second = Run(m, 0x2000);
        Assert.Equal((1L, 400L), second);
        var t = m.Core.Timeline!;
        Assert.Equal([100L, 200L, 300L, 400L], t.Steps.ToArray().Select(s => s.End));
        Assert.All(t.Steps.ToArray(), s => Assert.Equal(TimelineWait.SharedLine, s.Wait));
        Assert.Equal(4, t.SharedLineWaits);
        // A third walk waits for a walker (both busy until 400), then finds every line in the cache: 16 cycles.
        Assert.Equal((2L, 416L), Run(m, 0x2000));
    }

    [Fact]
    public void InstructionLinesDelayTheNextIssue()
    {
        var m = Mapped(Small("""{ "window": 4, "walkers": 1, "issueWidth": 4, "issueInterval": 2 }"""), 0x1000);
        Assert.Equal((0L, 401L), Run(m, 0x1000));
        m.Core.Instructions(9);                          // ⌊9 / 4⌋ = 2 cycles after the interval of 2, 1 instruction left over
        Assert.Equal((4L, 401L), Run(m, 0x1008));
        m.Core.Instructions(3);                          // with the one left over: 1 cycle
        // Issued at 4 + 2 + 1 = 7, a hit after 1 cycle, but on the entry the first walk fills at 401: merged.
        Assert.Equal((7L, 401L), Run(m, 0x1010));
        Assert.Equal(2, m.Core.Timeline!.MergedMisses);
    }

    // ---- Equivalence: one walker, a window of one, no limits: every access completes its additive cycles after
    // its issue, and it issues when the access before it completes (plus the interval and instructions). ----

    private static readonly TimelineConfig Serial = new(Window: 1, IssueInterval: 0, IssueWidth: 1, Walkers: 1);

    private static ModelConfig SerialOf(ModelConfig c) => c with { Timing = c.Timing with { Timeline = Serial } };

    public static TheoryData<string> TraceFiles()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.EnumerateFiles(TestPaths.Traces, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (f.EndsWith(".trace", StringComparison.Ordinal) || f.EndsWith(".champsim.xz", StringComparison.Ordinal)
                || f.EndsWith(".lackey.gz", StringComparison.Ordinal))
            {
                data.Add(Path.GetRelativePath(TestPaths.Traces, f));
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(TraceFiles))]
    public async Task SerialTimelineEqualsAdditiveCyclesOnEveryTrace(string trace)
    {
        foreach (var preset in new[] { Presets.NeoverseN1, Presets.CortexA55, Presets.Bench })
        {
            var core = new SimulatedCore(config: SerialOf(preset));
            core.StartTimeline();
            var sink = new Collector();
            var replayer = new Replayer(core, sink);
            await replayer.ReplayFilesAsync([Path.Combine(TestPaths.Traces, trace)]);
            var last = new Dictionary<int, long>();
            long sum = 0;
            foreach (var o in sink.Outcomes.Where(o => o.Timed))
            {
                int pe = o.HasCpu ? o.Cpu : 0;
                long prev = last.GetValueOrDefault(pe);
                Assert.True(o.Complete - o.Issue == o.Cycles, $"{trace}:{o.Line} ({preset.Name}): completed {o.Complete - o.Issue} cycles after its issue, additive {o.Cycles}");
                Assert.True(o.Issue >= prev, $"{trace}:{o.Line} ({preset.Name}): issued at {o.Issue} before the access before it completed ({prev})");
                sum += o.Issue - prev;
                last[pe] = o.Complete;
            }
            foreach (var pe in replayer.ReportedPes)
            {
                var t = pe.Timeline!;
                // Total = additive cycles + the issue gaps (the trace's inst lines; the interval is 0).
                Assert.Equal(pe.Stats.TranslationCycles + GapsOf(sink.Outcomes, pe.Index, replayer.HasCpuLines), t.TotalCycles);
                Assert.Equal(0, t.WaitCycles.Sum);
                Assert.Equal(0, t.QueueStallCycles); // the window of one holds every issue back instead
                Assert.Equal(0, t.MergedMisses);
            }
            Assert.True(sum >= 0);
        }
    }

    /// <summary>Σ (issue − completion of the access before) of one PE: the cycles its inst lines added.</summary>
    private static long GapsOf(List<AccessOutcome> outcomes, int pe, bool cpuLines)
    {
        long prev = 0, gaps = 0;
        foreach (var o in outcomes.Where(o => o.Timed && (cpuLines ? o.HasCpu && o.Cpu == pe : pe == 0)))
        {
            gaps += o.Issue - prev;
            prev = o.Complete;
        }
        return gaps;
    }

    [Fact]
    public void SerialTimelineEqualsAdditiveCyclesOnRandomTraces()
    {
        Gen.Int[0, int.MaxValue].Sample(seed =>
        {
            var r = new Random(seed);
            var presets = Presets.All.Values.ToArray();
            var preset = presets[r.Next(presets.Length)];
            int interval = r.Next(3), width = 1 + r.Next(4);
            var config = preset with { Timing = preset.Timing with { Timeline = new TimelineConfig(1, interval, width, 1) } };
            var m = new Machine(config, twoStage: r.Next(2) == 0);
            m.Core.StartTimeline();
            var vas = Enumerable.Range(0, 1 + r.Next(40)).Select(_ => (ulong)r.Next(1 << 16) << 12).Distinct().ToArray();
            foreach (ulong va in vas)
            {
                m.MapPage(va, Machine.DataIpa + ((va * 7) & 0xFF_F000), dbm: r.Next(4) == 0, af: r.Next(8) != 0);
            }
            var t = m.Core.Timeline!;
            long prevIssue = 0, prevComplete = 0, slots = 0;
            bool first = true;
            for (int i = 0; i < 200; i++)
            {
                ulong inst = r.Next(3) == 0 ? (ulong)r.Next(20) : 0;
                t.AddInstructions(inst);
                ulong va = (r.Next(10) == 0 ? (ulong)r.Next(1 << 16) << 12 : vas[r.Next(vas.Length)]) + (ulong)r.Next(4096);
                var op = (TraceOp)(1 + r.Next(3));
                t.BeginAccess(m.Line);
                var o = m.Access(op, va, (byte)(1 << r.Next(4)));
                long complete = t.EndAccess();
                // Whole cycles of instructions delay the issue; the remainder carries over.
                slots += (long)inst;
                long delay = slots / width;
                slots %= width;
                long expectedIssue = first ? delay : Math.Max(prevIssue + interval + delay, prevComplete);
                Assert.Equal(expectedIssue, t.LastIssue);
                Assert.Equal(o.Cycles, complete - t.LastIssue);
                prevIssue = t.LastIssue;
                prevComplete = complete;
                first = false;
            }
        }, iter: 60);
    }

    /// <summary>
    /// A replay without results runs accesses through the PE's run loop (predicted hits timed in the loop); with
    /// results, one record at a time. Both give the same timeline, figure for figure.
    /// </summary>
    [Theory]
    [InlineData("bench/mixed-2stage.trace", "neoverse-n1")]
    [InlineData("bench/mixed-1stage.trace", "cortex-a55")]
    [InlineData("bench/zipf-asids-tlbi.trace", "neoverse-n1")]
    [InlineData("sample/two-pes.trace", "neoverse-n1")]
    [InlineData("qemu/p0008.trace", "bench")]
    public async Task RunLoopAndRecordByRecordGiveTheSameTimeline(string trace, string preset)
    {
        var figures = new List<string>();
        foreach (bool results in new[] { false, true })
        {
            var core = new SimulatedCore(config: Presets.All[preset]);
            core.Mmu.Record.Detailed = false;
            core.StartTimeline();
            var replayer = new Replayer(core, results ? new Collector() : null);
            await replayer.ReplayFilesAsync([Path.Combine(TestPaths.Traces, trace)]);
            figures.Add(string.Join("; ", replayer.ReportedPes.Select(pe =>
            {
                var t = pe.Timeline!;
                return $"{t.Accesses} {t.TotalCycles} {t.StallCycles} {t.WaitCycles.Sum} {t.ServiceCycles.Sum} {t.MergedMisses} {t.ReadCycles} {t.SharedLineWaits} {string.Join(",", t.WalksInFlight())}";
            })));
        }
        Assert.Equal(figures[1], figures[0]);
        Assert.DoesNotContain(" 0 0 0 0 0 0", figures[0]);
    }

    [Fact]
    public async Task JsonSummarySaysWhichTimingRanAndGivesTheTimeline()
    {
        foreach (bool timeline in new[] { false, true })
        {
            var core = new SimulatedCore(config: Presets.NeoverseN1);
            if (timeline)
            {
                core.StartTimeline();
            }
            await new Replayer(core, null).ReplayFilesAsync([Path.Combine(TestPaths.Traces, "bench", "mixed-2stage.trace")]);
            var ms = new MemoryStream();
            MmuSim.Reporting.SummaryJson.Write(ms, core, stoppedOnFault: false);
            using var doc = System.Text.Json.JsonDocument.Parse(ms.ToArray());
            var root = doc.RootElement;
            Assert.Equal(timeline ? "timeline" : "additive", root.GetProperty("timing").GetString());
            Assert.Equal(timeline, root.TryGetProperty("timeline", out var t));
            if (timeline)
            {
                var tl = core.Timeline!;
                Assert.Equal(tl.TotalCycles, t.GetProperty("totalCycles").GetInt64());
                Assert.Equal(tl.MergedMisses, t.GetProperty("mergedMisses").GetInt64());
                Assert.Equal(core.Stats.Walks, t.GetProperty("walkService").GetProperty("count").GetInt64());
                Assert.Equal(tl.WaitCycles.Sum, t.GetProperty("walkWait").GetProperty("total").GetInt64());
                // The walks-in-flight histogram covers the whole run: 0, 1 or 2 walks (two walkers) at every cycle.
                var inFlight = t.GetProperty("walksInFlight").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                Assert.Equal(3, inFlight.Length);
                Assert.Equal(tl.TotalCycles, inFlight.Sum());
                Assert.Equal(Math.Round((inFlight[1] + 2.0 * inFlight[2]) / tl.TotalCycles, 4), t.GetProperty("meanWalksInFlight").GetDouble(), 3);
                Assert.Equal("neoverse-n1", root.GetProperty("model").GetProperty("name").GetString());
                Assert.Equal(128, root.GetProperty("model").GetProperty("timeline").GetProperty("window").GetInt32());
            }
        }
    }

    [Fact]
    public void ResultsCarryIssueAndCompleteOnlyWhenTimed()
    {
        var o = new AccessOutcome { Line = 7, Op = ResultOp.Read, Va = 0x1000, El = 1, Pa = 0x5000, Cycles = 5 };
        string Line(AccessOutcome x)
        {
            var ms = new MemoryStream();
            using (var w = new MmuSim.Reporting.ResultWriter(ms, ownsStream: false))
            {
                w.OnOutcome(in x);
            }
            return System.Text.Encoding.UTF8.GetString(ms.ToArray());
        }
        Assert.Equal("{\"line\":7,\"op\":\"R\",\"va\":\"0x1000\",\"el\":1,\"pa\":\"0x5000\",\"cycles\":5}\n", Line(o));
        o.Timed = true;
        o.Issue = 3;
        o.Complete = 8;
        Assert.Equal("{\"line\":7,\"op\":\"R\",\"va\":\"0x1000\",\"el\":1,\"pa\":\"0x5000\",\"cycles\":5,\"issue\":3,\"complete\":8}\n", Line(o));
    }

    [Fact]
    public async Task TimelineChangesNoResult()
    {
        var trace = File.ReadAllText(Path.Combine(TestPaths.Traces, "bench", "mixed-2stage.trace"));
        var additive = (await Machine.ReplayText(trace, Presets.NeoverseN1)).Outcomes;
        var core = new SimulatedCore(config: Presets.NeoverseN1);
        core.StartTimeline();
        var sink = new Collector();
        await new Replayer(core, sink).ReplayAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(trace)), "t.trace");
        Assert.Equal(additive.Count, sink.Outcomes.Count);
        for (int i = 0; i < additive.Count; i++)
        {
            var timed = sink.Outcomes[i];
            Assert.True(timed.Timed);
            timed.Timed = false;
            timed.Issue = 0;
            timed.Complete = 0;
            Assert.Equal(additive[i], timed);
        }
        // Overlap: the timeline finishes well before the sum of the accesses' cycles.
        Assert.True(core.Timeline!.TotalCycles < core.Stats.TranslationCycles);
    }
}
