using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MmuSim.Bits;
using MmuSim.Translation;

namespace MmuSim.Caching;

/// <summary>
/// A cached final translation (VA→PA, both stages combined): its size, and what a hit needs to decide
/// permissions and report faults exactly (arm-notes §8.3). Never holds a translation that faulted or whose
/// descriptor had AF=0.
/// </summary>
public struct TlbEntry
{
    /// <summary>Output address of the start of the mapped memory (aligned to 2^Shift).</summary>
    public ulong PaBase;
    /// <summary>IPA of the start of the mapped memory, when <see cref="HasIpa"/>.</summary>
    public ulong IpaBase;
    /// <summary>PA of the stage-1 leaf descriptor (0 with stage 1 off): hardware dirty updates retire entries by it.</summary>
    public ulong S1DescriptorPa;
    /// <summary>Trace line of the access whose walk filled the entry.</summary>
    public long FillLine;
    /// <summary>Stage-1 permissions, bit (el·3 + access type); bits 9..11 for EL1 under PSTATE.PAN (Permissions.MaskIndex).</summary>
    public ushort S1Permissions;
    /// <summary>Stage-2 permissions, bit ((el == 0 ? 0 : 3) + access type).</summary>
    public byte S2Permissions;
    /// <summary>log2 of the mapped size (page, block or contiguous group).</summary>
    public byte Shift;
    /// <summary>
    /// log2 of what the stage-1 leaf maps (0 with stage 1 off). An entry may hold a smaller piece of a stage-1 block
    /// (when stage 2 maps smaller pages); a TLBI by VA anywhere in the block still reaches it.
    /// </summary>
    public byte S1Shift;
    public sbyte S1Level;
    public sbyte S2Level;
    public bool HasIpa;
    /// <summary>A write must walk to set the stage-1 dirty state.</summary>
    public bool S1Clean;
    /// <summary>A write must walk to set the stage-2 dirty state.</summary>
    public bool S2Clean;
    /// <summary>The memory type is Device: a misaligned data access must walk, to take its Alignment fault.</summary>
    public bool Device;
    /// <summary>
    /// Bit (el·3 + access type) set when a hit completes with no further check: both stages permit it and, for a
    /// write, neither stage must still set its dirty state. Derived from the fields above by <see cref="Seal"/>.
    /// </summary>
    public ushort Complete;

    /// <summary>Computes <see cref="Complete"/>.</summary>
    public void Seal()
    {
        // Stage-2 bit (el == 0 ? 0 : 3) + t spread to the stage-1 layout el·3 + t: EL0 from bits [2:0], EL1 and EL2
        // from bits [5:3] (also for the EL1-under-PAN bits [11:9]); a write completes only when neither stage must
        // still set its dirty state.
        int s2 = S2Permissions & 7 | (S2Permissions & 0x38) | (S2Permissions & 0x38) << 3 | (S2Permissions & 0x38) << 6;
        int writes = S1Clean || S2Clean ? 0b010_010_010_010 : 0;
        Complete = (ushort)(S1Permissions & s2 & ~writes & 0xFFF);
    }
}

/// <summary>Decides which entries a TLB maintenance operation removes (a struct, so the scan is specialised).</summary>
public interface IEntryMatch<T> where T : struct
{
    /// <summary>True when the entry with this context tag, covering [base, base + 2^shift), must go.</summary>
    bool Matches(ulong ctx, ulong baseAddress, int shift, in T entry);
}

/// <summary>
/// Told of every lookup, fill and removal of one TLB level, in order (a miss-ratio-curve pass reads the stream of
/// entries a replay uses). An entry is named by its tag (VA[55:shift] | shift) and context tag.
/// </summary>
public interface ITlbObserver
{
    /// <summary><paramref name="count"/> lookups in a row hit the entry (tag, ctx).</summary>
    void OnHit(ulong tag, ulong ctx, long count);

    /// <summary>A lookup found nothing.</summary>
    void OnMiss();

    /// <summary>An entry (tag, ctx) was written: a new one, one over an evicted one, or one already held.</summary>
    void OnFill(ulong tag, ulong ctx);

    /// <summary>TLB maintenance (or a retired stage-1 leaf) removed the entry (tag, ctx); evictions are not removals.</summary>
    void OnRemove(ulong tag, ulong ctx);
}

/// <summary>
/// One TLB level. Entries of every size share the sets: an entry of size 2^s sits in set (VA &gt;&gt; s) mod sets
/// with tag VA[55:s] | s, and a lookup probes each size currently held (usually one: 4K). The slot hit last is
/// tried first, so consecutive accesses to one page cost one compare.
/// </summary>
public sealed class Tlb
{
    private readonly SetAssociativeArray<TlbEntry> _array;
    private readonly ulong[] _tags;
    private readonly ulong[] _ctxs;
    private readonly TlbEntry[] _entries;
    private EntrySizes _sizes = new();
    private int _last = -1;

    public Tlb(TlbConfig config)
    {
        Config = config;
        _array = new SetAssociativeArray<TlbEntry>(config.Sets, config.Ways, config.Policy, config.Seed);
        _tags = _array.Tags;
        _ctxs = _array.Contexts;
        _entries = _array.Payload;
        Stats = new StructureStats();
        Latency = config.Latency;
    }

    public TlbConfig Config { get; }
    public string Name => Config.Name;

    /// <summary>Told of every lookup, fill and removal (null for a plain replay: one test of a field per event).</summary>
    public ITlbObserver? Observer { get; set; }

    /// <summary>Cycles of one lookup.</summary>
    public readonly int Latency;

    public readonly StructureStats Stats;

    /// <summary>Number of valid entries.</summary>
    public int Count { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong TagOf(ulong va, int shift) => (va & ~BitOps.Mask(shift)) | (uint)shift;

    /// <summary>Looks up <paramref name="key"/>; returns the slot hit or −1. Counts the lookup.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Lookup(in LookupKey key)
    {
        // The slot hit last is tried first, then each entry size held (Peek); a hit is touched and remembered.
        int slot = Peek(in key);
        if (slot >= 0)
        {
            CommitHit(slot);
        }
        else
        {
            CommitMiss();
        }
        return slot;
    }

    /// <summary>
    /// The slot <see cref="Lookup"/> would return for <paramref name="key"/>, or −1, changing nothing: the caller
    /// either commits the hit with <see cref="CommitHit"/> (the exact side effects of that lookup) or leaves it to
    /// a real <see cref="Lookup"/> later.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Peek(in LookupKey key)
    {
        int last = _last;
        if (last >= 0)
        {
            ulong t = _array.Tag(last);
            ulong c = _array.Context(last);
            if (t != 0 && t == TagOf(key.Va, (int)(t & 63)) && (c == key.Ctx || c == key.CtxGlobal))
            {
                return last;
            }
        }
        ulong sizes = _sizes.Mask;
        while (sizes != 0)
        {
            int s = BitOperations.TrailingZeroCount(sizes);
            sizes &= sizes - 1;
            int slot = _array.Find(_array.SetOf(key.Va >> s), TagOf(key.Va, s), key.Ctx, key.CtxGlobal);
            if (slot >= 0)
            {
                return slot;
            }
        }
        return -1;
    }

    /// <summary>What a <see cref="Lookup"/> that misses does (after <see cref="Peek"/> found nothing): counts it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CommitMiss()
    {
        Stats.Lookups++;
        Stats.Misses++;
        Observer?.OnMiss();
    }

    /// <summary>What a <see cref="Lookup"/> that hit <paramref name="slot"/> does: counts it, marks the entry used, remembers the slot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CommitHit(int slot)
    {
        Stats.Lookups++;
        Stats.Hits++;
        _array.Touch(slot);
        _last = slot;
        Observer?.OnHit(_array.Tag(slot), _array.Context(slot), 1);
    }

    /// <summary>
    /// The slot hit last, when it matches <paramref name="key"/>; −1 otherwise. Counts nothing and touches nothing:
    /// the caller confirms the hit with <see cref="CountHit"/> once it knows the access completes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Predicted(in LookupKey key)
    {
        int last = _last;
        if (last < 0)
        {
            return -1;
        }
        ulong t = Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_tags), last);
        ulong c = Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_ctxs), last);
        ulong low = (1UL << (int)(t & 63)) - 1;
        return t != 0 && t == ((key.Va & ~low) | (t & 63)) && (c == key.Ctx || c == key.CtxGlobal) ? last : -1;
    }

    /// <summary>The tag in <paramref name="slot"/> (0 when invalid).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong TagAt(int slot) => Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_tags), slot);

    /// <summary>Counts a lookup that hit <paramref name="slot"/> (found by <see cref="Predicted"/>) and marks it used; the mark is deferred (<see cref="SetAssociativeArray{T}.TouchDeferred"/>), so a run of hits on one slot costs one compare.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CountHit(int slot) => CountHits(slot, 1);

    /// <summary><paramref name="n"/> × <see cref="CountHit"/> on one slot: repeating the latest touch changes no order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CountHits(int slot, long n)
    {
        var st = Stats;
        st.Lookups += n;
        st.Hits += n;
        _array.TouchDeferred(slot);
        Observer?.OnHit(TagAt(slot), Context(slot), n);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref TlbEntry Entry(int slot) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_entries), slot);

    /// <summary>The context tag of the entry in <paramref name="slot"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Context(int slot) => Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_ctxs), slot);

    /// <summary>Writes an entry for <paramref name="va"/> (VA[55:0]) with context tag <paramref name="ctx"/>, over a copy already held.</summary>
    public void Fill(ulong va, ulong ctx, in TlbEntry entry)
    {
        int s = entry.Shift;
        int slot = _array.Insert(_array.SetOf(va >> s), TagOf(va, s), ctx, in entry, out var outcome, out ulong evictedTag);
        Stats.Fills++;
        switch (outcome)
        {
            case InsertOutcome.New:
                Count++;
                _sizes.Add(s);
                break;
            case InsertOutcome.Evicted:
                Stats.Evictions++;
                _sizes.Remove((int)(evictedTag & 63));
                _sizes.Add(s);
                break;
        }
        _last = slot;
        Observer?.OnFill(TagOf(va, s), ctx);
    }

    /// <summary>Removes every entry <paramref name="match"/> selects; returns how many.</summary>
    public int Invalidate<TMatch>(ref TMatch match) where TMatch : struct, IEntryMatch<TlbEntry>
    {
        int removed = 0;
        for (int slot = 0; slot < _array.Capacity; slot++)
        {
            ulong t = _array.Tag(slot);
            if (t == 0)
            {
                continue;
            }
            int s = (int)(t & 63);
            if (match.Matches(_array.Context(slot), t & ~BitOps.Mask(s), s, in _array.Data(slot)))
            {
                Remove(slot, s);
                removed++;
            }
        }
        Stats.Invalidations += removed;
        return removed;
    }

    /// <summary>Removes every entry made from the stage-1 leaf descriptor at <paramref name="descriptorPa"/>.</summary>
    public void InvalidateByStage1Descriptor(ulong descriptorPa)
    {
        for (int slot = 0; slot < _array.Capacity; slot++)
        {
            ulong t = _array.Tag(slot);
            if (t != 0 && _array.Data(slot).S1DescriptorPa == descriptorPa)
            {
                Remove(slot, (int)(t & 63));
            }
        }
    }

    private void Remove(int slot, int shift)
    {
        Observer?.OnRemove(_array.Tag(slot), _array.Context(slot));
        _array.Invalidate(slot);
        Count--;
        _sizes.Remove(shift);
    }
}
