using System.CommandLine;
using System.Text;
using System.Text.Json;
using MmuSim.Analysis;

namespace MmuSim.Cli;

/// <summary>
/// `mmusim merge DIR`: gathers the summaries the tasks of a `sweep --slurm DIR` job array wrote into the same table,
/// CSV and JSON a local sweep writes (docs/analysis.md).
/// </summary>
public static class MergeCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("dir") { Description = "The directory `mmusim sweep --slurm DIR` wrote." };
        var json = new Option<string?>("--json") { Description = "Write the sweep JSON ({\"tool\":\"mmusim sweep\",\"runs\":[...]}) to this file." };
        var csv = new Option<string?>("--csv") { Description = "Write one row per run, as sweep --csv." };
        var report = new Option<string?>("--report") { Description = "Write an HTML report of every run side by side (as sweep --report) to this file." };
        var plot = new Option<string?>("--plot") { Description = "With --report: also write each chart to this directory as ID.svg and ID.png." };
        var cmd = new Command("merge", "Gather the summaries of a Slurm sweep (sweep --slurm DIR) into one table and report.")
        {
            dir, json, csv, report, plot,
        };
        cmd.SetAction(pr => Run(pr.GetValue(dir)!, pr.GetValue(json), pr.GetValue(csv), pr.GetValue(report), pr.GetValue(plot)));
        return cmd;
    }

    private static int Run(string dir, string? jsonPath, string? csvPath, string? reportPath, string? plotDir)
    {
        string manifest = Path.Combine(dir, SlurmJob.Manifest);
        if (plotDir is not null && reportPath is null)
        {
            Console.Error.WriteLine("mmusim: --plot goes with --report (or use mmusim report --plot on a --json file)");
            return 1;
        }
        if (!File.Exists(manifest))
        {
            Console.Error.WriteLine($"mmusim: {manifest}: no such file (not a directory written by sweep --slurm)");
            return 2;
        }
        var runs = new List<SweepRun>();
        var missing = new List<string>();
        // Each input's digest as the first task that read it whole saw it: a task that saw another has read other
        // bytes under the same name (the file changed while the job ran, or differs between the nodes).
        var digests = new Dictionary<string, (string Digest, int Task)>(StringComparer.Ordinal);
        var changed = new List<string>();
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(manifest));
            foreach (var task in doc.RootElement.GetProperty("tasks").EnumerateArray())
            {
                string summary = Path.Combine(dir, task.GetProperty("summary").GetString()!);
                string config = task.GetProperty("config").GetString()!;
                var traces = task.GetProperty("trace").EnumerateArray().Select(t => t.GetString()!).ToArray();
                if (!File.Exists(summary))
                {
                    missing.Add($"task {task.GetProperty("task").GetInt32()} ({config})");
                    continue;
                }
                byte[] bytes = File.ReadAllBytes(summary);
                try
                {
                    using var s = JsonDocument.Parse(bytes);
                    if (s.RootElement.TryGetProperty("provenance", out var provenance))
                    {
                        int number = task.GetProperty("task").GetInt32();
                        if (provenance.TryGetProperty("inputs", out var inputs) && inputs.ValueKind == JsonValueKind.Array)
                        {
                            foreach (var input in inputs.EnumerateArray())
                            {
                                if (input.TryGetProperty("path", out var path) && input.TryGetProperty("digest", out var digest)
                                    && path.GetString() is { } p && digest.ValueKind == JsonValueKind.String && digest.GetString() is { } d)
                                {
                                    if (!digests.TryGetValue(p, out var seen))
                                    {
                                        digests[p] = (d, number);
                                    }
                                    else if (seen.Digest != d)
                                    {
                                        changed.Add($"{p} was {seen.Digest} for task {seen.Task} and {d} for task {number}");
                                    }
                                }
                            }
                        }
                        // A task's `replay --json` says what ran it; a sweep's runs carry the figures alone, so the
                        // merge gives what the local sweep gives (docs/translation-cost.md, "Provenance").
                        bytes = WithoutProvenance(s.RootElement);
                    }
                }
                catch (JsonException e)
                {
                    Console.Error.WriteLine($"mmusim: {summary}:{(e.LineNumber ?? 0) + 1}:{(e.BytePositionInLine ?? 0) + 1}: invalid JSON (the task was cut short?)");
                    return 2;
                }
                runs.Add(new SweepRun(config, traces, bytes));
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            Console.Error.WriteLine($"mmusim: {manifest}: not a sweep manifest ({e.Message.Split('\n')[0]})");
            return 2;
        }
        using var outputs = AnalysisOutputs.Open([], jsonPath, csvPath, reportPath);
        if (outputs is null)
        {
            return 1;
        }
        var text = outputs.AnyStdout ? Console.Error : Console.Out;
        SweepTable.WriteText(text, runs);
        if (outputs.WriteSweep(runs, [], plotDir) != 0)
        {
            return 1;
        }
        if (changed.Count != 0)
        {
            // The figures are kept above; which tasks read which bytes is for the user to sort out.
            Console.Error.WriteLine($"mmusim: {dir}: the tasks read different bytes under one name (a file changed while the job ran?): {string.Join("; ", changed.Take(4))}{(changed.Count > 4 ? "; ..." : "")}");
        }
        if (missing.Count != 0)
        {
            // The tasks that did write are kept above; the missing ones are named (still running, failed or not run).
            Console.Error.WriteLine($"mmusim: {dir}: {missing.Count} of {missing.Count + runs.Count} tasks wrote no summary: {string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? ", ..." : "")} (see {Path.Combine(dir, "logs")})");
            return 2;
        }
        return changed.Count != 0 ? 2 : 0;
    }

    /// <summary>A summary's JSON without its <c>provenance</c> member, indented as `replay --json` writes it.</summary>
    private static byte[] WithoutProvenance(JsonElement summary)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            foreach (var p in summary.EnumerateObject())
            {
                if (p.Name != "provenance")
                {
                    p.WriteTo(w);
                }
            }
            w.WriteEndObject();
        }
        return ms.ToArray();
    }
}
