using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MmuSim.Analysis;

/// <summary>A TLB entry as a miss-ratio curve counts it: its tag (VA[55:shift] | shift) and its context tag.</summary>
public readonly record struct EntryKey(ulong Tag, ulong Ctx)
{
    /// <summary>log2 of the size the entry maps (the low six bits of the tag, as the TLB keeps it).</summary>
    public int Shift => (int)(Tag & 63);

    /// <summary>The TLB's set index input: the VA's page number at the entry's size (Tlb: set = (VA &gt;&gt; shift) mod sets).</summary>
    public ulong PageNumber => Tag >> Shift;

    public bool Equals(EntryKey other) => Tag == other.Tag && Ctx == other.Ctx;

    public override int GetHashCode()
    {
        // Page numbers are dense and contexts few: a multiplicative mix spreads both over the hash.
        ulong h = (Tag * 0x9E3779B97F4A7C15UL) ^ (Ctx * 0xC2B2AE3D27D4EB4FUL);
        return (int)(h ^ (h >> 32));
    }
}

/// <summary>
/// Distance counts of one stack: how many accesses had each LRU stack distance (the number of other entries used
/// since the entry's previous use), and how many had none (first use). An LRU structure of C entries over the
/// stream hits exactly the accesses at distance &lt; C (Mattson et al., "Evaluation techniques for storage
/// hierarchies", 1970: LRU is a stack algorithm), so one histogram gives the misses of every size.
/// </summary>
public sealed class DistanceHistogram
{
    private long[] _counts = new long[64];

    /// <summary>First uses: misses at every size.</summary>
    public long Cold { get; internal set; }

    /// <summary>Misses at every size that left nothing behind (an access whose walk faulted fills no entry).</summary>
    public long Unfilled { get; internal set; }

    /// <summary>Every access counted.</summary>
    public long Accesses { get; internal set; }

    /// <summary>One more than the largest distance seen (the deepest any stack went).</summary>
    public int Depth { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Add(int distance, long n = 1)
    {
        if (distance >= _counts.Length)
        {
            Grow(distance);
        }
        _counts[distance] += n;
        if (distance >= Depth)
        {
            Depth = distance + 1;
        }
        Accesses += n;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow(int distance) => Array.Resize(ref _counts, Math.Max(distance + 1, _counts.Length * 2));

    internal void AddCold()
    {
        Cold++;
        Accesses++;
    }

    internal void AddUnfilled()
    {
        Unfilled++;
        Accesses++;
    }

    /// <summary>A copy of the counts, without the unfilled misses (which no page size owns).</summary>
    internal DistanceHistogram CloneFilled() => new()
    {
        _counts = (long[])_counts.Clone(),
        Cold = Cold,
        Accesses = Accesses - Unfilled,
        Depth = Depth,
    };

    /// <summary>Accesses at distance <paramref name="d"/>.</summary>
    public long At(int d) => d < _counts.Length ? _counts[d] : 0;

    /// <summary>
    /// Misses of an LRU stack of 1..<paramref name="max"/> entries: element c−1 is the misses with c entries
    /// (first uses, unfilled misses and every access at distance ≥ c).
    /// </summary>
    public long[] MissesBySize(int max)
    {
        var misses = new long[max];
        long hits = 0;
        for (int c = 1; c <= max; c++)
        {
            hits += At(c - 1);
            misses[c - 1] = Accesses - hits;
        }
        return misses;
    }
}

/// <summary>
/// One LRU stack over <see cref="EntryKey"/>s that reports each access's stack distance in O(log n): a Fenwick tree
/// over use times holds a 1 at the last use of each live entry, so the distance of an access is the number of ones
/// after its entry's previous use. Times are renumbered (compacted) when the tree fills, so its size follows the
/// number of live entries, not the length of the stream. The two most recent entries are kept aside: a use of
/// either (distance 0 or 1, most accesses of a trace that alternates a code page and a data page) swaps two times
/// and touches neither the hash table nor the tree. Allocates only when it grows.
/// </summary>
public sealed class StackDistance
{
    private readonly Dictionary<EntryKey, int> _slotOf = new(); // entry → its slot
    private int[] _timeOf = new int[64];                        // slot → last-use time
    private int _slots;
    private int[] _tree;      // Fenwick tree, 1-based
    private int[] _slotAt;    // slot last used at time t (valid where the tree has a 1 at t: _slotAt[t] >= 0)
    private int _time;
    private int _liveCount;
    // The most recent entry and the one before it (slots), or −1.
    private int _top = -1;
    private int _second = -1;
    private EntryKey _topKey;
    private EntryKey _secondKey;

    public StackDistance(int capacity = 1024)
    {
        capacity = Math.Max(capacity, 16);
        _tree = new int[capacity + 1];
        _slotAt = new int[capacity + 1];
        _slotAt.AsSpan().Fill(-1);
    }

    private StackDistance(StackDistance other)
    {
        _slotOf = new Dictionary<EntryKey, int>(other._slotOf);
        _timeOf = (int[])other._timeOf.Clone();
        _slots = other._slots;
        _tree = (int[])other._tree.Clone();
        _slotAt = (int[])other._slotAt.Clone();
        _time = other._time;
        _liveCount = other._liveCount;
        _top = other._top;
        _second = other._second;
        _topKey = other._topKey;
        _secondKey = other._secondKey;
        _removed = new HashSet<EntryKey>(other._removed);
        Footprint = other.Footprint;
    }

    /// <summary>An independent copy (the same stack, from here on updated apart).</summary>
    public StackDistance Clone() => new(this);

    /// <summary>Entries in the stack now.</summary>
    public int Count => _liveCount;

    /// <summary>Distinct entries ever used.</summary>
    public int Footprint { get; private set; }

    private readonly HashSet<EntryKey> _removed = new();

    /// <summary>
    /// Uses <paramref name="key"/>: returns its stack distance (entries used since its previous use), or −1 on its
    /// first use (or first use since it was removed).
    /// </summary>
    public int Access(EntryKey key)
    {
        if (_top >= 0 && key == _topKey)
        {
            return 0;
        }
        if (_second >= 0 && key == _secondKey)
        {
            // The top two change places: their two times are swapped, the tree keeps its ones where they are.
            int a = _timeOf[_top], b = _timeOf[_second];
            _timeOf[_top] = b;
            _timeOf[_second] = a;
            _slotAt[a] = _second;
            _slotAt[b] = _top;
            (_top, _second) = (_second, _top);
            (_topKey, _secondKey) = (_secondKey, _topKey);
            return 1;
        }
        ref int slotRef = ref CollectionsMarshal.GetValueRefOrAddDefault(_slotOf, key, out bool existed);
        int distance;
        int slot;
        if (existed)
        {
            slot = slotRef;
            int t = _timeOf[slot];
            distance = _liveCount - Prefix(t);
            Update(t, -1);
            _slotAt[t] = -1;
            _liveCount--;
        }
        else
        {
            distance = -1;
            if (_slots == _timeOf.Length)
            {
                Array.Resize(ref _timeOf, _slots * 2);
            }
            slot = _slots++;
            slotRef = slot;
            if (_removed.Count == 0 || !_removed.Remove(key))
            {
                Footprint++;
            }
        }
        if (_time == _tree.Length - 1)
        {
            Compact();
        }
        int now = ++_time;
        Update(now, 1);
        _slotAt[now] = slot;
        _timeOf[slot] = now;
        _liveCount++;
        _second = _top;
        _secondKey = _topKey;
        _top = slot;
        _topKey = key;
        return distance;
    }

    /// <summary>Takes <paramref name="key"/> out of the stack (TLB maintenance removed it); false when it was not there.</summary>
    public bool Remove(EntryKey key)
    {
        if (!_slotOf.Remove(key, out int slot))
        {
            return false;
        }
        int t = _timeOf[slot];
        Update(t, -1);
        _slotAt[t] = -1;
        _liveCount--;
        _removed.Add(key);
        // The two most recent are found again by the next uses.
        _top = -1;
        _second = -1;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Prefix(int i)
    {
        int sum = 0;
        ref int tree = ref MemoryMarshal.GetArrayDataReference(_tree);
        for (; i > 0; i &= i - 1)
        {
            sum += Unsafe.Add(ref tree, i);
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Update(int i, int delta)
    {
        int n = _tree.Length;
        ref int tree = ref MemoryMarshal.GetArrayDataReference(_tree);
        for (; i < n; i += i & -i)
        {
            Unsafe.Add(ref tree, i) += delta;
        }
    }

    /// <summary>Renumbers the live entries' times 1..n in order and rebuilds the tree (at least twice as large as n).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Compact()
    {
        int capacity = Math.Max(_tree.Length - 1, 2 * _liveCount + 16);
        // In place when the tree keeps its size (the usual case: a stack that stopped growing compacts every few
        // hundred thousand accesses, and new arrays each time were most of an MRC pass's garbage); new arrays only
        // when it grows.
        var slotAt = capacity + 1 == _slotAt.Length ? _slotAt : new int[capacity + 1];
        var tree = capacity + 1 == _tree.Length ? _tree : new int[capacity + 1];
        int n = 0;
        // Moving each live time down to its rank reads _slotAt[t] before writing _slotAt[n], n <= t.
        for (int t = 1; t <= _time; t++)
        {
            int slot = _slotAt[t];
            if (slot >= 0)
            {
                n++;
                slotAt[n] = slot;
                _timeOf[slot] = n;
            }
        }
        // Every time above n is free: in place, those up to the old time held slots; above it they already read −1.
        slotAt.AsSpan(n + 1, (slotAt == _slotAt ? _time : capacity) - n).Fill(-1);
        if (tree == _tree)
        {
            Array.Clear(tree);
        }
        // Linear build: each node adds its finished sum to its parent (every node up to the capacity, so sums reach
        // the parents above n too).
        for (int i = 1; i <= capacity; i++)
        {
            if (i <= n)
            {
                tree[i]++;
            }
            int parent = i + (i & -i);
            if (parent <= capacity)
            {
                tree[parent] += tree[i];
            }
        }
        _tree = tree;
        _slotAt = slotAt;
        _time = n;
    }
}
