using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Faults;
using MmuSim.Hypervisor;
using MmuSim.Translation;
using static MmuSim.Tests.Hypervisor.CellTestSupport;

namespace MmuSim.Tests.Hypervisor;

/// <summary>
/// The generated stage-2 and EL2 descriptors, bit by bit (Arm ARM D8.3 stage-2 and stage-1 block/page layouts),
/// for every combination of READ, WRITE, EXECUTE and IO, with and without --jailhouse-compat and --hw-af, at page
/// and block level, for each granule.
/// </summary>
public class CellDescriptorTests
{
    public static TheoryData<Granule, bool, bool> Cases()
    {
        var d = new TheoryData<Granule, bool, bool>();
        foreach (var g in new[] { Granule.K4, Granule.K16, Granule.K64 })
        {
            foreach (bool compat in new[] { false, true })
            {
                foreach (bool hwAf in new[] { false, true })
                {
                    d.Add(g, compat, hwAf);
                }
            }
        }
        return d;
    }

    private static string FlagText(int combo)
    {
        var parts = new List<string>();
        if ((combo & 1) != 0) parts.Add("READ");
        if ((combo & 2) != 0) parts.Add("WRITE");
        if ((combo & 4) != 0) parts.Add("EXECUTE");
        if ((combo & 8) != 0) parts.Add("IO");
        return parts.Count == 0 ? "0" : string.Join(" | ", parts);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Stage2LeavesFollowTheFlags(Granule g, bool compat, bool hwAf)
    {
        // 16 small regions (one per flag combination, mapped with pages) and 16 block-sized ones (one block each).
        ulong blockSize = 1UL << TranslationGeometry.LevelShift(g, 2);
        var regions = new List<string>();
        for (int combo = 0; combo < 16; combo++)
        {
            ulong at = 0x1000_0000UL + (ulong)combo * 0x10_0000;
            regions.Add(Region($"p{combo}", at, at, 0x1_0000, FlagText(combo)));
        }
        for (int combo = 0; combo < 16; combo++)
        {
            ulong at = 0x1_0000_0000UL + (ulong)combo * 2 * blockSize;
            regions.Add(Region($"b{combo}", at, at, blockSize, FlagText(combo)));
        }
        var sys = Sys(SystemJson(string.Join(",\n", regions), mmfr0: Mmfr0(5)));
        var setup = CellSetupBuilder.Build(sys, [], new CellBuildOptions { Granule = g, JailhouseCompat = compat, HardwareAf = hwAf });
        var core = await ReplaySetup(setup.Trace);

        for (int i = 0; i < 32; i++)
        {
            int combo = i % 16;
            var region = sys.RootCell.Regions[i];
            ulong ipa = region.VirtStart + region.Size - 8; // the last word: the leaf of the region's end
            Access(core, ipa, AccessType.Read, out _);
            var steps = core.Mmu.Record.Steps;
            var leaf = steps[^1];
            for (int k = steps.Length - 1; k >= 0 && steps[k].Kind != StepKind.Read; k--)
            {
                leaf = steps[k - 1]; // skip a hardware AF update recorded after the read
            }
            Assert.Equal(2, leaf.Stage);
            int level = i < 16 ? 3 : 2;
            Assert.Equal(level, leaf.Level);
            ulong d = leaf.Descriptor;
            string what = $"{region.Label} {FlagText(combo)} level {level}: 0x{d:x16}";

            bool read = (combo & 1) != 0, write = (combo & 2) != 0, exec = (combo & 4) != 0, io = (combo & 8) != 0;
            Assert.True(BitOps.Field(d, 1, 0) == (level == 3 ? 0b11UL : 0b01UL), what + ": bits[1:0] page/block");
            Assert.True(BitOps.Field(d, 5, 2) == (io ? 0b0001UL : 0b1111UL), what + ": MemAttr[3:0] Device-nGnRE / Normal WB");
            Assert.True(BitOps.Bit(d, 6) == read, what + ": S2AP[0] = READ");
            Assert.True(BitOps.Bit(d, 7) == write, what + ": S2AP[1] = WRITE");
            Assert.True(BitOps.Field(d, 9, 8) == (io ? 0b10UL : 0b11UL), what + ": SH");
            Assert.True(BitOps.Bit(d, 10) == !hwAf, what + ": AF");
            Assert.True(BitOps.Field(d, 54, 53) == (exec || compat ? 0b00UL : 0b10UL), what + ": XN[1:0]");
            ulong oaMask = BitOps.Mask(47, (int)g) & ~BitOps.Mask(TranslationGeometry.LevelShift(g, level));
            Assert.True((d & oaMask) == (region.PhysStart + region.Size - (1UL << TranslationGeometry.LevelShift(g, level))), what + ": output address");
            // Nothing else: nT/FnXS/DBM/Contiguous/software bits and the upper attributes are zero.
            ulong known = 0b11 | BitOps.Mask(10, 2) | oaMask | BitOps.Mask(54, 53);
            Assert.True((d & ~known) == 0, what + $": stray bits 0x{d & ~known:x}");
        }
    }

    [Fact]
    public void El2LeavesAreReadWriteWithXnExceptForCode()
    {
        foreach (var g in new[] { Granule.K4, Granule.K16, Granule.K64 })
        {
            int shift = (int)g;
            ulong code = CellSetupBuilder.El2Leaf(El2Kind.Code, 0x4000_0000, 3, g);
            ulong data = CellSetupBuilder.El2Leaf(El2Kind.Data, 0x4000_0000, 3, g);
            ulong dev = CellSetupBuilder.El2Leaf(El2Kind.Device, 0x0900_0000, 2, g);
            // bits[1:0] page, AttrIndx[4:2]=0 Normal, AP[2:1]=01 (RW, AP[1] RES1 with one privilege level), SH=11, AF=1.
            Assert.Equal(0x4000_0000UL | 0b11 | (0b01UL << 6) | (0b11UL << 8) | (1UL << 10), code);
            Assert.Equal(code | (1UL << 54), data);
            // block, AttrIndx=1 (Device-nGnRE in MAIR_EL2), SH=10, XN.
            Assert.Equal(0x0900_0000UL | 0b01 | (1UL << 2) | (0b01UL << 6) | (0b10UL << 8) | (1UL << 10) | (1UL << 54), dev);
            Assert.Equal(0UL, code & BitOps.Mask(shift - 1, 12));
        }
        Assert.Equal(0x04FFUL, El2Geometry.Mair);
        Assert.Equal(0x30C5_0830UL | 1 | 4 | (1UL << 12), El2Geometry.Sctlr);
    }

    [Fact]
    public void NoHugepagesMapsWithPagesOnly()
    {
        var sys = Sys(SystemJson(Region("huge", 0x4000_0000, 0x4000_0000, 0x4000_0000, "READ | WRITE") + ",\n"
            + Region("small", 0x8000_0000, 0x8000_0000, 0x40_0000, "READ | WRITE | NO_HUGEPAGES"), mmfr0: Mmfr0(2)));
        var setup = CellSetupBuilder.Build(sys, [], new CellBuildOptions());
        var core = setup.CreateCore();
        Access(core, 0x4000_1000, AccessType.Read, out var big);
        Assert.Equal(30, big.BlockShift); // one 1 GiB block
        Access(core, 0x8020_0000, AccessType.Read, out var small);
        Assert.Equal(12, small.BlockShift); // 4 KiB pages, although 2 MiB blocks would fit
        Assert.Equal(1024, setup.Descriptors.Count(d => (d.Value & (1UL << 10)) != 0 && (d.Value & BitOps.Mask(47, 12)) - 0x8000_0000UL < 0x40_0000));
    }
}
