using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// SIGINT and SIGTERM end a replay in order: it stops (even while waiting for more standard input), writes the
/// results of every record it ran as complete lines, prints the summary of what ran and exits 130 or 143. The
/// command runs as a process of its own (a signal reaches a process), fed through a pipe the test holds open, so
/// the replay is certainly still running when the signal arrives.
/// </summary>
public sealed partial class SignalTests
{
    [GeneratedRegex(@"^mmusim: interrupted after (\d+) records; writing what ran$")]
    private static partial Regex Interrupted();

    [SkippableTheory]
    [InlineData("INT", 130)]
    [InlineData("TERM", 143)]
    public void ASignalWritesWhatRanAndExitsWithItsCode(string signal, int code)
    {
        Skip.If(OperatingSystem.IsWindows(), "POSIX signals");
        string dll = typeof(MmuSim.Cli.Program).Assembly.Location;
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { dll, "replay", "-", "--results", "-", "--quiet" })
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        // Standard output is read all along (a full pipe would stop the replay); the first line shows the replay is
        // under way. Input is written from another task and the pipe stays open: the replay then waits for more.
        var firstLine = new TaskCompletionSource();
        var stdout = Task.Run(() =>
        {
            var all = new List<string>();
            while (p.StandardOutput.ReadLine() is { } line)
            {
                all.Add(line);
                firstLine.TrySetResult();
            }
            return all;
        });
        var feed = Task.Run(() =>
        {
            for (int i = 0; i < 20_000; i++)
            {
                p.StandardInput.Write($"R 0x{(ulong)i << 12:x}\n");
            }
            p.StandardInput.Flush();
        });
        Assert.True(firstLine.Task.Wait(TimeSpan.FromMinutes(1)), "no result line within a minute");
        feed.Wait(TimeSpan.FromMinutes(1));
        using (var kill = Process.Start("kill", ["-" + signal, p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            kill.WaitForExit();
        }
        if (!p.WaitForExit(TimeSpan.FromMinutes(1)))
        {
            p.Kill();
            Assert.Fail("the replay did not end within a minute of the signal");
        }
        Assert.Equal(code, p.ExitCode);
        var lines = stdout.Result;
        string[] err = stderr.Result.Replace("\r\n", "\n").Split('\n');
        var m = Interrupted().Match(err[0]);
        Assert.True(m.Success, err[0]);
        long records = long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        // Every record that ran has its complete result line, in order; the summary (on stderr, results being on
        // stdout) counts the same records.
        Assert.Equal(records, lines.Count);
        for (int i = 0; i < lines.Count; i++)
        {
            Assert.Equal(i + 1, JsonDocument.Parse(lines[i]).RootElement.GetProperty("line").GetInt64());
        }
        Assert.Matches($@"^lines +{records:N0}$", err[1]);
        p.StandardInput.Close();
    }

    /// <summary>
    /// `sweep` (streamed and recorded) and `mrc` on a pipe held open, so they are still reading when SIGINT comes: they
    /// used to die at once, silently. Now: one line, exit 130; a sweep writes no table and no file (runs cut short at
    /// different points would read as the whole input's); mrc keeps the curves of what it read, its JSON marked with
    /// "error", its CSV (which cannot say it is partial) not written.
    /// </summary>
    [SkippableTheory]
    [InlineData("sweep", "on")]
    [InlineData("sweep", "off")]
    [InlineData("mrc", null)]
    public void SweepAndMrcStopOnSigintWithOneLineAndNoFileLeftLookingComplete(string command, string? stream)
    {
        Skip.If(OperatingSystem.IsWindows(), "POSIX signals");
        string dir = Directory.CreateTempSubdirectory("mmusim-signal-").FullName;
        try
        {
            string json = Path.Combine(dir, "out.json"), csv = Path.Combine(dir, "out.csv");
            string dll = typeof(MmuSim.Cli.Program).Assembly.Location;
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            var args = new List<string> { dll, command, "-", "--json", json, "--csv", csv, "--quiet" };
            if (stream is not null)
            {
                args.AddRange(["--stream", stream]);
            }
            foreach (string a in args)
            {
                psi.ArgumentList.Add(a);
            }
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            for (int i = 0; i < 5_000; i++)
            {
                p.StandardInput.Write($"R 0x{(ulong)i << 12:x}\n");
            }
            p.StandardInput.Flush();
            // The pipe stays open: the command is certainly still waiting for input. Its first read shows it started.
            Thread.Sleep(TimeSpan.FromSeconds(3));
            using (var kill = Process.Start("kill", ["-INT", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                kill.WaitForExit();
            }
            if (!p.WaitForExit(TimeSpan.FromMinutes(1)))
            {
                p.Kill();
                Assert.Fail($"{command} did not end within a minute of SIGINT");
            }
            Assert.Equal(130, p.ExitCode);
            string err = stderr.Result.Replace("\r\n", "\n");
            Assert.False(File.Exists(csv));
            if (command == "sweep")
            {
                Assert.Equal("mmusim: interrupted by SIGINT: the sweep stopped before its runs ended; no table or file written\n", err);
                Assert.Equal("", stdout.Result);
                Assert.False(File.Exists(json));
                Assert.Empty(Directory.GetFiles(dir)); // no temporary file left either
            }
            else
            {
                Assert.Equal($"mmusim: interrupted by SIGINT after 5000 lookups (the curves cover the 5000 lookups before it; {csv} not written)\n", err);
                using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
                Assert.Equal("interrupted by SIGINT after 5000 lookups", doc.RootElement.GetProperty("error").GetString());
                Assert.StartsWith("inputs: -\n", stdout.Result.Replace("\r\n", "\n"));
            }
            p.StandardInput.Close();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
