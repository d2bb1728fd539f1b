using MmuSim.Tests.Support;

namespace MmuSim.Tests.Reporting;

/// <summary>
/// What a person reads, compared whole: `explain` listings, `faults` reports and replay summaries of bundled traces
/// against Emulator.Tests/Golden/NAME.txt (stdout, then the exit code). A change to any of these outputs must
/// change a golden file in the same commit, where a reviewer reads it. To rewrite them after a deliberate change:
/// MMUSIM_UPDATE_GOLDEN=1 dotnet test --filter GoldenOutputTests, then read the diff.
/// </summary>
[Collection("Console")]
public sealed class GoldenOutputTests
{
    /// <summary>Golden name, then the `mmusim` arguments (paths relative to the repository root).</summary>
    public static TheoryData<string, string[]> Cases() => new()
    {
        // A nested walk that ends in a stage-2 external abort, every step priced by the uncached model.
        { "explain-nested-external-abort", ["explain", "traces/qemu/p0008.trace", "--line", "263", "--preset", "uncached"] },
        // The same access with the default model: TLB misses, walk-cache and IPA-cache hits.
        { "explain-walk-caches", ["explain", "traces/qemu/p0008.trace", "--line", "263"] },
        // A TLB hit: no walk.
        { "explain-tlb-hit", ["explain", "traces/qemu/p0000.trace", "--line", "128"] },
        // A stage-2 fault on a stage-1 table walk (S1PTW), HPFAR decoded.
        { "explain-s1ptw-fault", ["explain", "traces/qemu/p0001.trace", "--line", "165"] },
        // An AT instruction (both stages): PAR decoded.
        { "explain-at", ["explain", "traces/qemu/p0008.trace", "--line", "170"] },
        // PSTATE.PAN refusing a privileged read of an EL0-accessible page.
        { "explain-pan-fault", ["explain", "traces/qemu-v2/u0001.trace", "--line", "100"] },
        // SCTLR_EL2.A: alignment faults before translation, at EL0 in the EL2&0 host and at EL2.
        { "explain-alignment-el0-host", ["explain", "traces/qemu-v2/u0000.trace", "--line", "93"] },
        { "explain-alignment-el2", ["explain", "traces/qemu-v2/u0000.trace", "--line", "99"] },
        // A guest's faults against a jailhouse-style cell, each explained.
        { "faults-linux-demo", ["faults", "traces/cells/linux-demo.setup.trace", "traces/cells/linux-demo.guest.trace"] },
        // A fault decided by a TLB entry: no walk of its own, the line whose walk filled the entry named.
        { "faults-tlb-hit", ["faults", "traces/cells/linux-demo.setup.trace", "traces/cells/linux-demo.tlb-hit.guest.trace"] },
        // Sub-page MMIO: the access widths jailhouse's dispatcher performs and the ones it refuses.
        { "faults-subpage-widths", ["faults", "traces/cells/linux-demo.setup.trace", "traces/cells/subpage.guest.trace"] },
        // A jailhouse binary .cell pair (written by the tests' CellFileBuilder): every finding, and the JSON it converts to.
        { "cell-check-binary", ["cell", "--check", "traces/cells/board.cell", "traces/cells/guest.cell"] },
        { "cell-to-json", ["cell", "--to-json", "traces/cells/board.cell", "traces/cells/guest.cell"] },
        // The same pair built as jailhouse builds it: its EL2 map (JAILHOUSE_BASE, UART_BASE, the remap area) and its stage-2 shape.
        { "cell-jailhouse-tables", ["cell", "--jailhouse-tables", "traces/cells/board.cell", "traces/cells/guest.cell"] },
        // ESR decoding for every kind of exception class: hex without 0x, field by field.
        { "esr-data-abort", ["esr", "93830006", "--el2"] },
        { "esr-hvc", ["esr", "0x5a004a48", "--el2"] },
        { "esr-sysreg-trap", ["esr", "62341c02", "--el2"] },
        { "esr-wfi", ["esr", "0x06000000"] },
        { "esr-serror", ["esr", "be000411"] },
        { "esr-watchpoint", ["esr", "d2020062"] },
        { "esr-brk", ["esr", "f20003e8"] },
        { "esr-unknown", ["esr", "0d33554432"] },
        // The replay summary of the README's example.
        { "replay-example", ["replay", "traces/sample/example.trace", "--quiet"] },
        // Accesses that cross a page: TLB hits per translation and per access, neither above 100 %.
        { "replay-page-crossing", ["replay", "traces/sample/page-crossing.trace", "--quiet"] },
        { "replay-example-uncached", ["replay", "traces/sample/example.trace", "--quiet", "--preset", "uncached"] },
        // A TLB hit on PE 1 that PE 0's local TLBI did not reach: explained from PE 1's TLBs.
        { "explain-second-pe", ["explain", "traces/sample/two-pes.trace", "--line", "39"] },
        // Two PEs: the counts together, a row per PE, each PE's translation cost.
        { "replay-two-pes", ["replay", "traces/sample/two-pes.trace", "--quiet"] },
        // translate: a nested walk (stage 1 through stage 2) and the outcome of a read, a write and a fetch.
        { "translate-nested", ["translate", "traces/sample/example.trace", "0x1008"] },
        // A 4 KiB page of a contiguous group; a VA outside both ranges (no table read); an AT; an IPA (stage 2 alone).
        { "translate-contiguous", ["translate", "traces/guest/tables-demo.trace", "0x10008"] },
        { "translate-non-canonical", ["translate", "traces/guest/tables-demo.trace", "0x0080000000001008"] },
        { "translate-at", ["translate", "traces/sample/example.trace", "0x1000", "--at", "S12E1R"] },
        { "translate-ipa", ["translate", "traces/sample/example.trace", "0x50000008", "--ipa"] },
        { "translate-json", ["translate", "traces/guest/tables-demo.trace", "0xfffffffffffff008", "--json"] },
        // Several addresses after one replay (a real guest's map is checked thousands of VAs at a time): in order, a blank line between.
        { "translate-several", ["translate", "traces/guest/tables-demo.trace", "0x10008", "0x0080000000001008", "0xfffffffffffff008"] },
        { "translate-several-json", ["translate", "traces/guest/tables-demo.trace", "0x10008", "0x0080000000001008", "--json"] },
        // tables: blocks, consecutive blocks merged, a contiguous group, APTable applied, both VA ranges; stage 2.
        { "tables-demo", ["tables", "traces/guest/tables-demo.trace"] },
        // A non-canonical VA after a TLB hit: no TLB lookup, no walk (the input-address checks decided).
        { "explain-non-canonical", ["explain", "traces/guest/non-canonical.trace", "--line", "14"] },
        // explain --va: no trace line, the translation of an address with the tables after the traces.
        { "explain-va", ["explain", "traces/guest/tables-demo.trace", "--va", "0xffffffff80001000"] },
        { "tables-two-stages", ["tables", "traces/sample/example.trace"] },
        // KVM's stage-2 dump imported under a guest's setup: the rebuilt stage 2, and one IPA's read/write/fetch.
        { "tables-kvm-stage2", ["tables", "traces/kvm/guest+stage2.trace", "--regime", "stage2"] },
        { "translate-kvm-stage2", ["translate", "traces/kvm/guest+stage2.trace", "0x40600008"] },
        { "tables-diff", ["tables", "traces/guest/tables-demo.trace", "--diff", "traces/guest/tables-demo-changed.trace"] },
        // A stale translation on PE 1 after PE 0's local TLBI: the chain of events behind the finding.
        { "explain-maintenance-stale", ["explain", "traces/sample/maintenance-bugs.trace", "--line", "37"] },
        // A new mapping used by another PE before the writer's DSB.
        { "explain-maintenance-unordered", ["explain", "traces/sample/maintenance-bugs.trace", "--line", "43"] },
        // The timeline (--timing timeline): its summary, per PE, and the timelines of single accesses: a
        // walk whose walk-cache hits wait for an unfinished walk, a hit merged into an outstanding walk.
        { "replay-timeline", ["replay", "traces/bench/mixed-2stage.trace", "--quiet", "--timing", "timeline"] },
        { "replay-timeline-two-pes", ["replay", "traces/sample/two-pes.trace", "--quiet", "--timing", "timeline"] },
        { "explain-timeline-walk", ["explain", "traces/bench/mixed-2stage.trace", "--line", "50", "--timing", "timeline"] },
        { "explain-timeline-merged", ["explain", "traces/bench/mixed-2stage.trace", "--line", "51", "--timing", "timeline"] },
        // Miss-ratio curves: fully associative, 16 sets, and an L2 behind an 8-entry L1.
        { "mrc-mixed-2stage", ["mrc", "traces/bench/mixed-2stage.trace", "--sets", "16", "--l1", "8", "--quiet"] },
        // A trace whose TLBIs remove live entries: the curves say they are approximate.
        { "mrc-tlbi", ["mrc", "traces/sample/example.trace", "--quiet"] },
        // An input with no accesses: no page size to name (it said "(none pages)").
        { "mrc-empty", ["mrc", "traces/sample/empty.trace", "--quiet"] },
        // Two summaries of one trace under two models, side by side.
        { "compare-n1-a55", ["compare", "traces/analysis/mixed-2stage.neoverse-n1.json", "traces/analysis/mixed-2stage.cortex-a55.json"] },
        // A sweep: two presets, the L2 TLB's size varied.
        { "sweep-mixed-2stage", ["sweep", "traces/bench/mixed-2stage.trace", "--preset", "neoverse-n1", "--preset", "cortex-a55", "--vary", "tlbs[2].entries=256,512", "--vary", "tlbs[2].ways=4", "--quiet"] },
        { "sweep-timeline-walkers", ["sweep", "traces/bench/mixed-2stage.trace", "--preset", "neoverse-n1", "--vary", "timeline.walkers=1,2,4;timeline.walkQueue=2,4,8", "--timing", "timeline", "--quiet"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void OutputMatchesItsGoldenFile(string name, string[] args)
    {
        string root = TestPaths.RepositoryRoot;
        // Paths absolute for the run (the working directory is the test runner's), relative again in the output.
        string[] absolute = args.Select(a => a.StartsWith("traces/", StringComparison.Ordinal) ? Path.Combine(root, a) : a).ToArray();
        var result = Support.Cli.Run(absolute);
        result.Out = result.Out.Replace(root + Path.DirectorySeparatorChar, "");
        string actual = result.Out.Replace("\r\n", "\n") + $"[exit {result.Exit}]\n";
        GoldenFile.AssertMatches(name + ".txt", actual);
        Assert.Equal("", result.Err);
    }
}
