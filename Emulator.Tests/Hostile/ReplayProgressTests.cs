using System.Text.RegularExpressions;
using MmuSim.Cli;
using MmuSim.Reporting;
using Spectre.Console.Testing;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// The replay's progress display (issue 19: the '\r' line wrapped and piled up on a narrow terminal): its line never
/// reaches the terminal's last column, whatever the width, and it is off unless standard error is an interactive
/// terminal (and not with --quiet).
/// </summary>
public sealed partial class ReplayProgressTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(12)]
    [InlineData(30)]
    [InlineData(59)]
    [InlineData(60)]
    [InlineData(80)]
    [InlineData(250)]
    public void TheLineNeverReachesTheLastColumn(int width)
    {
        foreach (long? length in new long?[] { null, 200_000_000_000 })
        {
            string line = ProgressDisplay.Line(50_000_000_000, length, 2_500_000_000, TimeSpan.FromSeconds(5), width);
            Assert.True(line.Length <= Math.Max(0, width - 1), $"{line.Length} characters at width {width}: {line}");
        }
    }

    [Fact]
    public void AWideTerminalGetsABarAndEveryFigure()
    {
        string line = ProgressDisplay.Line(50_000_000, 200_000_000, 2_500_000, TimeSpan.FromSeconds(5), 120);
        Assert.Equal("[######------------------] 50.0 MB / 200.0 MB (25.0%)  ETA 0:15  10.0 MB/s  2,500,000 records  (0.50 M/s)", line);
    }

    [Fact]
    public void ANarrowTerminalGetsTheFiguresCut()
    {
        Assert.Equal("50.0 MB / 200.0 MB (25.0%)  E…", ProgressDisplay.Line(50_000_000, 200_000_000, 2_500_000, TimeSpan.FromSeconds(5), 31));
        Assert.Equal("", ProgressDisplay.Line(1, 2, 3, TimeSpan.FromSeconds(1), 1));
    }

    [Fact]
    public void ItIsOffUnlessStandardErrorIsAnInteractiveTerminal()
    {
        var terminal = new TestConsole().Interactive().EmitAnsiSequences();
        Assert.True(ReplayProgress.Enabled(quiet: false, errorRedirected: false, terminal));
        Assert.False(ReplayProgress.Enabled(quiet: true, errorRedirected: false, terminal));
        Assert.False(ReplayProgress.Enabled(quiet: false, errorRedirected: true, terminal));
        Assert.False(ReplayProgress.Enabled(quiet: false, errorRedirected: false, new TestConsole()));
    }

    [GeneratedRegex("\u001b\\[[0-9;?]*[A-Za-z]")]
    private static partial Regex AnsiSequence();

    [Fact]
    public async Task SpectreDrawsItWithinTheWidthOfANarrowTerminal()
    {
        // A replay that runs past the display's delay, on a 30-column terminal: every line Spectre draws, cursor
        // movements taken out, fits in 29 columns, and the display is cleared at the end.
        var console = new TestConsole().Interactive().EmitAnsiSequences().Width(30);
        bool done = false;
        await ReplayProgress.RunAsync(async () =>
        {
            await Task.Delay(ProgressDisplay.Delay + TimeSpan.FromMilliseconds(800));
            done = true;
        }, () => (123_456_789, 987_654_321, 42_000_000), console);
        Assert.True(done);
        string[] drawn = AnsiSequence().Replace(console.Output, "\n").Split('\n', '\r').Where(l => l.Length > 0).ToArray();
        Assert.Contains(drawn, l => l.StartsWith("123.5 MB / 987.7 MB (12.5%)", StringComparison.Ordinal));
        Assert.All(drawn, l => Assert.True(l.TrimEnd().Length <= 29, $"'{l}' is {l.TrimEnd().Length} columns"));
    }

    [Fact]
    public async Task WithoutAConsoleTheWorkRunsAlone()
    {
        int runs = 0;
        await ReplayProgress.RunAsync(() => { runs++; return Task.CompletedTask; }, () => (0, null, 0), null);
        Assert.Equal(1, runs);
    }
}
