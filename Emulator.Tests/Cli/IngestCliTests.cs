using System.IO.Compression;
using System.Text;
using MmuSim.Cli;
using MmuSim.Reporting;

using MmuSim.Tests.Support;

namespace MmuSim.Tests.Cli;

/// <summary>`mmusim replay` input options and `mmusim convert`, run in-process with the console captured.</summary>
[Collection("Console")]
public class IngestCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmusim-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Exit, string Out, string Err) Run(params string[] args) => Support.Cli.Run(args);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private const string Trace = "# sample\nreg SCTLR_EL1 0\nel 1\nR 0x1000\nW 0x2000 4\nX 0x3000\n";

    [Fact]
    public void ConvertRoundTripGivesTheSameResults()
    {
        string text = Write("a.trace", Trace);
        string bin = Path.Combine(_dir, "a.mbt");
        string back = Path.Combine(_dir, "b.trace");
        Assert.Equal(0, Run("convert", text, bin).Exit);
        Assert.Equal(0, Run("convert", bin, back).Exit);
        Assert.Equal("reg SCTLR_EL1 0x0\nel 1\nR 0x1000\nW 0x2000 4\nX 0x3000\n", File.ReadAllText(back));
        var r1 = Run("replay", text, "--results", Path.Combine(_dir, "r1.jsonl"));
        var r2 = Run("replay", bin + "", "--results", Path.Combine(_dir, "r2.jsonl"));
        Assert.Equal((0, 0), (r1.Exit, r2.Exit));
        static IEnumerable<string> NoLines(string path) => File.ReadAllLines(path).Select(l => l[l.IndexOf(',')..]);
        Assert.Equal(NoLines(Path.Combine(_dir, "r1.jsonl")), NoLines(Path.Combine(_dir, "r2.jsonl")));
        Assert.Equal(3, File.ReadAllLines(Path.Combine(_dir, "r2.jsonl")).Length);
    }

    [Fact]
    public void BadInputNamesThePlaceExitsNonZeroAndKeepsResults()
    {
        string path = Write("bad.trace", "R 0x1000\nW 0x2000\nR 0xZZ\nR 0x3000\n");
        string results = Path.Combine(_dir, "r.jsonl");
        var (exit, output, err) = Run("replay", path, "--results", results);
        Assert.Equal(2, exit);
        Assert.Contains($"{path}:3:5: bad virtual address '0xZZ'", err);
        Assert.Equal(2, File.ReadAllLines(results).Length);
        Assert.Contains("accesses                      2", output);

        var skipped = Run("replay", path, "--skip-bad-lines", "--results", results);
        Assert.Equal(0, skipped.Exit);
        Assert.Equal(3, File.ReadAllLines(results).Length);
        Assert.Contains("bad lines skipped             1", skipped.Out);
    }

    [Fact]
    public void GzippedLackeyReplaysWithDemandPagingOptions()
    {
        string path = Path.Combine(_dir, "p.lackey.gz");
        using (var z = new GZipStream(File.Create(path), CompressionLevel.Fastest))
        {
            z.Write(Encoding.ASCII.GetBytes("==1== Lackey\nI  00400000,4\n L 7ff000,8\n M 40200000,4\n"));
        }
        var (exit, output, _) = Run("replay", path, "--stages", "1", "--granule", "16k", "--page-size", "2m", "--placement", "random", "--seed", "3", "--quiet");
        Assert.Equal(0, exit);
        Assert.Contains("demand paging      1 stage, 16K granule, random frames (seed 3)", output);
        Assert.Contains("stage 1 mappings 2 x 32 MiB", output); // 0x400000 and 0x7ff000 share a 32 MiB block
        Assert.Contains("accesses                      4", output);
        Assert.Contains("faults                        0", output);
    }

    [Fact]
    public void RegimeEl20BuildsOneStageOfVheHostTables()
    {
        string path = Write("host.lackey", "==1== Lackey\nI  00400000,4\n L 7ff000,8\n S 7ff008,8\n M 40200000,4\n");
        var (exit, output, _) = Run("replay", path, "--regime", "el20", "--quiet");
        Assert.Equal(0, exit);
        Assert.Contains("demand paging      1 stage, 4K granule, sequential frames (seed 1), EL2&0 (VHE host)", output);
        Assert.Contains("stage 1 mappings 3 x 4 KiB", output);
        Assert.Contains("accesses                      5", output);
        Assert.Contains("faults                        0", output);
        var explicitOne = Run("replay", path, "--regime", "EL20", "--stages", "1", "--quiet");
        Assert.Equal(0, explicitOne.Exit);
        Assert.Contains("1 stage, 4K granule, sequential frames (seed 1), EL2&0 (VHE host)", explicitOne.Out);
        var two = Run("replay", path, "--regime", "el20", "--stages", "2");
        Assert.Equal(1, two.Exit);
        Assert.Contains("--regime el20 has one stage", two.Err);
    }

    [Fact]
    public void MemoryCapStopsWithExitThree()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < 3000; i++)
        {
            sb.Append($" L {0x10_0000_0000L + i * 0x1000L:x},8\n");
        }
        string path = Write("many.lackey", sb.ToString());
        var (exit, output, err) = Run("replay", path, "--max-memory", "4m", "--stages", "1");
        Assert.Equal(3, exit);
        Assert.Contains("demand paging: guest RAM (4 MiB) is full", err);
        Assert.Contains("demand paging", output); // the summary of what was done is still printed
    }

    [Theory]
    [InlineData("--format", "elf", "unknown --format 'elf'")]
    [InlineData("--max-memory", "lots", "bad --max-memory 'lots'")]
    [InlineData("--page-size", "3m", "a page size is 4k, 2m, 1g or mixed")]
    [InlineData("--regime", "el2", "bad --regime 'el2' (el10 or el20)")]
    public void BadOptionsAreRefused(string option, string value, string error)
    {
        var (exit, _, err) = Run("replay", Write("x.trace", "R 0x1000\n"), option, value);
        Assert.Equal(1, exit);
        Assert.Contains(error, err);
    }

    [Theory]
    [InlineData("4096", 4096UL)]
    [InlineData("512m", 512UL << 20)]
    [InlineData("4G", 4UL << 30)]
    [InlineData("1tb", 1UL << 40)]
    public void SizesParse(string text, ulong bytes)
    {
        Assert.True(ReplayCommand.TryParseSize(text, out ulong got));
        Assert.Equal(bytes, got);
    }

    [Fact]
    public void ProgressLineShowsBytesRateAndEta()
    {
        string line = ProgressDisplay.Format(50_000_000, 200_000_000, 2_500_000, TimeSpan.FromSeconds(5));
        Assert.Equal("50.0 MB / 200.0 MB (25.0%)  ETA 0:15  10.0 MB/s  2,500,000 records  (0.50 M/s)", line);
        Assert.Equal("1.0 MB  0.5 MB/s  10 records  (0.00 M/s)", ProgressDisplay.Format(1_000_000, null, 10, TimeSpan.FromSeconds(2)));
    }
}
