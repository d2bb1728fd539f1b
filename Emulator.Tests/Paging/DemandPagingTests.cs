using System.IO.Compression;
using System.Text;
using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Paging;
using MmuSim.Registers;
using MmuSim.Replay;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Paging;

/// <summary>Demand paging: first-touch mappings built in simulated memory and walked for real.</summary>
public class DemandPagingTests
{
    private static (SimulatedCore Core, Collector Sink, Replayer Replayer) Replay(string trace, DemandPagingOptions options,
        TraceFormat format = TraceFormat.Lackey, PhysicalMemory? memory = null, DemandPagingMode mode = DemandPagingMode.Auto,
        ModelConfig? config = null)
    {
        var core = new SimulatedCore(memory, config);
        var sink = new Collector();
        var replayer = new Replayer(core, sink, new ReplayOptions { Format = format, Paging = options, DemandPaging = mode });
        replayer.ReplayAsync(new MemoryStream(Encoding.ASCII.GetBytes(trace)), "t").AsTask().GetAwaiter().GetResult();
        return (core, sink, replayer);
    }

    private static string Lackey(IEnumerable<ulong> addresses, char kind = 'L') =>
        string.Concat(addresses.Select(a => kind == 'I' ? $"I  {a:x},4\n" : $" {kind} {a:x},8\n"));

    public static TheoryData<int, Granule, Granule> Configurations() => new()
    {
        { 1, Granule.K4, Granule.K4 },
        { 1, Granule.K16, Granule.K4 },
        { 1, Granule.K64, Granule.K4 },
        { 2, Granule.K4, Granule.K4 },
        { 2, Granule.K16, Granule.K64 },
        { 2, Granule.K64, Granule.K16 },
        { 2, Granule.K4, Granule.K64 },
    };

    [Theory]
    [MemberData(nameof(Configurations))]
    public void EveryAccessTranslatesConsistently(int stages, Granule g1, Granule g2)
    {
        var rng = new Random(7);
        var pages = Enumerable.Range(0, 40).Select(_ => (ulong)rng.NextInt64(1L << 47) & ~0xFFFUL).ToArray();
        // Two passes over the same pages plus an upper-range (TTBR1) address, at different offsets.
        var addresses = pages.Select(p => p + 0x10).Concat(pages.Select(p => p + 0xff8)).Append(0xFFFF_8000_1234_5678UL).ToArray();
        var (core, sink, replayer) = Replay(Lackey(addresses), new DemandPagingOptions { Stages = stages, Stage1Granule = g1, Stage2Granule = g2 });
        Assert.Equal(0, core.Stats.Faults);
        Assert.Equal(addresses.Length, sink.Outcomes.Count);
        var pager = replayer.Pager!;
        // A VA keeps its offset within the smaller of the two stages' pages (a 64K guest frame may be backed by 16K host pages).
        ulong page = 1UL << Math.Min((int)g1, stages == 2 ? (int)g2 : 64);
        var paOfPage = new Dictionary<ulong, ulong>();
        for (int i = 0; i < addresses.Length; i++)
        {
            var o = sink.Outcomes[i];
            Assert.False(o.IsFault);
            Assert.Equal(0, o.El); // foreign accesses run at EL0
            Assert.Equal(addresses[i] & (page - 1), o.Pa & (page - 1)); // the offset in the page is kept
            Assert.Equal(stages == 2, o.HasIpa);
            ulong vpage = addresses[i] & ~(page - 1);
            if (paOfPage.TryGetValue(vpage, out ulong pa))
            {
                Assert.Equal(pa, o.Pa & ~(page - 1)); // the same page maps to the same frame
            }
            paOfPage[vpage] = o.Pa & ~(page - 1);
        }
        Assert.Equal(paOfPage.Count, paOfPage.Values.Distinct().Count()); // distinct pages get distinct frames
        ulong s1Page = 1UL << (int)g1;
        long s1Pages = addresses.Select(a => a & ~(s1Page - 1)).Distinct().Count();
        Assert.Equal(s1Pages, pager.Stage1Faults);
        Assert.Equal(s1Pages, pager.Mappings(1, 3));
        Assert.True(pager.Stage1TableBytes > 0);
        if (stages == 2)
        {
            // Data IPAs may fall in stage-2 pages already mapped for the guest's table frames.
            Assert.True(pager.Stage2Faults + pager.Stage2TableFaults > 0 && pager.Stage2TableBytes > 0);
            Assert.All(sink.Outcomes, o => Assert.InRange(o.Pa, DemandPager.HostRamBase, DemandPager.HostRamBase + pager.Options.MaxBytes));
        }
        // The served faults are counted apart from the trace's faults.
        Assert.Equal(core.Stats.DemandFaults, pager.Stage1Faults + pager.Stage2Faults + pager.Stage2WalkFaults);
    }

    [Fact]
    public void FaultingWalksAreNotChargedButFinalWalksAre()
    {
        // Without a TLB every access walks: a first touch must cost exactly what a later access to the page costs.
        var (core, sink, _) = Replay(Lackey([0x1000_0010, 0x1000_0020, 0x2000_0000, 0x2000_0008]), new DemandPagingOptions { Stages = 2 },
            config: Presets.Uncached);
        int memoryLatency = Presets.Uncached.Timing.MemoryLatency;
        Assert.Equal(sink.Outcomes[1].Cycles, sink.Outcomes[0].Cycles);
        Assert.Equal(sink.Outcomes[3].Cycles, sink.Outcomes[2].Cycles);
        // 4 stage-1 levels, each descriptor fetched through a 3-level stage 2, then the data IPA: 4 × 3 + 4 + 3 = 19 reads.
        Assert.Equal(19 * memoryLatency, sink.Outcomes[0].Cycles);
        Assert.Equal(4 * 19, core.Stats.DescriptorReads);
        Assert.True(core.Stats.DemandFaultReads > 0);
        Assert.Equal(4L * 19 * memoryLatency, core.Stats.TranslationCycles);
    }

    [Fact]
    public void BlockSizesFollowThePolicy()
    {
        var addresses = new ulong[] { 0x4000_0000, 0x4000_1000, 0x4020_0000, 0x8012_3000 };
        var (_, s2m, r2m) = Replay(Lackey(addresses), new DemandPagingOptions { Stages = 1, Stage1Sizes = PageSizePolicy.Block2M });
        Assert.Equal(3, r2m.Pager!.Mappings(1, 2)); // 0x4000_0000 and 0x4000_1000 share a 2 MiB block
        Assert.Equal(s2m.Outcomes[0].Pa + 0x1000, s2m.Outcomes[1].Pa);
        Assert.All(s2m.Outcomes, o => Assert.Equal(o.Va & 0x1F_FFFF, o.Pa & 0x1F_FFFF));

        var (_, s1g, r1g) = Replay(Lackey(addresses), new DemandPagingOptions { Stages = 1, Stage1Sizes = PageSizePolicy.Block1G });
        Assert.Equal(2, r1g.Pager!.Mappings(1, 1));
        Assert.All(s1g.Outcomes, o => Assert.Equal(o.Va & 0x3FFF_FFFF, o.Pa & 0x3FFF_FFFF));

        // mixed: by the alignment of the first touch. 0x4000_0000 is 1 GiB aligned, 0x8020_0000 2 MiB, 0x9000_1000 neither.
        var mixed = new ulong[] { 0x4000_0000, 0x8020_0000, 0x9000_1000, 0x8020_4000 };
        var (core, _, rmx) = Replay(Lackey(mixed), new DemandPagingOptions { Stages = 1, Stage1Sizes = PageSizePolicy.Mixed });
        var p = rmx.Pager!;
        Assert.Equal((1L, 1L, 1L), (p.Mappings(1, 1), p.Mappings(1, 2), p.Mappings(1, 3)));
        Assert.Equal(3, p.Stage1Faults); // 0x8020_4000 lies in the 2 MiB block already mapped
        Assert.Equal(0, core.Stats.Faults);
    }

    [Fact]
    public void SequentialPlacementIsInOrderAndRandomIsSeeded()
    {
        var addrs = Enumerable.Range(0, 30).Select(i => 0x7000_0000UL + (ulong)i * 0x10_0000).ToArray();
        var (_, seq, _) = Replay(Lackey(addrs), new DemandPagingOptions { Stages = 1 });
        var frames = seq.Outcomes.Select(o => o.Pa).ToArray();
        Assert.Equal(frames.Order(), frames); // first touch order = frame order

        var (_, r1, _) = Replay(Lackey(addrs), new DemandPagingOptions { Stages = 1, Placement = FramePlacement.Random, Seed = 5 });
        var (_, r2, _) = Replay(Lackey(addrs), new DemandPagingOptions { Stages = 1, Placement = FramePlacement.Random, Seed = 5 });
        var (_, r3, _) = Replay(Lackey(addrs), new DemandPagingOptions { Stages = 1, Placement = FramePlacement.Random, Seed = 6 });
        Assert.Equal(r1.Outcomes.Select(o => o.Pa), r2.Outcomes.Select(o => o.Pa));
        Assert.NotEqual(r1.Outcomes.Select(o => o.Pa), r3.Outcomes.Select(o => o.Pa));
        Assert.NotEqual(frames, r1.Outcomes.Select(o => o.Pa).ToArray());
    }

    [Fact]
    public void FragmentedMemoryHasNoRoomForBlocks()
    {
        var addrs = new ulong[] { 0x4000_0000, 0x4040_0000 };
        var (core, sink, r) = Replay(Lackey(addrs), new DemandPagingOptions { Stages = 1, Stage1Sizes = PageSizePolicy.Block2M, Placement = FramePlacement.Fragmented, MaxBytes = 64UL << 20 });
        Assert.Equal(0, core.Stats.Faults);
        Assert.Equal(2, r.Pager!.Fallbacks); // asked for 2 MiB blocks, got pages
        Assert.Equal(2, r.Pager.Mappings(1, 3));
        Assert.Equal(2, sink.Outcomes.Count);
    }

    [Fact]
    public void ExhaustedMemoryStopsWithAClearErrorAndKeepsResults()
    {
        // 4 MiB of guest RAM holds under 1024 pages: touching 2000 distinct pages must stop, with the results so far.
        var addrs = Enumerable.Range(0, 2000).Select(i => 0x10_0000_0000UL + (ulong)i * 0x1000);
        var core = new SimulatedCore();
        var sink = new Collector();
        var replayer = new Replayer(core, sink, new ReplayOptions { Format = TraceFormat.Lackey, Paging = new DemandPagingOptions { Stages = 1, MaxBytes = 4UL << 20 } });
        var e = Assert.Throws<MemoryLimitException>(() =>
            replayer.ReplayAsync(new MemoryStream(Encoding.ASCII.GetBytes(Lackey(addrs))), "t").AsTask().GetAwaiter().GetResult());
        Assert.Contains("guest RAM (4 MiB) is full", e.Message);
        Assert.Contains("--max-memory", e.Message);
        Assert.InRange(sink.Outcomes.Count, 900, 1023);
        Assert.All(sink.Outcomes, o => Assert.False(o.IsFault));
    }

    [Fact]
    public void AddressesOutsideBothRangesStillFault()
    {
        var (core, sink, _) = Replay(Lackey([0x0001_0000_0000_0000, 0x1000]), new DemandPagingOptions { Stages = 2 });
        Assert.Equal(1, core.Stats.Faults);
        Assert.True(sink.Outcomes[0].IsFault);
        Assert.Equal((MmuSim.Faults.FaultType.Translation, (byte)1, (sbyte)0), (sink.Outcomes[0].Fault.Type, sink.Outcomes[0].Fault.Stage, sink.Outcomes[0].Fault.Level));
        Assert.False(sink.Outcomes[1].IsFault);
    }

    [Fact]
    public void OwnTracesUseDemandPagingOnlyWhenAsked()
    {
        const string trace = "el 0\nR 0x12345000\nW 0x12345008\n";
        var (offCore, _, off) = Replay(trace, new DemandPagingOptions(), TraceFormat.Text);
        Assert.Null(off.Pager);
        var (onCore, sink, on) = Replay(trace, new DemandPagingOptions { Stages = 1 }, TraceFormat.Text, mode: DemandPagingMode.On);
        Assert.NotNull(on.Pager);
        Assert.Equal(0, onCore.Stats.Faults);
        Assert.Equal(sink.Outcomes[0].Pa + 8, sink.Outcomes[1].Pa);
        Assert.Equal(2, offCore.Stats.Accesses);
    }

    [Fact]
    public void TablesAreRealDescriptorsInSimulatedMemory()
    {
        var (core, sink, r) = Replay(Lackey([0x5555_1234]), new DemandPagingOptions { Stages = 1 });
        // Walk the stage-1 tables by hand from TTBR0_EL1: 4 levels, 4K granule, 48-bit VA.
        ulong table = core.Registers[MmuSim.Registers.SysReg.TTBR0_EL1] & 0x0000_FFFF_FFFF_F000;
        ulong va = 0x5555_1234;
        ulong desc = 0;
        for (int level = 0; level <= 3; level++)
        {
            int shift = 39 - 9 * level;
            desc = core.Memory.Peek64(new PhysicalAddress(table + ((va >> shift) & 0x1FF) * 8));
            Assert.Equal(3UL, desc & 3); // table descriptors, then a page descriptor
            table = desc & 0x0000_FFFF_FFFF_F000;
        }
        Assert.Equal(sink.Outcomes[0].Pa, (desc & 0x0000_FFFF_FFFF_F000) | 0x234);
        Assert.Equal(5UL * 4096, r.Pager!.Stage1TableBytes); // L0 (root), L1, L2, L3 tables, and TTBR1's root
    }

    /// <summary>
    /// The committed lackey trace of a real program (traces/lackey/sumsort.c) replays in demand-paging mode, under a
    /// guest OS (EL1&amp;0, two stages) and under a VHE host (EL2&amp;0: EL0 with E2H=1, TGE=1, tables for TTBR0_EL2).
    /// </summary>
    [Theory]
    [InlineData(TranslationRegime.El10)]
    [InlineData(TranslationRegime.El20)]
    public async Task RealLackeyTraceReplaysWithDemandPaging(TranslationRegime regime)
    {
        string path = Path.Combine(TestPaths.Traces, "lackey", "sumsort.lackey.gz");
        // What the trace holds, counted independently of the reader.
        long accesses = 0;
        var pages = new HashSet<ulong>();
        using (var text = new StreamReader(new GZipStream(File.OpenRead(path), CompressionMode.Decompress)))
        {
            while (await text.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("I  ") || line.StartsWith(" L ") || line.StartsWith(" S ") || line.StartsWith(" M "))
                {
                    accesses += line[1] == 'M' ? 2 : 1;
                    pages.Add(Convert.ToUInt64(line[3..line.IndexOf(',')].Trim(), 16) >> 12);
                }
            }
        }
        var core = new SimulatedCore();
        var sink = new Collector();
        var paging = regime == TranslationRegime.El20 ? new DemandPagingOptions { Regime = regime, Stages = 1 } : new DemandPagingOptions();
        var replayer = new Replayer(core, sink, new ReplayOptions { Paging = paging });
        await replayer.ReplayFilesAsync([path]);
        Assert.True(accesses > 100_000);
        Assert.Equal(accesses, core.Stats.Accesses);
        Assert.Equal(0, core.Stats.Faults);
        var pager = replayer.Pager!;
        Assert.Equal(regime == TranslationRegime.El10, pager.TwoStages);
        // Every access ran at EL0 in the regime the tables were built for.
        Assert.Equal(0, core.CurrentEl);
        Assert.Equal(regime, core.Mmu.RegimeOf(0));
        if (regime == TranslationRegime.El20)
        {
            var r = core.Registers;
            Assert.Equal((true, true), (r.Hcr.E2H, r.Hcr.Tge));
            Assert.Equal(pager.Stage1Tables(upper: false).Root, r[SysReg.TTBR0_EL2] & 0x0000_FFFF_FFFF_FFFE);
            Assert.Equal((0UL, 0UL, 0UL), (r[SysReg.TTBR0_EL1], r[SysReg.TCR_EL1], r[SysReg.VTTBR_EL2]));
            Assert.Equal(0, pager.Stage2Faults + pager.Stage2WalkFaults + pager.Stage2TableFaults);
            Assert.True(core.Stats.Walks > 0);
        }
        Assert.Equal(pages.Count, pager.Stage1Faults); // one stage-1 fault per distinct page touched
        Assert.Equal(pages.Count, pager.Mappings(1, 3));
        // Consistent translation: each VA page has one frame, and the page offset is kept.
        var frame = new Dictionary<ulong, ulong>();
        foreach (var o in sink.Outcomes)
        {
            Assert.Equal(o.Va & 0xFFF, o.Pa & 0xFFF);
            Assert.Equal(frame.TryGetValue(o.Va >> 12, out ulong f) ? f : (frame[o.Va >> 12] = o.Pa >> 12), o.Pa >> 12);
        }
        Assert.Equal(pages.Count, frame.Values.Distinct().Count());
    }
}

/// <summary>Frame placement policies of <see cref="FrameAllocator"/>.</summary>
public class FrameAllocatorTests
{
    [Fact]
    public void SequentialIsFirstFitAndFillsAlignmentGaps()
    {
        var a = new FrameAllocator(0x4000_0000, 16UL << 20, 4096, FramePlacement.Sequential);
        Assert.Equal(0x4000_0000UL, a.Allocate(4096, 4096));
        Assert.Equal(0x4020_0000UL, a.Allocate(2UL << 20, 2UL << 20)); // the first 2 MiB slot is taken in part
        Assert.Equal(0x4000_1000UL, a.Allocate(4096, 4096)); // the gap below is used
        Assert.Equal(0x4000_4000UL, a.Allocate(0x4000, 0x4000));
        Assert.Equal((2UL << 20) + 0x2000 + 0x4000, a.Used);
    }

    [Fact]
    public void PoolsRunOutAsMemoryLimits()
    {
        var a = new FrameAllocator(0, 1UL << 20, 4096, FramePlacement.Random, seed: 3);
        var got = new HashSet<ulong>();
        for (int i = 0; i < 256; i++)
        {
            Assert.True(got.Add(a.Allocate(4096, 4096)));
        }
        Assert.False(a.TryAllocate(4096, 4096, out _));
        Assert.Throws<MemoryLimitException>(() => a.Allocate(4096, 4096));
    }

    [Fact]
    public void FragmentedLeavesNoFree2MiBBlock()
    {
        var a = new FrameAllocator(0, 64UL << 20, 4096, FramePlacement.Fragmented, seed: 9);
        Assert.Equal(32UL * 4096, a.Reserved);
        Assert.False(a.TryAllocate(2UL << 20, 2UL << 20, out _));
        Assert.True(a.TryAllocate(1UL << 20, 1UL << 20, out ulong at));
        Assert.Equal(0UL, at % (1UL << 20));
    }
}
