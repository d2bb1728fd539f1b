using MmuSim.Tests.Support;

namespace MmuSim.Tests.Caching;

/// <summary>
/// A fully associative LRU TLB of N entries misses exactly when the page's LRU stack distance is N or more (or
/// the page is new): checked against a small independent stack model on a skewed random 4K-page trace.
/// </summary>
public class StackDistanceTests
{
    /// <summary>Misses of an N-entry fully associative LRU cache, by LRU stack distance.</summary>
    private static int StackDistanceMisses(IReadOnlyList<ulong> pages, int n)
    {
        var stack = new List<ulong>();
        int misses = 0;
        foreach (ulong p in pages)
        {
            int depth = stack.IndexOf(p);
            if (depth < 0 || depth >= n)
            {
                misses++;
            }
            if (depth >= 0)
            {
                stack.RemoveAt(depth);
            }
            stack.Insert(0, p);
        }
        return misses;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(16)]
    [InlineData(48)]
    [InlineData(100)]
    public void MissesEqualTheStackDistanceCount(int entries)
    {
        var m = new Machine(Machine.Config($$"""
            { "tlbs": [ { "name": "T", "serves": "unified", "entries": {{entries}}, "ways": {{entries}}, "latency": 1 } ] }
            """));
        const int Pages = 200;
        for (int i = 0; i < Pages; i++)
        {
            m.MapPage(0x1000_0000 + (ulong)i * 0x1000, 0x4100_0000 + (ulong)i * 0x1000);
        }
        var rng = new Random(entries);
        var trace = new List<ulong>();
        for (int i = 0; i < 5000; i++)
        {
            // Skewed reuse: half the time a page near the previous one, else any page with a bias to low numbers.
            int page = rng.Next(4) switch
            {
                0 => rng.Next(Pages),
                1 => (int)Math.Min(Pages - 1, Math.Abs(rng.NextDouble() * rng.NextDouble() * Pages)),
                _ => trace.Count == 0 ? 0 : (int)Math.Clamp((long)((trace[^1] - 0x1000_0000) >> 12) + rng.Next(-3, 4), 0, Pages - 1),
            };
            ulong va = 0x1000_0000 + ((ulong)page << 12);
            trace.Add(va);
            var o = m.Access(rng.Next(3) == 0 ? MmuSim.Tracing.TraceOp.Write : MmuSim.Tracing.TraceOp.Read, va + (ulong)rng.Next(512) * 8);
            Assert.False(o.IsFault);
        }
        var t = m.Core.Caches.Tlbs[0].Stats;
        Assert.Equal(StackDistanceMisses(trace, entries), t.Misses);
        Assert.Equal(trace.Count, t.Lookups);
    }
}
