using System.CommandLine;
using System.Text;
using MmuSim.Bits;
using MmuSim.Reporting;

namespace MmuSim.Cli;

/// <summary>
/// `mmusim report`: one self-contained HTML report (and with --plot, the same charts as SVG and PNG files) from
/// `replay --json` summaries, sweep or merge files and mrc files; also what `replay --report` writes.
/// </summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var inputs = new Argument<string[]>("input") { Description = "JSON files: `replay --json` summaries, `mmusim sweep`/`merge` files, `mmusim mrc` files (kind from the \"tool\" field or the summary's schema).", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--output", "-o") { Description = "The HTML file to write ('-' for standard output).", Required = true };
        var plot = new Option<string?>("--plot") { Description = "Also write each chart to this directory as ID.svg and ID.png." };
        var cmd = new Command("report", "Write an HTML report (tables and charts, one self-contained file) from JSON summaries, sweeps and miss-ratio curves.")
        {
            inputs, output, plot,
        };
        cmd.SetAction(pr => Run(pr.GetValue(inputs)!, pr.GetValue(output)!, pr.GetValue(plot)));
        return cmd;
    }

    private static int Run(string[] paths, string output, string? plotDir)
    {
        var loaded = new ReportInputs();
        string reading = "";
        try
        {
            foreach (string p in paths)
            {
                reading = p;
                loaded.Load(p);
            }
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"mmusim: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // An input that cannot be read: `PATH: reason`, worded as every command words it.
            Console.Error.WriteLine($"mmusim: {PathErrors.Describe(reading, e).Message}");
            return 2;
        }
        return Write(loaded, output, plotDir, paths);
    }

    /// <summary>
    /// `replay --report FILE` (and --plot DIR): the report of the replay's `--json` summary, named after its traces,
    /// into <paramref name="html"/> (opened before the replay, so a bad path fails before any work).
    /// Returns the exit code (0, or 1 when an output cannot be written).
    /// </summary>
    public static int WriteFromReplay(Action<Stream> writeSummary, string[] traces, OutputFile html, string? plotDir)
    {
        var json = new MemoryStream();
        writeSummary(json);
        var loaded = new ReportInputs();
        string name = string.Join(" ", traces.Select(t => t == "-" ? "stdin" : Path.GetFileName(t)));
        loaded.LoadSummary(name, string.Join(" ", traces), json.ToArray());
        return Write(loaded, html, plotDir, traces);
    }

    /// <summary>
    /// `sweep --report FILE` (and --plot DIR): the report of the sweep's runs side by side, read from the JSON that
    /// `sweep --json` writes (one path from figures to report), into <paramref name="html"/> (opened before the runs).
    /// </summary>
    public static int WriteFromSweep(Action<Stream> writeSweepJson, string[] traces, OutputFile html, string? plotDir)
    {
        var json = new MemoryStream();
        writeSweepJson(json);
        var loaded = new ReportInputs();
        loaded.Load(traces.Length == 0 ? "sweep" : "sweep of " + string.Join(" ", traces.Select(t => t == "-" ? "stdin" : Path.GetFileName(t))), json.ToArray());
        return Write(loaded, html, plotDir, traces);
    }

    private static int Write(ReportInputs loaded, string output, string? plotDir, string[] inputs)
    {
        OutputFile html;
        try
        {
            html = OutputFile.Open(output, inputs);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"mmusim: {OutputError(e, output)}");
            return 1;
        }
        using (html)
        {
            return Write(loaded, html, plotDir, inputs);
        }
    }

    private static int Write(ReportInputs loaded, OutputFile html, string? plotDir, string[] inputs)
    {
        string? writing = html.Path;
        try
        {
            var charts = ReportCharts.Build(loaded.Runs, loaded.Curves);
            HtmlReport.Write(loaded.Runs, loaded.Curves, charts, html.Stream);
            html.Commit();
            if (plotDir is not null)
            {
                Directory.CreateDirectory(plotDir);
                foreach (var c in charts)
                {
                    writing = Path.Combine(plotDir, c.Id + ".svg");
                    WriteFile(writing, Encoding.UTF8.GetBytes(c.Svg()), inputs);
                    writing = Path.Combine(plotDir, c.Id + ".png");
                    WriteFile(writing, c.Png(), inputs);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"mmusim: {OutputError(e, writing)}");
            return 1;
        }
        catch (Exception e) when (NativeLibraryMissing(e) is { } missing)
        {
            // SkiaSharp loads its native library at the first chart; a native executable copied without the .so
            // files published beside it gets here. Nothing is written (the HTML stays a temporary file).
            Console.Error.WriteLine($"mmusim: cannot draw the charts: {missing} was not found beside mmusim or on the library path (keep the .so files that `dotnet publish` puts beside the executable)");
            return 1;
        }
        return 0;
    }

    /// <summary>The native library a chart needed and could not load (e.g. "libSkiaSharp"), or null for any other error.</summary>
    private static string? NativeLibraryMissing(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is DllNotFoundException dll)
            {
                var m = System.Text.RegularExpressions.Regex.Match(dll.Message, "library '([^']+)'");
                return m.Success ? m.Groups[1].Value + ".so" : "a native library";
            }
            if (x is not TypeInitializationException)
            {
                return null;
            }
        }
        return null;
    }

    private static void WriteFile(string path, byte[] bytes, string[] inputs)
    {
        using var f = OutputFile.Open(path, inputs);
        f.Stream.Write(bytes);
        f.Stream.Flush();
        f.Commit();
    }

    /// <summary>An output that cannot be written: `PATH: reason`, worded as every command words it.</summary>
    private static string OutputError(Exception e, string? path) => PathErrors.Describe(path ?? "", e, output: true).Message;
}
