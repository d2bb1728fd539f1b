using MmuSim.Tests.Support;

namespace MmuSim.Tests.Cli;

/// <summary>
/// Outputs of `replay` (`--results`, `--json`) never destroy data: an output that is an input is refused before
/// anything is written, an output that cannot be written fails before the replay with one line naming it, the old
/// file stays whole until the new one is complete, `-` is standard output and a FIFO is written in place.
/// </summary>
[Collection("Console")]
public sealed class OutputFileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-out-" + Guid.NewGuid().ToString("N"));

    public OutputFileTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Trace()
    {
        string path = Path.Combine(_dir, "t.trace");
        File.Copy(Path.Combine(TestPaths.Traces, "sample", "example.trace"), path);
        return path;
    }

    [Fact]
    public void AResultsPathThatIsTheInputIsRefusedAndTheInputKept()
    {
        string trace = Trace();
        byte[] before = File.ReadAllBytes(trace);
        var (exit, stdout, stderr) = Support.Cli.Run("replay", trace, "--results", trace, "--quiet");
        Assert.Equal(1, exit);
        Assert.Equal($"mmusim: {trace}: is also an input; refusing to overwrite it\n", stderr.Replace("\r\n", "\n"));
        Assert.Equal("", stdout);
        Assert.Equal(before, File.ReadAllBytes(trace));
    }

    [Fact]
    public void AJsonPathThatIsTheInputThroughALinkIsRefused()
    {
        string trace = Trace();
        byte[] before = File.ReadAllBytes(trace);
        string link = Path.Combine(_dir, "link.json");
        File.CreateSymbolicLink(link, trace);
        var (exit, _, stderr) = Support.Cli.Run("replay", trace, "--json", link, "--quiet");
        Assert.Equal(1, exit);
        Assert.Equal($"mmusim: {link}: is also an input; refusing to overwrite it\n", stderr.Replace("\r\n", "\n"));
        Assert.Equal(before, File.ReadAllBytes(trace));
    }

    [Fact]
    public void AnOutputInAMissingFolderFailsBeforeTheReplayWithOneLine()
    {
        string trace = Trace();
        string results = Path.Combine(_dir, "no-such-dir", "r.jsonl");
        var (exit, stdout, stderr) = Support.Cli.Run("replay", trace, "--results", results, "--quiet");
        Assert.Equal(1, exit);
        Assert.Equal($"mmusim: {results}: no such file or directory\n", stderr.Replace("\r\n", "\n"));
        Assert.Equal("", stdout); // no summary: nothing ran
    }

    [Fact]
    public void AnOutputThatIsAFolderFailsWithOneLine()
    {
        string trace = Trace();
        var (exit, _, stderr) = Support.Cli.Run("replay", trace, "--json", _dir, "--quiet");
        Assert.Equal(1, exit);
        Assert.Equal($"mmusim: {_dir}: is a directory\n", stderr.Replace("\r\n", "\n"));
    }

    [Fact]
    public void TheOldResultsStayWholeUntilTheNewOnesAreCompleteAndNoTemporaryFileIsLeft()
    {
        string trace = Trace();
        string results = Path.Combine(_dir, "r.jsonl");
        File.WriteAllText(results, "old\n");
        var (exit, _, _) = Support.Cli.Run("replay", trace, "--results", results, "--quiet");
        Assert.Equal(0, exit);
        var lines = File.ReadAllLines(results);
        Assert.Equal(7, lines.Length);
        Assert.All(lines, l => Assert.StartsWith("{\"line\":", l));
        Assert.Equal(["r.jsonl", "t.trace"], Directory.GetFiles(_dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void AResultsLinkIsWrittenThroughToItsTargetAndStaysALink()
    {
        string trace = Trace();
        string target = Path.Combine(_dir, "real.jsonl");
        File.WriteAllText(target, "old\n");
        string link = Path.Combine(_dir, "link.jsonl");
        File.CreateSymbolicLink(link, target);
        var (exit, _, _) = Support.Cli.Run("replay", trace, "--results", link, "--quiet");
        Assert.Equal(0, exit);
        Assert.NotNull(new FileInfo(link).LinkTarget);
        Assert.Equal(7, File.ReadAllLines(target).Length);
    }

    [Fact]
    public void JsonDashIsStandardOutputNotAFileNamedDash()
    {
        string trace = Trace();
        var (exit, stdout, _) = Support.Cli.Run("replay", trace, "--json", "-", "--quiet");
        Assert.Equal(0, exit);
        Assert.Contains("\"schema\": \"mmusim.summary/1\"", stdout);
        Assert.False(File.Exists("-"));
    }

    [Fact]
    public async Task AFifoIsWrittenInPlace()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        string trace = Trace();
        string fifo = Path.Combine(_dir, "results.fifo");
        using (var mk = System.Diagnostics.Process.Start("mkfifo", fifo))
        {
            mk.WaitForExit();
            Assert.Equal(0, mk.ExitCode);
        }
        // The reader runs while the replay writes: opened read-write by the replay, the FIFO would never see EOF.
        var reader = Task.Run(() => File.ReadAllLines(fifo));
        var (exit, _, _) = Support.Cli.Run("replay", trace, "--results", fifo, "--quiet");
        Assert.Equal(0, exit);
        string[] lines = await reader.WaitAsync(TimeSpan.FromSeconds(30)); // a TimeoutException if it never saw the end
        Assert.Equal(7, lines.Length);
        Assert.True(File.Exists(fifo));
    }
}

/// <summary>Option values at the edges: refused with one line and the documented exit code, never wrapped or thrown.</summary>
[Collection("Console")]
public sealed class OptionEdgeTests
{
    [Fact]
    public void AMemoryCapOf2To63BytesIsRefusedNotWrappedNegative()
    {
        string trace = Path.Combine(TestPaths.Traces, "sample", "example.trace");
        var (exit, stdout, stderr) = Support.Cli.Run("replay", trace, "--max-memory", "9223372036854775808b", "--quiet");
        Assert.Equal(1, exit);
        Assert.Equal("", stdout);
        Assert.Equal("mmusim: bad --max-memory '9223372036854775808b' (a size from 4m to 8388607t, e.g. 512m or 4g)\n", stderr.Replace("\r\n", "\n"));
        Assert.Equal(0, Support.Cli.Run("replay", trace, "--max-memory", "8388607t", "--quiet").Exit);
    }

    [Theory]
    [InlineData("--reslts", "unknown option '--reslts' (did you mean --results?); see mmusim replay --help")]
    [InlineData("--stop-on-falt", "unknown option '--stop-on-falt' (did you mean --stop-on-fault?); see mmusim replay --help")]
    [InlineData("--frobnicate", "unknown option '--frobnicate'; see mmusim replay --help")]
    public void AMistypedOptionIsAnErrorWithASuggestionNotAFileName(string word, string message)
    {
        string trace = Path.Combine(TestPaths.Traces, "sample", "example.trace");
        var (exit, stdout, stderr) = Support.Cli.Run("replay", trace, word, "x.jsonl");
        Assert.Equal(1, exit);
        Assert.Equal("", stdout);
        Assert.Equal($"mmusim: {message}\n", stderr.Replace("\r\n", "\n"));
    }

    [Fact]
    public void AfterADoubleDashAWordIsAFileNameEvenIfItLooksLikeAnOption()
    {
        var (exit, _, stderr) = Support.Cli.Run("replay", "--quiet", "--", "--no-such-trace");
        Assert.Equal(2, exit); // read as a trace, which does not exist
        Assert.Contains("--no-such-trace", stderr);
        Assert.DoesNotContain("unknown option", stderr);
    }

    [Fact]
    public void APoolTooSmallForTheTablesIsOneLineAndNothingWritten()
    {
        string output = Path.Combine(Path.GetTempPath(), $"pool-{Guid.NewGuid():n}.trace");
        string cells = Path.Combine(TestPaths.Traces, "cells");
        var (exit, stdout, stderr) = Support.Cli.Run("cell", Path.Combine(cells, "qemu-virt.json"), Path.Combine(cells, "linux-demo.json"),
            "-o", output, "--pool", "0x1000:0x1000");
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Equal("mmusim cell: frame pool 0x1000+0x1000 is exhausted (4096 bytes used, 0x10 more needed): give a larger --pool; nothing written\n",
            stderr.Replace("\r\n", "\n"));
        Assert.False(File.Exists(output));
    }
}

/// <summary>Cycle sums are 64-bit: a long path of slow TLB levels, each within the schema, does not wrap negative.</summary>
public sealed class CycleOverflowTests
{
    [Fact]
    public void ALookupPathCostingMoreThan2To31CyclesIsCountedExactly()
    {
        const int levels = 2200;
        const long latency = 1_000_000;
        var tlbs = string.Join(",\n", Enumerable.Range(0, levels).Select(i =>
            $$"""{ "name": "T{{i}}", "serves": "unified", "entries": 1, "ways": 1, "latency": {{latency}}, "policy": "lru" }"""));
        var config = Machine.Config($$"""{ "name": "deep", "tlbs": [ {{tlbs}} ], "walkCaches": [], "ipaCache": null, "walkerCaches": [], "memoryLatency": 100, "coalesceContiguous": false }""");
        var m = new Machine(config);
        m.MapPage(0x1000, 0x4200_0000);
        var miss = m.R(0x1000);
        Assert.False(miss.IsFault);
        // Every level looked up and missed, then a one-stage walk of four reads from memory.
        Assert.Equal(levels * latency + 4 * 100, miss.Cycles);
        Assert.Equal(levels * latency + 4 * 100, m.Core.Stats.TranslationCycles);
    }
}
