using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Memory;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Building;

/// <summary>The descriptor encoders and the page-table builder the other tests stand on.</summary>
public class PageTableBuilderTests
{
    [Theory]
    // address, granule, DS, descriptor address field
    [InlineData(0x0000_1234_5678_9000UL, Granule.K4, false, 0x0000_1234_5678_9000UL)]
    [InlineData(0x0000_1234_5678_9FFFUL, Granule.K4, false, 0x0000_1234_5678_9000UL)]
    [InlineData(0x0000_1234_5678_C000UL, Granule.K16, false, 0x0000_1234_5678_C000UL)]
    [InlineData(0x0000_1234_5678_C000UL, Granule.K64, false, 0x0000_1234_5678_0000UL)]
    [InlineData(0x000A_0000_0001_0000UL, Granule.K64, false, 0x0000_0000_0001_A000UL)]  // FEAT_LPA: OA[51:48] in [15:12]
    [InlineData(0x000F_8765_4321_0000UL, Granule.K4, true, 0x0003_8765_4321_0300UL)]   // LPA2: [49:48] in place, [51:50] in [9:8]
    [InlineData(0x0009_0000_0000_4000UL, Granule.K16, true, 0x0001_0000_0000_4200UL)]
    public void EncodeAddress(ulong address, Granule g, bool ds, ulong field) =>
        Assert.Equal($"0x{field:x}", $"0x{Descriptors.EncodeAddress(address, g, ds):x}");

    [Fact]
    public void DescriptorFieldPositions()
    {
        ulong leaf = Descriptors.Stage1Leaf(0x4000_0000, 3, Granule.K4, attrIndx: 5, ap: 3, sh: 2, af: true, nG: true, uxn: true, pxn: true, contiguous: true, dbm: true);
        Assert.Equal(0x0078_0000_4000_0ED7UL, leaf); // UXN 54, PXN 53, Cont 52, DBM 51, nG 11, AF 10, SH 9:8, AP 7:6, AttrIndx 4:2, page 11
        Assert.Equal(0x0000_0000_4000_0001UL, Descriptors.Stage1Leaf(0x4000_0000, 2, Granule.K4, af: false, sh: 0)); // block: 01
        ulong s2 = Descriptors.Stage2Leaf(0x8000_0000, 3, Granule.K4, memAttr: 0x5, s2ap: 2, sh: 3, xn: 1, dbm: true);
        Assert.Equal(0x0028_0000_8000_0797UL, s2); // XN[1:0] 54:53, DBM 51, AF, SH, S2AP 7:6, MemAttr 5:2
        ulong table = Descriptors.Table(0x1234_5000, Granule.K4, apTable: 2, uxnTable: true, pxnTable: true);
        Assert.Equal(0x5800_0000_1234_5003UL, table); // APTable 62:61, UXNTable 60, PXNTable 59
        Assert.Equal(0x5800_0000_0999_9003UL, Descriptors.WithAddress(table, 0x0999_9000, Granule.K4, false));
    }

    [Fact]
    public void MapRangeUsesTheLargestBlocksAlignmentAllows()
    {
        var mem = new PhysicalMemory();
        var b = new PageTableBuilder(mem, Granule.K4, 48, 0, new FrameAllocator(0x10_0000, 0x10_0000));
        var levels = new List<int>();
        b.MapRange(0x4000_0000, 0x8000_0000, (1UL << 30) + (2UL << 20) + 0x1000, (oa, level) =>
        {
            levels.Add(level);
            return Descriptors.Stage1Leaf(oa, level, Granule.K4);
        });
        Assert.Equal(new[] { 1, 2, 3 }, levels.ToArray());
        // Root, one L1 table, one L2 table, one L3 table.
        Assert.Equal(4UL * 0x1000, b.TablesBytes);
        // Without blocks: pages only.
        var p = new PageTableBuilder(mem, Granule.K4, 48, 0, new FrameAllocator(0x40_0000, 0x10_0000));
        int pages = 0;
        p.MapRange(0x4000_0000, 0x8000_0000, 0x10_0000, (oa, level) => { pages++; Assert.Equal(3, level); return 0; }, allowBlocks: false);
        Assert.Equal(256, pages);
        Assert.Throws<ArgumentException>(() => p.MapRange(0x4000_0800, 0, 0x1000, (_, _) => 0));
    }

    [Fact]
    public void ConcatenatedRootIsAllocatedWhole()
    {
        // Stage 2, 4K, 40-bit IPA from level 1: 2 tables = 8 KB, aligned to 8 KB.
        var b = new PageTableBuilder(new PhysicalMemory(), Granule.K4, 40, 1, new FrameAllocator(0x1000, 0x10_0000));
        Assert.Equal(10, b.RootIndexBits);
        Assert.Equal(0x2000UL, b.Root);
        Assert.Equal(0x2000UL + 0x1000 + 8, b.DescriptorAddress((1UL << 39) + (1UL << 30), 1));
    }

    [Fact]
    public void ExhaustedPoolAndBadLevelsThrow()
    {
        var frames = new FrameAllocator(0x1000, 0x2000);
        var b = new PageTableBuilder(new PhysicalMemory(), Granule.K4, 48, 0, frames);
        b.Set(0x1000, 1, 0); // one more table fits
        Assert.Throws<PoolExhaustedException>(() => b.Set(0x1000, 3, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => b.DescriptorAddress(0, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => b.DescriptorAddress(0, 4));
    }

    [Fact]
    public void ScenarioPlacesStage1TablesInIpaSpace()
    {
        var s = new Scenario().WithStage2(Granule.K4, 16);
        s.WithStage1(Granule.K16, 16);
        ulong slot = s.MapS1(Data.LowVa, 0x4000_0000);
        Assert.InRange(slot, Scenario.LowerPool, Scenario.LowerPool + Scenario.S1PoolSize);
        Assert.Equal(slot + Scenario.S1TableIpaToPa, Scenario.Phys(s.Lower!, slot));
        Assert.NotEqual(0UL, s.Memory.Peek64(new PhysicalAddress(slot + Scenario.S1TableIpaToPa)));
        Assert.Equal(0UL, s.Memory.Peek64(new PhysicalAddress(slot)));
    }
}
