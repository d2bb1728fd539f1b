using CsCheck;
using MmuSim.Analysis;

namespace MmuSim.Tests.Analysis;

/// <summary>
/// The stack-distance structure against the definition, counted naively: for each access, the distinct entries
/// used since its entry's previous use (O(n·m)), and an LRU list of each size replayed directly.
/// </summary>
public sealed class StackDistanceTests
{
    /// <summary>Distinct keys used strictly between the previous use of stream[i]'s key and i; −1 on a first use.</summary>
    private static int NaiveDistance(IReadOnlyList<EntryKey> stream, int i)
    {
        var seen = new HashSet<EntryKey>();
        for (int j = i - 1; j >= 0; j--)
        {
            if (stream[j] == stream[i])
            {
                return seen.Count;
            }
            seen.Add(stream[j]);
        }
        return -1;
    }

    /// <summary>Misses of an LRU list of <paramref name="size"/> entries over the stream.</summary>
    private static long LruMisses(IEnumerable<EntryKey> stream, int size)
    {
        var list = new LinkedList<EntryKey>();
        long misses = 0;
        foreach (var k in stream)
        {
            var node = list.Find(k);
            if (node is null)
            {
                misses++;
                if (list.Count == size)
                {
                    list.RemoveLast();
                }
            }
            else
            {
                list.Remove(node);
            }
            list.AddFirst(k);
        }
        return misses;
    }

    private static readonly Gen<EntryKey[]> Streams =
        Gen.Select(Gen.Int[1, 40], Gen.Int[1, 3], (pages, contexts) => (pages, contexts))
            .SelectMany(p => Gen.Select(Gen.Int[0, p.pages - 1], Gen.Int[0, p.contexts - 1], Gen.Int[0, 1],
                    (page, ctx, big) => new EntryKey(big == 1 ? ((ulong)page << 21) | 21 : ((ulong)page << 12) | 12, (ulong)ctx))
                .Array[0, 400]);

    [Fact]
    public void DistancesEqualTheNaiveCountOnRandomStreams()
    {
        Streams.Sample(stream =>
        {
            // A small initial capacity makes the tree compact and grow many times on the way.
            var sd = new StackDistance(16);
            for (int i = 0; i < stream.Length; i++)
            {
                Assert.Equal(NaiveDistance(stream, i), sd.Access(stream[i]));
            }
            Assert.Equal(stream.Distinct().Count(), sd.Footprint);
        }, iter: 100);
    }

    [Fact]
    public void HistogramMissesEqualLruListsOfEverySize()
    {
        Streams.Sample(stream =>
        {
            var sd = new StackDistance(16);
            var hist = new DistanceHistogram();
            foreach (var k in stream)
            {
                int d = sd.Access(k);
                if (d < 0)
                {
                    hist.AddCold();
                }
                else
                {
                    hist.Add(d);
                }
            }
            int max = Math.Max(sd.Footprint, 1) + 2;
            var misses = hist.MissesBySize(max);
            for (int size = 1; size <= max; size++)
            {
                Assert.Equal(LruMisses(stream, size), misses[size - 1]);
            }
        }, iter: 60);
    }

    [Fact]
    public void ARemovedEntryIsAFirstUseAgainButNotNewFootprint()
    {
        var a = new EntryKey(0x1000 | 12, 0);
        var b = new EntryKey(0x2000 | 12, 0);
        var sd = new StackDistance();
        Assert.Equal(-1, sd.Access(a));
        Assert.Equal(-1, sd.Access(b));
        Assert.True(sd.Remove(a));
        Assert.False(sd.Remove(a));
        Assert.Equal(0, sd.Access(b));
        Assert.Equal(-1, sd.Access(a));
        Assert.Equal(1, sd.Access(b));
        Assert.Equal(2, sd.Footprint);
        Assert.Equal(2, sd.Count);
    }
}
