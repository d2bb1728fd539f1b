using System.IO.Compression;
using System.Text;

namespace MmuSim.Tests.Cli;

/// <summary>
/// Compressed files on the command line: `--results FILE.gz` and `convert IN OUT.gz` write gzip; other compressed
/// names are refused before anything runs; a damaged compressed trace is exit 2 with one line naming the byte, after
/// the results and summary of what was decompressed before the damage.
/// </summary>
[Collection("Console")]
public class CompressedCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmusim-gz-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Exit, string Out, string Err) Run(params string[] args) => Support.Cli.Run(args);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static string Text(int first, int count) => string.Concat(Enumerable.Range(first, count).Select(i => $"R 0x{(ulong)i * 4096:x}\n"));

    private string WriteGzip(string name, params string[] members)
    {
        string path = PathOf(name);
        using var file = File.Create(path);
        foreach (string m in members)
        {
            using var z = new GZipStream(file, CompressionLevel.Fastest, leaveOpen: true);
            z.Write(Encoding.ASCII.GetBytes(m));
        }
        return path;
    }

    private static string Gunzip(string path)
    {
        using var z = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        return new StreamReader(z).ReadToEnd();
    }

    [Fact]
    public void ResultsNamedGzAreGzipAndMatchThePlainResults()
    {
        string trace = WriteGzip("t.trace.gz", "reg SCTLR_EL1 0\nel 1\n", Text(0, 500), Text(500, 500));
        var plain = Run("replay", trace, "--results", PathOf("r.jsonl"), "--quiet");
        var gz = Run("replay", trace, "--results", PathOf("r.jsonl.gz"), "--quiet");
        Assert.Equal((0, 0), (plain.Exit, gz.Exit));
        Assert.Equal(plain.Out, gz.Out);
        byte[] head = File.ReadAllBytes(PathOf("r.jsonl.gz"))[..2];
        Assert.Equal(new byte[] { 0x1F, 0x8B }, head);
        Assert.Equal(File.ReadAllText(PathOf("r.jsonl")), Gunzip(PathOf("r.jsonl.gz")));
        Assert.Equal(1000, File.ReadAllLines(PathOf("r.jsonl")).Length); // every member of the input replayed
        Assert.Empty(Directory.GetFiles(_dir, ".*.tmp")); // committed: renamed into place
    }

    [Theory]
    [InlineData("r.jsonl.xz", "xz", "xz")]
    [InlineData("r.jsonl.zst", "zst", "zstd")]
    public void OtherCompressedOutputsAreRefusedBeforeTheRun(string name, string ext, string tool)
    {
        string trace = WriteGzip("t.trace.gz", Text(0, 3));
        var (exit, output, err) = Run("replay", trace, "--results", PathOf(name));
        Assert.Equal(1, exit);
        Assert.Equal("", output);
        Assert.Equal($"mmusim: --results {PathOf(name)}: mmusim writes gzip (.gz) but not .{ext}; name the output .gz, or write it to standard output and compress that: `--results - | {tool} > {name}`\n",
            err.ReplaceLineEndings("\n"));
        Assert.False(File.Exists(PathOf(name)));
        var convert = Run("convert", trace, PathOf("c.trace." + ext));
        Assert.Equal(1, convert.Exit);
        Assert.Equal($"mmusim: convert IN {PathOf("c.trace." + ext)}: mmusim writes gzip (.gz) but not .{ext}; name the output .gz, or write it to standard output and compress that: `convert IN - | {tool} > c.trace.{ext}`\n",
            convert.Err.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void ConvertWritesGzipThatReplaysLikeItsInput()
    {
        string trace = WriteGzip("t.trace.gz", "reg SCTLR_EL1 0\nel 1\n", Text(0, 200), Text(200, 100));
        Assert.Equal(0, Run("convert", trace, PathOf("b.mbt.gz")).Exit);
        Assert.Equal(0, Run("convert", PathOf("b.mbt.gz"), PathOf("back.trace.gz")).Exit);
        Assert.Equal("reg SCTLR_EL1 0x0\nel 1\n" + Text(0, 300), Gunzip(PathOf("back.trace.gz")));
    }

    [Fact]
    public void ADamagedGzipIsExit2AfterTheResultsOfWhatCameBefore()
    {
        string trace = WriteGzip("t.trace.gz", "reg SCTLR_EL1 0\nel 1\n" + Text(0, 700), Text(700, 300));
        byte[] bytes = File.ReadAllBytes(trace);
        bytes[^8] ^= 0xFF; // the second member's CRC32
        File.WriteAllBytes(trace, bytes);
        var (exit, output, err) = Run("replay", trace, "--results", PathOf("r.jsonl.gz"), "--quiet");
        Assert.Equal(2, exit);
        int second = bytes.Length - (int)new FileInfo(WriteGzip("m2.gz", Text(700, 300))).Length;
        Assert.Equal($"mmusim: {trace}:byte {bytes.Length - 8}: gzip CRC32 mismatch: the gzip member at byte {second} decompresses to data whose CRC32 differs from its trailer's (corrupt data or trailer)\n",
            err.ReplaceLineEndings("\n"));
        // Every record arrived before the trailer was checked: all of them were replayed, written and summarised.
        Assert.Equal(1000, Gunzip(PathOf("r.jsonl.gz")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Matches(@"(?m)^accesses +1,000\b", output.ReplaceLineEndings("\n"));
    }
}
