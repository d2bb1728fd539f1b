using MmuSim.Addressing;

namespace MmuSim.Tests.Support;

/// <summary>Shared theory rows and per-granule facts written down from the Arm ARM (D8.2, D8.3 tables).</summary>
public static class Data
{
    public static TheoryData<Granule> Granules => new() { Granule.K4, Granule.K16, Granule.K64 };

    public static readonly Granule[] AllGranules = [Granule.K4, Granule.K16, Granule.K64];

    /// <summary>
    /// Levels at which a block descriptor is allowed without FEAT_LPA2 on a 52-bit-PA CPU (AArch64.BlockDescSupported):
    /// 4K L1 (1 GB) and L2 (2 MB); 16K L2 (32 MB); 64K L1 (4 TB, FEAT_LPA) and L2 (512 MB).
    /// </summary>
    public static int[] BlockLevels(Granule g) => g switch
    {
        Granule.K4 => [1, 2],
        Granule.K16 => [2],
        _ => [1, 2],
    };

    /// <summary>The first lookup level of a 48-bit input address: 4K L0, 16K L0 (2 entries), 64K L1.</summary>
    public static int Start48(Granule g) => g == Granule.K64 ? 1 : 0;

    /// <summary>ID_AA64MMFR0_EL1 of QEMU -cpu max with PARange replaced (0=32 .. 5=48, 6=52 bits).</summary>
    public static ulong Mmfr0WithPaRange(int paRange) => (MmuSim.Registers.SystemRegisters.QemuMaxMmfr0 & ~0xFUL) | (uint)paRange;

    /// <summary>A VA in the TTBR0 range, away from zero, with an in-page offset valid for every granule.</summary>
    public const ulong LowVa = 0x0000_1234_5670_0000;
    public const ulong PageOffset = 0x654;
    /// <summary>A VA in the TTBR1 range (48-bit).</summary>
    public const ulong HighVa = 0xFFFF_8765_4320_0000;
    /// <summary>Output addresses aligned for every granule's page.</summary>
    public const ulong Oa1 = 0x4123_0000;
    public const ulong Oa2 = 0x4567_0000;
}
