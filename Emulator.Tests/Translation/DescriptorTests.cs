using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Tests.Support;
using static MmuSim.Tests.Support.Data;

namespace MmuSim.Tests.Translation;

/// <summary>
/// Descriptor decoding (Arm ARM D8.3, AArch64.DecodeDescriptorType / BlockDescSupported): blocks at every level that
/// allows one, at both stages; a block at any other level, a level-3 descriptor with bits[1:0]=01 and an invalid
/// descriptor are translation faults at their own level.
/// </summary>
public class DescriptorTests
{
    /// <summary>A 48-bit input address that every block size divides, and a 4 TB-aligned output address.</summary>
    private const ulong BlockVa = 0x0000_0400_0000_0000;
    private const ulong BlockOa = 0x0000_0800_0000_0000;

    // granule, level, block size, DS
    public static TheoryData<Granule, int, ulong, bool> AllowedBlocks => new()
    {
        { Granule.K4, 1, 1UL << 30, false },
        { Granule.K4, 2, 1UL << 21, false },
        { Granule.K4, 0, 1UL << 39, true },
        { Granule.K4, 1, 1UL << 30, true },
        { Granule.K4, 2, 1UL << 21, true },
        { Granule.K16, 2, 1UL << 25, false },
        { Granule.K16, 1, 1UL << 36, true },
        { Granule.K16, 2, 1UL << 25, true },
        { Granule.K64, 1, 1UL << 42, false }, // FEAT_LPA (PARange 52)
        { Granule.K64, 2, 1UL << 29, false },
    };

    [Theory]
    [MemberData(nameof(AllowedBlocks))]
    public void Stage1BlocksMapTheirWholeSize(Granule g, int level, ulong size, bool ds)
    {
        var s = new Scenario().WithStage1(g, ds ? 12 : 16, ds: ds);
        s.MapS1(BlockVa, BlockOa, level);
        int start = s.Lower!.StartLevel;
        foreach (ulong offset in new ulong[] { 0UL, 0x10, size / 2 + 0x468, size - 8 })
        {
            var r = s.Translate(BlockVa + offset);
            Expect.Pa(r, BlockOa + offset);
            Assert.Equal(level, r.Level);
            Assert.Equal(size, 1UL << r.BlockShift);
            Assert.Equal(level - start + 1, s.Reads);
        }
        // The next block is not mapped.
        Expect.Fault(s.Translate(BlockVa + size), FaultType.Translation, 1, level);
    }

    [Theory]
    [MemberData(nameof(AllowedBlocks))]
    public void Stage2BlocksMapTheirWholeSize(Granule g, int level, ulong size, bool ds)
    {
        // Stage 1 off: the VA is the IPA.
        var s = new Scenario().WithStage2(g, ds ? 12 : 16, ps: ds ? Scenario.Ps52 : Scenario.Ps48, ds: ds);
        s.MapS2(BlockVa, BlockOa, level);
        foreach (ulong offset in new ulong[] { 0UL, 0x10, size / 2 + 0x468, size - 8 })
        {
            var r = s.Translate(BlockVa + offset);
            Expect.Pa(r, BlockOa + offset);
            Assert.Equal(size, 1UL << r.BlockShift);
        }
        Expect.Fault(s.Translate(BlockVa + size), FaultType.Translation, 2, level);
    }

    // granule, level, DS, PARange
    public static TheoryData<Granule, int, bool, int> DisallowedBlocks => new()
    {
        { Granule.K4, 0, false, 6 },
        { Granule.K4, -1, true, 6 },
        { Granule.K16, 0, false, 6 },
        { Granule.K16, 1, false, 6 },
        { Granule.K16, 0, true, 6 },
        { Granule.K64, 1, false, 5 }, // no FEAT_LPA: PARange 48
    };

    /// <summary>bits[1:0]=01 at a level with no block size is a translation fault at that level (QEMU 7.2 deviation #1 corrected).</summary>
    [Theory]
    [MemberData(nameof(DisallowedBlocks))]
    public void BlockAtADisallowedLevelIsATranslationFault(Granule g, int level, bool ds, int paRange)
    {
        var s1 = new Scenario().WithStage1(g, ds ? 12 : 16, ds: ds);
        s1.Regs[SysReg.ID_AA64MMFR0_EL1] = Mmfr0WithPaRange(paRange);
        s1.MapS1(BlockVa, BlockOa, 3);
        s1.SetS1(BlockVa, level, Descriptors.Stage1Leaf(0, level, g, ds: ds));
        Expect.Fault(s1.Translate(BlockVa), FaultType.Translation, 1, level);

        var s2 = new Scenario().WithStage2(g, ds ? 12 : 16, ps: ds ? Scenario.Ps52 : Scenario.Ps48, ds: ds);
        s2.Regs[SysReg.ID_AA64MMFR0_EL1] = Mmfr0WithPaRange(paRange);
        if (s2.Stage2!.StartLevel > level)
        {
            return; // 16K stage 2 with a 48-bit IPA starts at level 1 (two concatenated tables)
        }
        s2.MapS2(BlockVa, BlockOa, 3);
        s2.SetS2(BlockVa, level, Descriptors.Stage2Leaf(0, level, g, ds: ds));
        Expect.Fault(s2.Translate(BlockVa), FaultType.Translation, 2, level);
    }

    [Fact]
    public void Sixty4KLevel1BlockNeedsFeatLpa()
    {
        // §12 item 20: valid 4 TB block on a 52-bit PA CPU; the same descriptor faults at level 1 with PARange 48.
        var s = new Scenario().WithStage1(Granule.K64, 16);
        s.MapS1(BlockVa, BlockOa, 1);
        Expect.Pa(s.Translate(BlockVa + 0x1234_5678), BlockOa + 0x1234_5678);
        s.Regs[SysReg.ID_AA64MMFR0_EL1] = Mmfr0WithPaRange(5);
        Expect.Fault(s.Translate(BlockVa + 0x1234_5678), FaultType.Translation, 1, 1);
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void ReservedLevel3EncodingIsATranslationFault(Granule g)
    {
        // §12 item 18: bits[1:0]=01 at level 3.
        var s = new Scenario().WithStage1(g, 16);
        s.MapS1(LowVa, Oa1);
        Expect.Pa(s.Translate(LowVa), Oa1);
        s.SetS1(LowVa, 3, Descriptors.Stage1Leaf(Oa1, 3, g) & ~2UL);
        Expect.Fault(s.Translate(LowVa), FaultType.Translation, 1, 3);

        var s2 = new Scenario().WithStage2(g, 16);
        s2.MapS2(LowVa, Oa1);
        Expect.Pa(s2.Translate(LowVa), Oa1);
        s2.SetS2(LowVa, 3, Descriptors.Stage2Leaf(Oa1, 3, g) & ~2UL);
        Expect.Fault(s2.Translate(LowVa), FaultType.Translation, 2, 3);
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void InvalidDescriptorIgnoresEveryOtherBit(Granule g)
    {
        for (int level = Start48(g); level <= 3; level++)
        {
            var fresh = new Scenario().WithStage1(g, 16);
            fresh.MapS1(LowVa, Oa1);
            fresh.SetS1(LowVa, level, 0xFFFF_FFFF_FFFF_FFFE);
            Expect.Fault(fresh.Translate(LowVa), FaultType.Translation, 1, level);
            Assert.Equal(level - fresh.Lower!.StartLevel + 1, fresh.Reads);
        }
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void TtbrCnpIsNotAnAddressBit(Granule g)
    {
        // §12 item 70.
        var s = new Scenario().WithStage1(g, 16);
        s.MapS1(LowVa, Oa1);
        s.Regs[SysReg.TTBR0_EL1] |= 1;
        Expect.Pa(s.Translate(LowVa + 0x20), Oa1 + 0x20);
        Assert.Equal(Scenario.LowerPool, s.Mmu.Record.Steps[0].TableBase);
    }

    [Fact]
    public void RootTableBaseIsAlignedToItsSize()
    {
        // 4K T0SZ=24: two 8-byte root entries, so the base is 16-byte aligned and TTBR bits [3:1] are RES0 (ignored).
        var s = new Scenario().WithStage1(Granule.K4, 24);
        ulong va = (1UL << 40) - 0x1000;
        s.MapS1(va, Oa1);
        s.Regs[SysReg.TTBR0_EL1] |= 0xE;
        Expect.Pa(s.Translate(va), Oa1);
        Assert.Equal(Scenario.LowerPool + 8, s.Mmu.Record.Steps[0].DescriptorAddress);
        // Bit 4 is an address bit at that alignment: the walk reads a different (empty) root.
        s.Regs[SysReg.TTBR0_EL1] |= 0x10;
        Expect.Fault(s.Translate(va), FaultType.Translation, 1, 0);
        Assert.Equal(Scenario.LowerPool + 0x18, s.Mmu.Record.Steps[0].DescriptorAddress);
    }

    [Fact]
    public void Level2BlockIgnoresRes0AddressBitsBelowTheBlock()
    {
        // §12 item 21: a 4K 2 MB block whose descriptor has bits [20:12] set uses IA[20:0] for the offset.
        var s = new Scenario().WithStage1(Granule.K4, 16);
        s.SetS1(0x4000_0000, 2, Descriptors.Stage1Leaf(0x8000_0000, 2, Granule.K4) | 0x1F_F000);
        Expect.Pa(s.Translate(0x4012_3458), 0x8012_3458);
    }
}
