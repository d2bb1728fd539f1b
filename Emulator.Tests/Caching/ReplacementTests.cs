using MmuSim.Caching;

namespace MmuSim.Tests.Caching;

public class ReplacementTests
{
    /// <summary>Fills a set with tags 1..ways, touches some, and asks which tag a new fill replaces.</summary>
    private static ulong VictimAfter(ReplacementPolicy policy, int ways, int[] touches, ulong seed = 1)
    {
        var a = new SetAssociativeArray<int>(1, ways, policy, seed);
        for (int i = 0; i < ways; i++)
        {
            a.Insert(0, (ulong)(i + 1), 0, i, out var outcome, out _);
            Assert.Equal(InsertOutcome.New, outcome);
        }
        foreach (int t in touches)
        {
            int slot = a.Find(0, (ulong)t, 0, 0);
            a.Touch(slot);
        }
        a.Insert(0, 1000, 0, -1, out var o, out ulong evicted);
        Assert.Equal(InsertOutcome.Evicted, o);
        return evicted;
    }

    [Fact]
    public void LruReplacesTheLeastRecentlyUsedWay() =>
        Assert.Equal(3UL, VictimAfter(ReplacementPolicy.Lru, 4, [1, 2, 4, 1]));

    [Fact]
    public void FifoIgnoresHits() =>
        Assert.Equal(1UL, VictimAfter(ReplacementPolicy.Fifo, 4, [1, 2, 3, 4, 1]));

    [Fact]
    public void TreePlruFollowsTheTreeBits()
    {
        // 4 ways: fills 1..4 leave the tree pointing at way 0 (tag 1). Touch tag 1 (way 0): root points right,
        // the left node points at way 1; the right node still points at way 2 (tag 3, filled before tag 4).
        Assert.Equal(3UL, VictimAfter(ReplacementPolicy.TreePlru, 4, [1]));
        // Touch way 2 as well: the root points left again, whose node points at way 1 (tag 2).
        Assert.Equal(2UL, VictimAfter(ReplacementPolicy.TreePlru, 4, [1, 3]));
    }

    [Fact]
    public void TreePlruWithFiveWaysNeverPicksAMissingWay()
    {
        // 5 ways: the tree has 8 leaves, 3 of them without a way. Every victim must be a real way.
        var a = new SetAssociativeArray<int>(1, 5, ReplacementPolicy.TreePlru, 1);
        var seen = new HashSet<int>();
        for (int i = 0; i < 200; i++)
        {
            a.Insert(0, (ulong)(i + 1), 0, i, out _, out ulong evicted);
            int slot = a.Find(0, (ulong)(i + 1), 0, 0);
            Assert.InRange(slot, 0, 4);
            seen.Add(slot);
            if (i % 3 == 0 && i > 5)
            {
                a.Touch(a.Find(0, (ulong)i, 0, 0));
            }
        }
        Assert.Equal(5, seen.Count);
    }

    [Fact]
    public void RandomIsReproducibleForASeedAndUsesEveryWay()
    {
        ulong[] Run(ulong seed)
        {
            var a = new SetAssociativeArray<int>(1, 4, ReplacementPolicy.Random, seed);
            var victims = new List<ulong>();
            for (int i = 0; i < 64; i++)
            {
                a.Insert(0, (ulong)(i + 1), 0, i, out _, out ulong evicted);
                victims.Add(evicted);
            }
            return victims.ToArray();
        }
        Assert.Equal(Run(7), Run(7));
        Assert.NotEqual(Run(7), Run(8));
        var a = new SetAssociativeArray<int>(1, 4, ReplacementPolicy.Random, 7);
        var slots = new HashSet<int>();
        for (int i = 0; i < 64; i++)
        {
            slots.Add(a.Insert(0, (ulong)(i + 1), 0, i, out _, out _));
        }
        Assert.Equal(4, slots.Count);
    }

    [Fact]
    public void InvalidWaysAreFilledFirst()
    {
        var a = new SetAssociativeArray<int>(1, 4, ReplacementPolicy.Lru, 1);
        for (int i = 0; i < 4; i++)
        {
            a.Insert(0, (ulong)(i + 1), 0, i, out _, out _);
        }
        a.Invalidate(a.Find(0, 3, 0, 0));
        int slot = a.Insert(0, 99, 0, 0, out var outcome, out _);
        Assert.Equal(InsertOutcome.New, outcome);
        Assert.Equal(2, slot);
    }

    [Fact]
    public void NonPowerOfTwoSetCountsIndexByModulo()
    {
        // 1280 entries × 5 ways = 256 sets; 48 entries × 3 ways = 16 sets; 60 × 5 = 12 sets (not a power of two).
        var a = new SetAssociativeArray<int>(12, 5, ReplacementPolicy.Lru, 1);
        Assert.Equal(1, a.SetOf(13));
        Assert.Equal(7, a.SetOf(0x1_0000_0003UL)); // 2^32 mod 12 = 4
        Assert.Equal((int)(0xFFFF_FFFF_FFFFUL % 12), a.SetOf(0xFFFF_FFFF_FFFFUL));
        var tlb = new Tlb(new TlbConfig("L2", TlbServes.Unified, 1280, 5, 3));
        Assert.Equal(256, tlb.Config.Sets);
    }

    [Fact]
    public void WideSetsAreScannedCompletely()
    {
        // 48 ways (fully associative L1 of the A76): the vector scan must find a tag in any way, including the last.
        var a = new SetAssociativeArray<int>(1, 48, ReplacementPolicy.Lru, 1);
        for (int i = 0; i < 48; i++)
        {
            a.Insert(0, (ulong)(i + 1) << 12, (ulong)i, i, out _, out _);
        }
        for (int i = 0; i < 48; i++)
        {
            Assert.Equal(i, a.Find(0, (ulong)(i + 1) << 12, (ulong)i, 999));
            Assert.Equal(-1, a.Find(0, (ulong)(i + 1) << 12, 999, 998));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(8)]
    [InlineData(13)]
    [InlineData(48)]
    [InlineData(64)]
    public void OldestWayIsTheFirstMinimumForEveryWayCount(int ways)
    {
        // The vectorised victim search against the plain definition: the first way holding the smallest stamp,
        // with ties (never-used ways at 0) and stamps above 2^63 (the vector compare must be unsigned).
        var rng = new Random(ways);
        for (int round = 0; round < 500; round++)
        {
            var stamps = new ulong[ways];
            for (int w = 0; w < ways; w++)
            {
                stamps[w] = rng.Next(4) switch
                {
                    0 => 0,
                    1 => (ulong)rng.Next(1, 8),
                    2 => (1UL << 63) + (ulong)rng.Next(0, 8),
                    _ => (ulong)rng.NextInt64(),
                };
            }
            int expected = 0;
            for (int w = 1; w < ways; w++)
            {
                if (stamps[w] < stamps[expected])
                {
                    expected = w;
                }
            }
            Assert.Equal(expected, MmuSim.Caching.ReplacementState.OldestWay(stamps));
        }
    }

    [Theory]
    [InlineData(ReplacementPolicy.Lru)]
    [InlineData(ReplacementPolicy.TreePlru)]
    public void DeferredTouchesEvictExactlyAsImmediateOnes(ReplacementPolicy policy)
    {
        // The predicted-hit path defers its touch; any interleaving of deferred touches, touches, fills and
        // invalidations must pick the same victims as touching at once.
        var rng = new Random((int)policy + 5);
        const int ways = 4;
        var deferred = new SetAssociativeArray<byte>(1, ways, policy, 1);
        var immediate = new SetAssociativeArray<byte>(1, ways, policy, 1);
        ulong next = 1;
        for (int step = 0; step < 20_000; step++)
        {
            int op = rng.Next(10);
            if (op < 5)
            {
                int slot = rng.Next(ways);
                if (deferred.Tag(slot) != 0)
                {
                    deferred.TouchDeferred(slot);
                    immediate.Touch(slot);
                }
            }
            else if (op < 7)
            {
                int slot = rng.Next(ways);
                if (deferred.Tag(slot) != 0)
                {
                    deferred.Touch(slot);
                    immediate.Touch(slot);
                }
            }
            else if (op < 9)
            {
                ulong tag = next++ << 12;
                byte none = 0;
                int a = deferred.Insert(0, tag, 0, in none, out _, out ulong ea);
                int b = immediate.Insert(0, tag, 0, in none, out _, out ulong eb);
                Assert.Equal((b, eb), (a, ea));
            }
            else
            {
                int slot = rng.Next(ways);
                deferred.Invalidate(slot);
                immediate.Invalidate(slot);
            }
        }
    }
}
