using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MmuSim.Addressing;

namespace MmuSim.Translation.Acceleration;

internal sealed partial class WalkAccelerator
{
    // A host-side memo of the upper part of stage-1 walks: for the block of VAs one last-level table maps (2 MiB with
    // 4K pages), the walk down to that table is the same every time: the same table descriptors read, each through
    // the same stage-2 lookup, the same table attributes. The memo keeps where that part ends (the last-level table's
    // address and the attributes gathered on the way) and how many descriptor reads it made, and a walk of a VA in
    // the block resumes there after counting those reads. It is used only where those reads leave nothing but their
    // count: lean recording with no step per read (no walker cache), no walk cache of stage 1 and no IPA cache to
    // look up, a real access (not AT). An entry holds while memory (PhysicalMemory.Version) and the registers (the
    // regime generation) are unchanged, and is kept only from a walk that recorded no step on the way down (no
    // lookup, no hardware update, no stage-2 fault).
    private const int PathMemoSlots = 16384;

    private struct Stage1PathMemo
    {
        /// <summary>VA bits above the last-level index + 1 (0: empty).</summary>
        public ulong Block;
        public long MemoryVersion;
        /// <summary>The last-level table's address (an IPA when its reads go through stage 2).</summary>
        public ulong Table;
        public uint Generation;
        /// <summary>Descriptor reads of the part the memo stands for, stage-2 lookups of its tables included.</summary>
        public byte Reads;
        public byte TableAttrs;
        /// <summary>Which stage-1 tables: regime · 2 + VA range (1: TTBR1); bit 7 set when read through stage 2.</summary>
        public byte Regime;
    }

    private Stage1PathMemo[]? _pathMemo;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int PathSlot(ulong block) => (int)((block ^ (block >> 12)) & (PathMemoSlots - 1));

    /// <summary>Where a stage-1 walk that may use the path memo began: its block and tables, and the record's counts then.</summary>
    public struct PathMark
    {
        /// <summary>VA bits above the last-level index + 1.</summary>
        public ulong Block;
        public byte Regime;
        public int Steps;
        public int Reads;
    }

    /// <summary>
    /// The path of <paramref name="ia"/>'s block (what one last-level table of granule <paramref name="g"/> maps) in
    /// the stage-1 tables <paramref name="regime"/> names (regime · 2 + VA range; bit 7 when read through stage 2),
    /// when the memo holds it as memory and registers are now: its reads are counted in the record and the walk
    /// resumes at the last level with <paramref name="table"/>. Otherwise <paramref name="mark"/> is where the walk
    /// began, for <see cref="RememberPath"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryPath(ulong ia, Granule g, byte regime, out PathMark mark, out ulong table, out int tableAttrs)
    {
        ulong block = (ia >> TranslationGeometry.LevelShift(g, 2)) + 1;
        mark.Block = block;
        mark.Regime = regime;
        mark.Steps = _record.Count;
        mark.Reads = _record.Reads;
        var memo = _pathMemo ??= new Stage1PathMemo[PathMemoSlots];
        ref Stage1PathMemo m = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(memo), PathSlot(block));
        if (m.Block != block || m.Regime != regime || m.MemoryVersion != _mem.Version || m.Generation != _generation)
        {
            table = 0;
            tableAttrs = 0;
            return false;
        }
        _record.CountReads(m.Reads);
        table = m.Table;
        tableAttrs = m.TableAttrs;
        return true;
    }

    /// <summary>
    /// The walk that began at <paramref name="mark"/> reached its last-level table <paramref name="table"/>: kept when
    /// it recorded nothing on the way but its reads (no lookup, no hardware update, no stage-2 fault).
    /// </summary>
    public void RememberPath(in PathMark mark, ulong table, int tableAttrs)
    {
        int reads = _record.Reads - mark.Reads;
        if (_record.Count != mark.Steps || reads > byte.MaxValue)
        {
            return;
        }
        ref Stage1PathMemo m = ref _pathMemo![PathSlot(mark.Block)];
        m.Block = mark.Block;
        m.Regime = mark.Regime;
        m.MemoryVersion = _mem.Version;
        m.Generation = _generation;
        m.Table = table;
        m.TableAttrs = (byte)tableAttrs;
        m.Reads = (byte)reads;
    }
}
