using System.Runtime.CompilerServices;

namespace MmuSim.Addressing;

/// <summary>Translation granule. The value is log2 of the size.</summary>
public enum Granule : byte
{
    K4 = 12,
    K16 = 14,
    K64 = 16,
}

/// <summary>
/// The only place that does level arithmetic. Every per-granule and per-level fact comes from here,
/// so the walker has no per-level or per-granule branches (Arm ARM D8.2, "Translation table walks").
/// </summary>
public static class TranslationGeometry
{
    /// <summary>Log2 of the granule size (12, 14 or 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int PageShift(Granule g) => (int)g;

    /// <summary>Index bits resolved by a full table: granule bits − 3 (8-byte descriptors).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Stride(Granule g) => (int)g - 3;

    /// <summary>Lowest input-address bit resolved at <paramref name="level"/> (the size of what one entry maps).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int LevelShift(Granule g, int level) => (int)g + ((int)g - 3) * (3 - level);

    /// <summary>
    /// Stage-1 start level from the input-address size: 4 − ceil((inputsize − g) / stride)
    /// (AArch64.S1StartLevel; QEMU's 4 − (inputsize − 4) / stride is the same for legal sizes).
    /// </summary>
    public static int Stage1StartLevel(Granule g, int inputSize)
    {
        int stride = Stride(g);
        int bits = inputSize - (int)g;
        return 4 - (bits + stride - 1) / stride;
    }

    /// <summary>
    /// Whether a block descriptor may appear at <paramref name="level"/>
    /// (AArch64.BlockDescSupported): 4K L1/L2 (L0 with DS), 16K L2 (L1 with DS), 64K L2 (L1 with FEAT_LPA).
    /// </summary>
    public static bool BlockAllowed(Granule g, int level, bool ds, bool lpaImplemented) => g switch
    {
        Granule.K4 => level == 1 || level == 2 || (level == 0 && ds),
        Granule.K16 => level == 2 || (level == 1 && ds),
        _ => level == 2 || (level == 1 && lpaImplemented),
    };

    /// <summary>Entries in a contiguous group at a level (Arm ARM D8.6.1, "The Contiguous bit").</summary>
    public static int ContiguousEntries(Granule g, int level) => g switch
    {
        Granule.K4 => 16,
        Granule.K16 => level == 2 ? 32 : 128,
        _ => 32,
    };

    /// <summary>
    /// Whether the Contiguous bit has effect in a leaf at <paramref name="level"/> (Arm ARM D8.6.1): 4K pages and
    /// level 1/2 blocks; 16K and 64K pages and level 2 blocks. It is RES0 for 4K level-0 and 16K level-1 blocks
    /// (FEAT_LPA2) and for 64K level-1 blocks.
    /// </summary>
    public static bool ContiguousAllowed(Granule g, int level, bool ds) => g == Granule.K4 ? level >= 1 : level >= 2;

    public static string Name(Granule g) => g switch { Granule.K4 => "4K", Granule.K16 => "16K", _ => "64K" };
}
