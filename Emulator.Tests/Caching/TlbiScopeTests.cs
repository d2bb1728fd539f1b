using MmuSim.Addressing;
using MmuSim.Caching;
using MmuSim.Core;
using MmuSim.Tests.Support;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Tests.Caching;

/// <summary>The exact scope of every TLBI (arm-notes §8.2) over TLB, walk-cache and IPA-cache entries.</summary>
public class TlbiScopeTests
{
    private const ushort CurrentVmid = 1;

    private static ulong Ctx(ushort vmid, ushort asid) => ((ulong)vmid << 16) | asid;

    private static ulong GlobalCtx(ushort vmid) => ((ulong)vmid << 16) | ContextTag.Global;

    private static readonly ulong El2Ctx = ContextTag.El2 | ContextTag.Global;

    /// <summary>Named entries: TLB (VA→PA), stage-1 walk cache, stage-2 walk cache, IPA cache.</summary>
    private static readonly (string Name, ulong Ctx, ulong Va, int Shift)[] TlbEntries =
    [
        ("T1", Ctx(1, 1), 0x1000, 12),        // VMID 1, ASID 1, nG
        ("T2", GlobalCtx(1), 0x1000, 12),     // VMID 1, global
        ("T3", Ctx(1, 2), 0x1000, 12),        // VMID 1, ASID 2
        ("T4", Ctx(1, 1), 0x2000, 12),        // another page
        ("T5", Ctx(2, 1), 0x1000, 12),        // VMID 2
        ("T6", El2Ctx, 0x1000, 12),           // EL2 regime
        ("T7", Ctx(1, 1), 0x20_0000, 21),     // a 2 MiB block
    ];

    private static readonly (string Name, ulong Ctx, ulong Va)[] S1WalkEntries =
    [
        ("W1", Ctx(1, 1), 0x1000),
        ("W2", Ctx(1, 2), 0x1000),
        ("W3", Ctx(2, 1), 0x1000),
        ("W4", ContextTag.El2, 0x1000),
    ];

    private static readonly (string Name, ushort Vmid, ulong Ipa)[] S2WalkEntries = [("S1", 1, 0x4000_0000), ("S2", 2, 0x4000_0000)];

    private static readonly (string Name, ushort Vmid, ulong Ipa)[] IpaEntries = [("I1", 1, 0x4100_0000), ("I2", 1, 0x4200_0000), ("I3", 2, 0x4100_0000)];

    private static TranslationCaches Filled()
    {
        var c = new TranslationCaches(new CachingConfig(
            [new TlbConfig("L1", TlbServes.Unified, 16, 16, 1), new TlbConfig("L2", TlbServes.Unified, 64, 8, 3)],
            [new WalkCacheConfig("S1WC", 1, [0, 1, 2], 16, 16, 1), new WalkCacheConfig("S2WC", 2, [0, 1, 2], 16, 16, 1)],
            new IpaCacheConfig("IPA", 16, 16, 1)));
        foreach (var (_, ctx, va, shift) in TlbEntries)
        {
            c.Fill(c.DataPath, va, ctx, new TlbEntry { Shift = (byte)shift, PaBase = 0x9000_0000 });
        }
        foreach (var (_, ctx, va) in S1WalkEntries)
        {
            c.FillTable(1, ctx, va, Granule.K4, new TableEntry { Level = 2, NextTable = 0x4000_3000 });
        }
        foreach (var (_, vmid, ipa) in S2WalkEntries)
        {
            c.FillTable(2, (ulong)vmid << 16, ipa, Granule.K4, new TableEntry { Level = 2, NextTable = 0x8000_3000 });
        }
        foreach (var (_, vmid, ipa) in IpaEntries)
        {
            c.FillStage2Leaf((ulong)vmid << 16, ipa, new Stage2LeafEntry { Descriptor = 0x7FF, Level = 3, Shift = 12, GroupShift = 12 });
        }
        return c;
    }

    /// <summary>The names of the entries still held.</summary>
    private static SortedSet<string> Survivors(TranslationCaches c)
    {
        var left = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (name, ctx, va, _) in TlbEntries)
        {
            var key = new LookupKey { Va = va, Ctx = ctx, CtxGlobal = ctx };
            bool inAll = c.Tlbs.All(t => t.Lookup(in key) >= 0);
            bool inNone = c.Tlbs.All(t => t.Lookup(in key) < 0);
            Assert.True(inAll || inNone, $"{name} is held by some levels only");
            if (inAll)
            {
                left.Add(name);
            }
        }
        foreach (var (name, ctx, va) in S1WalkEntries)
        {
            if (c.WalkCaches[0].TryFind(ctx, va, Granule.K4, 0, out _))
            {
                left.Add(name);
            }
        }
        foreach (var (name, vmid, ipa) in S2WalkEntries)
        {
            if (c.WalkCaches[1].TryFind((ulong)vmid << 16, ipa, Granule.K4, 0, out _))
            {
                left.Add(name);
            }
        }
        foreach (var (name, vmid, ipa) in IpaEntries)
        {
            if (c.IpaCache!.TryFind((ulong)vmid << 16, ipa, out _))
            {
                left.Add(name);
            }
        }
        return left;
    }

    private static readonly string[] All = ["I1", "I2", "I3", "S1", "S2", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "W1", "W2", "W3", "W4"];

    [Theory]
    [InlineData(TlbiOp.VMALLE1, 0UL, "T1 T2 T3 T4 T7 W1 W2")]
    [InlineData(TlbiOp.VMALLS12E1, 0UL, "T1 T2 T3 T4 T7 W1 W2 S1 I1 I2")]
    [InlineData(TlbiOp.ALLE1, 0UL, "T1 T2 T3 T4 T5 T7 W1 W2 W3 S1 S2 I1 I2 I3")]
    [InlineData(TlbiOp.ALLE2, 0UL, "T6 W4")]
    [InlineData(TlbiOp.VAE1, 0x0001_0000_0000_0001UL, "T1 T2 W1")]       // ASID 1, VA 0x1000: its nG entries at any level, global leaves
    [InlineData(TlbiOp.VALE1, 0x0001_0000_0000_0001UL, "T1 T2")]         // leaves only
    [InlineData(TlbiOp.VAE1, 0x0001_0000_0000_03FFUL, "T7")]             // VA 0x3F_F000 lies in the 2 MiB block
    [InlineData(TlbiOp.VAAE1, 0x1UL, "T1 T2 T3 W1 W2")]                  // any ASID, any level
    [InlineData(TlbiOp.VAALE1, 0x1UL, "T1 T2 T3")]
    [InlineData(TlbiOp.ASIDE1, 0x0001_0000_0000_0000UL, "T1 T4 T7 W1")]   // non-global entries of ASID 1
    [InlineData(TlbiOp.IPAS2E1, 0x4_1000UL, "I1")]                        // IPA 0x4100_0000: stage-2 only
    [InlineData(TlbiOp.IPAS2E1, 0x4_0100UL, "S1")]                        // IPA 0x4010_0000: a stage-2 walk entry covers it
    [InlineData(TlbiOp.IPAS2LE1, 0x4_0100UL, "")]                         // last level only: walk entries stay
    [InlineData(TlbiOp.IPAS2LE1, 0x4_1000UL, "I1")]
    [InlineData(TlbiOp.VAE2, 0x1UL, "T6 W4")]
    [InlineData(TlbiOp.VALE2, 0x1UL, "T6")]
    public void RemovesExactlyItsScope(TlbiOp op, ulong xt, string removed)
    {
        var c = Filled();
        Assert.Equal(All, Survivors(c));
        c.Invalidate(op, xt, CurrentVmid, 0xFFFF);
        var expected = new SortedSet<string>(All.Except(removed.Split(' ', StringSplitOptions.RemoveEmptyEntries)), StringComparer.Ordinal);
        Assert.Equal(expected, Survivors(c));
    }

    [Fact]
    public void Ipas2e1LeavesCombinedEntriesUntilVmalle1()
    {
        // A stage-2 remap of the data page: after IPAS2E1 the combined TLB entry still gives the old PA (the
        // architecture allows it to survive); the walk caches and IPA cache no longer hold the old leaf, and
        // VMALLE1 finally removes the combined entry.
        var m = new Machine(Presets.NeoverseN1, twoStage: true);
        m.MapPage(0x1000, Machine.DataIpa);
        ulong oldPa = Machine.DataIpa + Machine.IpaToPa;
        Assert.Equal(oldPa, m.R(0x1000).Pa);
        ulong s2Leaf = m.S2!.DescriptorAddress(Machine.DataIpa, 3);
        m.Mem(s2Leaf, MmuSim.Building.Descriptors.Stage2Leaf(0x9F00_0000, 3, Granule.K4));
        m.Tlbi(TlbiOp.IPAS2E1, Machine.DataIpa >> 12);
        Assert.Equal(oldPa, m.R(0x1000).Pa);
        Assert.Equal(oldPa, m.X(0x1000).Pa); // the fetch path too: L1I misses, the unified L2 hits
        m.Tlbi(TlbiOp.VMALLE1);
        Assert.Equal(0x9F00_0000UL, m.R(0x1000).Pa);
    }

    [Fact]
    public void ATlbiByVaReachesEveryPieceOfAStageOneBlock()
    {
        // A 2 MiB stage-1 block over 4K stage-2 pages is cached as 4K pieces; a TLBI by any VA in the block
        // removes all of them (they all come from the one block descriptor).
        var m = new Machine(Presets.Bench, twoStage: true);
        m.S1.Set(0x20_0000, 2, MmuSim.Building.Descriptors.Stage1Leaf(0x4020_0000, 2, Granule.K4, nG: true));
        Assert.Equal(Machine.IpaToPa + 0x4020_1008, m.R(0x20_1008).Pa);
        Assert.Equal(Machine.IpaToPa + 0x4030_0008, m.R(0x30_0008).Pa);
        Assert.Equal(2, m.Core.Caches.Tlbs[0].Count);
        m.Tlbi(TlbiOp.VALE1, (1UL << 48) | (0x3F_F000 >> 12));
        Assert.Equal(0, m.Core.Caches.Tlbs[0].Count);
        Assert.Equal(0, m.Core.Caches.Tlbs[1].Count);
    }

    [Fact]
    public void RegisterWritesFlushNothing()
    {
        // Point TTBR0_EL1 (same ASID) at a second table tree that maps VA 0x1000 elsewhere: the TLB keeps giving
        // the old translation, as hardware does, until a TLBI.
        var m = new Machine(Presets.NeoverseN1);
        m.MapPage(0x1000, 0x4100_0000);
        Assert.Equal(0x4100_0000UL, m.R(0x1000).Pa);
        var other = new MmuSim.Building.PageTableBuilder(m.Core.Memory, Granule.K4, 48, 0, new MmuSim.Building.FrameAllocator(0x4800_0000, 0x10_0000));
        other.Set(0x1000, 3, MmuSim.Building.Descriptors.Stage1Leaf(0x4200_0000, 3, Granule.K4, nG: true));
        m.Reg(Registers.SysReg.TTBR0_EL1, (1UL << 48) | other.Root);
        m.Reg(Registers.SysReg.TCR_EL1, 0x0000_0002_8080_3510);
        Assert.Equal(0x4100_0000UL, m.R(0x1000).Pa);
        m.Tlbi(TlbiOp.ASIDE1, 1UL << 48);
        Assert.Equal(0x4200_0000UL, m.R(0x1000).Pa);
    }

    [Fact]
    public void EntriesAreTaggedByVmidEvenWithStage2Off()
    {
        // HCR_EL2.VM=0: stage-1 entries still carry VTTBR_EL2.VMID; VMALLE1 under another VMID leaves them.
        var m = new Machine(Presets.Bench);
        m.Reg(Registers.SysReg.VTTBR_EL2, 5UL << 48);
        m.MapPage(0x1000, 0x4100_0000);
        Assert.Equal(407, m.R(0x1000).Cycles);
        m.Reg(Registers.SysReg.VTTBR_EL2, 6UL << 48);
        Assert.Equal(407, m.R(0x1000).Cycles);       // VMID 6 does not see VMID 5's entry
        m.Tlbi(TlbiOp.VMALLE1);                       // removes VMID 6's only
        m.Reg(Registers.SysReg.VTTBR_EL2, 5UL << 48);
        Assert.Equal(1, m.R(0x1000).Cycles);
    }
}
