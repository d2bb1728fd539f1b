using System.Numerics;
using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Memory;

namespace MmuSim.Building;

/// <summary>Where a <see cref="FrameAllocator"/> with a placement policy puts frames.</summary>
public enum FramePlacement : byte
{
    /// <summary>Lowest free address first (first fit).</summary>
    Sequential,
    /// <summary>A seeded random free slot of the requested alignment.</summary>
    Random,
    /// <summary>
    /// As <see cref="Random"/>, in a pool where one seeded random unit of every 2 MiB region is taken by someone else
    /// from the start: nothing of 2 MiB or more can be placed, as in a long-running host.
    /// </summary>
    Fragmented,
}

/// <summary>A <see cref="FrameAllocator"/> pool has no room left for a request.</summary>
public sealed class PoolExhaustedException(string message) : InvalidOperationException(message);

/// <summary>
/// Hands out frames from a pool of physical (or, for stage-1 tables under stage 2, intermediate) memory. Without a
/// placement policy it is a bump allocator (table building for hand-made scenarios); with one it keeps a bitmap of
/// the pool in <see cref="Unit"/>-sized units and places each request by the policy (demand paging).
/// </summary>
public sealed class FrameAllocator
{
    /// <summary>Size of the regions of which <see cref="FramePlacement.Fragmented"/> takes one unit.</summary>
    public const ulong FragmentRegion = 2UL << 20;

    private ulong _next;
    private readonly ulong[]? _bitmap;
    private readonly ulong _units;
    private readonly ulong[] _hint = new ulong[64];
    private readonly Random? _random;

    public FrameAllocator(ulong poolBase, ulong poolSize)
    {
        PoolBase = poolBase;
        PoolSize = poolSize;
        _next = poolBase;
        Unit = 1;
    }

    /// <param name="poolBase">First address of the pool (aligned to <paramref name="unit"/>).</param>
    /// <param name="poolSize">Bytes in the pool (a multiple of <paramref name="unit"/>).</param>
    /// <param name="unit">Smallest frame (the granule): every request is rounded up to a multiple of it.</param>
    /// <param name="placement">Where frames go.</param>
    /// <param name="seed">Seed of the random policies.</param>
    public FrameAllocator(ulong poolBase, ulong poolSize, ulong unit, FramePlacement placement, int seed = 1)
    {
        if (!ulong.IsPow2(unit) || poolBase % unit != 0 || poolSize % unit != 0 || poolSize == 0)
        {
            throw new ArgumentException($"pool 0x{poolBase:x}+0x{poolSize:x} is not a whole number of 0x{unit:x}-byte units");
        }
        PoolBase = poolBase;
        PoolSize = poolSize;
        Unit = unit;
        Placement = placement;
        _units = poolSize / unit;
        _bitmap = new ulong[(_units + 63) / 64];
        if (placement != FramePlacement.Sequential)
        {
            _random = new Random(seed);
        }
        if (placement == FramePlacement.Fragmented)
        {
            ulong per = Math.Max(FragmentRegion / unit, 2);
            for (ulong r = 0; r < _units; r += per)
            {
                ulong u = r + (ulong)_random!.NextInt64((long)Math.Min(per, _units - r));
                Mark(u, 1);
                Reserved += unit;
            }
        }
    }

    public ulong PoolBase { get; }
    public ulong PoolSize { get; }

    /// <summary>Allocation unit of a policy pool (1 for the bump allocator).</summary>
    public ulong Unit { get; }

    public FramePlacement Placement { get; }

    /// <summary>Bytes handed out so far (for the bump allocator, including alignment padding).</summary>
    public ulong Used { get; private set; }

    /// <summary>Bytes of a <see cref="FramePlacement.Fragmented"/> pool taken from the start.</summary>
    public ulong Reserved { get; }

    /// <summary>Allocates <paramref name="bytes"/> aligned to <paramref name="alignment"/> (a power of two).</summary>
    public ulong Allocate(ulong bytes, ulong alignment)
    {
        if (!TryAllocate(bytes, alignment, out ulong at))
        {
            if (_bitmap is not null)
            {
                throw new MemoryLimitException(
                    $"frame pool 0x{PoolBase:x}+0x{PoolSize:x} is full ({Used} bytes used, 0x{bytes:x} more needed): raise --max-memory");
            }
            throw new PoolExhaustedException(
                $"frame pool 0x{PoolBase:x}+0x{PoolSize:x} is exhausted ({Used} bytes used, 0x{bytes:x} more needed)");
        }
        return at;
    }

    /// <summary>Allocates <paramref name="bytes"/> aligned to <paramref name="alignment"/>; false when the pool has no room.</summary>
    public bool TryAllocate(ulong bytes, ulong alignment, out ulong address)
    {
        if (_bitmap is null)
        {
            ulong at = (_next + alignment - 1) & ~(alignment - 1);
            if (at + bytes > PoolBase + PoolSize || at + bytes < at)
            {
                address = 0;
                return false;
            }
            Used += at + bytes - _next;
            _next = at + bytes;
            address = at;
            return true;
        }
        ulong count = (bytes + Unit - 1) / Unit;
        ulong align = Math.Max(alignment / Unit, 1);
        if (count > _units)
        {
            address = 0;
            return false;
        }
        bool found = Placement == FramePlacement.Sequential ? FirstFit(count, align, out ulong unit) : RandomFit(count, align, out unit);
        if (!found)
        {
            address = 0;
            return false;
        }
        Mark(unit, count);
        Used += count * Unit;
        address = PoolBase + unit * Unit;
        return true;
    }

    private bool FirstFit(ulong count, ulong align, out ulong unit)
    {
        // No frame is ever freed, so a slot once found busy stays busy: the search for this alignment resumes there.
        int k = BitOperations.Log2(align);
        for (ulong u = _hint[k]; u + count <= _units; u += align)
        {
            if (IsFree(u, count))
            {
                _hint[k] = u;
                unit = u;
                return true;
            }
        }
        _hint[k] = _units;
        unit = 0;
        return false;
    }

    private bool RandomFit(ulong count, ulong align, out ulong unit)
    {
        ulong slots = (_units - count) / align + 1;
        for (int tries = 0; tries < 64; tries++)
        {
            ulong u = (ulong)_random!.NextInt64((long)slots) * align;
            if (IsFree(u, count))
            {
                unit = u;
                return true;
            }
        }
        // Crowded: scan every slot once from a random start.
        ulong start = (ulong)_random!.NextInt64((long)slots);
        for (ulong i = 0; i < slots; i++)
        {
            ulong u = (start + i) % slots * align;
            if (IsFree(u, count))
            {
                unit = u;
                return true;
            }
        }
        unit = 0;
        return false;
    }

    private bool IsFree(ulong u, ulong count)
    {
        ulong end = u + count;
        while (u < end)
        {
            int bit = (int)(u & 63);
            int n = (int)Math.Min(64 - (ulong)bit, end - u);
            ulong mask = (n == 64 ? ulong.MaxValue : (1UL << n) - 1) << bit;
            if ((_bitmap![u >> 6] & mask) != 0)
            {
                return false;
            }
            u += (ulong)n;
        }
        return true;
    }

    private void Mark(ulong u, ulong count)
    {
        ulong end = u + count;
        while (u < end)
        {
            int bit = (int)(u & 63);
            int n = (int)Math.Min(64 - (ulong)bit, end - u);
            _bitmap![u >> 6] |= (n == 64 ? ulong.MaxValue : (1UL << n) - 1) << bit;
            u += (ulong)n;
        }
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
                if ((desc & 3) == 1)
                {
                    // A block in the way is split, not dropped: the new table maps the same range with the same
                    // attributes at the next level (break-before-make does not apply, the tables are not live yet).
                    int nextShift = TranslationGeometry.LevelShift(Granule, l + 1);
                    ulong type = l + 1 == 3 ? 3UL : 1UL;
                    for (ulong i = 0; i < tableBytes / 8; i++)
                    {
                        Write(next + i * 8, ((desc & ~3UL) + (i << nextShift)) | type);
                    }
                }
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

    /// <summary>
    /// Looks <paramref name="ia"/> up in the tables built so far, without creating any: true with the output address
    /// and the leaf level when mapped; false with the level of the first invalid descriptor otherwise.
    /// </summary>
    public bool TryLookup(ulong ia, out ulong oa, out int level)
    {
        ulong table = Root;
        int bits = RootIndexBits;
        for (int l = StartLevel; l <= 3; l++)
        {
            int shift = TranslationGeometry.LevelShift(Granule, l);
            ulong desc = Read(table + (((ia >> shift) & BitOps.Mask(bits)) << 3));
            level = l;
            if ((desc & 1) == 0)
            {
                oa = 0;
                return false;
            }
            ulong address = DecodeTable(desc);
            if (l == 3 || (desc & 2) == 0)
            {
                oa = (address & ~BitOps.Mask(shift)) | (ia & BitOps.Mask(shift));
                return true;
            }
            table = address;
            bits = TranslationGeometry.Stride(Granule);
        }
        level = 3;
        oa = 0;
        return false;
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
    /// <paramref name="minBlockLevel"/> keeps blocks off the levels above it (a builder that avoids 1 GiB blocks passes 2).
    /// </summary>
    public void MapRange(ulong ia, ulong oa, ulong size, Func<ulong, int, ulong> leaf, bool allowBlocks = true, bool lpa = true, int minBlockLevel = 0)
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
                for (int l = Math.Max(Math.Max(StartLevel, 0), minBlockLevel); l < 3; l++)
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
