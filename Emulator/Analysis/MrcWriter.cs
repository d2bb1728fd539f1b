using System.Globalization;
using System.Text.Json;

namespace MmuSim.Analysis;

/// <summary>
/// Writes miss-ratio curves: JSON ({"tool":"mmusim mrc", inputs, pageSize, footprint, curves[{name, sets, points}]}),
/// CSV (one row per curve point) and a text table for people (docs/analysis.md gives each layout).
/// </summary>
public static class MrcWriter
{
    public const string Tool = "mmusim mrc";

    /// <summary>The page size of the entries as JSON: the size in bytes when all have one size, else "mixed".</summary>
    private static void WritePageSize(Utf8JsonWriter w, MrcResult r)
    {
        if (r.PageShifts.Count > 1)
        {
            w.WriteString("pageSize", "mixed");
        }
        else
        {
            w.WriteNumber("pageSize", 1L << (r.PageShifts.Count == 1 ? r.PageShifts[0] : 12));
        }
    }

    /// <summary>
    /// The curves as JSON; <paramref name="error"/> (bad input, an interrupt, the memory cap) is written as "error":
    /// the curves then cover only the accesses before it, and a reader must not take them for the whole input's.
    /// </summary>
    public static void WriteJson(Stream stream, MrcResult r, string? error = null)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("tool", Tool);
        w.WriteStartArray("inputs");
        foreach (var i in r.Inputs)
        {
            w.WriteStringValue(i);
        }
        w.WriteEndArray();
        WritePageSize(w, r);
        w.WriteNumber("footprint", r.Footprint);
        w.WriteNumber("removals", r.Removals);
        if (error is not null)
        {
            w.WriteString("error", error);
        }
        w.WriteStartArray("curves");
        foreach (var c in r.Curves)
        {
            w.WriteStartObject();
            w.WriteString("name", c.Name);
            w.WriteNumber("sets", c.Sets);
            if (c.PageShift != 0)
            {
                w.WriteNumber("pageSize", 1L << c.PageShift);
            }
            w.WriteStartArray("points");
            for (int i = 0; i < c.Entries.Length; i++)
            {
                // One point a line: a curve has as many points as the trace has distinct pages.
                w.WriteStartObject();
                w.WriteNumber("entries", c.Entries[i]);
                w.WriteNumber("misses", c.Misses[i]);
                w.WriteNumber("accesses", c.Accesses);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    public const string CsvHeader = "curve,sets,pageSize,entries,accesses,misses,missRatio";

    /// <summary>One row per point of every curve, the fully associative curve first.</summary>
    public static void WriteCsv(TextWriter w, MrcResult r)
    {
        w.Write(CsvHeader + "\n");
        foreach (var c in r.Curves)
        {
            string page = c.PageShift != 0 ? (1L << c.PageShift).ToString(CultureInfo.InvariantCulture)
                : r.PageShifts.Count > 1 ? "mixed" : (1L << (r.PageShifts.Count == 1 ? r.PageShifts[0] : 12)).ToString(CultureInfo.InvariantCulture);
            string name = Csv.Field(c.Name);
            for (int i = 0; i < c.Entries.Length; i++)
            {
                w.Write(string.Create(CultureInfo.InvariantCulture,
                    $"{name},{c.Sets},{page},{c.Entries[i]},{c.Accesses},{c.Misses[i]},{Ratio(c.Misses[i], c.Accesses)}\n"));
            }
        }
    }

    private static string Ratio(long misses, long accesses) =>
        accesses == 0 ? "0" : ((double)misses / accesses).ToString("0.######", CultureInfo.InvariantCulture);

    /// <summary>
    /// The text summary: each curve at 1, 2, 4, ... entries (for set-associative curves 1, 2, 4, ... ways) and at its
    /// last point, where it reaches its floor (the first uses).
    /// </summary>
    public static void WriteText(TextWriter w, MrcResult r)
    {
        w.WriteLine($"inputs: {string.Join(", ", r.Inputs)}");
        // No page size when nothing was translated (an empty input): "(none pages)" read as nonsense.
        w.WriteLine(r.PageShifts.Count == 0 ? $"footprint: {r.Footprint} entries"
            : $"footprint: {r.Footprint} entries ({string.Join(", ", r.PageShifts.Select(MissRatioCurves.PageSizeName))} pages)");
        w.WriteLine(r.Removals == 0
            ? "exact for LRU: no entry was removed by TLB maintenance"
            : $"approximate: TLB maintenance removed {r.Removals} live entries (a smaller TLB may have evicted them first)");
        foreach (var c in r.Curves)
        {
            w.WriteLine();
            string page = c.PageShift != 0 ? $", page size {MissRatioCurves.PageSizeName(c.PageShift)}" : "";
            w.WriteLine($"{c.Name} ({c.Accesses} lookups{page})");
            w.WriteLine(c.Sets == 1 ? "   entries       misses  miss ratio" : "   entries   ways       misses  miss ratio");
            int last = c.Entries.Length - 1;
            for (int i = 0; i <= last; i = i == 0 ? 1 : i * 2 + 1)
            {
                Row(w, c, i);
                if (i != last && i * 2 + 1 > last)
                {
                    Row(w, c, last);
                }
            }
        }
    }

    private static void Row(TextWriter w, MissCurve c, int i)
    {
        string ratio = c.Accesses == 0 ? "-" : ((double)c.Misses[i] / c.Accesses).ToString("P2", CultureInfo.InvariantCulture);
        w.WriteLine(c.Sets == 1
            ? string.Create(CultureInfo.InvariantCulture, $"{c.Entries[i],10} {c.Misses[i],12} {ratio,11}")
            : string.Create(CultureInfo.InvariantCulture, $"{c.Entries[i],10} {c.Entries[i] / c.Sets,6} {c.Misses[i],12} {ratio,11}"));
    }
}

/// <summary>CSV quoting (RFC 4180): a field with a comma, quote or line break is quoted, quotes doubled.</summary>
public static class Csv
{
    public static string Field(string s) =>
        s.AsSpan().IndexOfAny(",\"\r\n") < 0 ? s : "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
