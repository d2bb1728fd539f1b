using MmuSim.Addressing;
using MmuSim.Caching;
using MmuSim.Tests.Support;
using MmuSim.Translation;

namespace MmuSim.Tests.Caching;

/// <summary>
/// What a range TLBI removes: every entry any part of whose translated range lies in the range (pages just inside
/// either end go, pages just outside stay, blocks straddling an end go), in the TLBs, the walk caches (the non-"L"
/// forms) and the IPA cache, with the ASID, VMID and regime rules of the form without R.
/// </summary>
public class TlbiRangeScopeTests
{
    private const ushort Vmid = 1;

    private static ulong Ctx(ushort asid) => ((ulong)Vmid << 16) | asid;

    private static ulong Xt(ulong asid, int scale, int num, ulong baseAddr, int tg = 1) =>
        (asid << 48) | ((ulong)tg << 46) | ((ulong)scale << 44) | ((ulong)num << 39) | baseAddr;

    // 4K pages; the range of BaseADDR 0x1FE, SCALE 0, NUM 1: (1+1) × 2 = 4 pages, VA 0x1FE000 .. 0x201FFF.
    private const ulong First = 0x1F_E000, Last = 0x20_1FFF;

    private static readonly (string Name, ulong Ctx, ulong Va, int Shift)[] TlbEntries =
    [
        ("below", Ctx(1), First - 0x1000, 12),      // the page just below the range
        ("first", Ctx(1), First, 12),               // the range's first page
        ("last", Ctx(1), Last & ~0xFFFUL, 12),      // its last page
        ("above", Ctx(1), Last + 1, 12),            // the page just above
        ("blockLow", Ctx(1), 0x0, 21),              // 2 MiB block [0, 0x1FFFFF]: meets the range's lower part
        ("blockHigh", Ctx(1), 0x20_0000, 21),       // 2 MiB block [0x200000, 0x3FFFFF]: meets its upper part
        ("blockFar", Ctx(1), 0x40_0000, 21),        // outside
        ("otherAsid", Ctx(2), First, 12),
        ("global", ((ulong)Vmid << 16) | ContextTag.Global, First, 12),
        ("el2", ContextTag.El2 | ContextTag.Global, First, 12),
    ];

    private static readonly (string Name, ulong Ctx, ulong Va)[] WalkEntries =
    [
        ("walkLow", Ctx(1), 0x0),        // level-2 table entry: covers the 2 MiB [0, 0x1FFFFF]
        ("walkHigh", Ctx(1), 0x20_0000),
        ("walkFar", Ctx(1), 0x40_0000),
        ("walkOtherAsid", Ctx(2), 0x0),
    ];

    private static TranslationCaches Filled()
    {
        var c = new TranslationCaches(new CachingConfig(
            [new TlbConfig("L1", TlbServes.Unified, 64, 64, 1)],
            [new WalkCacheConfig("S1WC", 1, [0, 1, 2], 16, 16, 1), new WalkCacheConfig("S2WC", 2, [0, 1, 2], 16, 16, 1)],
            new IpaCacheConfig("IPA", 16, 16, 1)));
        foreach (var (_, ctx, va, shift) in TlbEntries)
        {
            c.Fill(c.DataPath, va, ctx, new TlbEntry { Shift = (byte)shift, PaBase = 0x9000_0000 });
        }
        foreach (var (_, ctx, va) in WalkEntries)
        {
            c.FillTable(1, ctx, va, Granule.K4, new TableEntry { Level = 2, NextTable = 0x4000_3000 });
        }
        return c;
    }

    private static SortedSet<string> Removed(TranslationCaches c)
    {
        var gone = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (name, ctx, va, _) in TlbEntries)
        {
            var key = new LookupKey { Va = va, Ctx = ctx, CtxGlobal = ctx };
            if (c.Tlbs[0].Lookup(in key) < 0)
            {
                gone.Add(name);
            }
        }
        foreach (var (name, ctx, va) in WalkEntries)
        {
            if (!c.WalkCaches[0].TryFind(ctx, va, Granule.K4, 0, out _))
            {
                gone.Add(name);
            }
        }
        return gone;
    }

    [Theory]
    [InlineData(TlbiOp.RVAE1, "blockHigh blockLow first global last walkHigh walkLow")]
    [InlineData(TlbiOp.RVALE1, "blockHigh blockLow first global last")]
    [InlineData(TlbiOp.RVAAE1, "blockHigh blockLow first global last otherAsid walkHigh walkLow walkOtherAsid")]
    [InlineData(TlbiOp.RVAALE1, "blockHigh blockLow first global last otherAsid")]
    [InlineData(TlbiOp.RVAE1OS, "blockHigh blockLow first global last walkHigh walkLow")]
    [InlineData(TlbiOp.RVAE2, "el2")]
    [InlineData(TlbiOp.RVALE2IS, "el2")]
    public void RemovesEveryEntryThatMeetsTheRangeAndNothingElse(TlbiOp op, string removed)
    {
        var c = Filled();
        Assert.Empty(Removed(c));
        c.Invalidate(op, Xt(1, 0, 1, First >> 12), Vmid, 0xFFFF);
        Assert.Equal(removed.Split(' '), Removed(c));
    }

    [Fact]
    public void ARangeEndingJustBelowAnEntryOrStartingJustAboveItLeavesIt()
    {
        // BaseADDR 0x1FB, NUM 0: pages 0x1FB000 and 0x1FC000, ending just below "below" (0x1FD000).
        var c = Filled();
        c.Invalidate(TlbiOp.RVAAE1, Xt(0, 0, 0, 0x1FB), Vmid, 0xFFFF);
        Assert.DoesNotContain("below", Removed(c));
        Assert.Contains("blockLow", Removed(c)); // the block holds those pages
        c = Filled();
        c.Invalidate(TlbiOp.RVAALE1, Xt(0, 0, 0, (Last + 0x1001) >> 12), Vmid, 0xFFFF); // from the page above "above"
        Assert.Equal(["blockHigh"], Removed(c));
    }

    [Fact]
    public void IpaRangesReachTheIpaCacheAndTheStage2WalkCacheAsIpas2e1Does()
    {
        foreach (var (op, walkGoes) in new[] { (TlbiOp.RIPAS2E1, true), (TlbiOp.RIPAS2LE1, false), (TlbiOp.RIPAS2E1IS, true) })
        {
            var c = Filled();
            ulong s2ctx = (ulong)Vmid << 16;
            c.FillTable(2, s2ctx, 0x4000_0000, Granule.K4, new TableEntry { Level = 2, NextTable = 0x8000_3000 }); // [0x40000000, 0x401FFFFF]
            c.FillStage2Leaf(s2ctx, 0x4020_0000, new Stage2LeafEntry { Descriptor = 0x7FF, Level = 3, Shift = 12, GroupShift = 12 });
            c.FillStage2Leaf(s2ctx, 0x4020_2000, new Stage2LeafEntry { Descriptor = 0x7FF, Level = 3, Shift = 12, GroupShift = 12 });
            c.FillStage2Leaf((ulong)2 << 16, 0x4020_0000, new Stage2LeafEntry { Descriptor = 0x7FF, Level = 3, Shift = 12, GroupShift = 12 });
            // IPA 0x401FF000 .. 0x40201FFF: the end of the walk entry's range, and the first leaf; not the second.
            c.Invalidate(op, Xt(0, 0, 0, 0x401FF), Vmid, 0xFFFF); // NUM 0: two pages
            Assert.Equal(!walkGoes, c.WalkCaches[1].TryFind(s2ctx, 0x4000_0000, Granule.K4, 0, out _));
            Assert.False(c.IpaCache!.TryFind(s2ctx, 0x4020_0000, out _));
            Assert.True(c.IpaCache!.TryFind(s2ctx, 0x4020_2000, out _));
            Assert.True(c.IpaCache!.TryFind((ulong)2 << 16, 0x4020_0000, out _)); // another VMID
            Assert.Empty(Removed(c)); // stage-1 and combined entries stay, as with IPAS2E1
        }
    }

    [Fact]
    public void AnUpperRangeOperandReachesTtbr1Entries()
    {
        var c = new TranslationCaches(new CachingConfig([new TlbConfig("L1", TlbServes.Unified, 16, 16, 1)], [], null));
        const ulong va = 0x00FF_8000_0020_0000; // VA 0xFFFF_8000_0020_0000 as entries hold it
        var key = new LookupKey { Va = va, Ctx = Ctx(1), CtxGlobal = Ctx(1) };
        c.Fill(c.DataPath, va, Ctx(1), new TlbEntry { Shift = 12, PaBase = 0x9000_0000 });
        ulong baseAddr = (0xFFFF_8000_0020_0000UL >> 12) & ((1UL << 37) - 1);
        c.Invalidate(TlbiOp.RVAE1, Xt(1, 0, 0, baseAddr), Vmid, 0xFFFF);
        Assert.True(c.Tlbs[0].Lookup(in key) < 0);
    }
}

/// <summary>
/// Range TLBIs through the core (the trace's `tlbi` record): a remapped page keeps its old translation until a range
/// that reaches it is invalidated; a range that ends one page short leaves it, as hardware may.
/// </summary>
public class TlbiRangeReplayTests
{
    private static ulong Xt(ulong asid, int num, ulong baseAddr) => (asid << 48) | (1UL << 46) | ((ulong)num << 39) | baseAddr;

    [Theory]
    [InlineData(TlbiOp.RVAE1)]
    [InlineData(TlbiOp.RVALE1IS)]
    [InlineData(TlbiOp.RVAAE1OS)]
    [InlineData(TlbiOp.RVAALE1)]
    public void ARemappedPageChangesOnceARangeReachesIt(TlbiOp op)
    {
        var m = new Machine(MmuSim.Core.Presets.NeoverseN1);
        const ulong va = 0x7_3000;
        m.MapPage(va, 0x5_5000);
        const ulong oldPa = 0x5_5000;
        Assert.Equal(oldPa, m.R(va).Pa);
        ulong slot = m.TablePa(m.S1.DescriptorAddress(va, 3));
        m.Mem(slot, MmuSim.Building.Descriptors.Stage1Leaf(0x6_6000, 3, Granule.K4, nG: true));
        // BaseADDR 0x71, NUM 0: pages 0x71000 and 0x72000, one short of the page.
        m.Tlbi(op, Xt(1, 0, 0x71));
        Assert.Equal(oldPa, m.R(va).Pa);
        // BaseADDR 0x72: pages 0x72000 and 0x73000.
        m.Tlbi(op, Xt(1, 0, 0x72));
        Assert.Equal(0x6_6000UL, m.R(va).Pa);
        Assert.Equal(op, m.Core.LastTlbi.Op);
    }
}
