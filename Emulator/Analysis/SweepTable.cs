using System.Globalization;
using System.Text.Json;

namespace MmuSim.Analysis;

/// <summary>
/// The outputs of `sweep` and `merge`: JSON ({"tool":"mmusim sweep","runs":[{config, trace, summary}]}, each summary
/// exactly what `replay --json` writes), CSV (one row per run) and a text table. Figures come from the summaries
/// themselves, so a merged table and a local one are made the same way.
/// </summary>
public static class SweepTable
{
    public const string Tool = "mmusim sweep";

    /// <summary>The CSV's columns after `config` and `trace`: the --json summary's names.</summary>
    public static readonly string[] Figures =
        ["accesses", "faults", "tlbHits", "walks", "descriptorReads", "readsPerWalk1D", "readsPerWalk2D", "translationCycles", "cyclesPerAccess"];

    public static void WriteJson(Stream stream, IReadOnlyList<SweepRun> runs)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("tool", Tool);
        w.WriteStartArray("runs");
        foreach (var r in runs)
        {
            w.WriteStartObject();
            w.WriteString("config", r.Config);
            w.WriteStartArray("trace");
            foreach (var t in r.Traces)
            {
                w.WriteStringValue(t);
            }
            w.WriteEndArray();
            if (r.Error is not null)
            {
                w.WriteString("error", r.Error);
            }
            w.WritePropertyName("summary");
            using (var doc = JsonDocument.Parse(r.Summary))
            {
                doc.RootElement.WriteTo(w);
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>Reads a sweep or merge JSON back (what `compare` and the report read).</summary>
    public static IReadOnlyList<SweepRun> ReadJson(ReadOnlySpan<byte> utf8, string source)
    {
        using var doc = JsonDocument.Parse(utf8.ToArray());
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("runs", out var runs) || runs.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException($"{source}: not a sweep (no \"runs\" array)");
        }
        var list = new List<SweepRun>();
        foreach (var r in runs.EnumerateArray())
        {
            string config = r.TryGetProperty("config", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : $"run {list.Count + 1}";
            var traces = r.TryGetProperty("trace", out var t) && t.ValueKind == JsonValueKind.Array
                ? t.EnumerateArray().Select(x => x.GetString() ?? "").ToArray() : [];
            if (!r.TryGetProperty("summary", out var s) || s.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException($"{source}: run \"{config}\" has no summary object");
            }
            list.Add(new SweepRun(config, traces, JsonSerializerBytes(s), r.TryGetProperty("error", out var e) ? e.GetString() : null));
        }
        return list;
    }

    private static byte[] JsonSerializerBytes(JsonElement e)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            e.WriteTo(w);
        }
        return ms.ToArray();
    }

    /// <summary>A figure of a summary as text: an integer, a ratio as written, or empty for null/absent.</summary>
    public static string Figure(JsonElement summary, string name) =>
        summary.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetRawText() : "";

    public const string CsvHeaderStart = "config,trace";

    public static void WriteCsv(TextWriter w, IReadOnlyList<SweepRun> runs)
    {
        w.Write(CsvHeaderStart + "," + string.Join(",", Figures) + "\n");
        foreach (var r in runs)
        {
            using var doc = JsonDocument.Parse(r.Summary);
            w.Write(Csv.Field(r.Config) + "," + Csv.Field(string.Join(" ", r.Traces)));
            foreach (var f in Figures)
            {
                w.Write("," + Figure(doc.RootElement, f));
            }
            w.Write("\n");
        }
    }

    /// <summary>The text table: one row per run, the figures people compare first.</summary>
    public static void WriteText(TextWriter w, IReadOnlyList<SweepRun> runs)
    {
        // Runs timed on the timeline (`--timing timeline`) add its total: the cycles the overlapped walks took, where
        // `cycles` adds every access's up (the two models of docs/translation-cost.md).
        bool timed = runs.Any(r => HasTimeline(r.Summary));
        string[] head = ["config", "accesses", "TLB hit %", "walks", "reads", "reads/walk", "cycles", "cycles/access", .. timed ? (string[])["timeline cycles"] : []];
        var rows = new List<string[]>();
        bool severalGroups = runs.Select(r => string.Join(" ", r.Traces)).Distinct().Count() > 1;
        foreach (var r in runs)
        {
            using var doc = JsonDocument.Parse(r.Summary);
            var s = doc.RootElement;
            long accesses = Long(s, "accesses"), hits = Long(s, "tlbHits"), walks = Long(s, "walks"), reads = Long(s, "descriptorReads");
            string name = severalGroups ? $"{r.Config} ({string.Join(" ", r.Traces.Select(Path.GetFileName))})" : r.Config;
            rows.Add([
                name + (r.Error is null ? "" : " (stopped)"),
                accesses.ToString(CultureInfo.InvariantCulture),
                // Hits are per translation (a page-crossing access is translated twice): the rate is against
                // translations, tlbHits + walks, which summaries before "translations" existed also give.
                hits + walks == 0 ? "-" : (100.0 * hits / (hits + walks)).ToString("0.00", CultureInfo.InvariantCulture),
                walks.ToString(CultureInfo.InvariantCulture),
                reads.ToString(CultureInfo.InvariantCulture),
                walks == 0 ? "-" : ((double)reads / walks).ToString("0.00", CultureInfo.InvariantCulture),
                Long(s, "translationCycles").ToString(CultureInfo.InvariantCulture),
                accesses == 0 ? "-" : ((double)Long(s, "translationCycles") / accesses).ToString("0.000", CultureInfo.InvariantCulture),
                .. timed
                    ? (string[])[s.TryGetProperty("timeline", out var t) && t.ValueKind == JsonValueKind.Object ? Long(t, "totalCycles").ToString(CultureInfo.InvariantCulture) : "-"]
                    : [],
            ]);
        }
        int[] width = head.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        w.WriteLine(string.Join("  ", head.Select((h, i) => i == 0 ? h.PadRight(width[i]) : h.PadLeft(width[i]))).TrimEnd());
        foreach (var r in rows)
        {
            w.WriteLine(string.Join("  ", r.Select((c, i) => i == 0 ? c.PadRight(width[i]) : c.PadLeft(width[i]))).TrimEnd());
        }
    }

    private static bool HasTimeline(byte[] summary)
    {
        using var doc = JsonDocument.Parse(summary);
        return doc.RootElement.TryGetProperty("timeline", out var t) && t.ValueKind == JsonValueKind.Object;
    }

    private static long Long(JsonElement s, string name) =>
        s.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n) ? n : 0;
}
