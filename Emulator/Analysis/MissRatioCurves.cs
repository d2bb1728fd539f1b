using MmuSim.Caching;

namespace MmuSim.Analysis;

/// <summary>What a one-pass miss-ratio-curve run computes besides the fully associative curve.</summary>
public sealed record MrcOptions
{
    /// <summary>Set counts whose per-set curves (every associativity) are wanted; each a power of two or not.</summary>
    public IReadOnlyList<int> SetCounts { get; init; } = [];

    /// <summary>
    /// Entries of a fully associative LRU L1 TLB whose miss stream feeds the L2 curve (0: no L2 curve). The L2 sees
    /// exactly the L1's misses, whatever its own size: a hit in the L2 refills the L1 and a miss walks and fills both
    /// (TranslationCaches.Lookup), so the L1's contents never depend on the L2's.
    /// </summary>
    public int L1Entries { get; init; }
}

/// <summary>One curve: misses of an LRU TLB at each size.</summary>
/// <param name="Name">"fully-associative", "sets=64", "l2-of-l1-misses", ... (a page size appended when split).</param>
/// <param name="Sets">1 for fully associative.</param>
/// <param name="PageShift">log2 of the page size the curve counts alone, or 0 for entries of every size.</param>
/// <param name="Entries">Entries of each point (sets × ways).</param>
/// <param name="Misses">Misses of each point.</param>
/// <param name="Accesses">Lookups the curve's TLB sees (the same at every size).</param>
public sealed record MissCurve(string Name, int Sets, int PageShift, int[] Entries, long[] Misses, long Accesses);

/// <summary>
/// Builds miss-ratio curves from the lookups of one TLB level as a replay makes them (<see cref="ITlbObserver"/>):
/// each access names the entry that serves it (the one hit, or the one its walk fills), and that stream is the
/// same whatever the TLB's size, so stack distances over it give the misses of every fully associative LRU size,
/// per-set stack distances those of every associativity at a fixed set count, and the stream of a fixed L1's
/// misses the curve of an L2 behind it. Exact for LRU while no entry is removed by maintenance (a removal takes
/// the entry out of every stack, which smaller TLBs had possibly evicted already; <see cref="Removals"/> counts
/// them) and while no access that hits a cached entry faults (a smaller TLB would miss, walk and fill nothing).
/// </summary>
public sealed class MissRatioCurves : ITlbObserver
{
    private readonly StackDistance _full = new(1 << 12);
    private readonly DistanceHistogram _fullHist = new();
    private readonly Dictionary<int, (StackDistance Stack, DistanceHistogram Hist)> _bySize = new();
    private readonly (int Sets, StackDistance[] Stacks, DistanceHistogram Hist)[] _setCurves;
    private readonly int _l1;
    private readonly StackDistance? _l2;
    private readonly DistanceHistogram _l2Hist = new();
    private readonly (int Sets, StackDistance[] Stacks, DistanceHistogram Hist)[] _l2SetCurves;
    private bool _pending;
    private EntryKey _previous;
    private bool _hasPrevious;

    public MissRatioCurves(MrcOptions options)
    {
        _setCurves = options.SetCounts.Select(NewSetCurve).ToArray();
        _l1 = options.L1Entries;
        if (_l1 > 0)
        {
            _l2 = new StackDistance(1 << 12);
            _l2SetCurves = options.SetCounts.Select(NewSetCurve).ToArray();
        }
        else
        {
            _l2SetCurves = [];
        }
    }

    private static (int, StackDistance[], DistanceHistogram) NewSetCurve(int sets)
    {
        if (sets < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(sets), sets, "a set count is at least 1");
        }
        var stacks = new StackDistance[sets];
        for (int i = 0; i < sets; i++)
        {
            stacks[i] = new StackDistance(64);
        }
        return (sets, stacks, new DistanceHistogram());
    }

    /// <summary>Entries maintenance (or a retired stage-1 leaf) removed while they were live in the stack.</summary>
    public long Removals { get; private set; }

    /// <summary>Distinct entries used (the fully associative curve runs from 1 entry to this).</summary>
    public int Footprint => _full.Footprint;

    /// <summary>The page sizes (log2) the entries used, ascending.</summary>
    public IReadOnlyList<int> PageShifts => _soleShift >= 0 ? [_soleShift] : _bySize.Keys.Order().ToArray();

    public void OnHit(ulong tag, ulong ctx, long count)
    {
        Flush();
        var key = new EntryKey(tag, ctx);
        if (_hasPrevious && key == _previous)
        {
            // The entry on top of every stack: distance 0 everywhere, and an L1 hit (nothing reaches the L2).
            Repeat(key, count);
            return;
        }
        Use(key);
        if (count > 1)
        {
            Repeat(key, count - 1);
        }
    }

    public void OnMiss()
    {
        Flush();
        _pending = true;
    }

    public void OnFill(ulong tag, ulong ctx)
    {
        if (!_pending)
        {
            return; // a refill of the entry just hit (a write that walked to set the dirty state): already counted
        }
        _pending = false;
        Use(new EntryKey(tag, ctx));
    }

    public void OnRemove(ulong tag, ulong ctx)
    {
        var key = new EntryKey(tag, ctx);
        bool live = _full.Remove(key);
        if (_bySize.TryGetValue(key.Shift, out var s))
        {
            s.Stack.Remove(key);
        }
        foreach (var (sets, stacks, _) in _setCurves)
        {
            stacks[SetOf(key, sets)].Remove(key);
        }
        if (_l2 is not null)
        {
            _l2.Remove(key);
            foreach (var (sets, stacks, _) in _l2SetCurves)
            {
                stacks[SetOf(key, sets)].Remove(key);
            }
        }
        if (live)
        {
            Removals++;
        }
        if (key == _previous)
        {
            _hasPrevious = false;
        }
    }

    /// <summary>Ends the stream: a miss still waiting for its fill filled nothing.</summary>
    public void Complete() => Flush();

    private void Flush()
    {
        if (!_pending)
        {
            return;
        }
        _pending = false;
        // A lookup that missed and whose walk filled nothing (it faulted): a miss at every size, no stack changes.
        _fullHist.AddUnfilled();
        foreach (var (_, _, hist) in _setCurves)
        {
            hist.AddUnfilled();
        }
        if (_l2 is not null)
        {
            _l2Hist.AddUnfilled();
            foreach (var (_, _, hist) in _l2SetCurves)
            {
                hist.AddUnfilled();
            }
        }
    }

    private static int SetOf(EntryKey key, int sets) => (int)(key.PageNumber % (ulong)sets);

    private static void Count(DistanceHistogram hist, int distance)
    {
        if (distance < 0)
        {
            hist.AddCold();
        }
        else
        {
            hist.Add(distance);
        }
    }

    private void Use(EntryKey key)
    {
        _previous = key;
        _hasPrevious = true;
        int d = _full.Access(key);
        Count(_fullHist, d);
        UseBySize(key);
        foreach (var (sets, stacks, hist) in _setCurves)
        {
            Count(hist, stacks[SetOf(key, sets)].Access(key));
        }
        if (_l2 is not null && (d < 0 || d >= _l1))
        {
            // An L1 miss: the L2 is looked up (and, hit or miss, holds the entry afterwards).
            Count(_l2Hist, _l2.Access(key));
            foreach (var (sets, stacks, hist) in _l2SetCurves)
            {
                Count(hist, stacks[SetOf(key, sets)].Access(key));
            }
        }
    }

    /// <summary>
    /// The per-page-size stacks. While every entry has one size, that size's stack is the fully associative one and
    /// is not kept twice; the first entry of another size copies it (then both sizes have stacks of their own).
    /// </summary>
    private void UseBySize(EntryKey key)
    {
        int shift = key.Shift;
        if (_soleShift == shift)
        {
            return;
        }
        if (_soleShift < 0 && _bySize.Count == 0)
        {
            _soleShift = shift;
            return;
        }
        if (_soleShift >= 0)
        {
            // Until now the stack of the one size was the fully associative stack, less this access.
            var copy = _full.Clone();
            copy.Remove(key);
            var hist = _fullHist.CloneFilled();
            hist.Cold--; // this access's first use, counted in the fully associative histogram, is another size's
            hist.Accesses--;
            _bySize[_soleShift] = (copy, hist);
            _soleShift = -1;
        }
        if (!_bySize.TryGetValue(shift, out var bySize))
        {
            bySize = (new StackDistance(1 << 10), new DistanceHistogram());
            _bySize[shift] = bySize;
        }
        Count(bySize.Hist, bySize.Stack.Access(key));
    }

    private void Repeat(EntryKey key, long n)
    {
        _fullHist.Add(0, n);
        foreach (var (_, _, hist) in _setCurves)
        {
            hist.Add(0, n);
        }
        if (_soleShift < 0 && _bySize.TryGetValue(key.Shift, out var s))
        {
            s.Hist.Add(0, n);
        }
    }

    /// <summary>The one page size seen so far while there is only one (−1 before the first entry and once there are two).</summary>
    private int _soleShift = -1;

    /// <summary>The curves: fully associative, per set count, per page size when the entries have several, and the L2's.</summary>
    public IReadOnlyList<MissCurve> Curves()
    {
        Flush();
        var curves = new List<MissCurve> { FullCurve("fully-associative", 0, _fullHist, _full.Footprint) };
        foreach (var (sets, stacks, hist) in _setCurves)
        {
            curves.Add(SetCurve($"sets={sets}", sets, hist));
        }
        if (_bySize.Count > 1)
        {
            foreach (var (shift, (stack, hist)) in _bySize.OrderBy(kv => kv.Key))
            {
                curves.Add(FullCurve($"fully-associative, {PageSizeName(shift)} pages", shift, hist, stack.Footprint));
            }
        }
        if (_l2 is not null)
        {
            curves.Add(FullCurve("l2-of-l1-misses", 0, _l2Hist, _l2.Footprint));
            foreach (var (sets, stacks, hist) in _l2SetCurves)
            {
                curves.Add(SetCurve($"l2-of-l1-misses, sets={sets}", sets, hist));
            }
        }
        return curves;
    }

    private static MissCurve FullCurve(string name, int shift, DistanceHistogram hist, int footprint)
    {
        int n = Math.Max(footprint, 1);
        var entries = new int[n];
        for (int i = 0; i < n; i++)
        {
            entries[i] = i + 1;
        }
        return new MissCurve(name, 1, shift, entries, hist.MissesBySize(n), hist.Accesses);
    }

    private static MissCurve SetCurve(string name, int sets, DistanceHistogram hist)
    {
        // Ways 1 .. the deepest any set's stack went: beyond it every set holds all it ever used.
        int ways = Math.Max(hist.Depth, 1);
        var entries = new int[ways];
        for (int w = 0; w < ways; w++)
        {
            entries[w] = (w + 1) * sets;
        }
        return new MissCurve(name, sets, 0, entries, hist.MissesBySize(ways), hist.Accesses);
    }

    /// <summary>4K, 16K, 64K, 2M, 32M, 512M, 1G, ... from log2 of the size.</summary>
    public static string PageSizeName(int shift) => shift switch
    {
        >= 30 => $"{1L << (shift - 30)}G",
        >= 20 => $"{1L << (shift - 20)}M",
        _ => $"{1L << (shift - 10)}K",
    };
}
