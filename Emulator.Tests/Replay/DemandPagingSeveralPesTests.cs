using System.Text;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Replay;

/// <summary>Demand paging serves every PE of a trace with `cpu` lines, over the tables they share.</summary>
public sealed class DemandPagingSeveralPesTests
{
    [Fact]
    public async Task EveryPeIsServedAndSeesThePagesOthersMapped()
    {
        const string trace = "R 0x10000\ncpu 1\nR 0x10008\nW 0x20000\ncpu 0\nR 0x20010\n";
        var core = new SimulatedCore();
        var sink = new Collector();
        var replayer = new Replayer(core, sink, new ReplayOptions { DemandPaging = DemandPagingMode.On });
        await replayer.ReplayAsync(new MemoryStream(Encoding.UTF8.GetBytes(trace)), "t.trace");
        var o = sink.Outcomes;
        Assert.Equal(4, o.Count);
        Assert.All(o, r => Assert.False(r.IsFault));
        // PE 1 reads the page PE 0 mapped (same frame), and PE 0 the page PE 1 mapped.
        Assert.Equal(o[0].Pa + 8, o[1].Pa);
        Assert.Equal(o[2].Pa + 0x10, o[3].Pa);
        Assert.Equal((0, 1, 1, 0), (o[0].Cpu, o[1].Cpu, o[2].Cpu, o[3].Cpu));
        var pager = replayer.Pager!;
        Assert.Same(pager, replayer.System.Pes[1].DemandPager);
        Assert.Equal(0, replayer.System.Pes[1].CurrentEl);
    }
}
