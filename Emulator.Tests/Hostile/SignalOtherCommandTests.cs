using System.Diagnostics;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// A command other than `replay` does not stop in order on a signal, so a signal ends it at once with 128 + the
/// signal's number: taking the signal for every command kept `cell` running on 3,000 overlapping regions after
/// SIGTERM. `faults` reading a standard input that never ends is the long-running command here.
/// </summary>
public sealed class SignalOtherCommandTests
{
    [SkippableTheory]
    [InlineData("INT", 130)]
    [InlineData("TERM", 143)]
    public void ASignalEndsACommandThatDoesNotStopInOrder(string signal, int code)
    {
        Skip.If(OperatingSystem.IsWindows(), "POSIX signals");
        string dll = typeof(MmuSim.Cli.Program).Assembly.Location;
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { dll, "faults", "-" })
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        // `faults` copies standard input before it replays: with the pipe held open it waits for ever.
        p.StandardInput.Write("R 0x1000\n");
        p.StandardInput.Flush();
        Thread.Sleep(TimeSpan.FromSeconds(2)); // the runtime and the command are up (no assertion on time)
        using (var kill = Process.Start("kill", ["-" + signal, p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            kill.WaitForExit();
        }
        if (!p.WaitForExit(TimeSpan.FromMinutes(1)))
        {
            p.Kill();
            Assert.Fail("faults did not end within a minute of the signal");
        }
        Assert.Equal(code, p.ExitCode);
        Assert.DoesNotContain("Unhandled", stderr.Result, StringComparison.Ordinal);
        Assert.Equal("", stdout.Result);
        p.StandardInput.Close();
    }
}
