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
        var a = new Argument<string>("a") { Description = "A summary written by replay --json (or a one-run sweep/merge JSON)." };
        var b = new Argument<string>("b") { Description = "Another summary." };
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
            foreach (var p in new[] { pathA, pathB })
            {
                docs.Add(Load(p));
            }
            SummaryComparison.Write(Console.Out, Summary(docs[0].RootElement), Summary(docs[1].RootElement), pathA, pathB);
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

    private static JsonElement Summary(JsonElement root) =>
        root.TryGetProperty("runs", out var runs) && runs.ValueKind == JsonValueKind.Array && runs.GetArrayLength() == 1
            ? runs[0].GetProperty("summary")
            : root;

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
        bool oneRun = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("runs", out var r) && r.ValueKind == JsonValueKind.Array && r.GetArrayLength() == 1;
        if (!summary && !oneRun)
        {
            doc.Dispose();
            throw new ConfigException(path, null, "not a replay summary (replay --json) nor a one-run sweep");
        }
        return doc;
    }
}
