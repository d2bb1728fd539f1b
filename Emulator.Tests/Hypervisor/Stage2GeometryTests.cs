using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Hypervisor;
using MmuSim.Registers;
using MmuSim.Translation;
using static MmuSim.Tests.Hypervisor.CellTestSupport;

namespace MmuSim.Tests.Hypervisor;

/// <summary>
/// VTCR_EL2 from ID_AA64MMFR0_EL1.PARange for every PA size and granule. The expected values are the Arm ARM's
/// table of valid stage-2 start levels and concatenations (fewest levels, at most 16 concatenated tables; 52-bit
/// PAs need LPA2 with 4K/16K, so the IPA stops at 48 bits there), written out by hand.
/// </summary>
public class Stage2GeometryTests
{
    // granule, PARange, PA bits, T0SZ, start level, SL0, concatenated root tables, PS, root-table entries
    public static TheoryData<Granule, int, int, int, int, int, int, int, int> Table() => new()
    {
        { Granule.K4, 0, 32, 32, 2, 0b00, 4, 0b000, 2048 },
        { Granule.K4, 1, 36, 28, 1, 0b01, 1, 0b001, 64 },
        { Granule.K4, 2, 40, 24, 1, 0b01, 2, 0b010, 1024 },
        { Granule.K4, 3, 42, 22, 1, 0b01, 8, 0b011, 4096 },
        { Granule.K4, 4, 44, 20, 0, 0b10, 1, 0b100, 32 },
        { Granule.K4, 5, 48, 16, 0, 0b10, 1, 0b101, 512 },
        { Granule.K4, 6, 52, 16, 0, 0b10, 1, 0b101, 512 },
        { Granule.K16, 0, 32, 32, 2, 0b01, 1, 0b000, 128 },
        { Granule.K16, 1, 36, 28, 2, 0b01, 1, 0b001, 2048 },
        { Granule.K16, 2, 40, 24, 2, 0b01, 16, 0b010, 32768 },
        { Granule.K16, 3, 42, 22, 1, 0b10, 1, 0b011, 64 },
        { Granule.K16, 4, 44, 20, 1, 0b10, 1, 0b100, 256 },
        { Granule.K16, 5, 48, 16, 1, 0b10, 2, 0b101, 4096 },
        { Granule.K16, 6, 52, 16, 1, 0b10, 2, 0b101, 4096 },
        { Granule.K64, 0, 32, 32, 3, 0b00, 8, 0b000, 65536 },
        { Granule.K64, 1, 36, 28, 2, 0b01, 1, 0b001, 128 },
        { Granule.K64, 2, 40, 24, 2, 0b01, 1, 0b010, 2048 },
        { Granule.K64, 3, 42, 22, 2, 0b01, 1, 0b011, 8192 },
        { Granule.K64, 4, 44, 20, 2, 0b01, 4, 0b100, 32768 },
        { Granule.K64, 5, 48, 16, 1, 0b10, 1, 0b101, 64 },
        { Granule.K64, 6, 52, 12, 1, 0b10, 1, 0b110, 1024 },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void VtcrFollowsParange(Granule g, int paRange, int paBits, int t0sz, int startLevel, int sl0, int tables, int ps, int entries)
    {
        var geo = Stage2Geometry.Derive(g, new Mmfr0(Mmfr0(paRange)), out string? error);
        Assert.Null(error);
        Assert.Equal(paBits, geo.PaBits);
        Assert.Equal(t0sz, geo.T0Sz);
        Assert.Equal(startLevel, geo.StartLevel);
        Assert.Equal(sl0, geo.Sl0);
        Assert.Equal(tables, geo.ConcatenatedTables);
        Assert.Equal(ps, geo.Ps);
        Assert.Equal(8UL * (ulong)entries, geo.RootBytes);

        ulong vtcr = geo.Vtcr(vmid16: false, hardwareAf: false);
        Assert.Equal((ulong)t0sz, BitOps.Field(vtcr, 5, 0));
        Assert.Equal((ulong)sl0, BitOps.Field(vtcr, 7, 6));
        Assert.Equal(0b01UL, BitOps.Field(vtcr, 9, 8));     // IRGN0: write-back
        Assert.Equal(0b01UL, BitOps.Field(vtcr, 11, 10));   // ORGN0: write-back
        Assert.Equal(0b11UL, BitOps.Field(vtcr, 13, 12));   // SH0: inner shareable
        Assert.Equal(g switch { Granule.K4 => 0b00UL, Granule.K64 => 0b01UL, _ => 0b10UL }, BitOps.Field(vtcr, 15, 14));
        Assert.Equal((ulong)ps, BitOps.Field(vtcr, 18, 16));
        Assert.False(BitOps.Bit(vtcr, 19));
        Assert.False(BitOps.Bit(vtcr, 21));
        Assert.True(BitOps.Bit(vtcr, 31));                   // RES1
        Assert.Equal(0UL, vtcr & ~(BitOps.Mask(18, 0) | (1UL << 31)));
        Assert.True(BitOps.Bit(geo.Vtcr(vmid16: true, hardwareAf: true), 19));
        Assert.True(BitOps.Bit(geo.Vtcr(vmid16: true, hardwareAf: true), 21));

        // The walker agrees: no configuration fault, the same start level and first-lookup width.
        var regs = new SystemRegisters();
        regs[SysReg.ID_AA64MMFR0_EL1] = Mmfr0(paRange);
        regs[SysReg.ID_AA64MMFR2_EL1] = 0;
        regs[SysReg.VTCR_EL2] = vtcr;
        regs[SysReg.VTTBR_EL2] = 0x4000_0000;
        var p = WalkParamsBuilder.Stage2(regs);
        Assert.False(p.ConfigFault);
        Assert.Equal(startLevel, p.StartLevel);
        Assert.Equal(64 - t0sz, p.InputSize);
        Assert.Equal(entries, 1 << p.FirstLevelBits);
    }

    [Fact]
    public void AGranuleTheCpuLacksIsAnError()
    {
        // Cortex-A57: TGran16 = 0 (not implemented).
        Stage2Geometry.Derive(Granule.K16, new Mmfr0(0x00001124), out string? error);
        Assert.NotNull(error);
        Assert.Contains("does not implement the 16K granule at stage 2", error);
        Stage2Geometry.Derive(Granule.K4, new Mmfr0(0x00001124), out error);
        Assert.Null(error);
    }

    [Theory]
    [InlineData(Granule.K4, 0, 32, 1)]
    [InlineData(Granule.K4, 2, 40, 0)]
    [InlineData(Granule.K16, 5, 48, 0)]
    [InlineData(Granule.K64, 6, 52, 1)]
    public void El2TcrCoversThePaSpace(Granule g, int paRange, int vaBits, int startLevel)
    {
        var el2 = El2Geometry.Derive(g, new Mmfr0(Mmfr0(paRange)), new Mmfr2(0x0000_0000_0001_0000), 0xfc00_0000, out string? error);
        Assert.Null(error);
        Assert.Equal(vaBits, el2.VaBits);
        Assert.Equal(startLevel, el2.StartLevel);
        ulong tcr = el2.Tcr;
        Assert.Equal((ulong)(64 - vaBits), BitOps.Field(tcr, 5, 0));
        Assert.True(BitOps.Bit(tcr, 23));
        Assert.True(BitOps.Bit(tcr, 31));
        var regs = new SystemRegisters();
        regs[SysReg.ID_AA64MMFR0_EL1] = Mmfr0(paRange);
        regs[SysReg.ID_AA64MMFR2_EL1] = 0x0000_0000_0001_0000;
        regs[SysReg.TCR_EL2] = tcr;
        var p = WalkParamsBuilder.Stage1(regs, TranslationRegime.El2, upperRange: false);
        Assert.False(p.ConfigFault);
        Assert.Equal(g, p.Granule);
        Assert.Equal(startLevel, p.StartLevel);
    }
}
