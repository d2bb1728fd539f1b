using MmuSim.Addressing;
using MmuSim.Registers;

namespace MmuSim.Translation;

/// <summary>
/// The context tag of a cached translation (arm-notes §8.3): regime, VMID, ASID or global, and the enable state of
/// each stage. One 64-bit value, so a lookup compares it in one instruction. Layout: [15:0] ASID (regimes with
/// ASIDs), [31:16] VMID (regimes with stage 2), [33:32] the <see cref="TranslationRegime"/>, bit 34 global, bit 35
/// stage 1 disabled, bit 36 stage 2 enabled.
/// </summary>
public static class ContextTag
{
    public const ulong AsidMask = 0xFFFF;
    public const int VmidShift = 16;
    private const int RegimeShift = 32;
    private const ulong RegimeMask = 3UL << RegimeShift;
    /// <summary>The tag bits of the EL2 regime.</summary>
    public const ulong El2 = (ulong)TranslationRegime.El2 << RegimeShift;
    public const ulong Global = 1UL << 34;
    public const ulong Stage1Off = 1UL << 35;
    public const ulong Stage2On = 1UL << 36;

    /// <summary>The tag bits of <paramref name="regime"/>.</summary>
    public static ulong Of(TranslationRegime regime) => (ulong)regime << RegimeShift;

    public static TranslationRegime Regime(ulong ctx) => (TranslationRegime)((ctx & RegimeMask) >> RegimeShift);

    public static ushort Asid(ulong ctx) => (ushort)ctx;

    public static ushort Vmid(ulong ctx) => (ushort)(ctx >> VmidShift);

    public static bool IsGlobal(ulong ctx) => (ctx & Global) != 0;
}

/// <summary>
/// What a TLB lookup needs for one access: the VA with its ignored top byte dropped (VA[55:0]) and the two context
/// tags that may match, the current ASID's and the global one.
/// </summary>
public struct LookupKey
{
    /// <summary>VA[55:0]: bit 55 selects the range, the top byte never creates separate entries (TBI).</summary>
    public ulong Va;
    public ulong Ctx;
    public ulong CtxGlobal;
}

/// <summary>A cached intermediate table entry: where a walk of one stage can resume.</summary>
public struct TableEntry
{
    /// <summary>The next-level table's base, in the table address space (IPA for EL1&amp;0 stage 1 under stage 2).</summary>
    public ulong NextTable;
    /// <summary>Stage-1 table attributes accumulated down to and including this entry (APTable, XNTable, PXNTable).</summary>
    public int TableAttrs;
    /// <summary>Lookup level of the table descriptor; the walk resumes at Level + 1.</summary>
    public sbyte Level;
}

/// <summary>A cached stage-2 leaf (IPA→PA): the descriptor as it is in memory, so every check is recomputed exactly.</summary>
public struct Stage2LeafEntry
{
    /// <summary>The leaf descriptor after any hardware update; AF is always 1.</summary>
    public ulong Descriptor;
    /// <summary>PA of the start of the memory the entry maps (aligned to 2^GroupShift).</summary>
    public ulong OutputBase;
    public sbyte Level;
    /// <summary>log2 of what the leaf descriptor maps.</summary>
    public byte Shift;
    /// <summary>log2 of what the entry maps: <see cref="Shift"/>, or its whole contiguous group's.</summary>
    public byte GroupShift;
}

/// <summary>
/// The walk caches and the IPA cache as the walker uses them (implemented in MmuSim.Caching). The walker looks them
/// up at the start of each walk and fills them as it reads table descriptors; lookups are recorded as steps so the
/// timing model can price them. Context values: stage 1 = the regime's tag bits with its VMID and ASID (see
/// <see cref="ContextTag"/>); stage 2 = VMID &lt;&lt; 16.
/// </summary>
public interface IWalkCaches
{
    /// <summary>Whether leaf entries of a consistent contiguous group may be held as one entry.</summary>
    bool CoalesceContiguous { get; }

    /// <summary>Whether any walk cache holds entries of <paramref name="stage"/> (else the walker skips the hooks).</summary>
    bool HasWalkCache(int stage);

    /// <summary>Whether an IPA cache exists.</summary>
    bool HasIpaCache { get; }

    /// <summary>
    /// The deepest cached table entry of <paramref name="stage"/> that covers <paramref name="ia"/>, at a level in
    /// [<paramref name="startLevel"/>, 2]. Records one lookup step per walk cache of that stage, <paramref name="nested"/> for a stage-2 walk of a stage-1 table address.
    /// </summary>
    bool TryResume(int stage, bool nested, ulong ctx, ulong ia, Granule granule, int startLevel, WalkRecord record, out TableEntry entry);

    /// <summary>Caches a table descriptor just read (valid, with an in-range next-table address).</summary>
    void FillTable(int stage, ulong ctx, ulong ia, Granule granule, in TableEntry entry);

    /// <summary>The cached stage-2 leaf for <paramref name="ipa"/>; records one lookup step when an IPA cache exists.</summary>
    bool TryStage2Leaf(ulong ctx, ulong ipa, int startLevel, bool nested, WalkRecord record, out Stage2LeafEntry leaf);

    /// <summary>Caches a stage-2 leaf of a lookup that succeeded.</summary>
    void FillStage2Leaf(ulong ctx, ulong ipa, in Stage2LeafEntry leaf);
}
