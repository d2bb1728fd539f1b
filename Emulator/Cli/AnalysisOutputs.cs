using MmuSim.Bits;
using MmuSim.Core;
using MmuSim.Analysis;

namespace MmuSim.Cli;

/// <summary>
/// The outputs of the analysis commands (`mrc`, `sweep`, `merge`, `compare`), opened together before any work: a
/// path that cannot be written, or that names an input, fails at once (exit 1) and nothing is destroyed; each is
/// put in place when the work has ended (<see cref="OutputFile"/>).
/// </summary>
internal sealed class AnalysisOutputs : IDisposable
{
    private readonly List<OutputFile> _files = new();

    /// <summary>Opens each non-null path in <paramref name="paths"/>; on failure prints `mmusim: PATH: reason` and returns null.</summary>
    public static AnalysisOutputs? Open(IReadOnlyList<string> inputs, params string?[] paths)
    {
        var outputs = new AnalysisOutputs();
        foreach (var p in paths)
        {
            if (p is null)
            {
                outputs._files.Add(null!);
                continue;
            }
            try
            {
                outputs._files.Add(OutputFile.Open(p, inputs));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                outputs.Dispose();
                Console.Error.WriteLine($"mmusim: {Describe(e, p)}");
                return null;
            }
        }
        return outputs;
    }

    /// <summary>`PATH: reason`, worded as every command words an output it cannot write.</summary>
    private static string Describe(Exception e, string path) => PathErrors.Describe(path, e, output: true).Message;

    /// <summary>The i-th output (in the order given to <see cref="Open"/>), or null when its path was null.</summary>
    public OutputFile? this[int i] => _files[i];

    /// <summary>True when some output is standard output: the text table then goes to standard error.</summary>
    public bool AnyStdout => _files.Any(f => f is not null && f.Path == "-");

    /// <summary>
    /// A sweep's (or a merge's) runs into the outputs opened as (--json, --csv, --report): the sweep JSON, one CSV row
    /// per run, and the HTML report built from that same JSON. Returns 0, or 1 when the report cannot be written.
    /// </summary>
    public int WriteSweep(IReadOnlyList<SweepRun> runs, string[] traces, string? plotDir)
    {
        if (this[0] is { } j)
        {
            SweepTable.WriteJson(j.Stream, runs);
            j.Commit();
        }
        if (this[1] is { } c)
        {
            using (var w = new StreamWriter(c.Stream, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true))
            {
                SweepTable.WriteCsv(w, runs);
            }
            c.Commit();
        }
        return this[2] is { } html ? ReportCommand.WriteFromSweep(s => SweepTable.WriteJson(s, runs), traces, html, plotDir) : 0;
    }

    public void Dispose()
    {
        foreach (var f in _files)
        {
            f?.Dispose();
        }
    }

    /// <summary>A model by --preset or --config (neither: the default); <see cref="ConfigException"/> for a bad one.</summary>
    public static ModelConfig Model(string? preset, string? configPath)
    {
        if (preset is not null && configPath is not null)
        {
            throw new ConfigException("use either --config or --preset, not both");
        }
        if (configPath is not null)
        {
            return ModelConfigJson.Load(configPath);
        }
        if (preset is null)
        {
            return ModelConfig.Default;
        }
        return Presets.TryGet(preset, out var c) ? c
            : throw new ConfigException(null, "--preset", $"unknown preset '{PrintableText.Escape(preset)}' (known: {string.Join(", ", Presets.All.Keys)})");
    }
}
