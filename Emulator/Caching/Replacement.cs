using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MmuSim.Caching;

/// <summary>How a set chooses the way to replace when every way holds a valid entry.</summary>
public enum ReplacementPolicy : byte
{
    /// <summary>Least recently used (per-way stamps: exact LRU at any associativity).</summary>
    Lru,
    /// <summary>Tree pseudo-LRU: one bit per internal node of a binary tree over the ways (any way count).</summary>
    TreePlru,
    /// <summary>First in, first out: the oldest fill goes, hits do not count.</summary>
    Fifo,
    /// <summary>A way drawn from a seeded xorshift generator (reproducible run to run).</summary>
    Random,
}

/// <summary>
/// Replacement state of a set-associative structure with any number of sets and ways (powers of two not
/// required). Invalid ways are always filled first, lowest way first; the policy decides among valid ways.
/// </summary>
public sealed class ReplacementState
{
    private readonly ReplacementPolicy _policy;
    private readonly int _ways;
    private readonly ulong[] _stamps;
    private ulong _clock;
    private readonly ulong[] _plru;
    private readonly int _leaves;
    private readonly int _plruWords;
    private ulong _rng;

    public ReplacementState(ReplacementPolicy policy, int sets, int ways, ulong seed)
    {
        _policy = policy;
        _ways = ways;
        _leaves = (int)BitOperations.RoundUpToPowerOf2((uint)ways);
        _plruWords = (_leaves + 63) / 64;
        // Every policy is named here: one this class does not implement is refused, never replaced by another.
        (_stamps, _plru) = policy switch
        {
            ReplacementPolicy.Lru or ReplacementPolicy.Fifo => (new ulong[sets * ways], System.Array.Empty<ulong>()),
            ReplacementPolicy.TreePlru => (System.Array.Empty<ulong>(), new ulong[sets * _plruWords]),
            ReplacementPolicy.Random => (System.Array.Empty<ulong>(), System.Array.Empty<ulong>()),
            _ => throw new ArgumentOutOfRangeException(nameof(policy), policy, "a replacement policy ReplacementState does not implement"),
        };
        _rng = seed == 0 ? 0x9E3779B97F4A7C15UL : seed;
    }

    public ReplacementPolicy Policy => _policy;

    /// <summary>A lookup hit slot <paramref name="slot"/> (set · ways + way).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnHitSlot(int slot)
    {
        if (_policy == ReplacementPolicy.Lru)
        {
            Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_stamps), slot) = ++_clock;
        }
        else if (_policy == ReplacementPolicy.TreePlru)
        {
            Touch(slot / _ways, slot % _ways);
        }
    }

    /// <summary>
    /// The way a fill of <paramref name="set"/> writes when it holds no copy of the entry: the first invalid way
    /// (tag 0 in <paramref name="tags"/>, the set's tags), else the policy's victim. Under LRU and FIFO an invalid way
    /// has stamp 0 (never filled, or reset by <see cref="OnInvalidate"/>) and every valid way a later one, so the
    /// first oldest stamp is both in one pass.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int FillWay(int set, ReadOnlySpan<ulong> tags)
    {
        if (_policy is ReplacementPolicy.Lru or ReplacementPolicy.Fifo)
        {
            return OldestWay(new ReadOnlySpan<ulong>(_stamps, set * _ways, _ways));
        }
        int empty = tags.IndexOf(0UL);
        return empty >= 0 ? empty : Victim(set);
    }

    /// <summary>The entry in slot <paramref name="slot"/> was removed: under LRU and FIFO its way is filled first again.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnInvalidate(int slot)
    {
        if (_stamps.Length != 0)
        {
            _stamps[slot] = 0;
        }
    }

    /// <summary>A new entry was written into slot <paramref name="slot"/> (set · ways + way).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnFillSlot(int slot)
    {
        if (_stamps.Length != 0)
        {
            Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_stamps), slot) = ++_clock;
        }
        else if (_policy == ReplacementPolicy.TreePlru)
        {
            Touch(slot / _ways, slot % _ways);
        }
    }

    /// <summary>The way of a full set (every way valid) to replace, under tree-PLRU or random (LRU and FIFO: <see cref="FillWay"/>).</summary>
    private int Victim(int set)
    {
        if (_policy == ReplacementPolicy.TreePlru)
        {
            return PlruVictim(set);
        }
        if (_policy != ReplacementPolicy.Random)
        {
            throw new System.Diagnostics.UnreachableException($"no victim choice for {_policy}");
        }
        // xorshift64*: small, fast and reproducible for a given seed.
        _rng ^= _rng >> 12;
        _rng ^= _rng << 25;
        _rng ^= _rng >> 27;
        return (int)(((_rng * 0x2545F4914F6CDD1DUL) >> 32) % (uint)_ways);
    }

    /// <summary>
    /// The way with the oldest stamp, the first one on ties. Fully associative TLBs have dozens of ways (48 on
    /// Neoverse N1): the minimum is found four stamps at a time, then its first position.
    /// </summary>
    internal static int OldestWay(ReadOnlySpan<ulong> stamps)
    {
        if (Vector256.IsHardwareAccelerated && (stamps.Length == 4 || stamps.Length == 8))
        {
            // The common set-associative shapes: the minimum by vector steps (unsigned), then the first way holding it.
            ref ulong s0 = ref MemoryMarshal.GetReference(stamps);
            var a = Vector256.LoadUnsafe(ref s0);
            var m = a;
            Vector256<ulong> b = default;
            if (stamps.Length == 8)
            {
                b = Vector256.LoadUnsafe(ref s0, 4);
                m = Vector256.Min(a, b);
            }
            m = Vector256.Min(m, Vector256.Shuffle(m, Vector256.Create(2UL, 3, 0, 1)));
            m = Vector256.Min(m, Vector256.Shuffle(m, Vector256.Create(1UL, 0, 3, 2)));
            uint at = Vector256.Equals(a, m).ExtractMostSignificantBits();
            if (stamps.Length == 8)
            {
                at |= Vector256.Equals(b, m).ExtractMostSignificantBits() << 4;
            }
            return BitOperations.TrailingZeroCount(at);
        }
        if (stamps.Length <= 8)
        {
            // Set-associative levels (2 to 8 ways): one pass, the running minimum and its way in registers.
            int oldest = 0;
            ulong least = stamps[0];
            for (int w = 1; w < stamps.Length; w++)
            {
                // Masks, not a branch: which way is older is as unpredictable as the accesses (and the compiler
                // does not turn the branch into conditional moves).
                ulong s = stamps[w];
                ulong older = 0UL - (s < least ? 1UL : 0UL); // all ones when way w is older
                least = (s & older) | (least & ~older);
                oldest = (int)(((uint)w & (uint)older) | ((uint)oldest & ~(uint)older));
            }
            return oldest;
        }
        int i = 0;
        ulong min = ulong.MaxValue;
        if (Vector256.IsHardwareAccelerated && stamps.Length >= 8)
        {
            var m = Vector256.Create(ulong.MaxValue);
            for (; i + 4 <= stamps.Length; i += 4)
            {
                m = Vector256.Min(m, Vector256.Create(stamps.Slice(i, 4)));
            }
            min = Math.Min(Math.Min(m[0], m[1]), Math.Min(m[2], m[3]));
        }
        for (; i < stamps.Length; i++)
        {
            min = Math.Min(min, stamps[i]);
        }
        return stamps.IndexOf(min);
    }

    /// <summary>
    /// Tree-PLRU over the next power of two of the way count: node n (1-based, heap order) has children 2n and
    /// 2n+1; its bit says which half to replace next (1 = right). A touch points every node on the way's path
    /// away from it.
    /// </summary>
    private void Touch(int set, int way)
    {
        int bitsBase = set * _plruWords;
        int node = 1, lo = 0, hi = _leaves;
        while (hi - lo > 1)
        {
            int mid = (lo + hi) >> 1;
            ref ulong word = ref _plru[bitsBase + (node >> 6)];
            ulong bit = 1UL << (node & 63);
            if (way < mid)
            {
                word |= bit; // used the left half: replace on the right next
                node = 2 * node;
                hi = mid;
            }
            else
            {
                word &= ~bit;
                node = 2 * node + 1;
                lo = mid;
            }
        }
    }

    /// <summary>Follows the tree bits; a half that holds no real way (ways not a power of two) is never chosen.</summary>
    private int PlruVictim(int set)
    {
        int bitsBase = set * _plruWords;
        int node = 1, lo = 0, hi = _leaves;
        while (hi - lo > 1)
        {
            int mid = (lo + hi) >> 1;
            bool right = (_plru[bitsBase + (node >> 6)] & (1UL << (node & 63))) != 0;
            if (right && mid < _ways)
            {
                node = 2 * node + 1;
                lo = mid;
            }
            else
            {
                node = 2 * node;
                hi = mid;
            }
        }
        return lo;
    }
}
