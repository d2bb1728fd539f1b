using System.Globalization;
using System.Text.Json;

namespace MmuSim.Analysis;

/// <summary>
/// Two `replay --json` summaries side by side: every figure of each (numbers, by path; an array of named objects
/// by name, e.g. <c>tlbs[L2].misses</c>), the difference and the relative change, and the model keys that differ.
/// </summary>
public static class SummaryComparison
{
    /// <summary>Figures in document order: path → the number as written (null for null).</summary>
    public static List<(string Path, string? Value)> Flatten(JsonElement e, string prefix = "")
    {
        var list = new List<(string, string?)>();
        Walk(e, prefix, list);
        return list;
    }

    private static void Walk(JsonElement e, string path, List<(string, string?)> list)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    if (p.Name is "schema")
                    {
                        continue;
                    }
                    Walk(p.Value, path.Length == 0 ? p.Name : $"{path}.{p.Name}", list);
                }
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var x in e.EnumerateArray())
                {
                    string key = x.ValueKind == JsonValueKind.Object && (x.TryGetProperty("name", out var n) || x.TryGetProperty("by", out n)) && n.ValueKind == JsonValueKind.String
                        ? n.GetString()!
                        : x.ValueKind == JsonValueKind.Object && x.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
                            ? $"{t.GetString()} s{Raw(x, "stage")} l{Raw(x, "level")}"
                            : i.ToString(CultureInfo.InvariantCulture);
                    Walk(x, $"{path}[{key}]", list);
                    i++;
                }
                break;
            case JsonValueKind.Number:
                list.Add((path, e.GetRawText()));
                break;
            case JsonValueKind.Null:
                list.Add((path, null));
                break;
            case JsonValueKind.True or JsonValueKind.False or JsonValueKind.String:
                list.Add((path, e.ValueKind == JsonValueKind.String ? e.GetString() : e.GetRawText()));
                break;
        }
    }

    private static string Raw(JsonElement o, string key) => o.TryGetProperty(key, out var v) ? v.GetRawText() : "?";

    /// <summary>Writes the comparison of <paramref name="a"/> and <paramref name="b"/> (named <paramref name="nameA"/>, <paramref name="nameB"/>).</summary>
    public static void Write(TextWriter w, JsonElement a, JsonElement b, string nameA, string nameB)
    {
        var fa = Flatten(a);
        var fb = Flatten(b);
        var da = fa.ToDictionary(x => x.Path, x => x.Value, StringComparer.Ordinal);
        var db = fb.ToDictionary(x => x.Path, x => x.Value, StringComparer.Ordinal);
        var paths = fa.Select(x => x.Path).Concat(fb.Select(x => x.Path).Where(p => !da.ContainsKey(p))).ToList();

        // A structure (an array element named by its name) that only one side has is named once, not field by field.
        var itemsA = fa.Select(x => Item(x.Path)).Where(x => x is not null).ToHashSet(StringComparer.Ordinal);
        var itemsB = fb.Select(x => Item(x.Path)).Where(x => x is not null).ToHashSet(StringComparer.Ordinal);
        bool OneSided(string p) => Item(p) is { } item && itemsA.Contains(item) != itemsB.Contains(item);
        var onlyA = paths.Select(Item).Where(i => i is not null && !itemsB.Contains(i)).Distinct().ToList();
        var onlyB = paths.Select(Item).Where(i => i is not null && !itemsA.Contains(i)).Distinct().ToList();

        w.WriteLine($"A: {nameA}");
        w.WriteLine($"B: {nameB}");
        var modelDiffs = paths.Where(p => p.StartsWith("model", StringComparison.Ordinal) && !OneSided(p) && Get(da, p) != Get(db, p)).ToList();
        w.WriteLine();
        foreach (var (side, items) in new[] { ("A", onlyA), ("B", onlyB) })
        {
            foreach (var group in items.GroupBy(i => i!.StartsWith("model.", StringComparison.Ordinal)))
            {
                w.WriteLine($"{(group.Key ? "structures" : "figures")} only in {side}: {string.Join(", ", group.Select(i => group.Key ? i![6..] : i))}");
            }
        }
        if (onlyA.Count + onlyB.Count != 0)
        {
            w.WriteLine();
        }
        if (modelDiffs.Count == 0)
        {
            w.WriteLine("models: the same");
        }
        else
        {
            w.WriteLine("models differ:");
            foreach (var p in modelDiffs)
            {
                w.WriteLine($"  {p[6..]}: {Get(da, p) ?? "(none)"} -> {Get(db, p) ?? "(none)"}");
            }
        }
        w.WriteLine();
        var rows = new List<string[]> { new[] { "figure", "A", "B", "B-A", "change" } };
        int same = 0;
        foreach (var p in paths.Where(p => !p.StartsWith("model", StringComparison.Ordinal) && !OneSided(p)))
        {
            string? va = Get(da, p), vb = Get(db, p);
            if (va == vb)
            {
                same++;
                continue;
            }
            rows.Add([p, va ?? "-", vb ?? "-", Difference(va, vb), Change(va, vb)]);
        }
        if (rows.Count == 1)
        {
            w.WriteLine($"figures: all {same} the same");
            return;
        }
        w.WriteLine($"figures that differ ({rows.Count - 1}; {same} the same):");
        int[] width = Enumerable.Range(0, 5).Select(i => rows.Max(r => r[i].Length)).ToArray();
        foreach (var r in rows)
        {
            w.WriteLine(("  " + string.Join("  ", r.Select((c, i) => i == 0 ? c.PadRight(width[i]) : c.PadLeft(width[i])))).TrimEnd());
        }
    }

    /// <summary>The named array element a path lies in (`model.walkCaches[S1WC]` of `model.walkCaches[S1WC].ways`), or null.</summary>
    private static string? Item(string path)
    {
        int open = path.IndexOf('[');
        if (open < 0)
        {
            return null;
        }
        int close = path.IndexOf(']', open);
        string key = path[(open + 1)..close];
        return key.All(char.IsAsciiDigit) ? null : path[..(close + 1)];
    }

    private static string? Get(Dictionary<string, string?> d, string p) => d.TryGetValue(p, out var v) ? v : null;

    private static bool Number(string? s, out double v) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v);

    private static string Difference(string? a, string? b)
    {
        if (!Number(a, out double x) || !Number(b, out double y))
        {
            return "";
        }
        double d = y - x;
        bool integral = long.TryParse(a, CultureInfo.InvariantCulture, out _) && long.TryParse(b, CultureInfo.InvariantCulture, out _);
        return (d > 0 ? "+" : "") + (integral ? ((long)d).ToString(CultureInfo.InvariantCulture) : d.ToString("0.######", CultureInfo.InvariantCulture));
    }

    private static string Change(string? a, string? b)
    {
        if (!Number(a, out double x) || !Number(b, out double y) || x == 0)
        {
            return "";
        }
        double c = (y - x) / Math.Abs(x) * 100;
        return (c > 0 ? "+" : "") + c.ToString("0.0", CultureInfo.InvariantCulture) + " %";
    }
}
