using MmuSim.Reporting;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace MmuSim.Cli;

/// <summary>
/// The progress display of `mmusim replay` (issue 19: the hand-written '\r' line wrapped and piled up on a narrow
/// terminal): Spectre.Console's live progress, which redraws in place and clears itself at the end, with one column
/// whose text <see cref="ProgressDisplay.Line"/> cuts to the terminal's width at every redraw, so a resize never
/// makes it wrap. Shown only when standard error is an interactive terminal and the run is not --quiet, and only
/// after <see cref="ProgressDisplay.Delay"/>.
/// </summary>
internal static class ReplayProgress
{
    /// <summary>Whether to draw: not --quiet, standard error not redirected, and a console that can redraw in place.</summary>
    public static bool Enabled(bool quiet, bool errorRedirected, IAnsiConsole console) =>
        !quiet && !errorRedirected && console.Profile.Capabilities.Interactive && console.Profile.Capabilities.Ansi;

    /// <summary>The console on standard error when the display is <see cref="Enabled"/> there, else null.</summary>
    public static IAnsiConsole? OnStandardError(bool quiet)
    {
        if (quiet || Console.IsErrorRedirected)
        {
            return null;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return Enabled(quiet, errorRedirected: false, console) ? console : null;
    }

    /// <summary>
    /// Runs <paramref name="work"/>; with <paramref name="console"/> (null: no display), once it has run longer than
    /// the delay, draws <paramref name="probe"/>'s figures until it ends. Exceptions of the work are the caller's,
    /// after the display has been cleared.
    /// </summary>
    public static async Task RunAsync(Func<Task> work, Func<(long Bytes, long? Length, long Records)> probe, IAnsiConsole? console)
    {
        // With a display the work runs on the thread pool, so a replay that never yields still lets it draw.
        var running = console is null ? work() : Task.Run(work);
        if (console is null || await Task.WhenAny(running, Task.Delay(ProgressDisplay.Delay)).ConfigureAwait(false) == running)
        {
            await running.ConfigureAwait(false);
            return;
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var column = new LineColumn(probe, clock);
        var progress = console.Progress()
            .AutoClear(true)
            .AutoRefresh(true)
            .Columns(column);
        progress.RefreshRate = ProgressDisplay.Interval;
        await progress.StartAsync(async ctx =>
            {
                ctx.AddTask("replay", autoStart: true, maxValue: 1);
                await Task.WhenAny(running).ConfigureAwait(false);
            }).ConfigureAwait(false);
        await running.ConfigureAwait(false);
    }

    /// <summary>The one column: the figures of the moment, cut to the width Spectre renders at.</summary>
    internal sealed class LineColumn(Func<(long Bytes, long? Length, long Records)> probe, System.Diagnostics.Stopwatch clock) : ProgressColumn
    {
        protected override bool NoWrap => true;

        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime)
        {
            var (bytes, length, records) = probe();
            return new Text(ProgressDisplay.Line(bytes, length, records, clock.Elapsed, options.ConsoleSize.Width));
        }
    }
}
