using System.Diagnostics;
using System.Text;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// An output whose reader goes away ends the run (issue 19: `mmusim replay … --results /dev/stdout | head -1` and
/// `convert BIG - | head` ran to the end, or hung): the next write fails with EPIPE, the run stops quietly with exit
/// 141 (128 + SIGPIPE, what a shell reports), and a replay still prints the summary of what ran. Each command runs as
/// a process of its own whose standard output the test closes after the first line.
/// </summary>
public sealed class ClosedPipeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmusim-pipe").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A trace far bigger than a pipe's buffer once replayed (about 30 MB of results).</summary>
    private string BigTrace()
    {
        string path = Path.Combine(_dir, "big.trace");
        var sb = new StringBuilder("reg SCTLR_EL1 0\nel 1\n");
        for (int i = 0; i < 300_000; i++)
        {
            sb.Append("R 0x").Append(((ulong)i << 12).ToString("x", System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
        }
        File.WriteAllText(path, sb.ToString());
        return path;
    }

    private static (int Exit, string FirstLine, string Err) RunAndCloseAfterFirstLine(params string[] args)
    {
        string dll = typeof(MmuSim.Cli.Program).Assembly.Location;
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(dll);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var first = new byte[16];
        int n = p.StandardOutput.BaseStream.ReadAtLeast(first, 1, throwOnEndOfStream: false);
        p.StandardOutput.Close(); // `head` has what it wanted and exits
        if (!p.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"mmusim {string.Join(' ', args)} did not end within two minutes of its reader leaving");
        }
        return (p.ExitCode, Encoding.ASCII.GetString(first, 0, n), stderr.Result.Replace("\r\n", "\n"));
    }

    [SkippableTheory]
    [InlineData("-")]
    [InlineData("/dev/stdout")]
    public void AReplayWhoseResultsReaderLeavesEndsWith141AndItsSummary(string results)
    {
        Skip.If(OperatingSystem.IsWindows(), "POSIX pipes");
        var (exit, first, err) = RunAndCloseAfterFirstLine("replay", BigTrace(), "--results", results, "--quiet");
        Assert.Equal(141, exit);
        Assert.StartsWith("{", first, StringComparison.Ordinal);
        // Only the summary of what ran (results on standard output send it to standard error for "-"), no message.
        if (results == "-")
        {
            Assert.StartsWith("lines ", err, StringComparison.Ordinal);
        }
        Assert.DoesNotContain("mmusim:", err, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled", err, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void AConversionWhoseReaderLeavesEndsWith141Quietly()
    {
        Skip.If(OperatingSystem.IsWindows(), "POSIX pipes");
        var (exit, first, err) = RunAndCloseAfterFirstLine("convert", BigTrace(), "-", "--to", "text");
        Assert.Equal(141, exit);
        Assert.StartsWith("reg ", first, StringComparison.Ordinal);
        Assert.Equal("", err);
    }
}
