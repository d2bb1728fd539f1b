using MmuSim.Addressing;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Reporting;
using MmuSim.Tests.Support;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Tests.Reporting;

/// <summary>
/// The hand-formatted results writer against the System.Text.Json one it replaced (<see cref="ReferenceResultWriter"/>):
/// the same bytes for every kind of outcome, on random outcomes with every field at its extremes and on every result
/// the QEMU corpus produces.
/// </summary>
public sealed class ResultWriterTests
{
    private static (byte[] Fast, byte[] Reference) Write(IEnumerable<AccessOutcome> outcomes)
    {
        var fast = new MemoryStream();
        var reference = new MemoryStream();
        using (var w = new ResultWriter(fast, ownsStream: false))
        using (var r = new ReferenceResultWriter(reference, ownsStream: false))
        {
            foreach (var o in outcomes)
            {
                w.OnOutcome(in o);
                r.OnOutcome(in o);
            }
        }
        return (fast.ToArray(), reference.ToArray());
    }

    private static void AssertSameBytes(byte[] expected, byte[] actual)
    {
        if (!expected.AsSpan().SequenceEqual(actual))
        {
            int i = expected.AsSpan().CommonPrefixLength(actual);
            string Around(byte[] b) => System.Text.Encoding.ASCII.GetString(b, Math.Max(0, i - 80), Math.Min(160, b.Length - Math.Max(0, i - 80)));
            Assert.Fail($"first difference at byte {i}:\nexpected …{Around(expected)}…\nactual   …{Around(actual)}…");
        }
    }

    private static ulong Extreme(Random r) => r.Next(5) switch
    {
        0 => 0,
        1 => ulong.MaxValue,
        2 => 1UL << r.Next(64),
        3 => (ulong)r.Next(16),
        _ => (ulong)r.NextInt64() ^ ((ulong)r.Next() << 63),
    };

    [Fact]
    public void RandomOutcomesOfEveryKindGiveTheReferenceBytes()
    {
        var r = new Random(11);
        var ops = new[] { ResultOp.Read, ResultOp.Write, ResultOp.Fetch, ResultOp.At, ResultOp.Dump };
        var outcomes = new List<AccessOutcome>();
        for (int i = 0; i < 20_000; i++)
        {
            var o = new AccessOutcome
            {
                Line = r.Next(3) == 0 ? long.MaxValue - r.Next(10) : r.NextInt64(0, 1L << 40),
                Op = ops[r.Next(ops.Length)],
                Va = Extreme(r),
                El = (byte)r.Next(3),
                Pa = Extreme(r),
                Ipa = Extreme(r),
                HasIpa = r.Next(2) == 0,
                At = (AtOp)r.Next(Enum.GetValues<AtOp>().Length),
                Par = Extreme(r),
                Value = Extreme(r),
                Cycles = r.Next(4) == 0 ? long.MaxValue : r.NextInt64(0, 100_000),
                TargetEl = (byte)r.Next(1, 3),
                Esr = Extreme(r),
                Far = Extreme(r),
                Hpfar = Extreme(r),
            };
            if (r.Next(2) == 0)
            {
                var type = (FaultType)r.Next(1, 6);
                o.Fault = r.Next(2) == 0
                    ? FaultInfo.Stage1(type, r.Next(-1, 4))
                    : FaultInfo.Stage2(type, r.Next(-1, 4), new IntermediatePhysicalAddress(Extreme(r)), r.Next(2) == 0);
            }
            outcomes.Add(o);
        }
        var (fast, reference) = Write(outcomes);
        AssertSameBytes(reference, fast);
        Assert.Equal(outcomes.Count, fast.Count(b => b == (byte)'\n'));
    }

    public static TheoryData<string> CorpusTraces() => Corpus.QemuCorpusTests.Traces();

    [Theory]
    [MemberData(nameof(CorpusTraces))]
    public async Task EveryCorpusResultGivesTheReferenceBytes(string name)
    {
        var (_, outcomes) = await Machine.ReplayFile(Path.Combine(TestPaths.Qemu, name + ".trace"), Presets.NeoverseN1);
        var (fast, reference) = Write(outcomes);
        AssertSameBytes(reference, fast);
    }

    [Fact]
    public void ManyResultsCrossTheBlockBoundaryIntact()
    {
        // 64 KiB blocks: lines straddling a block's end must come out whole and in order.
        var outcomes = Enumerable.Range(1, 5000).Select(i => new AccessOutcome
        {
            Line = i, Op = ResultOp.Read, Va = (ulong)i << 12, El = 1, Pa = ulong.MaxValue - (ulong)i, Cycles = i,
        }).ToList();
        var (fast, reference) = Write(outcomes);
        AssertSameBytes(reference, fast);
        var lines = System.Text.Encoding.ASCII.GetString(fast).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5000, lines.Length);
        Assert.StartsWith("{\"line\":5000,", lines[^1]);
    }
}
