using MmuSim.Building;
using MmuSim.Caching;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Core;

/// <summary>--check-stale: accesses a cached entry translated differently from the tables now in memory.</summary>
public class StaleCheckTests
{
    private static readonly string[] Trace =
    [
        "ram 0x40000000 0x1000000",
        "reg MAIR_EL1 0xff",
        "reg TCR_EL1 0x0000000280803510",
        "reg TTBR0_EL1 0x0001000040000000          # ASID 1",
        "mem 0x40000000 0x40001003",
        "mem 0x40001000 0x40002003",
        "mem 0x40002000 0x40003003",
        "mem 0x40003008 0x0000000040100c03         # L3[1]: VA 0x1000 -> 0x40100000, nG",
        "mem 0x40003010 0x0000000040101c03         # L3[2]: VA 0x2000 -> 0x40101000, nG",
        "reg SCTLR_EL1 0x1",
        "R 0x1008                                  # walk, fills the TLB and the walk cache",
        "mem 0x40003008 0x0000000040200c03         # REMAP: VA 0x1000 -> 0x40200000, no TLBI",
        "R 0x1010                                  # STALE-TLB",
        "tlbi VALE1 0x0001000000000001",
        "R 0x1010                                  # FIXED",
        "mem 0x40002000 0x40004003                 # MOVE: L2[0] -> an empty L3 table, no TLBI",
        "R 0x2000                                  # STALE-WALK: the walk cache still has the old L3 table",
        "tlbi VAE1 0x0001000000000002",
        "R 0x2000                                  # FAULT: now a translation fault, as the tables say",
    ];

    private static long LineOf(string marker) => Array.FindIndex(Trace, l => l.Contains(marker, StringComparison.Ordinal)) + 1;

    [Fact]
    public async Task ReportsTheWriteThatMadeAnEntryStaleAndTheTlbiThatFixesIt()
    {
        var (core, outcomes) = await Machine.ReplayText(string.Join('\n', Trace), Presets.NeoverseN1, checkStale: true);
        var stale = core.Stale!;
        Assert.Equal(2, stale.Count);

        var tlb = stale.Reports[0];
        Assert.Equal(LineOf("STALE-TLB"), tlb.Line);
        Assert.Equal("TLB", tlb.Source);
        Assert.True(tlb.CachedOk && tlb.TablesOk);
        Assert.Equal(0x4010_0010UL, tlb.CachedPa);
        Assert.Equal(0x4020_0010UL, tlb.TablesPa);
        Assert.Equal(LineOf("REMAP"), tlb.WriteLine);
        Assert.Equal(0x4000_3008UL, tlb.WritePa);
        Assert.Equal("tlbi VALE1 0x1000000000001", tlb.Fix);

        var walk = stale.Reports[1];
        Assert.Equal(LineOf("STALE-WALK"), walk.Line);
        Assert.StartsWith("walk cache", walk.Source, StringComparison.Ordinal);
        Assert.True(walk.CachedOk);
        Assert.False(walk.TablesOk);
        Assert.Equal(MmuSim.Faults.FaultType.Translation, walk.TablesFault.Type);
        Assert.Equal(LineOf("MOVE"), walk.WriteLine);
        Assert.Equal("tlbi VAE1 0x1000000000002", walk.Fix); // a table descriptor changed: the all-levels form

        // The replay itself used the stale entries, as hardware would; after each TLBI it agrees with the tables.
        var byLine = outcomes.ToDictionary(o => o.Line);
        Assert.Equal(0x4010_0010UL, byLine[LineOf("STALE-TLB")].Pa);
        Assert.Equal(0x4020_0010UL, byLine[LineOf("FIXED")].Pa);
        Assert.Equal(MmuSim.Faults.FaultType.Translation, byLine[LineOf("FAULT")].Fault.Type);
    }

    [Fact]
    public async Task AReplayWithoutResultsReportsTheSame()
    {
        // Without a results sink, `mem` lines reach the core as batches of words (SimulatedCore.ExecuteMemWords):
        // the stale checker must still learn the line of every table write, and every record must count.
        string text = string.Join('\n', Trace);
        var (withResults, _) = await Machine.ReplayText(text, Presets.NeoverseN1, checkStale: true);
        var without = new SimulatedCore(config: Presets.NeoverseN1) { CheckStale = true };
        await new Replayer(without, sink: null).ReplayAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)), "test.trace");
        Assert.Equal(withResults.Stale!.Reports, without.Stale!.Reports);
        Assert.Equal(LineOf("REMAP"), without.Stale.Reports[0].WriteLine);
        Assert.Equal(withResults.Stats.Records, without.Stats.Records);
        Assert.Equal(Trace.Length, without.Stats.Records);
    }

    [Fact]
    public void AStageTwoChangeNeedsIpas2e1ThenVmalle1()
    {
        var m = new Machine(Presets.NeoverseN1, twoStage: true);
        m.Core.CheckStale = true;
        m.MapPage(0x1000, Machine.DataIpa);
        m.R(0x1000);
        long line = m.Line;
        m.Mem(m.S2!.DescriptorAddress(Machine.DataIpa, 3), Descriptors.Stage2Leaf(0x9F00_0000, 3, Addressing.Granule.K4));
        m.R(0x1000);
        var r = Assert.Single(m.Core.Stale!.Reports);
        Assert.Equal(line, r.WriteLine);
        Assert.Equal(0x9F00_0000UL, r.TablesPa);
        Assert.Equal("tlbi IPAS2E1 0x41000, then tlbi VMALLE1", r.Fix);
    }

    [Fact]
    public void CorrectMaintenanceReportsNothing()
    {
        var m = new Machine(Presets.NeoverseN1, twoStage: true);
        m.Core.CheckStale = true;
        m.MapPage(0x1000, Machine.DataIpa);
        m.MapPage(0x2000, Machine.DataIpa + 0x1000);
        m.R(0x1000);
        m.R(0x2000);
        m.Mem(m.TablePa(m.S1.DescriptorAddress(0x1000, 3)), Descriptors.Stage1Leaf(Machine.DataIpa + 0x5000, 3, Addressing.Granule.K4, nG: true));
        m.Tlbi(TlbiOp.VALE1, (1UL << 48) | 1);
        Assert.Equal(Machine.DataIpa + Machine.IpaToPa + 0x5000, m.R(0x1000).Pa);
        Assert.Equal(0, m.Core.Stale!.Count);
        m.R(0x2008); // a hit, checked, still right
        Assert.Equal(0, m.Core.Stale.Count);
        Assert.True(m.Core.Stats.TlbHits >= 1);
    }
}
