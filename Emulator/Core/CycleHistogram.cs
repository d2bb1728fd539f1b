namespace MmuSim.Core;

/// <summary>
/// Exact distribution of a non-negative cycle count: one counter per value below 65536 (walks are rarely
/// dearer), a sorted map above. Adding never allocates below that bound.
/// </summary>
public sealed class CycleHistogram
{
    private const int Direct = 1 << 16;
    private long[]? _counts;
    private SortedDictionary<long, long>? _large;

    public long Count { get; private set; }
    public long Sum { get; private set; }
    public long Max { get; private set; }

    public double Mean => Count == 0 ? 0 : (double)Sum / Count;

    public void Add(long value)
    {
        Count++;
        Sum += value;
        if (value > Max)
        {
            Max = value;
        }
        if (value < Direct)
        {
            (_counts ??= new long[Direct])[value]++;
        }
        else
        {
            _large ??= new SortedDictionary<long, long>();
            _large[value] = _large.GetValueOrDefault(value) + 1;
        }
    }

    /// <summary>Adds every sample of <paramref name="other"/> (the distribution of several PEs together).</summary>
    public void AddAll(CycleHistogram other)
    {
        Count += other.Count;
        Sum += other.Sum;
        Max = Math.Max(Max, other.Max);
        if (other._counts is { } counts)
        {
            var mine = _counts ??= new long[Direct];
            for (int v = 0; v < Direct; v++)
            {
                mine[v] += counts[v];
            }
        }
        if (other._large is { } large)
        {
            _large ??= new SortedDictionary<long, long>();
            foreach (var (v, c) in large)
            {
                _large[v] = _large.GetValueOrDefault(v) + c;
            }
        }
    }

    /// <summary>Nearest-rank percentile: the smallest value v with at least p% of the samples ≤ v (0 when empty).</summary>
    public long Percentile(double p)
    {
        if (Count == 0)
        {
            return 0;
        }
        long rank = Math.Max(1, (long)Math.Ceiling(p / 100.0 * Count));
        long seen = 0;
        if (_counts is not null)
        {
            for (int v = 0; v < Direct; v++)
            {
                seen += _counts[v];
                if (seen >= rank)
                {
                    return v;
                }
            }
        }
        if (_large is not null)
        {
            foreach (var (v, c) in _large)
            {
                seen += c;
                if (seen >= rank)
                {
                    return v;
                }
            }
        }
        return Max;
    }

    /// <summary>Each value that occurred, ascending, with its count (the exact distribution, for reports).</summary>
    public IEnumerable<(long Cycles, long Count)> Values()
    {
        if (_counts is not null)
        {
            for (int v = 0; v < Direct; v++)
            {
                if (_counts[v] != 0)
                {
                    yield return (v, _counts[v]);
                }
            }
        }
        if (_large is not null)
        {
            foreach (var (v, c) in _large)
            {
                yield return (v, c);
            }
        }
    }
}
