using System.Text;
using MmuSim.Checking;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Checking;

/// <summary>
/// The rules of the TLB-maintenance checker, one hand-written trace of two to four PEs per way to get maintenance
/// wrong (docs/trace-format.md, "Writes in the stream, and when effects are guaranteed"; docs/tlb-maintenance.md),
/// each beside its correct form, which must give no finding. Lines are found by their `#Name` markers.
/// </summary>
public sealed class MaintenanceCheckerTests
{
    /// <summary>Replays <paramref name="trace"/> with the checker; its findings.</summary>
    internal static List<MaintenanceFinding> Check(string trace)
    {
        var core = new SimulatedCore();
        var checker = new MaintenanceChecker(core.System);
        var replayer = new Replayer(core, null, new ReplayOptions(), checker);
        replayer.ReplayAsync(new MemoryStream(Encoding.UTF8.GetBytes(trace)), "test.trace").AsTask().GetAwaiter().GetResult();
        return checker.Findings;
    }

    /// <summary>The 1-based line of the line holding <paramref name="marker"/>.</summary>
    internal static long LineOf(string trace, string marker)
    {
        var lines = trace.Split('\n');
        int i = Array.FindIndex(lines, l => l.Contains(marker + " ", StringComparison.Ordinal) || l.EndsWith(marker, StringComparison.Ordinal));
        Assert.True(i >= 0, marker);
        return i + 1;
    }

    private static void AssertOne(string trace, FindingKind kind, string line, int cpu, string cause)
    {
        var f = Check(trace);
        Assert.True(f.Count == 1, string.Join("\n", f));
        Assert.Equal((kind, LineOf(trace, line), cpu, LineOf(trace, cause)), (f[0].Kind, f[0].Line, f[0].Cpu, f[0].Cause));
    }

    private static void AssertNone(string trace)
    {
        var f = Check(trace);
        Assert.True(f.Count == 0, string.Join("\n", f));
    }

    // 4K, 39-bit VA, start level 1: L1[0] -> L2 at 0x40001000, L2[2] -> L3 at 0x40002000 (VA 0x400000..0x5fffff).
    private const string Tables4K = """
        ram 0x40000000 0x10000000
        mem 0x40000000 0x40001003
        mem 0x40001010 0x40002003
        mem 0x40002010 0x80002703
        mem 0x40002018 0x80003703
        mem 0x40003010 0x80005703
        """;

    // 16K, 36-bit VA, start level 2: L2[0] -> L3 at 0x40004000; VA 0x8000 is L3[2], VA 0xc000 is L3[3].
    private const string Tables16K = """
        ram 0x40000000 0x10000000
        mem 0x40000000 0x40004003
        mem 0x40004010 0x80008703
        mem 0x40004018 0x8000c703
        """;

    // 64K, 42-bit VA, start level 2: L2[0] -> L3 at 0x40010000; VA 0x20000 is L3[2], VA 0x30000 L3[3].
    private const string Tables64K = """
        ram 0x40000000 0x10000000
        mem 0x40000000 0x40010003
        mem 0x40010010 0x80020703
        mem 0x40010018 0x80030703
        """;

    private static string Pe(int n, ulong tcr, ulong ttbr = 0x40000000) => $"""
        cpu {n}
        reg MAIR_EL1 0x4ff
        reg TCR_EL1 0x{tcr:x}
        reg TTBR0_EL1 0x{ttbr:x}
        reg SCTLR_EL1 0x1
        isb
        el 1

        """;

    private const ulong Tcr4K = 0x280803519, Tcr16K = 0x24080b51c, Tcr64K = 0x280807516;

    private static string TwoPes4K(string body, int pes = 2, ulong ttbr = 0x40000000) =>
        Tables4K + "\n" + string.Concat(Enumerable.Range(0, pes).Select(i => Pe(i, Tcr4K, ttbr))) + body;

    /// <summary>PE 1 writes VA 0x402000; PE 0 makes it read-only with <paramref name="maintenance"/>; PE 1 writes again (#Use).</summary>
    private static string ReadOnlyAfter(string maintenance, int pes = 2) => TwoPes4K($"""
        cpu 1
        W 0x402000
        cpu 0
        mem 0x40002010 0x80002783 #Store
        {maintenance}
        cpu 1
        isb
        W 0x402000 #Use
        """, pes);

    [Fact]
    public void ALocalTlbiDoesNotReachAnotherPe() =>
        AssertOne(ReadOnlyAfter("dsb ishst\ntlbi VAE1 0x402 #Tlbi\ndsb ish\nisb"), FindingKind.StaleTranslation, "#Use", 1, "#Tlbi");

    [Fact]
    public void EveryAccessOfAStalePageIsReportedNotOnlyTheFirst()
    {
        // Accesses that every view translates alike are remembered per page until the next non-access line; a
        // flagged one never is: the second write on the next line is its own finding.
        string trace = ReadOnlyAfter("dsb ishst\ntlbi VAE1 0x402\ndsb ish\nisb") + "\nW 0x402008 #Again\nR 0x402010\n";
        var f = Check(trace);
        Assert.Equal([LineOf(trace, "#Use"), LineOf(trace, "#Again")], f.Select(x => x.Line).ToArray());
    }

    [Fact]
    public void TheBroadcastFormReachesEveryPe() => AssertNone(ReadOnlyAfter("dsb ishst\ntlbi VAE1IS 0x402\ndsb ish\nisb"));

    [Fact]
    public void WithFourPesABroadcastFromAnyPeReachesTheOthers()
    {
        string trace = TwoPes4K("""
            cpu 3
            W 0x402000
            cpu 2
            mem 0x40002010 0x80002783
            dsb ishst
            tlbi VAE1OS 0x402
            dsb osh
            cpu 3
            W 0x402000
            cpu 1
            W 0x402000
            """, pes: 4);
        AssertNone(trace);
    }

    [Fact]
    public void ATlbiOfAnotherPageMissesTheEntry() =>
        AssertOne(ReadOnlyAfter("dsb ishst\ntlbi VAE1IS 0x403 #Tlbi\ndsb ish\nisb"), FindingKind.StaleTranslation, "#Use", 1, "#Tlbi");

    [Fact]
    public void ATranslationNeverAccessedIsStillHeldSpeculatively()
    {
        // PE 1 never touched VA 0x403000 before the change: it may still have walked it speculatively.
        string trace = TwoPes4K("""
            cpu 1
            R 0x402000
            cpu 0
            mem 0x40002018 0x80003783
            dsb ishst
            tlbi VAE1 0x403 #Tlbi
            dsb ish
            isb
            cpu 1
            W 0x403000 #Use
            """);
        AssertOne(trace, FindingKind.StaleTranslation, "#Use", 1, "#Tlbi");
    }

    [Fact]
    public void NoTlbiAtAllNamesTheStore()
    {
        string trace = ReadOnlyAfter("dsb ishst");
        AssertOne(trace, FindingKind.StaleTranslation, "#Use", 1, "#Store");
    }

    // Each barrier missing in turn from `str; dsb ishst; tlbi …is; dsb ish; isb`.

    [Fact]
    public void WithoutDsbIshstTheTlbiMayRunBeforeTheStoreIsSeen() =>
        AssertOne(ReadOnlyAfter("tlbi VAE1IS 0x402 #Tlbi\ndsb ish\nisb"), FindingKind.StaleTranslation, "#Use", 1, "#Tlbi");

    [Fact]
    public void WithoutDsbIshTheTlbiIsNotComplete() =>
        AssertOne(ReadOnlyAfter("dsb ishst\ntlbi VAE1IS 0x402 #Tlbi\nisb"), FindingKind.StaleTranslation, "#Use", 1, "#Tlbi");

    [Fact]
    public void AnStOnlyDsbDoesNotCompleteATlbi() =>
        AssertOne(ReadOnlyAfter("dsb ishst\ntlbi VAE1IS 0x402 #Tlbi\ndsb ishst\nisb"), FindingKind.StaleTranslation, "#Use", 1, "#Tlbi");

    [Fact]
    public void WithoutIsbTheIssuingPeMayStillUseTheOldTranslation()
    {
        string trace = TwoPes4K("""
            cpu 0
            W 0x402000
            mem 0x40002010 0x80002783
            dsb ishst
            tlbi VAE1IS 0x402 #Tlbi
            dsb ish
            W 0x402000 #Use
            cpu 1
            W 0x402000
            """);
        // PE 1 needs no ISB of its own: the issuer's DSB completed the TLBI for every PE.
        AssertOne(trace, FindingKind.UnsynchronizedContext, "#Use", 0, "#Tlbi");
    }

    [Fact]
    public void TheFullSequenceGivesNoFindingOnEitherPe() =>
        AssertNone(TwoPes4K("""
            cpu 0
            W 0x402000
            cpu 1
            W 0x402000
            cpu 0
            mem 0x40002010 0x80002783
            dsb ishst
            tlbi VAE1IS 0x402
            dsb ish
            isb
            W 0x402000
            cpu 1
            W 0x402000
            """));

    [Fact]
    public void ANewMappingWithoutDsbIsAnUnorderedWriteForAnotherPe()
    {
        string trace = TwoPes4K("""
            cpu 1
            R 0x402000
            cpu 0
            mem 0x40002020 0x80004703 #Store
            cpu 1
            R 0x404000 #Use
            """);
        var f = Check(trace);
        Assert.Single(f);
        Assert.Equal((FindingKind.UnorderedWrite, LineOf(trace, "#Use"), 1, LineOf(trace, "#Store"), false),
            (f[0].Kind, f[0].Line, f[0].Cpu, f[0].Cause, f[0].Error));
    }

    [Theory]
    [InlineData("dsb ishst", true)]          // own walks: a DSB alone is not enough without FEAT_ETS2
    [InlineData("dsb ishst\nisb", false)]
    [InlineData("dsb nsh\nisb", false)]      // a non-shareable DSB orders the PE's own walks
    public void OwnWalksNeedADsbAndAnIsb(string barriers, bool finding)
    {
        string trace = TwoPes4K($"""
            R 0x402000
            mem 0x40002020 0x80004703 #Store
            {barriers}
            R 0x404000 #Use
            """, pes: 1);
        var f = Check(trace);
        Assert.Equal(finding ? 1 : 0, f.Count);
    }

    [Fact]
    public void WithEts2ADsbAloneOrdersTheOwnWalks()
    {
        string trace = "reg ID_AA64MMFR1_EL1 0x12010211122\n" + TwoPes4K("""
            R 0x402000
            mem 0x40002020 0x80004703
            dsb ishst
            R 0x404000
            """, pes: 1);
        AssertNone(trace);
    }

    [Fact]
    public void ANonShareableDsbDoesNotOrderTheStoreForOtherPes()
    {
        string trace = TwoPes4K("""
            cpu 1
            R 0x402000
            cpu 0
            mem 0x40002020 0x80004703 #Store
            dsb nsh
            cpu 1
            R 0x404000 #Use
            """);
        AssertOne(trace, FindingKind.UnorderedWrite, "#Use", 1, "#Store");
    }

    [Fact]
    public void ARegisterWriteWithoutIsbIsUnsynchronized()
    {
        // PE 0 switches to other tables (0x40006000), where VA 0x402000 maps PA 0x80009000.
        string trace = TwoPes4K("""
            R 0x402000
            reg TTBR0_EL1 0x10000040006000 #Reg
            R 0x402000 #Use
            """, pes: 1).Replace("mem 0x40003010 0x80005703", "mem 0x40006000 0x40007003\nmem 0x40007010 0x40008003\nmem 0x40008010 0x80009703");
        AssertOne(trace, FindingKind.UnsynchronizedContext, "#Use", 0, "#Reg");
    }

    [Fact]
    public void AnAsidReusedForOtherTablesWithoutTlbiIsStale()
    {
        string Trace(string asid, string maintenance) => TwoPes4K($"""
            R 0x402000
            reg TTBR0_EL1 0x{asid}000040006000 #Reg
            {maintenance}
            isb
            R 0x402000 #Use
            """, pes: 1).Replace("mem 0x40003010 0x80005703", "mem 0x40006000 0x40007003\nmem 0x40007010 0x40008003\nmem 0x40008010 0x80009703")
            .Replace("reg TTBR0_EL1 0x40000000", "reg TTBR0_EL1 0x1000040000000")
            .Replace("0x80002703", "0x80002f03").Replace("0x80009703", "0x80009f03");
        // The same ASID 1 (stage-1 entries of VA 0x402000 are nG): the old tables' entry still matches.
        AssertOne(Trace("1", ""), FindingKind.StaleTranslation, "#Use", 0, "#Reg");
        // A new ASID: the old entries no longer match.
        AssertNone(Trace("2", ""));
        // The same ASID, invalidated before use.
        AssertNone(Trace("1", "tlbi ASIDE1 0x1000000000000\ndsb nsh"));
    }

    [Fact]
    public void AnAsidTlbiOfAnotherAsidMissesNonGlobalEntries()
    {
        string trace = ReadOnlyAfter("dsb ishst\ntlbi VAE1IS 0x5000000000402 #Tlbi\ndsb ish\nisb")
            .Replace("reg TTBR0_EL1 0x40000000", "reg TTBR0_EL1 0x3000040000000")
            .Replace("0x80002703", "0x80002f03").Replace("0x80002783", "0x80002f83");
        AssertOne(trace, FindingKind.StaleTranslation, "#Use", 1, "#Tlbi");
        AssertNone(trace.Replace("0x5000000000402", "0x3000000000402"));
    }

    [Theory]
    [InlineData("0x700000000402", false)] // TTL: 4K granule, level 3: the entry's
    [InlineData("0x600000000402", true)]  // TTL: 4K granule, level 2: need not remove a level-3 entry
    [InlineData("0xb00000000402", true)]  // TTL: 16K granule: not this entry's
    public void ALevelHintThatDoesNotMatchMayKeepTheEntry(string xt, bool finding)
    {
        string trace = ReadOnlyAfter($"dsb ishst\ntlbi VAE1IS {xt} #Tlbi\ndsb ish\nisb");
        Assert.Equal(finding ? 1 : 0, Check(trace).Count);
    }

    [Theory]
    [InlineData(0, true)]  // NUM=0: 2 pages from 0x400000, the range ends before 0x402000
    [InlineData(1, false)] // NUM=1: 4 pages, 0x400000..0x403fff
    public void ARangeTlbiReachesOnlyItsRange(int num, bool finding)
    {
        ulong xt = (1UL << 46) | ((ulong)num << 39) | 0x400; // TG=4K, SCALE=0, BaseADDR=0x400
        string trace = ReadOnlyAfter($"dsb ishst\ntlbi RVAE1IS 0x{xt:x} #Tlbi\ndsb ish\nisb");
        Assert.Equal(finding ? 1 : 0, Check(trace).Count);
    }

    [Theory]
    [InlineData(14, true)]  // the Zephyr bug: VA >> 14 (the 16K page shift) names another page
    [InlineData(12, false)] // the operand is always VA[55:12]
    public void The16KOperandIsVaShiftedBy12(int shift, bool finding)
    {
        string trace = Tables16K + "\n" + Pe(0, Tcr16K) + Pe(1, Tcr16K) + $"""
            cpu 1
            W 0xc000
            cpu 0
            mem 0x40004018 0x8000c783
            dsb ishst
            tlbi VAE1IS 0x{0xc000UL >> shift:x} #Tlbi
            dsb ish
            isb
            cpu 1
            isb
            W 0xc000 #Use
            """;
        if (finding)
        {
            AssertOne(trace, FindingKind.StaleTranslation, "#Use", 1, "#Tlbi");
        }
        else
        {
            AssertNone(trace);
        }
    }

    [Theory]
    [InlineData(16, true)]
    [InlineData(12, false)]
    public void The64KOperandIsVaShiftedBy12(int shift, bool finding)
    {
        string trace = Tables64K + "\n" + Pe(0, Tcr64K) + Pe(1, Tcr64K) + Pe(2, Tcr64K) + $"""
            cpu 2
            W 0x30000
            cpu 0
            mem 0x40010018 0x80030783
            dsb ishst
            tlbi VAE1IS 0x{0x30000UL >> shift:x} #Tlbi
            dsb ish
            isb
            cpu 2
            isb
            W 0x30000 #Use
            """;
        Assert.Equal(finding ? 1 : 0, Check(trace).Count);
    }

    [Fact]
    public void BreakBeforeMakeUnsafeAndSafeChanges()
    {
        string Change(string value) => ReadOnlyAfter("dsb ishst\ntlbi VAE1IS 0x402\ndsb ish\nisb").Replace("0x80002783 #Store", value + " #Store");
        // Output address: needs a break.
        var oa = Check(Change("0x80006703"));
        Assert.Equal(FindingKind.BreakBeforeMake, Assert.Single(oa).Kind);
        // Shareability (SH 3 -> 2): needs a break.
        Assert.Equal(FindingKind.BreakBeforeMake, Assert.Single(Check(Change("0x80002603"))).Kind);
        // Read-only, then execute-never: permission-only changes need none (the access then faults, which is the tables').
        AssertNone(Change("0x80002783"));
        AssertNone(Change("0x60000080002703"));
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(2, false)] // FEAT_BBM level 2: a change of block size needs no break
    public void ABlockSplitNeedsABreakUnlessFeatBbm(int bbm, bool finding)
    {
        string trace = $"reg ID_AA64MMFR2_EL1 0x10{bbm}1011010011011\n" + """
            ram 0x40000000 0x10000000
            mem 0x40000000 0x40001003
            mem 0x40001008 0x80200701
            mem 0x40002000 0x80200703 0x80201703 0x80202703 0x80203703
            """ + "\n" + Pe(0, Tcr4K) + Pe(1, Tcr4K) + """
            cpu 1
            R 0x200000
            cpu 0
            mem 0x40001008 0x40002003 #Store
            dsb ishst
            tlbi VAE1IS 0x200
            dsb ish
            isb
            cpu 1
            R 0x201000
            """;
        var f = Check(trace);
        Assert.Equal(finding ? 1 : 0, f.Count);
        if (finding)
        {
            Assert.Equal((FindingKind.BreakBeforeMake, LineOf(trace, "#Store"), 0), (f[0].Kind, f[0].Line, f[0].Cpu));
        }
    }

    [Fact]
    public void BreakThenTlbiThenMakeIsSafe() =>
        AssertNone(ReadOnlyAfter("""
            dsb ishst
            mem 0x40002010 0x0
            dsb ishst
            tlbi VAE1IS 0x402
            dsb ish
            mem 0x40002010 0x80006703
            dsb ishst
            isb
            """).Replace("mem 0x40002010 0x80002783 #Store", "mem 0x40002010 0x0 #Store"));

    // Stage 2 (guest stage 1 off): VTCR 4K, 40-bit IPA from level 1; L1[0] -> L2 at 0x41001000, L2[2] -> L3 at
    // 0x41002000, L3[2] maps IPA 0x402000 -> PA 0x90002000 read/write.
    private static string Stage2(string body, ulong vmid1 = 1) => $"""
        ram 0x40000000 0x10000000
        mem 0x41000000 0x41001003
        mem 0x41001010 0x41002003
        mem 0x41002010 0x900027ff
        cpu 0
        reg VTCR_EL2 0x23558
        reg VTTBR_EL2 0x1000041000000
        reg HCR_EL2 0x1
        isb
        el 1
        cpu 1
        reg VTCR_EL2 0x23558
        reg VTTBR_EL2 0x{vmid1:x}000041000000
        reg HCR_EL2 0x1
        isb
        el 1
        cpu 1
        W 0x402000
        cpu 0
        mem 0x41002010 0x9000277f #Store
        dsb ishst
        {body}
        cpu 1
        isb
        W 0x402000 #Use
        """;

    [Fact]
    public void Stage2NeedsIpas2ThenDsbThenVmalle1()
    {
        AssertNone(Stage2("tlbi IPAS2E1IS 0x402\ndsb ish\ntlbi VMALLE1IS\ndsb ish\nisb"));
        AssertNone(Stage2("tlbi VMALLS12E1IS\ndsb ish\nisb"));
        // Without the DSB between them the combined entries may be refilled from the stale stage-2 entry.
        string relied = Stage2("tlbi IPAS2E1IS 0x402\ntlbi VMALLE1IS #Tlbi\ndsb ish\nisb");
        AssertOne(relied, FindingKind.StaleTranslation, "#Use", 1, "#Tlbi");
        // IPAS2E1 alone leaves the combined entries.
        AssertOne(Stage2("tlbi IPAS2E1IS 0x402 #Tlbi\ndsb ish\nisb"), FindingKind.StaleTranslation, "#Use", 1, "#Tlbi");
    }

    [Fact]
    public void ABroadcastTlbiActsWithTheIssuersVmid() =>
        // PE 1 runs VMID 2 over the same stage-2 tables: PE 0's VMID-1 maintenance does not name its entries.
        AssertOne(Stage2("tlbi VMALLS12E1IS #Tlbi\ndsb ish\nisb", vmid1: 2), FindingKind.StaleTranslation, "#Use", 1, "#Tlbi");

    [Fact]
    public void El2TablesNeedE2Maintenance()
    {
        // EL2 (E2H=0) with its own stage 1: TCR_EL2 4K, T0SZ=25.
        string Trace(string tlbi) => Tables4K + "\n" + """
            cpu 0
            reg MAIR_EL2 0x4ff
            reg TCR_EL2 0x80823519
            reg TTBR0_EL2 0x40000000
            reg SCTLR_EL2 0x30c50831
            el 2
            cpu 1
            reg MAIR_EL2 0x4ff
            reg TCR_EL2 0x80823519
            reg TTBR0_EL2 0x40000000
            reg SCTLR_EL2 0x30c50831
            el 2
            cpu 1
            W 0x402000
            cpu 0
            mem 0x40002010 0x80002783
            dsb ishst
            """ + $"\n{tlbi} #Tlbi\ndsb ish\nisb\ncpu 1\nisb\nW 0x402000 #Use\n";
        AssertNone(Trace("tlbi VAE2IS 0x402"));
        AssertOne(Trace("tlbi VAE1IS 0x402"), FindingKind.StaleTranslation, "#Use", 1, "#Tlbi");
    }

    [Fact]
    public void ATraceWithoutBarriersIsTakenAsSynchronized()
    {
        // A version-1 style trace: stores take effect at once; only missing TLBIs are findings.
        string ok = Tables4K + """

            reg MAIR_EL1 0x4ff
            reg TCR_EL1 0x280803519
            reg TTBR0_EL1 0x40000000
            reg SCTLR_EL1 0x1
            R 0x402000
            mem 0x40002020 0x80004703
            R 0x404000
            mem 0x40002010 0x80002783
            tlbi VAE1 0x402
            W 0x402000
            """;
        AssertNone(ok);
        string missing = ok.Replace("tlbi VAE1 0x402", "");
        Assert.Equal(FindingKind.StaleTranslation, Assert.Single(Check(missing)).Kind);
    }

    [Fact]
    public void TheSummaryCountsFindingsByKind()
    {
        // traces/sample/maintenance-bugs.trace has one finding of each kind; the summary is compared whole.
        string root = TestPaths.RepositoryRoot;
        var findings = Check(File.ReadAllText(Path.Combine(root, "traces", "sample", "maintenance-bugs.trace")));
        var w = new StringWriter { NewLine = "\n" };
        MmuSim.Reporting.FindingSummary.Write(w, findings);
        GoldenFile.AssertMatches("maintenance-summary.txt", w.ToString());
    }
}
