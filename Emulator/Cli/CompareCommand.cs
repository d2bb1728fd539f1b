using System.CommandLine;
using System.Text.Json;
using MmuSim.Analysis;
using MmuSim.Bits;

namespace MmuSim.Cli;

/// <summary>`mmusim compare A.json B.json`: two `replay --json` summaries side by side, with their differences.</summary>
public static class CompareCommand
{
    public static Command Create()
    {
        var a = new Argument<string>("a") { Description = "A summary written by replay --json, or one run of a sweep/merge JSON: FILE#CONFIG or FILE#N (the Nth run, from 1; a one-run file needs neither)." };
        var b = new Argument<string>("b") { Description = "Another summary (the same forms)." };
        var cmd = new Command("compare", "Show two replay summaries side by side: the model keys and the figures that differ, with the difference and the change.")
        {
            a, b,
        };
        cmd.SetAction(pr => Run(pr.GetValue(a)!, pr.GetValue(b)!));
        return cmd;
    }

    private static int Run(string pathA, string pathB)
    {
        var docs = new List<JsonDocument>();
        try
        {
            var summaries = new List<JsonElement>();
            foreach (var p in new[] { pathA, pathB })
            {
                var (file, run) = Split(p);
                var doc = Load(file);
                docs.Add(doc);
                summaries.Add(Summary(doc.RootElement, file, run));
            }
            SummaryComparison.Write(Console.Out, summaries[0], summaries[1], pathA, pathB);
            return 0;
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"mmusim: {e.Message}");
            return 2;
        }
        finally
        {
            foreach (var d in docs)
            {
                d.Dispose();
            }
        }
    }

    /// <summary>
    /// FILE#RUN into the file and the run (a configuration's name or a number from 1); a path that exists as given
    /// is a file whatever it holds. Comparing two runs of one sweep needed them copied into files of their own.
    /// </summary>
    private static (string File, string? Run) Split(string arg)
    {
        int hash = arg.LastIndexOf('#');
        return hash <= 0 || File.Exists(arg) ? (arg, null) : (arg[..hash], arg[(hash + 1)..]);
    }

    private static JsonElement Summary(JsonElement root, string path, string? run)
    {
        if (!root.TryGetProperty("runs", out var runs) || runs.ValueKind != JsonValueKind.Array)
        {
            return run is null ? root : throw new ConfigException(path, null, $"#{run}: a replay summary has no runs to choose from (name the file alone)");
        }
        var list = runs.EnumerateArray().ToList();
        string Names() => string.Join(", ", list.Select((r, i) => $"#{i + 1} {Config(r)}"));
        if (run is null)
        {
            return list.Count == 1 ? list[0].GetProperty("summary")
                : throw new ConfigException(path, null, $"{list.Count} runs: name one as {path}#CONFIG or {path}#N ({Names()})");
        }
        if (int.TryParse(run, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n))
        {
            return n >= 1 && n <= list.Count ? list[n - 1].GetProperty("summary")
                : throw new ConfigException(path, null, $"#{run}: no such run (1 to {list.Count}: {Names()})");
        }
        var named = list.Where(r => Config(r) == run).ToList();
        return named.Count switch
        {
            1 => named[0].GetProperty("summary"),
            0 => throw new ConfigException(path, null, $"#{run}: no run of that configuration ({Names()})"),
            _ => throw new ConfigException(path, null, $"#{run}: {named.Count} runs of that configuration (one per trace): name one by number ({Names()})"),
        };
    }

    private static string Config(JsonElement run) =>
        run.TryGetProperty("config", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "?";

    /// <summary>A JSON file; a bad one is a <see cref="ConfigException"/> naming file, line and column.</summary>
    private static JsonDocument Load(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(path, null, e is FileNotFoundException ? "no such file" : e.Message);
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new ConfigException(new SourcePos(path, (int)(e.LineNumber ?? 0) + 1, (int)(e.BytePositionInLine ?? 0) + 1), "invalid JSON");
        }
        var root = doc.RootElement;
        bool summary = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("accesses", out _);
        bool sweep = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("runs", out var r) && r.ValueKind == JsonValueKind.Array && r.GetArrayLength() >= 1;
        if (!summary && !sweep)
        {
            doc.Dispose();
            throw new ConfigException(path, null, "not a replay summary (replay --json) nor a sweep or merge JSON");
        }
        return doc;
    }
}
