using System.Text;
using System.Text.Json;
using MmuSim.Cli;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Cli;

/// <summary>
/// `mmusim replay` in process (Program.Run with temp files): a malformed trace reports `file:line:col: reason` on
/// stderr, exits non-zero, and the results file still holds every result computed before the bad line.
/// </summary>
[Collection("Console")]
public sealed class ReplayCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-tests-" + Guid.NewGuid().ToString("N"));

    public ReplayCommandTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A 4K stage-1 set-up with one page at VA 0x1000 (the spec's example).</summary>
    private const string Setup = """
        ram  0x40000000 0x100000
        reg  MAIR_EL1  0xff
        reg  TCR_EL1   0x0000000280803510
        reg  TTBR0_EL1 0x40000000
        mem  0x40000000 0x40001003
        mem  0x40001000 0x40002003
        mem  0x40002000 0x40003003
        mem  0x40003008 0x0000000050000403
        reg  SCTLR_EL1 0x1
        """;

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text.Replace("\r\n", "\n"));
        return path;
    }

    private static (int Exit, string Out, string Err) Run(params string[] args) => Support.Cli.Run(args);

    private static JsonElement[] Results(string path) => File.ReadAllLines(path)
        .Where(l => l.Length > 0)
        .Select(l => JsonDocument.Parse(l).RootElement)
        .ToArray();

    [Fact]
    public void MalformedLineReportsFileLineColumnAndKeepsEarlierResults()
    {
        string trace = Write("bad.trace", Setup + """

            R    0x1008
            W    0x2000
            dump 0x40003008
            el   0
            Rx   0x1010
            R    0x1010
            """);
        string results = Path.Combine(_dir, "out.jsonl");
        var (exit, stdout, stderr) = Run("replay", trace, "--results", results);

        Assert.NotEqual(0, exit);
        Assert.Equal($"mmusim: {trace}:14:1: unknown command 'Rx' (expected reg, mem, ram, el, R, W, X, at, dump or tlbi)", stderr.Trim());
        var lines = Results(results);
        Assert.Equal(new long[] { 10, 11, 12 }, lines.Select(l => l.GetProperty("line").GetInt64()).ToArray());
        Assert.Equal("0x50000008", lines[0].GetProperty("pa").GetString());
        Assert.Equal("translation", lines[1].GetProperty("fault").GetProperty("type").GetString());
        Assert.Equal(3, lines[1].GetProperty("fault").GetProperty("level").GetInt32());
        Assert.Equal("0x50000403", lines[2].GetProperty("value").GetString());
        Assert.Contains("accesses", stdout); // the summary is still printed
    }

    [Theory]
    [InlineData("R 0x10zz", 11, 7, "bad virtual address '0x10zz': 'z' is not a hexadecimal digit")]
    [InlineData("reg FOO_EL1 1", 11, 5, "unknown register 'FOO_EL1'")]
    [InlineData("mem 0x40003004 1", 11, 5, "mem address 0x40003004 is not 8-byte aligned")]
    [InlineData("X 0x1000 4", 11, 10, "unexpected extra operand")]
    [InlineData("at", 11, 3, "missing AT operation")]
    public void EveryKindOfMalformedLineIsAnError(string bad, int line, int column, string reason)
    {
        string trace = Write("t.trace", Setup + "\nR 0x1008\n" + bad + "\nR 0x1008\n");
        string results = Path.Combine(_dir, "r.jsonl");
        var (exit, _, stderr) = Run("replay", trace, "--results", results);
        Assert.Equal(2, exit);
        Assert.Equal($"mmusim: {trace}:{line}:{column}: {reason}", stderr.Trim());
        Assert.Single(Results(results));
    }

    [Fact]
    public void ErrorInTheSecondFileNamesItAndKeepsTheFirstFilesResults()
    {
        string first = Write("a.trace", Setup + "\nR 0x1008\nR 0x1010\n");
        string second = Write("b.trace", "# second\nW 0x1000\ndump 0x40003001\n");
        string results = Path.Combine(_dir, "r.jsonl");
        var (exit, _, stderr) = Run("replay", first, second, "--results", results);
        Assert.Equal(2, exit);
        Assert.Equal($"mmusim: {second}:3:6: dump address 0x40003001 is not 8-byte aligned", stderr.Trim());
        var lines = Results(results);
        Assert.Equal(new long[] { 10, 11, 2 }, lines.Select(l => l.GetProperty("line").GetInt64()).ToArray());
    }

    [Fact]
    public void MissingFileIsAnError()
    {
        var (exit, _, stderr) = Run("replay", Path.Combine(_dir, "nope.trace"));
        Assert.Equal(2, exit);
        Assert.Contains("nope.trace", stderr);
    }

    [Fact]
    public void GoodTraceExitsZeroWithEveryResult()
    {
        string trace = Write("ok.trace", Setup + "\nR 0x1008\nat S1E1W 0x1000\nel 0\nR 0x1000\ndump 0x40003008\n");
        string results = Path.Combine(_dir, "ok.jsonl");
        var (exit, stdout, stderr) = Run("replay", trace, "--results", results);
        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        var lines = Results(results);
        Assert.Equal(4, lines.Length);
        Assert.Equal("0xff00000050000a00", lines[1].GetProperty("par").GetString()); // ATTR 0xff, SH 00, NS, RES1
        Assert.Equal("0x1000", lines[2].GetProperty("fault").GetProperty("far").GetString());
        Assert.Matches(@"faults\s+1", stdout);
    }

    [Fact]
    public void StopOnFaultStopsAfterTheFirstFault()
    {
        string trace = Write("s.trace", Setup + "\nR 0x1008\nW 0x9000\nR 0x1008\n");
        string results = Path.Combine(_dir, "s.jsonl");
        var (exit, stdout, _) = Run("replay", trace, "--results", results, "--stop-on-fault");
        Assert.Equal(0, exit);
        Assert.Equal(new long[] { 10, 11 }, Results(results).Select(l => l.GetProperty("line").GetInt64()).ToArray());
        Assert.Contains("stopped at the first fault", stdout);
    }

    [Fact]
    public async Task ReplayerThrowsWithPositionAfterDeliveringEarlierOutcomes()
    {
        var collector = new Collector();
        var replayer = new Replayer(new SimulatedCore(), collector);
        var bytes = Encoding.ASCII.GetBytes(Setup + "\nR 0x1008\r\nW 0x1008 0x41\n");
        var e = await Assert.ThrowsAsync<TraceFormatException>(async () => await replayer.ReplayAsync(new MemoryStream(bytes), "mem.trace"));
        Assert.Equal((11L, 10), (e.Line, e.Column));
        Assert.Equal("access size 65 is not between 1 and 64 bytes", e.Reason);
        Assert.Single(collector.Outcomes);
        Assert.Equal(0x5000_0008UL, collector.Outcomes[0].Pa);
    }
}
