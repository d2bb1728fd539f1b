using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Memory;

namespace MmuSim.Building;

/// <summary>Hands out table frames from a pool of physical (or, for stage-1 tables under stage 2, intermediate) memory.</summary>
public sealed class FrameAllocator(ulong poolBase, ulong poolSize)
{
    private ulong _next = poolBase;

    public ulong PoolBase { get; } = poolBase;
    public ulong PoolSize { get; } = poolSize;

    /// <summary>Bytes handed out so far.</summary>
    public ulong Used => _next - PoolBase;

    /// <summary>Allocates <paramref name="bytes"/> aligned to <paramref name="alignment"/> (a power of two).</summary>
    public ulong Allocate(ulong bytes, ulong alignment)
    {
        ulong at = (_next + alignment - 1) & ~(alignment - 1);
        if (at + bytes > PoolBase + PoolSize || at + bytes < at)
        {
            throw new InvalidOperationException(
                $"table pool 0x{PoolBase:x}+0x{PoolSize:x} is exhausted ({Used} bytes used, 0x{bytes:x} more needed)");
        }
        _next = at + bytes;
        return at;
    }
}

/// <summary>
/// Builds one stage's translation tables in simulated memory: the inverse of the walker, with the same geometry
/// (<see cref="TranslationGeometry"/>). Table addresses live in the table address space (PA, or IPA for EL1&amp;0
/// stage 1 under stage 2); <see cref="TableToPhysical"/> says where such an address is in memory. Every
/// descriptor store is also reported to <see cref="OnWrite"/> so callers can emit `mem` lines.
/// </summary>
public sealed class PageTableBuilder
{
    private readonly PhysicalMemory _memory;
    private readonly FrameAllocator _frames;

    /// <param name="memory">Where the tables are written.</param>
    /// <param name="granule">Translation granule.</param>
    /// <param name="inputSize">Input-address size in bits (64 − TxSZ).</param>
    /// <param name="startLevel">First lookup level (from TxSZ for stage 1, from SL0 for stage 2).</param>
    /// <param name="frames">Pool for the root and every next-level table.</param>
    /// <param name="ds">FEAT_LPA2 descriptor layout.</param>
    public PageTableBuilder(PhysicalMemory memory, Granule granule, int inputSize, int startLevel, FrameAllocator frames, bool ds = false)
    {
        _memory = memory;
        _frames = frames;
        Granule = granule;
        InputSize = inputSize;
        StartLevel = startLevel;
        Ds = ds;
        ulong rootBytes = 8UL << RootIndexBits;
        Root = frames.Allocate(rootBytes, Math.Max(rootBytes, 64));
        TablesBytes = rootBytes;
    }

    public Granule Granule { get; }
    public int InputSize { get; }
    public int StartLevel { get; }
    public bool Ds { get; }

    /// <summary>Address of the first-level table (what goes in TTBR/VTTBR.BADDR).</summary>
    public ulong Root { get; }

    /// <summary>Bytes of table memory allocated.</summary>
    public ulong TablesBytes { get; private set; }

    /// <summary>Translates a table address to the PA where it is stored (identity unless set).</summary>
    public Func<ulong, ulong> TableToPhysical { get; set; } = static a => a;

    /// <summary>Called with (PA, value) for every descriptor written.</summary>
    public Action<ulong, ulong>? OnWrite { get; set; }

    /// <summary>Index bits of the first-level table (stage-2 concatenation included).</summary>
    public int RootIndexBits => InputSize - TranslationGeometry.LevelShift(Granule, StartLevel);

    /// <summary>Bytes one descriptor maps at <paramref name="level"/>.</summary>
    public ulong LevelSize(int level) => 1UL << TranslationGeometry.LevelShift(Granule, level);

    /// <summary>Table-space address of the descriptor that maps <paramref name="ia"/> at <paramref name="level"/>, creating tables above it.</summary>
    public ulong DescriptorAddress(ulong ia, int level)
    {
        if (level < StartLevel || level > 3)
        {
            throw new ArgumentOutOfRangeException(nameof(level), $"level {level} is outside {StartLevel}..3");
        }
        ulong table = Root;
        int bits = RootIndexBits;
        for (int l = StartLevel; ; l++)
        {
            int shift = TranslationGeometry.LevelShift(Granule, l);
            ulong slot = table + (((ia >> shift) & BitOps.Mask(bits)) << 3);
            if (l == level)
            {
                return slot;
            }
            ulong desc = Read(slot);
            if ((desc & 3) != 3)
            {
                ulong tableBytes = 1UL << (int)Granule;
                ulong next = _frames.Allocate(tableBytes, tableBytes);
                TablesBytes += tableBytes;
                Write(slot, Descriptors.Table(next, Granule, Ds));
                table = next;
            }
            else
            {
                table = DecodeTable(desc);
            }
            bits = TranslationGeometry.Stride(Granule);
        }
    }

    /// <summary>Writes <paramref name="descriptor"/> as the entry for <paramref name="ia"/> at <paramref name="level"/>; returns its table-space address.</summary>
    public ulong Set(ulong ia, int level, ulong descriptor)
    {
        ulong slot = DescriptorAddress(ia, level);
        Write(slot, descriptor);
        return slot;
    }

    /// <summary>Reads the descriptor at a table-space address.</summary>
    public ulong Read(ulong tableAddress) => _memory.Peek64(new PhysicalAddress(TableToPhysical(tableAddress)));

    private void Write(ulong tableAddress, ulong value)
    {
        ulong pa = TableToPhysical(tableAddress);
        _memory.Write64(new PhysicalAddress(pa), value);
        OnWrite?.Invoke(pa, value);
    }

    private ulong DecodeTable(ulong desc)
    {
        int g = (int)Granule;
        return Ds
            ? (desc & BitOps.Mask(49, g)) | (BitOps.Field(desc, 9, 8) << 50)
            : (desc & BitOps.Mask(47, g)) | (Granule == Granule.K64 ? BitOps.Field(desc, 15, 12) << 48 : 0);
    }

    /// <summary>
    /// Maps [ia, ia+size) to [oa, oa+size) with the largest blocks alignment allows (unless
    /// <paramref name="allowBlocks"/> is false); <paramref name="leaf"/> makes the descriptor for (oa, level).
    /// </summary>
    public void MapRange(ulong ia, ulong oa, ulong size, Func<ulong, int, ulong> leaf, bool allowBlocks = true, bool lpa = true)
    {
        ulong page = 1UL << (int)Granule;
        if (((ia | oa | size) & (page - 1)) != 0)
        {
            throw new ArgumentException($"range 0x{ia:x}+0x{size:x} -> 0x{oa:x} is not {TranslationGeometry.Name(Granule)}-aligned");
        }
        ulong done = 0;
        while (done < size)
        {
            int level = 3;
            if (allowBlocks)
            {
                for (int l = Math.Max(StartLevel, 0); l < 3; l++)
                {
                    ulong blk = LevelSize(l);
                    if (TranslationGeometry.BlockAllowed(Granule, l, Ds, lpa) && ((ia + done) & (blk - 1)) == 0
                        && ((oa + done) & (blk - 1)) == 0 && size - done >= blk)
                    {
                        level = l;
                        break;
                    }
                }
            }
            Set(ia + done, level, leaf(oa + done, level));
            done += LevelSize(level);
        }
    }
}
