using System.Text;
using MmuSim.Core;
using MmuSim.Paging;
using MmuSim.Replay;
using MmuSim.Tracing;

using MmuSim.Tests.Support;

namespace MmuSim.Tests.Tracing;

/// <summary>A replay's memory does not grow with the length of the trace.</summary>
[Collection("Isolated")]
public class ReplayMemoryTests
{
    private sealed class CountingSink : IOutcomeSink
    {
        public long Count;
        public ulong Sum;

        public void OnOutcome(in AccessOutcome outcome)
        {
            Count++;
            Sum += outcome.Pa;
        }
    }

    private static byte[] Lines(int n, ulong pages)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < n; i++)
        {
            sb.Append(i % 4 == 3 ? "W 0x" : "R 0x").Append((0x4000_0000UL + (ulong)i * 0x1040 % (pages * 4096)).ToString("x")).Append('\n');
        }
        return Encoding.ASCII.GetBytes(sb.ToString());
    }

    private static long AllocatedByReplay(byte[] trace, DemandPagingMode mode)
    {
        // Demand paging with a fixed set of pages: after the first pass every access is a plain two-stage walk.
        // The warm-up is long enough for tiered compilation to settle (its rejits allocate on this thread).
        var core = new SimulatedCore();
        var sink = new CountingSink();
        var replayer = new Replayer(core, sink, new ReplayOptions { DemandPaging = mode });
        replayer.ReplayAsync(new MemoryStream(Lines(60_000, 64)), "warm").AsTask().GetAwaiter().GetResult();
        long before = GC.GetAllocatedBytesForCurrentThread();
        replayer.ReplayAsync(new MemoryStream(trace), "t").AsTask().GetAwaiter().GetResult();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, core.Stats.Faults);
        return allocated;
    }

    [Theory]
    [InlineData(DemandPagingMode.Off)]
    [InlineData(DemandPagingMode.On)]
    public void ReplayAllocatesNothingPerAccess(DemandPagingMode mode)
    {
        long small = AllocatedByReplay(Lines(2_000, 64), mode);
        long large = AllocatedByReplay(Lines(120_000, 64), mode);
        Assert.True(large - small < 32 * 1024, $"2,000 accesses allocated {small} B, 120,000 accesses {large} B");
    }
}
