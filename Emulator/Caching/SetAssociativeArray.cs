using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MmuSim.Caching;

/// <summary>What an insert did.</summary>
public enum InsertOutcome : byte
{
    /// <summary>Into an invalid way.</summary>
    New,
    /// <summary>Over the same entry (same tag and context).</summary>
    Rewrite,
    /// <summary>Over the policy's victim, a valid entry.</summary>
    Evicted,
}

/// <summary>Counters of one caching structure.</summary>
public sealed class StructureStats
{
    public long Lookups;
    public long Hits;
    public long Misses;
    public long Fills;
    /// <summary>Fills that replaced a valid entry.</summary>
    public long Evictions;
    /// <summary>Entries removed by TLB maintenance.</summary>
    public long Invalidations;

    public void Reset()
    {
        Lookups = Hits = Misses = Fills = Evictions = Invalidations = 0;
    }
}

/// <summary>
/// Storage of a set-associative structure with any set and way count: tags and context tags in separate arrays
/// (struct of arrays, so a set scan touches 8 bytes a way and wide sets are scanned 4 ways at a time), the payload
/// in a third. A tag of 0 marks an invalid way; callers never use 0 as a valid tag.
/// </summary>
public sealed class SetAssociativeArray<T> where T : struct
{
    private readonly ulong[] _tags;
    private readonly ulong[] _ctx;
    private readonly T[] _data;
    private readonly ulong _setMask;
    private readonly bool _pow2;

    public SetAssociativeArray(int sets, int ways, ReplacementPolicy policy, ulong seed)
    {
        Sets = sets;
        Ways = ways;
        _tags = new ulong[sets * ways];
        _ctx = new ulong[sets * ways];
        _data = new T[sets * ways];
        _pow2 = BitOperations.IsPow2(sets);
        _setMask = (ulong)sets - 1;
        Replacement = new ReplacementState(policy, sets, ways, seed);
    }

    public int Sets { get; }
    public int Ways { get; }

    /// <summary>The tag array (slot = set · ways + way), for owners that read it on a hot path.</summary>
    internal ulong[] Tags => _tags;

    /// <summary>The context-tag array.</summary>
    internal ulong[] Contexts => _ctx;

    /// <summary>The payload array.</summary>
    internal T[] Payload => _data;
    public int Capacity => _tags.Length;
    private ReplacementState Replacement { get; }

    /// <summary>A touch not yet applied (see <see cref="TouchDeferred"/>), or −1.</summary>
    private int _pendingTouch = -1;

    /// <summary>The set of an index value: index mod sets.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int SetOf(ulong index) => _pow2 ? (int)(index & _setMask) : (int)(index % (ulong)Sets);

    /// <summary>The tag in <paramref name="slot"/> (0 = invalid). The slot must be in range: no bounds check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Tag(int slot) => Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_tags), slot);

    /// <summary>The context tag in <paramref name="slot"/>. The slot must be in range: no bounds check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Context(int slot) => Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_ctx), slot);

    /// <summary>The payload in <paramref name="slot"/>. The slot must be in range: no bounds check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref T Data(int slot) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_data), slot);

    /// <summary>The first way of <paramref name="set"/> holding <paramref name="tag"/> with context <paramref name="ctxA"/> or <paramref name="ctxB"/>; −1 if none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find(int set, ulong tag, ulong ctxA, ulong ctxB)
    {
        int b = set * Ways;
        int n = Ways;
        ref ulong t0 = ref _tags[b];
        int w = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var want = Vector256.Create(tag);
            for (; w + 4 <= n; w += 4)
            {
                uint m = Vector256.Equals(Vector256.LoadUnsafe(ref t0, (nuint)w), want).ExtractMostSignificantBits();
                while (m != 0)
                {
                    int i = b + w + BitOperations.TrailingZeroCount(m);
                    ulong c = _ctx[i];
                    if (c == ctxA || c == ctxB)
                    {
                        return i;
                    }
                    m &= m - 1;
                }
            }
        }
        for (; w < n; w++)
        {
            if (Unsafe.Add(ref t0, w) == tag)
            {
                ulong c = _ctx[b + w];
                if (c == ctxA || c == ctxB)
                {
                    return b + w;
                }
            }
        }
        return -1;
    }

    /// <summary>Marks a hit on <paramref name="slot"/> for the replacement policy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Touch(int slot)
    {
        ApplyPendingTouch();
        Replacement.OnHitSlot(slot);
    }

    /// <summary>
    /// <see cref="Touch"/>, applied later: a run of hits on one slot (the predicted-hit path) costs one compare, and
    /// the touch reaches the replacement state before anything else touches, fills or invalidates this array. Only
    /// the order of touches decides victims, and repeating the latest touch changes no order, so this is exact.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void TouchDeferred(int slot)
    {
        if (_pendingTouch != slot)
        {
            ApplyPendingTouch();
            _pendingTouch = slot;
        }
    }

    private void ApplyPendingTouch()
    {
        int pending = _pendingTouch;
        if (pending >= 0)
        {
            _pendingTouch = -1;
            Replacement.OnHitSlot(pending);
        }
    }

    /// <summary>
    /// Writes an entry into <paramref name="set"/>: over an existing entry with the same tag and context, else into
    /// the first invalid way, else over the policy's victim. Returns the slot; <paramref name="outcome"/> says which,
    /// and <paramref name="evictedTag"/> is the tag of the valid entry replaced by an eviction.
    /// </summary>
    public int Insert(int set, ulong tag, ulong ctx, in T data, out InsertOutcome outcome, out ulong evictedTag)
    {
        if (_pendingTouch >= 0)
        {
            ApplyPendingTouch(); // the victim depends on every touch so far
        }
        int b = set * Ways;
        ref ulong tags = ref MemoryMarshal.GetArrayDataReference(_tags);
        int slot = FindExact(b, tag, ctx);
        if (slot >= 0)
        {
            outcome = InsertOutcome.Rewrite;
            evictedTag = 0;
        }
        else
        {
            slot = b + Replacement.FillWay(set, MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref tags, b), Ways));
            evictedTag = Unsafe.Add(ref tags, slot);
            outcome = evictedTag == 0 ? InsertOutcome.New : InsertOutcome.Evicted;
        }
        Unsafe.Add(ref tags, slot) = tag;
        Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_ctx), slot) = ctx;
        Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_data), slot) = data;
        Replacement.OnFillSlot(slot);
        return slot;
    }

    /// <summary>The way of the set at <paramref name="b"/> holding exactly <paramref name="tag"/> and <paramref name="ctx"/>, or −1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int FindExact(int b, ulong tag, ulong ctx)
    {
        ref ulong t0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_tags), b);
        ref ulong c0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_ctx), b);
        int n = Ways;
        int w = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            // Tag and context compared together, four ways at a time: a set of 4 or 8 ways is one or two steps.
            var wantTag = Vector256.Create(tag);
            var wantCtx = Vector256.Create(ctx);
            for (; w + 4 <= n; w += 4)
            {
                var hit = Vector256.Equals(Vector256.LoadUnsafe(ref t0, (nuint)w), wantTag)
                    & Vector256.Equals(Vector256.LoadUnsafe(ref c0, (nuint)w), wantCtx);
                uint m = hit.ExtractMostSignificantBits();
                if (m != 0)
                {
                    return b + w + BitOperations.TrailingZeroCount(m);
                }
            }
        }
        for (; w < n; w++)
        {
            if (Unsafe.Add(ref t0, w) == tag && Unsafe.Add(ref c0, w) == ctx)
            {
                return b + w;
            }
        }
        return -1;
    }

    public void Invalidate(int slot)
    {
        ApplyPendingTouch();
        _tags[slot] = 0;
        _ctx[slot] = 0;
        _data[slot] = default;
        Replacement.OnInvalidate(slot);
    }
}
