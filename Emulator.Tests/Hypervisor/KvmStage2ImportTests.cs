using System.Text;
using System.Text.Json;
using CsCheck;
using MmuSim.Addressing;
using MmuSim.Hypervisor;
using MmuSim.Memory;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Hypervisor;

/// <summary>
/// `mmusim import kvm-stage2`: KVM's stage2_page_tables dump read in the kernel's exact line format (written here from
/// Linux's ptdump note_page and KVM's stage2_pte_bits, as docs/guest.md describes them), hostile lines, and a guest's
/// faults replayed against the imported stage 2.
/// </summary>
[Collection("Console")]
public class KvmStage2ImportTests
{
    private static string Kvm => Path.Combine(TestPaths.RepositoryRoot, "traces", "kvm");

    // "0x%016lx-0x%016lx   " then "%9lu%c %s" (size, unit, level name) then " %s" per attribute field.
    private const string Header = "---[ Guest IPA ]---\n";
    private const string EmptyL2 = "0x0000000000000000-0x0000000040000000         1G 2\n";
    private const string Block = "0x0000000040000000-0x0000000040400000           4M 2   R W px ux  AF BLK\n";

    private static KvmStage2Dump Parse(string text) => KvmStage2Dump.Parse(new StringReader(text), "dump");

    [Fact]
    public void TheKernelsLinesAreReadFieldByField()
    {
        var d = Parse(File.ReadAllText(Path.Combine(Kvm, "stage2_page_tables")));
        Assert.Equal(16, d.Ranges.Count);
        Assert.Equal(new KvmStage2Range(0, 0x0800_0000, 2, false, false, false, false, 0, false, false, 2), d.Ranges[0]);
        // "R W PXNUXN AF    ": pages, XN 0b10.
        Assert.Equal(new KvmStage2Range(0x0800_0000, 0x0801_0000, 3, true, true, true, true, 0b10, true, false, 3), d.Ranges[1]);
        // "R W px ux  AF BLK": two 2 MiB blocks.
        Assert.Equal(new KvmStage2Range(0x4000_0000, 0x4040_0000, 2, true, true, true, true, 0b00, true, true, 9), d.Ranges[7]);
        // "R   px ux  AF    ": write-protected.
        Assert.Equal(new KvmStage2Range(0x4060_0000, 0x4060_8000, 3, true, true, true, false, 0b00, true, false, 11), d.Ranges[9]);
        Assert.Equal(0b01, d.Ranges[10].Xn); // PXNux
        Assert.Equal(0b11, d.Ranges[11].Xn); // px UXN
        // "F R W px ux  AF    ": an entry KVM keeps invalid (bit 0 clear) with other bits set.
        Assert.Equal(new KvmStage2Range(0x4060_b000, 0x4060_c000, 3, true, false, true, true, 0b00, true, false, 14), d.Ranges[12]);
        Assert.Equal(new KvmStage2Range(0x8000_0000, 1UL << 40, 1, false, false, false, false, 0, false, false, 17), d.Ranges[^1]);
    }

    [Fact]
    public void TheEarlierKernelsExecuteNeverFieldIsRead()
    {
        // Before FEAT_XNX the field was "NX" (XN bit [54] set, XN[1:0] = 0b10) or "x ".
        var d = Parse(Header + EmptyL2
            + "0x0000000040000000-0x0000000040200000           2M 2   R W NX AF BLK\n"
            + "0x0000000040200000-0x0000000040201000           4K 3   R W x  AF    \n");
        Assert.Equal(0b10, d.Ranges[1].Xn);
        Assert.Equal(0b00, d.Ranges[2].Xn);
        Assert.True(d.Ranges[2].Write);
    }

    [Theory]
    [InlineData("0x0000000040000000 0x0000000040400000           4M 2   R W px ux  AF BLK", "dump:3:19: expected '-' between the range's start and end (0xSTART-0xEND)")]
    [InlineData("40000000-0x0000000040400000           4M 2", "dump:3:1: expected a range 0xSTART-0xEND (as the kernel prints it: 0x and 16 hex digits)")]
    [InlineData("0x0000000040000000-0x00000000400000000000           4M 2", "dump:3:20: '0x00000000400000000000' is not a 64-bit hex address")]
    [InlineData("0x0000000040000000-0x0000000040000000           4M 2", "dump:3:20: the range's end 0x40000000 is not above its start 0x40000000")]
    [InlineData("0x0000000040000000-0x0000000040400000           2M 2   R W px ux  AF BLK", "dump:3:49: size 2M is not the range's 0x400000 bytes")]
    [InlineData("0x0000000040000000-0x0000000040400000           4Q 2", "dump:3:50: unknown size unit 'Q' (K, M, G, T, P or E)")]
    [InlineData("0x0000000040000000-0x0000000040400000           4M", "dump:3:51: expected spaces, then the level")]
    [InlineData("0x0000000040000000-0x0000000040400000           4M 7", "dump:3:52: level '7' is not 0, 1, 2 or 3")]
    [InlineData("0x0000000040000000-0x0000000040400000           4M 2   R W px ux  AF BLK HUGE", "dump:3:74: unknown attribute 'HUGE' (KVM's stage-2 dump prints F, R, W, px ux, PXNux, PXNUXN, px UXN, NX, x, AF and BLK)")]
    [InlineData("0x0000000040000000-0x0000000040400000           4M 2   R R px ux  AF BLK", "dump:3:58: attribute 'R' given twice on one line")]
    [InlineData("0x0000000040000000-0x0000000040400000           4M 2   R W px     AF BLK", "dump:3:60: 'px' without 'ux' or 'UXN' after it: not an execute-never field of the dump")]
    [InlineData("0x0000000040000000-0x0000000040400000           4M 2   R W AF BLK", "dump:3:66: no execute-never field: the dump prints one on every line with attributes")]
    [InlineData("0x0000000050000000-0x0000000050400000           4M 2", "dump:3:1: range starts at 0x50000000 but the line before ended at 0x40000000: the dump walks the IPA space in order, without gaps")]
    public void AHostileLineIsAnErrorAtItsLineAndColumn(string line, string expected)
    {
        var e = Assert.Throws<TraceFormatException>(() => Parse(Header + EmptyL2 + line + "\n"));
        Assert.Equal(expected, e.Message);
    }

    /// <summary>
    /// Any cut of the example dump with any characters changed (from the dump's own alphabet and a few others): read
    /// and built into a stage 2, or refused with a line and column inside the text; never another exception.
    /// </summary>
    [Fact]
    public void NoCutOrCorruptionCrashesTheImport()
    {
        string valid = File.ReadAllText(Path.Combine(Kvm, "stage2_page_tables"));
        const string alphabet = "0123456789abcdefx- \nKMGTPEFRWpuxPXNUAFBLK#\t";
        Gen.Select(Gen.Int[0, valid.Length], Gen.Int[0, valid.Length].Array[0, 6], Gen.Int[0, alphabet.Length - 1].Array[6]).Sample(t =>
        {
            var (cut, positions, letters) = t;
            var text = new StringBuilder(valid[..cut]);
            for (int i = 0; i < positions.Length; i++)
            {
                if (positions[i] < text.Length)
                {
                    text[positions[i]] = alphabet[letters[i]];
                }
            }
            try
            {
                var dump = Parse(text.ToString());
                _ = KvmStage2Import.Build(dump, new KvmStage2Options { MaxTableBytes = 16L << 20 }, null, false, 48);
            }
            catch (TraceFormatException e)
            {
                Assert.InRange(e.Line, 1, valid.Count(c => c == '\n') + 1);
                Assert.InRange(e.Column, 1, 4097);
            }
            catch (MemoryLimitException)
            {
                // A changed digit can make a range of millions of pages: refused at the cap.
            }
        }, iter: 2000);
    }

    [Fact]
    public void AFileWithoutRangesIsAnError()
    {
        var e = Assert.Throws<TraceFormatException>(() => Parse(Header));
        Assert.Equal("dump:1:1: no range line: not KVM's stage-2 dump (0xSTART-0xEND SIZE LEVEL ATTRIBUTES)", e.Message);
    }

    [Theory]
    // A 2 MiB block line read with 64K pages: level 2 entries are 512 MiB.
    [InlineData(Header + EmptyL2 + Block, "64k", 42, "dump:3:1: 0x40000000-0x40400000 is not a whole number of level-2 entries (512 MiB with the 64K granule; is --granule right?)")]
    // A level-0 line in a 40-bit IPA space (KVM starts at level 1 there).
    [InlineData(Header + "0x0000000000000000-0x0000008000000000       512G 0\n", "4k", 40, "dump:2:1: level 0 is above the start level 1 of 3 levels (give KVM's stage2_levels with --levels)")]
    // A valid entry above level 3 that is not a block.
    [InlineData(Header + EmptyL2 + "0x0000000040000000-0x0000000040400000           4M 2   R W px ux  AF    \n", "4k", null, "dump:3:1: a valid level-2 entry without BLK: a valid leaf above level 3 is a block")]
    [InlineData(Header + EmptyL2 + "0x0000000040000000-0x0000000040001000           4K 3   R W px ux  AF BLK\n", "4k", null, "dump:3:1: a level-3 entry marked BLK: level-3 descriptors are pages (bits [1:0] = 0b11)")]
    public void ALineTheGeometryCannotHoldIsAnError(string text, string granule, int? ipaBits, string expected)
    {
        var g = granule switch { "64k" => Granule.K64, "16k" => Granule.K16, _ => Granule.K4 };
        var e = Assert.Throws<TraceFormatException>(() =>
            KvmStage2Import.Build(Parse(text), new KvmStage2Options { Granule = g, IpaBits = ipaBits }, null, false, 48));
        Assert.Equal(expected, e.Message);
    }

    [Fact]
    public void TheCommittedSetupIsWhatTheImportWrites()
    {
        string output = Path.Combine(Path.GetTempPath(), $"kvm-{Guid.NewGuid():n}", "guest+stage2.trace");
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        try
        {
            var r = Support.Cli.Run("import", "kvm-stage2", Path.Combine(Kvm, "stage2_page_tables"), "--setup", Path.Combine(Kvm, "guest.setup.trace"), "-o", output);
            Assert.Equal(0, r.Exit);
            Assert.Equal(File.ReadAllText(Path.Combine(Kvm, "guest+stage2.trace")), File.ReadAllText(output));
            Assert.Equal($"mmusim import kvm-stage2: 16 range(s), 7 mapped (31 leaf entries), 40-bit IPA from level 1, 28672 bytes of tables; added to 2 PE(s) of {Path.Combine(Kvm, "guest.setup.trace")}\n", r.Err);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(output)!, recursive: true);
        }
    }

    [Fact]
    public void TheGuestsFaultsReplayAgainstTheImportedStage2()
    {
        string root = TestPaths.RepositoryRoot;
        var r = Support.Cli.Run("faults", Path.Combine(Kvm, "guest+stage2.trace"), Path.Combine(Kvm, "guest-accesses.trace"));
        string actual = r.Out.Replace(root + Path.DirectorySeparatorChar, "").Replace("\r\n", "\n") + $"[exit {r.Exit}]\n";
        GoldenFile.AssertMatches("faults-kvm-stage2.txt", actual);
        // The setup names no cell, so `faults` says it cannot name regions (and nothing else).
        Assert.Equal("mmusim faults: note: no #@mmusim-setup line in the traces, so regions cannot be named (use a setup trace from `mmusim cell`)\n", r.Err);
    }

    /// <summary>The outcome of each access type at an IPA of a setup, from `translate --ipa --json`.</summary>
    private static List<(string Op, string? Pa, string? Fault, int Level)> Outcomes(string setup, ulong ipa)
    {
        var r = Support.Cli.Run("translate", setup, $"0x{ipa:x}", "--ipa", "--json");
        Assert.Equal(0, r.Exit);
        var list = new List<(string, string?, string?, int)>();
        foreach (string line in r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            var o = doc.RootElement;
            bool fault = o.TryGetProperty("fault", out var f);
            list.Add((o.GetProperty("op").GetString()!, o.TryGetProperty("pa", out var pa) ? pa.GetString() : null,
                fault ? f.GetProperty("type").GetString() : null, fault ? f.GetProperty("level").GetInt32() : -1));
        }
        return list;
    }

    [Fact]
    public void AloneTheDumpIsAStage2WhoseIpasMapToThemselvesOrToTheOffset()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"kvm-{Guid.NewGuid():n}");
        Directory.CreateDirectory(dir);
        try
        {
            string plain = Path.Combine(dir, "s2.trace"), moved = Path.Combine(dir, "s2-moved.trace"), hwAf = Path.Combine(dir, "s2-ha.trace");
            string dump = Path.Combine(Kvm, "stage2_page_tables");
            Assert.Equal(0, Support.Cli.Run("import", "kvm-stage2", dump, "-o", plain).Exit);
            Assert.Equal(0, Support.Cli.Run("import", "kvm-stage2", dump, "-o", moved, "--pa-offset", "0x100000000").Exit);
            Assert.Equal(0, Support.Cli.Run("import", "kvm-stage2", dump, "-o", hwAf, "--hw-af").Exit);
            Assert.Equal([("R", "0x40600008", null, -1), ("W", null, "permission", 3), ("X", "0x40600008", null, -1)], Outcomes(plain, 0x4060_0008));
            Assert.Equal([("R", "0x140600008", null, -1), ("W", null, "permission", 3), ("X", "0x140600008", null, -1)], Outcomes(moved, 0x4060_0008));
            Assert.Equal([("R", null, "access_flag", 2), ("W", null, "access_flag", 2), ("X", null, "access_flag", 2)], Outcomes(plain, 0x4040_0000));
            // VTCR_EL2.HA: hardware sets AF instead of faulting.
            Assert.Equal([("R", "0x40400000", null, -1), ("W", "0x40400000", null, -1), ("X", "0x40400000", null, -1)], Outcomes(hwAf, 0x4040_0000));
            Assert.Equal([("R", null, "translation", 1), ("W", null, "translation", 1), ("X", null, "translation", 1)], Outcomes(plain, 0x80_0000_0000));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void KvmsIpaRangeAndLevelsBesideTheDumpAreRead()
    {
        // A dump whose last range the kernel did not write (its walk ends without flushing the open range): the
        // IPA size comes from ipa_range, and the start level from stage2_levels (4 levels: start at level 0).
        string dir = Path.Combine(Path.GetTempPath(), $"kvm-{Guid.NewGuid():n}");
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "stage2_page_tables"), Header + EmptyL2 + Block);
            File.WriteAllText(Path.Combine(dir, "ipa_range"), "40\n");
            File.WriteAllText(Path.Combine(dir, "stage2_levels"), "4\n");
            string output = Path.Combine(dir, "s2.trace");
            var r = Support.Cli.Run("import", "kvm-stage2", Path.Combine(dir, "stage2_page_tables"), "-o", output);
            Assert.Equal($"mmusim import kvm-stage2: 2 range(s), 1 mapped (2 leaf entries), 40-bit IPA from level 0, 16384 bytes of tables; "
                + $"ipa_range 40 read from {Path.Combine(dir, "ipa_range")}, stage2_levels 4 read from {Path.Combine(dir, "stage2_levels")}\n", r.Err);
            Assert.Equal(0, r.Exit);
            Assert.Equal([("R", "0x40200000", null, -1), ("W", "0x40200000", null, -1), ("X", "0x40200000", null, -1)], Outcomes(output, 0x4020_0000));
            // Beyond the last line: nothing mapped.
            Assert.Equal([("R", null, "translation", 1), ("W", null, "translation", 1), ("X", null, "translation", 1)], Outcomes(output, 0x8000_0000));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void TheSetupMovesWithThePaOffsetAndItsImagesAreFoundFromTheNewFolder()
    {
        string text = "# a setup\nram  0x40000000 0x1000\nload 0x40000000 mem.img 0x10   # the image\nmem  0x40000008 0x1 0x2\nreg  SCTLR_EL1 0x1\n";
        string moved = KvmStage2Import.Relocate(text, 0x1_0000_0000, f => "../guest/" + f);
        Assert.Equal("# a setup\nram 0x140000000 0x1000\nload 0x140000000 ../guest/mem.img 0x10   # the image\nmem 0x140000008 0x1 0x2\nreg  SCTLR_EL1 0x1\n", moved);
        // Without an offset only the `load` lines change: their files are found from the output's folder.
        Assert.Equal("# a setup\nram  0x40000000 0x1000\nload 0x40000000 /abs/mem.img 0x10   # the image\nmem  0x40000008 0x1 0x2\nreg  SCTLR_EL1 0x1\n",
            KvmStage2Import.Relocate(text, 0, f => "/abs/" + f));
    }

    [Fact]
    public void ADumpWhoseTablesPassTheMemoryCapIsExitThreeAndWritesNothing()
    {
        // 16 TiB of 4 KiB pages (4G entries, 32 GiB of level-3 tables) against a 4 MiB cap: refused before building.
        string dir = Path.Combine(Path.GetTempPath(), $"kvm-{Guid.NewGuid():n}");
        Directory.CreateDirectory(dir);
        try
        {
            string dump = Path.Combine(dir, "huge");
            File.WriteAllText(dump, Header + "0x0000000000000000-0x0000100000000000          16T 3   R W px ux  AF    \n");
            string output = Path.Combine(dir, "s2.trace");
            var r = Support.Cli.Run("import", "kvm-stage2", dump, "-o", output, "--max-memory", "4m");
            Assert.Equal((3, $"mmusim import kvm-stage2: {dump}: its stage-2 tables would take more than --max-memory 4m (4194304 bytes)\n"), (r.Exit, r.Err));
            Assert.False(File.Exists(output));
            r = Support.Cli.Run("import", "kvm-stage2", dump, "-o", output, "--max-memory", "1k");
            Assert.Equal((1, "mmusim import kvm-stage2: --max-memory 1k: expected a size of at least 4m (e.g. 512m, 4g)\n"), (r.Exit, r.Err));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void BadOptionsAreExitOneAndBadInputExitTwo()
    {
        string dump = Path.Combine(Kvm, "stage2_page_tables");
        var r = Support.Cli.Run("import", "kvm-stage2", dump, "-o", "-", "--granule", "8k");
        Assert.Equal((1, "mmusim import kvm-stage2: --granule 8k: expected 4k, 16k or 64k\n"), (r.Exit, r.Err));
        r = Support.Cli.Run("import", "kvm-stage2", dump, "-o", "-", "--pa-offset", "0x123");
        Assert.Equal((1, "mmusim import kvm-stage2: --pa-offset 0x123: expected a 64-bit number, a multiple of 4 KiB\n"), (r.Exit, r.Err));
        string setup = Path.Combine(Kvm, "guest-accesses.trace");
        r = Support.Cli.Run("import", "kvm-stage2", setup, "-o", "-");
        Assert.Equal((2, $"mmusim: {setup}:1:1: expected a range 0xSTART-0xEND (as the kernel prints it: 0x and 16 hex digits)\n"), (r.Exit, r.Err));
        Assert.Equal("", r.Out);
    }
}
