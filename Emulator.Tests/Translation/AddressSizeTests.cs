using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Tests.Support;
using static MmuSim.Tests.Support.Data;

namespace MmuSim.Tests.Translation;

/// <summary>
/// Address size checks (Arm ARM D8.2.x, notes §6): the TTBR/VTTBR base (always level 0), next-table addresses (their
/// level), output addresses (the leaf level), 52-bit output with FEAT_LPA (64K, OA[51:48] in desc[15:12]) and FEAT_LPA2
/// (DS, OA[51:50] in desc[9:8]), and the stage-2 input range (a stage-2 level-0 translation fault, not a size fault).
/// </summary>
public class AddressSizeTests
{
    public static TheoryData<Granule, int, int> StartLevels => new()
    {
        { Granule.K4, 16, 0 }, { Granule.K4, 25, 1 }, { Granule.K4, 34, 2 }, { Granule.K4, 43, 3 },
        { Granule.K16, 16, 0 }, { Granule.K16, 17, 1 }, { Granule.K16, 28, 2 }, { Granule.K16, 39, 3 },
        { Granule.K64, 16, 1 }, { Granule.K64, 22, 2 }, { Granule.K64, 35, 3 },
    };

    /// <summary>§12 item 13: BADDR above the output size is an address size fault at level 0 whatever the start level.</summary>
    [Theory]
    [MemberData(nameof(StartLevels))]
    public void TtbrBaseAboveOutputSizeFaultsAtLevel0(Granule g, int txsz, int startLevel)
    {
        var s = new Scenario().WithStage1(g, txsz, ips: Scenario.Ps40).WithUpper(g, txsz);
        s.MapS1(0x10, Oa1);
        s.MapS1(0xFFFF_FFFF_FFFF_0000UL, Oa2);
        Expect.Pa(s.Translate(0x10), Oa1 + 0x10);
        Assert.Equal(startLevel, s.Mmu.Record.Steps[0].Level);
        s.Regs[SysReg.TTBR0_EL1] |= 1UL << 41;
        Expect.Fault(s.Translate(0x10), FaultType.AddressSize, 1, 0);
        Assert.Equal(0, s.Reads);
        var o = s.Access(0x10);
        Assert.Equal(0x9600_0000UL, o.Esr); // DFSC 0x00
        // Bit 39 is inside a 40-bit output size: the walk reads there (nothing mapped: translation fault at the start level).
        s.Regs[SysReg.TTBR0_EL1] ^= (1UL << 41) | (1UL << 39);
        Expect.Fault(s.Translate(0x10), FaultType.Translation, 1, startLevel);
        // TTBR1 is checked the same way.
        Expect.Pa(s.Translate(0xFFFF_FFFF_FFFF_0000UL + 8), Oa2 + 8);
        s.Regs[SysReg.TTBR1_EL1] |= 1UL << 47;
        Expect.Fault(s.Translate(0xFFFF_FFFF_FFFF_0000UL + 8), FaultType.AddressSize, 1, 0);
    }

    /// <summary>The output size is min(IPS, PAMax): IPS=52 on a 44-bit CPU is 44 bits (§12 item 14).</summary>
    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void OutputSizeIsIpsClampedToPaRange(Granule g)
    {
        const ulong oa = 1UL << 44;
        var s = new Scenario().WithStage1(g, 16, ips: Scenario.Ps52);
        s.Regs[SysReg.ID_AA64MMFR0_EL1] = Mmfr0WithPaRange(4); // 44 bits
        s.MapS1(LowVa, oa);
        Expect.Fault(s.Translate(LowVa), FaultType.AddressSize, 1, 3);
        s.Regs[SysReg.ID_AA64MMFR0_EL1] = Mmfr0WithPaRange(5); // 48 bits
        s.SetField(SysReg.TCR_EL1, 34, 32, Scenario.Ps48);
        Expect.Pa(s.Translate(LowVa + 8), oa + 8);
        // IPS=40 on the 48-bit CPU: 40 bits.
        s.SetField(SysReg.TCR_EL1, 34, 32, Scenario.Ps40);
        Expect.Fault(s.Translate(LowVa), FaultType.AddressSize, 1, 3);
    }

    /// <summary>Next-level table address above the output size: address size fault at the table descriptor's level (item 15).</summary>
    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void TableAddressAboveOutputSizeFaultsAtItsLevel(Granule g)
    {
        for (int level = Start48(g); level < 3; level++)
        {
            var s = new Scenario().WithStage1(g, 16, ips: Scenario.Ps44);
            s.MapS1(LowVa, Oa1);
            ulong slot = s.Lower!.DescriptorAddress(LowVa, level);
            ulong table = s.ReadTable(s.Lower, slot);
            s.SetS1(LowVa, level, table | (1UL << 45));
            Expect.Fault(s.Translate(LowVa), FaultType.AddressSize, 1, level);
            Assert.Equal(level - Start48(g) + 1, s.Reads);
            // Bit 43 is inside 44 bits: followed (to empty memory), so the next level is invalid instead.
            s.SetS1(LowVa, level, table | (1UL << 43));
            Expect.Fault(s.Translate(LowVa), FaultType.Translation, 1, level + 1);
        }
    }

    /// <summary>Block or page output address above the output size: address size fault at the leaf level.</summary>
    [Theory]
    [InlineData(Granule.K4, 1)]
    [InlineData(Granule.K4, 2)]
    [InlineData(Granule.K4, 3)]
    [InlineData(Granule.K16, 2)]
    [InlineData(Granule.K16, 3)]
    [InlineData(Granule.K64, 1)]
    [InlineData(Granule.K64, 2)]
    [InlineData(Granule.K64, 3)]
    public void LeafOutputAboveOutputSizeFaultsAtTheLeafLevel(Granule g, int level)
    {
        const ulong va = 0x0000_0400_0000_0000;
        var s = new Scenario().WithStage1(g, 16, ips: Scenario.Ps42);
        s.MapS1(va, 1UL << 42, level);
        Expect.Fault(s.Translate(va), FaultType.AddressSize, 1, level);
        // A 4 TB block below 2^42 can only start at 0.
        ulong okOa = Scenario.LevelSize(g, level) < (1UL << 41) ? 1UL << 41 : 0;
        s.MapS1(va, okOa, level);
        Expect.Pa(s.Translate(va + 0x18), okOa + 0x18);

        // Stage 2 with a 42-bit IPA: 4K starts at level 1 (8 concatenated tables, as L0 needs PS >= 44), 64K at level 2.
        var s2 = new Scenario().WithStage2(g, 22, startLevel: g == Granule.K4 ? 1 : null, ps: Scenario.Ps42);
        if (level < s2.Stage2!.StartLevel)
        {
            return;
        }
        s2.MapS2(1UL << 41, 1UL << 42, level);
        Expect.Fault(s2.Translate((1UL << 41) + 0x18), FaultType.AddressSize, 2, level);
        s2.MapS2(1UL << 41, okOa, level);
        Expect.Pa(s2.Translate((1UL << 41) + 0x18), okOa + 0x18);
    }

    // ---------------------------------------------------------------- 52-bit: FEAT_LPA (64K)

    [Fact]
    public void Lpa64KCarriesOa51To48InDescriptorBits15To12()
    {
        const ulong oa = 0x000A_1234_5678_0000;
        var s = new Scenario().WithStage1(Granule.K64, 12, ips: Scenario.Ps52);
        ulong slot = s.MapS1(0x000F_0000_0000_0000, oa);
        ulong desc = s.ReadTable(s.Lower!, slot);
        Assert.Equal(0xAUL, (desc >> 12) & 0xF);
        Expect.Pa(s.Translate(0x000F_0000_0000_8888), oa + 0x8888);
        // With a 48-bit output size the same bits are OA[51:48] above it: address size fault (QEMU 7.2 ignores them, §11 #9).
        s.SetField(SysReg.TCR_EL1, 34, 32, Scenario.Ps48);
        Expect.Fault(s.Translate(0x000F_0000_0000_8888), FaultType.AddressSize, 1, 3);
    }

    [Fact]
    public void Lpa64KTtbrBits5To2AreBaddr51To48()
    {
        const ulong root = 0x0003_0000_0400_0000;
        const ulong BlockVa = 0x0000_1234_4000_0000; // 512 MB aligned
        var s = new Scenario().WithStage1(Granule.K64, 16, ips: Scenario.Ps52, pool: root);
        s.MapS1(BlockVa, 0x000C_0000_0000_0000, 2);
        Assert.Equal(0x3UL << 2, s.Regs[SysReg.TTBR0_EL1] & 0x3C);
        Expect.Pa(s.Translate(BlockVa + 0x40), 0x000C_0000_0000_0040);
        Assert.Equal(root, s.Mmu.Record.Steps[0].TableBase);
        // With PS below 52 bits the field is BADDR[5:2] (RES0 at this alignment) and BADDR[51:48] reads as 0.
        s.SetField(SysReg.TCR_EL1, 34, 32, Scenario.Ps48);
        Expect.Fault(s.Translate(BlockVa + 0x40), FaultType.Translation, 1, 1);
        Assert.Equal(root & 0x0000_FFFF_FFFF_FFFF, s.Mmu.Record.Steps[0].TableBase);
    }

    [Fact]
    public void Lpa64KStage2()
    {
        const ulong pa = 0x000B_0000_2000_0000;
        var s = new Scenario().WithStage2(Granule.K64, 12, ps: Scenario.Ps52);
        s.MapS2(0x000E_0000_0000_0000, pa, 2);
        Expect.Pa(s.Translate(0x000E_0000_0000_1238), pa + 0x1238);
        s.SetField(SysReg.VTCR_EL2, 18, 16, Scenario.Ps48);
        // With PS=48 the 52-bit IPA space still walks (AArch64.S2Walk does not compare them), but the block's
        // OA[51:48], carried in descriptor bits [15:12], is now above the output size: address size fault at L2.
        Expect.Fault(s.Translate(0x000E_0000_0000_1238), FaultType.AddressSize, 2, 2);
    }

    // ---------------------------------------------------------------- 52-bit: FEAT_LPA2 (DS)

    [Theory]
    [InlineData(Granule.K4)]
    [InlineData(Granule.K16)]
    public void Lpa2CarriesOa51To50InDescriptorBits9To8(Granule g)
    {
        const ulong oa = 0x000F_8765_4320_0000; // OA[51:48] = 0xF
        const ulong va = 0x000F_0000_0000_0000;
        var s = new Scenario().WithStage1(g, 12, ips: Scenario.Ps52, ds: true);
        ulong slot = s.MapS1(va, oa);
        ulong desc = s.ReadTable(s.Lower!, slot);
        Assert.Equal(3UL, (desc >> 8) & 3);   // OA[51:50]
        Assert.Equal(3UL, (desc >> 48) & 3);  // OA[49:48]
        Expect.Pa(s.Translate(va + 0x230), oa + 0x230);
        // With DS the shareability comes from TCR_EL1.SH0, not from the descriptor.
        s.SetField(SysReg.TCR_EL1, 13, 12, 2);
        Assert.Equal(2, s.Translate(va).Sh);
        // IPS 48: OA[51:48] is above the output size.
        s.SetField(SysReg.TCR_EL1, 34, 32, Scenario.Ps48);
        Expect.Fault(s.Translate(va), FaultType.AddressSize, 1, 3);
    }

    [Fact]
    public void Lpa2Level4KLevelMinus1Faults()
    {
        // 4K, DS=1, T0SZ=12: the walk starts at level -1 (FSC 0x2B translation, 0x29 address size, 0x13 external).
        const ulong va = 0x000F_0000_0000_0000;
        var s = new Scenario().WithStage1(Granule.K4, 12, ips: Scenario.Ps48, ds: true);
        s.MapS1(va, Oa1);
        Expect.Pa(s.Translate(va), Oa1);
        Assert.Equal(5, s.Reads);
        Assert.Equal(-1, s.Mmu.Record.Steps[0].Level);
        ulong l0Table = s.ReadTable(s.Lower!, s.Lower!.DescriptorAddress(va, -1));

        s.SetS1(va, -1, 0);
        Expect.Fault(s.Translate(va), FaultType.Translation, 1, -1);
        Assert.Equal(0x9600_002BUL, s.Access(va).Esr);

        s.SetS1(va, -1, Descriptors.Table(1UL << 49, Granule.K4, ds: true)); // above the 48-bit output size
        Expect.Fault(s.Translate(va), FaultType.AddressSize, 1, -1);
        Assert.Equal(0x9600_0029UL, s.Access(va).Esr);

        // External abort: the level-0 table outside declared RAM faults at level 0; the root outside RAM at level -1.
        s.Memory.DeclareRam(new PhysicalAddress(Scenario.LowerPool), Scenario.S1PoolSize);
        s.SetS1(va, -1, Descriptors.Table(0x7000_0000, Granule.K4, ds: true));
        Expect.Fault(s.Translate(va), FaultType.ExternalWalk, 1, 0);
        Assert.Equal(0x9600_0014UL, s.Access(va).Esr);
        s.SetS1(va, -1, l0Table);
        Expect.Pa(s.Translate(va), Oa1);
        s.Regs[SysReg.TTBR0_EL1] = 0x7000_0000;
        Expect.Fault(s.Translate(va), FaultType.ExternalWalk, 1, -1);
        Assert.Equal(0x9600_0013UL, s.Access(va).Esr);
    }
}
