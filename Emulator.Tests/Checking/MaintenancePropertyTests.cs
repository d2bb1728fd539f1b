using System.Text;
using CsCheck;
using MmuSim.Checking;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Checking;

/// <summary>
/// Properties of the TLB-maintenance checker over random traces: two to four PEs sharing 4K tables change eight
/// pages (permissions, output address, unmap, map) with the maintenance the Arm ARM requires, interleaved with
/// accesses on every PE: no finding. And the checker only watches: a `cpu`-free trace replays to the same results
/// and statistics with and without it.
/// </summary>
public sealed class MaintenancePropertyTests
{
    /// <summary>One step: an access (Kind 0) or a change of a page (Kind 1..4) by a PE.</summary>
    private readonly record struct Step(int Kind, int Pe, int Page, int Value, bool Write);

    private static readonly Gen<Step> StepGen =
        Gen.Select(Gen.Int[0, 6], Gen.Int[0, 3], Gen.Int[0, 7], Gen.Int[0, 15], Gen.Bool,
            (k, pe, page, v, w) => new Step(k > 4 ? 0 : k, pe, page, v, w));

    private static readonly Gen<(int Pes, Step[] Steps)> TraceGen =
        Gen.Select(Gen.Int[2, 4], StepGen.Array[10, 60]);

    private const ulong L3 = 0x40002000;

    private static ulong Leaf(int frame, bool readOnly) => 0x80000000UL + ((ulong)frame << 12) | (readOnly ? 0x783UL : 0x703UL);

    /// <summary>The trace of <paramref name="steps"/> on <paramref name="pes"/> PEs, every change maintained in full.</summary>
    private static string Correct(int pes, Step[] steps)
    {
        var sb = new StringBuilder();
        sb.Append("ram 0x40000000 0x10000000\nmem 0x40000000 0x40001003\nmem 0x40001010 0x40002003\n");
        var leaf = new ulong[8];
        for (int i = 0; i < 8; i++)
        {
            leaf[i] = Leaf(i, false);
            sb.Append($"mem 0x{L3 + (ulong)i * 8:x} 0x{leaf[i]:x}\n");
        }
        for (int p = 0; p < pes; p++)
        {
            sb.Append($"cpu {p}\nreg MAIR_EL1 0x4ff\nreg TCR_EL1 0x280803519\nreg TTBR0_EL1 0x40000000\nreg SCTLR_EL1 0x1\nisb\nel 1\n");
        }
        foreach (var s in steps)
        {
            int pe = s.Pe % pes;
            sb.Append($"cpu {pe}\n");
            ulong va = 0x400000UL + ((ulong)s.Page << 12);
            ulong at = L3 + (ulong)s.Page * 8;
            ulong tlbi = va >> 12;
            ulong old = leaf[s.Page];
            switch (s.Kind)
            {
                case 0:
                    sb.Append($"{(s.Write ? "W" : "R")} 0x{va + (ulong)(s.Value * 8):x}\n");
                    break;
                case 1 when old != 0: // permissions only: no break needed, maintenance after the store
                    leaf[s.Page] = old ^ 0x80;
                    sb.Append($"mem 0x{at:x} 0x{leaf[s.Page]:x}\ndsb ishst\ntlbi VAE1IS 0x{tlbi:x}\ndsb ish\nisb\n");
                    break;
                case 2 when old != 0: // a new output address: break, TLBI, make
                    leaf[s.Page] = Leaf(16 + s.Value, s.Write);
                    sb.Append($"mem 0x{at:x} 0x0\ndsb ishst\ntlbi VALE1IS 0x{tlbi:x}\ndsb ish\nmem 0x{at:x} 0x{leaf[s.Page]:x}\ndsb ishst\nisb\n");
                    break;
                case 3 when old != 0: // unmap
                    leaf[s.Page] = 0;
                    sb.Append($"mem 0x{at:x} 0x0\ndsb ishst\ntlbi VAAE1IS 0x{tlbi:x}\ndsb ish\nisb\n");
                    break;
                case 4 when old == 0: // map: invalid to valid needs no TLBI, only the DSB (and ISB for this PE)
                    leaf[s.Page] = Leaf(32 + s.Value, s.Write);
                    sb.Append($"mem 0x{at:x} 0x{leaf[s.Page]:x}\ndsb ishst\nisb\n");
                    break;
                default:
                    sb.Append($"tlbi VMALLE1IS\ndsb ish\nisb\n");
                    break;
            }
        }
        return sb.ToString();
    }

    [Fact]
    public void CorrectMaintenanceOnSeveralPesGivesNoFinding() =>
        TraceGen.Sample(t =>
        {
            string trace = Correct(t.Pes, t.Steps);
            var findings = MaintenanceCheckerTests.Check(trace);
            Assert.True(findings.Count == 0, trace + "\n" + string.Join("\n", findings));
        }, iter: 200);

    [Fact]
    public void DroppingTheTlbiOfAnOutputAddressChangeIsFound()
    {
        // The same generator, then one change of page 3 to an output address no other step uses, made without its
        // TLBI while PE 1 may hold the old entry.
        TraceGen.Sample(t =>
        {
            // Page 3 mapped (a map step, or maintenance when it already is), used by PE 1, then moved.
            var steps = t.Steps.Append(new Step(4, 0, 3, 41, false)).Append(new Step(0, 1, 3, 0, false))
                .Append(new Step(2, 0, 3, 40, false)).Append(new Step(0, 1, 3, 0, true)).ToArray();
            string trace = Correct(t.Pes, steps);
            int cut = trace.LastIndexOf("tlbi VALE1IS 0x403\ndsb ish\n", StringComparison.Ordinal);
            Assert.True(cut >= 0, trace);
            trace = trace.Remove(cut, "tlbi VALE1IS 0x403\ndsb ish\n".Length);
            var findings = MaintenanceCheckerTests.Check(trace);
            Assert.True(findings.Any(f => f.Kind == FindingKind.BreakBeforeMake), trace);
        }, iter: 100);
    }

    /// <summary>A single-PE trace (no `cpu` line, with or without barriers) of stores, TLBIs and accesses.</summary>
    private static string OnePe(Step[] steps, bool barriers)
    {
        string trace = Correct(1, steps).Replace("cpu 0\n", "");
        return barriers ? trace : trace.Replace("dsb ishst\n", "").Replace("dsb ish\n", "").Replace("isb\n", "");
    }

    [Fact]
    public void TheCheckerNeverChangesFunctionalResults() =>
        Gen.Select(StepGen.Array[10, 60], Gen.Bool, Gen.Bool).Sample(t =>
        {
            // Drop some TLBIs: the stale entries then change results, which must be the same either way.
            string trace = OnePe(t.Item1, t.Item2);
            if (t.Item3)
            {
                trace = trace.Replace("tlbi VAE1IS", "# no tlbi");
            }
            var (plain, plainStats) = Replay(trace, checker: false);
            var (checkedRun, checkedStats) = Replay(trace, checker: true);
            Assert.Equal(plain, checkedRun);
            Assert.Equal(plainStats, checkedStats);
        }, iter: 100);

    private static (List<string> Results, string Stats) Replay(string trace, bool checker)
    {
        var core = new SimulatedCore();
        var sink = new Collector();
        var replayer = new Replayer(core, sink, new ReplayOptions(), checker ? new MaintenanceChecker(core.System) : null);
        replayer.ReplayAsync(new MemoryStream(Encoding.UTF8.GetBytes(trace)), "t.trace").AsTask().GetAwaiter().GetResult();
        var s = core.Stats;
        return (sink.Outcomes.Select(o => $"{o.Line} {o.Op} {o.Va:x} {o.Pa:x} {o.Fault} {o.Cycles} {o.Esr:x}").ToList(),
            $"{s.Accesses} {s.TlbHits} {s.Walks} {s.DescriptorReads} {s.TranslationCycles} {s.Faults}");
    }
}
