using System.Text;
using MmuSim.Caching;
using MmuSim.Core;
using MmuSim.Registers;
using MmuSim.Replay;
using MmuSim.Reporting;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Replay;

/// <summary>
/// Traces with `cpu` lines: each PE its own registers, EL and TLBs over one memory; local TLBIs stay on their PE,
/// IS/OS forms and E1 forms under HCR_EL2.FB reach every PE; ID registers are the system's; results name their PE.
/// </summary>
public sealed class MultiPeReplayTests
{
    /// <summary>4K stage-1 tables shared by every PE: VA 0x402000 → PA 0x80002000 (EL1 read/write).</summary>
    private const string Tables = """
        ram  0x40000000 0x10000000
        mem  0x40000000 0x0000000040001003
        mem  0x40001010 0x0000000040002003
        mem  0x40002010 0x0000000080002703
        """;

    /// <summary>One PE's translation registers: 39-bit VA, 4K, stage 1 on.</summary>
    private const string Regs = """
        reg  MAIR_EL1   0x4ff
        reg  TCR_EL1    0x280803519
        reg  TTBR0_EL1  0x40000000
        reg  SCTLR_EL1  0x1
        """;

    /// <summary>Both PEs set up, each has walked VA 0x402000 (PE 1 first, then PE 0), and PE 0 has remapped it to PA 0x80003000.</summary>
    private static string TwoPesCachedThenRemapped => $"""
        {Tables}
        cpu 0
        {Regs}
        cpu 1
        {Regs}
        R 0x402008
        cpu 0
        R 0x402010
        mem 0x40002010 0x0000000080003703

        """;

    private static (Replayer Replayer, List<AccessOutcome> Results) Replay(string trace, SimulatedCore? core = null)
    {
        core ??= new SimulatedCore(config: Presets.NeoverseN1);
        var sink = new Collector();
        var replayer = new Replayer(core, sink);
        Assert.True(replayer.ReplayAsync(new MemoryStream(Encoding.ASCII.GetBytes(trace)), "t.trace").AsTask().GetAwaiter().GetResult());
        return (replayer, sink.Outcomes);
    }

    private static List<(int Cpu, ulong Pa)> PasOfReads(List<AccessOutcome> results) =>
        results.Where(o => o.Op == ResultOp.Read).Select(o => ((int)o.Cpu, o.Pa)).ToList();

    [Fact]
    public void EachPeHasItsOwnRegistersAndElOverSharedMemory()
    {
        var (replayer, results) = Replay($"""
            {Tables}
            cpu 0
            {Regs}
            el 1
            R 0x402010
            cpu 1
            el 0
            R 0x402010
            cpu 2
            reg TTBR0_EL1 0x40000000
            reg SCTLR_EL1 0x1
            reg TCR_EL1 0x280803519
            R 0x402018
            """);
        var system = replayer.System;
        Assert.Equal(3, system.Pes.Count);
        // PE 0 translates; PE 1 has its MMU off (PA = VA) and runs at EL0; PE 2 translates through the same tables.
        Assert.Equal([(0, 0x80002010UL), (1, 0x402010UL), (2, 0x80002018UL)], PasOfReads(results));
        Assert.Equal(new byte[] { 1, 0, 1 }, results.Select(o => o.El).ToArray());
        Assert.Equal((1, 0, 1), (system.Pes[0].CurrentEl, system.Pes[1].CurrentEl, system.Pes[2].CurrentEl));
        Assert.Equal(0UL, system.Pes[1].Registers[SysReg.SCTLR_EL1]);
        Assert.Equal(1UL, system.Pes[0].Registers[SysReg.SCTLR_EL1]);
        // A store by one PE is memory for all: PE 2's walk read the tables PE 0's lines wrote.
        Assert.Equal((3L, 0L, 3L), (system.Pes[0].Stats.DescriptorReads, system.Pes[1].Stats.DescriptorReads, system.Pes[2].Stats.DescriptorReads));
        Assert.Equal([0, 1, 2], replayer.ReportedPes.Select(p => p.Index));
    }

    [Fact]
    public void ALocalTlbiLeavesTheOtherPesEntry()
    {
        var (replayer, results) = Replay(TwoPesCachedThenRemapped + """
            tlbi VMALLE1
            R 0x402018
            cpu 1
            R 0x402020
            tlbi VMALLE1
            R 0x402028
            """);
        // PE 0's own TLBI made it walk the new tables; PE 1 kept its entry (the architecture lets it) until its own TLBI.
        Assert.Equal([(1, 0x80002008UL), (0, 0x80002010UL), (0, 0x80003018UL), (1, 0x80002020UL), (1, 0x80003028UL)], PasOfReads(results));
        Assert.Equal((0L, 0L), (replayer.System.Pes[0].Stats.BroadcastTlbis, replayer.System.Pes[1].Stats.BroadcastTlbis));
    }

    [Theory]
    [InlineData("VMALLE1IS", "")]
    [InlineData("VMALLE1OS", "")]
    [InlineData("VAE1IS", " 0x402")]
    [InlineData("VALE1OS", " 0x402")]
    [InlineData("VAAE1IS", " 0x402")]
    [InlineData("ALLE1IS", "")]
    [InlineData("RVAE1IS", " 0x0000400000000402")]
    public void ABroadcastTlbiReachesEveryPe(string op, string xt)
    {
        var (replayer, results) = Replay(TwoPesCachedThenRemapped + $"""
            tlbi {op}{xt}
            cpu 1
            R 0x402020
            cpu 0
            R 0x402018
            """);
        Assert.Equal([(1, 0x80002008UL), (0, 0x80002010UL), (1, 0x80003020UL), (0, 0x80003018UL)], PasOfReads(results));
        Assert.Equal((1L, 0L), (replayer.System.Pes[0].Stats.BroadcastTlbis, replayer.System.Pes[1].Stats.BroadcastTlbis));
    }

    [Fact]
    public void ABroadcastTlbiNamesTheAsidOfItsOperand()
    {
        // PE 1 runs with ASID 5, PE 0 with ASID 0; the page is not global (nG=1). PE 0's VAE1IS names ASID 0, so PE 1's
        // entry (ASID 5) stays; PE 1's own VAE1IS with ASID 5 then removes it.
        var (_, results) = Replay($"""
            {Tables}
            mem  0x40002010 0x0000000080002f03
            cpu 0
            {Regs}
            cpu 1
            {Regs}
            reg TTBR0_EL1 0x0005000040000000
            R 0x402008
            mem 0x40002010 0x0000000080003f03
            cpu 0
            tlbi VAE1IS 0x402
            cpu 1
            R 0x402010
            tlbi VAE1IS 0x0005000000000402
            R 0x402018
            """);
        Assert.Equal([(1, 0x80002008UL), (1, 0x80002010UL), (1, 0x80003018UL)], PasOfReads(results));
    }

    [Fact]
    public void FourPesEachKeepTheirEntryUntilMaintenanceReachesThem()
    {
        var trace = new StringBuilder(Tables).Append('\n');
        for (int pe = 0; pe < 4; pe++)
        {
            trace.Append($"cpu {pe}\n{Regs}\nR 0x{0x402000 + pe * 8:x}\n");
        }
        trace.Append("""
            mem 0x40002010 0x0000000080003703
            cpu 2
            tlbi VALE1 0x402
            R 0x402040
            cpu 0
            R 0x402048
            cpu 3
            tlbi VAE1OS 0x402
            cpu 0
            R 0x402050
            cpu 1
            R 0x402058
            """);
        var (replayer, results) = Replay(trace.ToString());
        Assert.Equal(
            [(0, 0x80002000UL), (1, 0x80002008UL), (2, 0x80002010UL), (3, 0x80002018UL),
             (2, 0x80003040UL), (0, 0x80002048UL), (0, 0x80003050UL), (1, 0x80003058UL)],
            PasOfReads(results));
        Assert.Equal([0L, 0L, 0L, 1L], replayer.System.Pes.Select(pe => pe.Stats.BroadcastTlbis));
        // Each walked when it first read, then again once maintenance reached it and it read again (PE 3 did not).
        Assert.Equal([2L, 2L, 2L, 1L], replayer.System.Pes.Select(pe => pe.Stats.Walks));
    }

    [Fact]
    public void WithHcrFbAnEl1TlbiAtEl1IsBroadcast()
    {
        var (replayer, results) = Replay(TwoPesCachedThenRemapped + """
            reg HCR_EL2 0x80000200
            tlbi VMALLE1
            cpu 1
            R 0x402020
            """);
        Assert.Equal([(1, 0x80002008UL), (0, 0x80002010UL), (1, 0x80003020UL)], PasOfReads(results));
        Assert.Equal(1L, replayer.System.Pes[0].Stats.BroadcastTlbis);

        // FB applies to TLBIs executed at EL1 only: the same TLBI at EL2 stays local.
        var (_, atEl2) = Replay(TwoPesCachedThenRemapped + """
            reg HCR_EL2 0x80000200
            el 2
            tlbi VMALLE1
            cpu 1
            R 0x402020
            """);
        Assert.Equal(0x80002020UL, atEl2[^1].Pa);
    }

    [Fact]
    public void AnIdRegisterIsSetForEveryPeAndForPesMadeLater()
    {
        var (replayer, _) = Replay("""
            cpu 1
            reg ID_AA64MMFR0_EL1 0x5
            reg MAIR_EL1 0x44
            cpu 3
            """);
        var pes = replayer.System.Pes;
        Assert.Equal(4, pes.Count);
        Assert.All(pes, pe => Assert.Equal(0x5UL, pe.Registers[SysReg.ID_AA64MMFR0_EL1]));
        // Other registers are the PE's own.
        Assert.Equal([0UL, 0x44UL, 0UL, 0UL], pes.Select(pe => pe.Registers[SysReg.MAIR_EL1]));
        // PE 2 was made only so that numbers stay indices: it ran nothing and is not reported.
        Assert.Equal([0, 1, 3], replayer.ReportedPes.Select(p => p.Index));
    }

    [Fact]
    public void EveryIdRegisterThatDescribesTranslationIsTheSystems()
    {
        // docs/trace-format.md, "More ID registers": MMFR3, PFR0/1, ISAR0/1 as the others, QEMU 7.2's name of MMFR3.
        var (replayer, _) = Replay("""
            cpu 1
            reg ID_AA64MMFR3_EL1_RESERVED 0x1
            reg ID_AA64PFR0_EL1 0x1000000011111
            reg id_aa64pfr1_el1 0x321
            reg ID_AA64ISAR0_EL1 0x221100110212120
            reg ID_AA64ISAR1_EL1 0x100000000000000
            cpu 2
            """);
        var expected = new[]
        {
            (SysReg.ID_AA64MMFR3_EL1, 0x1UL), (SysReg.ID_AA64PFR0_EL1, 0x1000000011111UL), (SysReg.ID_AA64PFR1_EL1, 0x321UL),
            (SysReg.ID_AA64ISAR0_EL1, 0x221100110212120UL), (SysReg.ID_AA64ISAR1_EL1, 0x100000000000000UL),
        };
        Assert.All(replayer.System.Pes, pe => Assert.Equal(expected, expected.Select(e => (e.Item1, pe.Registers[e.Item1]))));
        Assert.Equal(SystemRegisters.IdRegisters.Length, Enum.GetValues<SysReg>().Count(SystemRegisters.IsIdRegister));
    }

    [Fact]
    public void APeMadeByACpuLineTakesTheFirstPesReplaySettings()
    {
        var core = new SimulatedCore(config: Presets.NeoverseN1) { CheckStale = true, PrefetchWalks = false };
        core.Mmu.Record.Detailed = false;
        var (replayer, _) = Replay("cpu 2\nisb\n", core);
        Assert.All(replayer.System.Pes, pe =>
        {
            Assert.True(pe.CheckStale);
            Assert.False(pe.PrefetchWalks);
            Assert.False(pe.Mmu.Record.Detailed);
        });
        Assert.Equal(1L, replayer.Records);
    }

    [Fact]
    public void BarriersAreCountedAndChangeNothing()
    {
        string body = TwoPesCachedThenRemapped + """
            tlbi VMALLE1IS
            cpu 1
            R 0x402020
            """;
        string withBarriers = body.Replace("tlbi VMALLE1IS", "dsb ishst\ntlbi VMALLE1IS\ndsb ish\nisb");
        var (plain, a) = Replay(body);
        var (barriers, b) = Replay(withBarriers);
        Assert.Equal(PasOfReads(a), PasOfReads(b));
        Assert.Equal(a.Select(o => o.Cycles), b.Select(o => o.Cycles));
        Assert.Equal((2L, 1L), (barriers.System.Pes[0].Stats.Dsbs, barriers.System.Pes[0].Stats.Isbs));
        Assert.Equal((0L, 0L), (plain.System.Pes[0].Stats.Dsbs, barriers.System.Pes[1].Stats.Dsbs));
        Assert.Equal(DsbOption.ISH, barriers.System.Pes[0].LastDsb);
    }

    [Fact]
    public async Task ResultsCarryCpuOnlyOnceTheTraceHasACpuLine()
    {
        string trace = $"""
            {Tables}
            {Regs}
            R 0x402000
            dump 0x40002010
            cpu 1
            at S1E1R 0x402000
            X 0x402000
            cpu 0
            W 0x402000
            """;
        var core = new SimulatedCore(config: Presets.NeoverseN1);
        var output = new MemoryStream();
        using (var writer = new ResultWriter(output, ownsStream: false))
        {
            await new Replayer(core, writer).ReplayAsync(new MemoryStream(Encoding.ASCII.GetBytes(trace)), "t.trace");
        }
        string[] lines = Encoding.ASCII.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, lines.Length);
        Assert.DoesNotContain("\"cpu\"", lines[0]); // before the first cpu line: as in version 1
        Assert.DoesNotContain("\"cpu\"", lines[1]); // dump results never name a PE
        Assert.Contains("\"el\":1,\"cpu\":1,\"at\":\"S1E1R\"", lines[2]);
        Assert.Contains("\"op\":\"X\",\"va\":\"0x402000\",\"el\":1,\"cpu\":1,", lines[3]);
        Assert.Contains("\"op\":\"W\",\"va\":\"0x402000\",\"el\":1,\"cpu\":0,", lines[4]);
    }

    [Fact]
    public void CpuDsbAndIsbRoundTripThroughBothFormats()
    {
        string text = "cpu 7\ndsb ISHST\nisb\ndsb SY\ncpu 255\n";
        var records = RecordsOf(Encoding.ASCII.GetBytes(text), "t.trace");
        Assert.Equal([TraceOp.Cpu, TraceOp.Dsb, TraceOp.Isb, TraceOp.Dsb, TraceOp.Cpu], records.Select(r => r.Op));
        Assert.Equal((7UL, DsbOption.ISHST, DsbOption.SY, 255UL), (records[0].Value, records[1].Dsb, records[3].Dsb, records[4].Value));

        var binary = new MemoryStream();
        using (var w = new BinaryTraceWriter(binary, ownsStream: false))
        {
            records.ForEach(r => w.OnRecord(r));
        }
        var back = RecordsOf(binary.ToArray(), "t.mbt");
        Assert.Equal(records.Select(r => (r.Op, r.Value, r.Dsb, r.Line)), back.Select(r => (r.Op, r.Value, r.Dsb, r.Line)));

        var again = new MemoryStream();
        using (var w = new TextTraceWriter(again, ownsStream: false))
        {
            back.ForEach(r => w.OnRecord(r));
        }
        Assert.Equal(text, Encoding.ASCII.GetString(again.ToArray()));
    }

    [Theory]
    [InlineData("cpu 256", "PE number 256 is not between 0 and 255")]
    [InlineData("cpu", "missing PE number")]
    [InlineData("dsb", "missing DSB option")]
    [InlineData("dsb ISHLDX", "unknown DSB option")]
    [InlineData("isb 1", "unexpected extra operand")]
    public void BadCpuAndBarrierLinesAreRefused(string line, string reason)
    {
        var e = Assert.Throws<TraceFormatException>(() => RecordsOf(Encoding.ASCII.GetBytes(line + "\n"), "t.trace"));
        Assert.Contains(reason, e.Reason, StringComparison.OrdinalIgnoreCase);
    }

    private static List<TraceRecord> RecordsOf(byte[] bytes, string name)
    {
        var sink = new RecordList();
        using var input = TraceInput.Open(new MemoryStream(bytes), name);
        TraceReaders.ParseAsync(input, sink).AsTask().GetAwaiter().GetResult();
        return sink.Records;
    }

    /// <summary>
    /// A random single-PE trace (stage 1 and 2, IS/OS/range TLBIs, register and table changes) gives the same
    /// results and figures run record by record on a lone PE as through the replayer, with a second PE in the system
    /// (broadcast TLBIs then go through the system) and a `cpu 0` line in front.
    /// </summary>
    [Theory]
    [MemberData(nameof(MmuSim.Tests.Core.CachingEquivalenceTests.Seeds), 12, MemberType = typeof(MmuSim.Tests.Core.CachingEquivalenceTests))]
    public void ATraceWithoutCpuLinesGivesTheSameResultsThroughTheMultiPeDispatch(int seed)
    {
        var records = MmuSim.Tests.Core.RandomTrace.Generate(seed, events: 400);
        var config = MmuSim.Tests.Core.CachingEquivalenceTests.RandomConfig(seed);

        var alone = new SimulatedCore(config: config);
        var expected = new List<AccessOutcome>();
        foreach (var rec in records)
        {
            if (alone.Execute(in rec, out var o))
            {
                expected.Add(o);
            }
        }

        var text = new MemoryStream();
        text.Write("cpu 0\n"u8);
        using (var w = new TextTraceWriter(text, ownsStream: false))
        {
            records.ForEach(r => w.OnRecord(r));
        }
        var pe0 = new SimulatedCore(config: config);
        var idle = pe0.System.AddPe();
        var (_, got) = Replay(Encoding.ASCII.GetString(text.ToArray()), pe0);

        Assert.Equal(expected.Count, got.Count);
        for (int i = 0; i < got.Count; i++)
        {
            var g = got[i];
            Assert.True(g.HasCpu && g.Cpu == 0 || g.Op == ResultOp.Dump, $"result {i} names no PE");
            g.Line--;
            g.HasCpu = false;
            Assert.Null(OutcomeComparer.Diff(expected[i], g));
            Assert.Equal(expected[i].Cycles, g.Cycles);
        }
        var (a, b) = (alone.Stats, pe0.Stats);
        Assert.Equal((a.Walks, a.TlbHits, a.DescriptorReads, a.TranslationCycles, a.Faults, a.Tlbis),
            (b.Walks, b.TlbHits, b.DescriptorReads, b.TranslationCycles, b.Faults, b.Tlbis));
        Assert.Equal(0L, idle.Stats.Records);
        // The IS/OS forms count as broadcast on a lone PE too (they reach every PE there is).
        Assert.Equal(records.Count(r => r.Op == TraceOp.Tlbi && r.Tlbi.Shareability() != TlbiShareability.NonShareable), a.BroadcastTlbis);
        Assert.Equal(a.BroadcastTlbis, b.BroadcastTlbis);
    }
}
