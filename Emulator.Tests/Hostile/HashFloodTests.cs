using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Memory;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// Tables keyed by addresses from the trace cannot be aimed at: the frame table of <see cref="PhysicalMemory"/> and
/// `--check-stale`'s map of written words take as much work for crafted address families as for random addresses
/// of the same count. Work is counted (slots probed, keys per bucket), never timed.
/// </summary>
public sealed class HashFloodTests
{
    private const int Count = 1 << 13; // 32 MiB of frames per table

    /// <summary>Frame numbers of address families a hostile trace would write (each word at the frame's start).</summary>
    public static IEnumerable<object[]> Families()
    {
        yield return ["(x << 32) | x", Enumerable.Range(1, Count).Select(i => (ulong)i).Select(x => ((x << 32) | x) >> 12)];
        yield return ["stride 2^20 frames", Enumerable.Range(0, Count).Select(x => (ulong)x << 20)];
        yield return ["stride 2^8 frames", Enumerable.Range(0, Count).Select(x => (ulong)x << 8)];
        // Against the fixed Fibonacci multiplier the table used before: multiples of a Fibonacci number (the
        // continued-fraction denominators of 2^64/φ) land within a few slots of one another.
        yield return ["Fibonacci stride F(56)", Enumerable.Range(1, Count).Select(x => (ulong)x * 225851433717UL & ((1UL << 52) - 1))];
        yield return ["consecutive", Enumerable.Range(0, Count).Select(x => (ulong)x)];
    }

    private static long ProbesFor(IEnumerable<ulong> frames)
    {
        var mem = new PhysicalMemory();
        foreach (ulong f in frames)
        {
            mem.Write64(new PhysicalAddress(f << 12), 1);
        }
        return mem.InsertProbes;
    }

    private static readonly Lazy<long> RandomProbes = new(() =>
    {
        var rng = new Random(11);
        var frames = new HashSet<ulong>();
        while (frames.Count < Count)
        {
            frames.Add((ulong)rng.NextInt64(0, 1L << 52));
        }
        return ProbesFor(frames);
    });

    [Theory]
    [MemberData(nameof(Families))]
    public void CraftedFramesProbeNoMoreThanRandomOnes(string family, IEnumerable<ulong> frames)
    {
        long crafted = ProbesFor(frames);
        long random = RandomProbes.Value;
        // Linear probing at load ≤ 1/2 averages under 2.5 probes per insertion (growth included); a flood is
        // Count/2 per insertion. A factor of 3 leaves room for the random seed and is far below a flood.
        Assert.True(crafted < 3 * random, $"{family}: {crafted} probes against {random} for random frames");
        Assert.True(crafted < 8L * Count, $"{family}: {crafted} probes for {Count} frames");
    }

    /// <summary>The largest number of keys sharing one bucket when <paramref name="keys"/> go into <paramref name="buckets"/> buckets by the comparer's hash (as Dictionary does).</summary>
    private static int WorstBucket(IEqualityComparer<ulong> comparer, IEnumerable<ulong> keys, int buckets)
    {
        var load = new int[buckets];
        int worst = 0;
        foreach (ulong k in keys)
        {
            worst = Math.Max(worst, ++load[(uint)comparer.GetHashCode(k) % (uint)buckets]);
        }
        return worst;
    }

    [Fact]
    public void TheDefaultHashOfAnAddressFoldsItsHalvesAndTheSeededOneDoesNot()
    {
        var folded = Enumerable.Range(1, Count).Select(i => (ulong)i).Select(x => (x << 32) | x).ToList();
        const int buckets = 65_537; // a prime, as Dictionary's sizes are
        // The failure the seeded comparer exists for: every key of the family in one bucket.
        Assert.Equal(Count, WorstBucket(EqualityComparer<ulong>.Default, folded, buckets));
        var seeded = new SeededUInt64Comparer();
        var rng = new Random(3);
        int random = WorstBucket(seeded, Enumerable.Range(0, Count).Select(_ => (ulong)rng.NextInt64()), buckets);
        int crafted = WorstBucket(seeded, folded, buckets);
        // Balls into bins at load 1/2: the fullest bucket holds a handful either way.
        Assert.True(crafted <= Math.Max(12, 2 * random), $"fullest bucket {crafted} against {random} for random keys");
    }

    [Fact]
    public void TwoSeededComparersDisagreeSoNoInputCollidesOnEveryRun()
    {
        var a = new SeededUInt64Comparer();
        var b = new SeededUInt64Comparer();
        int same = Enumerable.Range(0, 64).Count(i => a.GetHashCode((ulong)i) == b.GetHashCode((ulong)i));
        Assert.True(same < 4, $"{same} of 64 codes equal under two seeds");
        Assert.True(a.Equals(5, 5));
        Assert.False(a.Equals(5, 6));
    }
}
