using System.Text;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Timing;

namespace MmuSim.Tests.Timing;

/// <summary>
/// The price of TLB maintenance: a local TLBI, a broadcast TLBI and a DSB that completes broadcast maintenance, each
/// charged to the issuing PE, from the configuration's `maintenance` object (assumed defaults otherwise).
/// </summary>
public sealed class MaintenanceCostTests
{
    private static IReadOnlyList<SimulatedCore> Run(string trace, ModelConfig? config = null)
    {
        var core = new SimulatedCore(config: config);
        var replayer = new Replayer(core, null);
        replayer.ReplayAsync(new MemoryStream(Encoding.UTF8.GetBytes(trace)), "t.trace").AsTask().GetAwaiter().GetResult();
        return replayer.System.Pes;
    }

    private const string Trace = """
        cpu 1
        cpu 0
        tlbi VAE1 0x402
        tlbi VAE1IS 0x402
        tlbi VMALLE1OS
        dsb ishst
        dsb ish
        dsb ish
        cpu 1
        tlbi VMALLE1
        dsb nsh
        """;

    [Fact]
    public void EachPePaysForItsOwnMaintenance()
    {
        var pes = Run(Trace);
        var m = pes[0].Config.Timing.MaintenanceCosts;
        Assert.Equal(MaintenanceCosts.Assumed, m);
        // PE 0: one local and two broadcast TLBIs; the ST-only DSB completes nothing; the first DSB ISH waits for
        // the broadcast ones, the second has nothing to wait for.
        Assert.Equal(m.LocalTlbi + 2 * m.BroadcastTlbi + m.BroadcastDsb, pes[0].Stats.MaintenanceCycles);
        // PE 1: a local TLBI; its DSB waits for no broadcast maintenance.
        Assert.Equal(m.LocalTlbi, pes[1].Stats.MaintenanceCycles);
        // Translation cycles are the accesses' only.
        Assert.Equal(0, pes[0].Stats.TranslationCycles);
    }

    [Fact]
    public void TheConfigurationNamesThePrices()
    {
        var config = ModelConfigJson.Parse("""{"maintenance": {"localTlbi": 3, "broadcastTlbi": 40, "broadcastDsb": 1000}}"""u8, "m.json");
        Assert.Equal(new MaintenanceCosts(3, 40, 1000), config.Timing.MaintenanceCosts);
        var pes = Run(Trace, config);
        Assert.Equal(3 + 2 * 40 + 1000, pes[0].Stats.MaintenanceCycles);
        Assert.Equal(3, pes[1].Stats.MaintenanceCycles);
        // Written back and read again, the prices survive; a missing key takes the assumed price.
        var again = ModelConfigJson.Parse(Encoding.UTF8.GetBytes(ModelConfigJson.ToJson(config)), "again.json");
        Assert.Equal(config.Timing.MaintenanceCosts, again.Timing.MaintenanceCosts);
        var partial = ModelConfigJson.Parse("""{"maintenance": {"broadcastDsb": 7}}"""u8, "p.json");
        Assert.Equal(MaintenanceCosts.Assumed with { BroadcastDsb = 7 }, partial.Timing.MaintenanceCosts);
    }

    [Fact]
    public void AnUnknownPriceIsAnErrorNamingTheKey()
    {
        var e = Assert.Throws<MmuSim.Bits.ConfigException>(() => ModelConfigJson.Parse("""{"maintenance": {"tlbi": 3}}"""u8, "m.json"));
        Assert.Contains("maintenance.tlbi", e.Message);
    }
}
