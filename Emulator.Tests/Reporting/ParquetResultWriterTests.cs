using System.Text.Json;
using MmuSim.Reporting;
using MmuSim.Tests.Support;
using Parquet;
using Parquet.Schema;

namespace MmuSim.Tests.Reporting;

/// <summary>`replay --results FILE.parquet` read back with the Parquet library: every row equals the JSON Lines result.</summary>
[Collection("Console")]
public sealed class ParquetResultWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmusim-parquet").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>The Parquet rows as JSON-shaped dictionaries (the fault columns folded into a "fault" object).</summary>
    private static async Task<List<Dictionary<string, object?>>> ReadRows(string path)
    {
        await using var file = File.OpenRead(path);
        await using var reader = await ParquetReader.CreateAsync(file);
        // The file's columns are the writer's (the typed fields below are the writer's, read by name).
        Assert.Equal(ParquetResultWriter.Schema.GetDataFields().Select(f => (f.Name, f.ClrType, f.IsNullable)),
            reader.Schema.GetDataFields().Select(f => (f.Name, f.ClrType, f.IsNullable)));
        var fields = ParquetResultWriter.Schema.GetDataFields();
        var rows = new List<Dictionary<string, object?>>();
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var rg = reader.OpenRowGroupReader(g);
            int n = (int)rg.RowCount;
            var columns = new Dictionary<string, object?[]>();
            foreach (var f in fields)
            {
                columns[f.Name] = await Read(rg, f, n);
            }
            for (int i = 0; i < n; i++)
            {
                rows.Add(fields.ToDictionary(f => f.Name, f => columns[f.Name][i]));
            }
        }
        return rows;
    }

    private static async Task<object?[]> Read(ParquetRowGroupReader rg, DataField f, int n)
    {
        switch (f)
        {
            case DataField<long> l:
            {
                var a = new long[n];
                await rg.ReadAsync(l, a.AsMemory());
                return a.Select(x => (object?)x).ToArray();
            }
            case DataField<string> s:
            {
                var a = new string?[n];
                await rg.ReadAsync(s, a.AsMemory());
                return a.Select(x => (object?)x).ToArray();
            }
            case DataField<ulong?> u:
                return await Nullable(rg, u, n);
            case DataField<long?> l:
                return await Nullable(rg, l, n);
            case DataField<int?> i:
                return await Nullable(rg, i, n);
            case DataField<bool?> b:
                return await Nullable(rg, b, n);
            default:
                throw new InvalidOperationException($"unexpected column {f}");
        }
    }

    private static async Task<object?[]> Nullable<T>(ParquetRowGroupReader rg, DataField<T?> f, int n) where T : struct
    {
        var a = new T?[n];
        await rg.ReadAsync(f, a.AsMemory());
        return a.Select(x => x.HasValue ? (object?)x.Value : null).ToArray();
    }

    private static string Hex(object? v) => $"0x{(ulong)v!:x}";

    [Theory]
    [InlineData("traces/qemu/p0001.trace", "additive")]
    [InlineData("traces/qemu-v2/u0001.trace", "additive")]
    [InlineData("traces/sample/two-pes.trace", "additive")]
    [InlineData("traces/sample/two-pes.trace", "timeline")] // issue and complete on every access
    [InlineData("traces/lackey/sumsort.lackey.gz", "additive")] // 255 429 results: two row groups
    public async Task EveryRowEqualsItsJsonLinesResult(string trace, string timing)
    {
        var (parquet, lines) = Results(_dir, trace, timing);
        AssertRowsAreJsonLines(await ReadRows(parquet), lines);
    }

    /// <summary>Replays <paramref name="trace"/> twice, writing results as Parquet and as JSON Lines: the Parquet file and the lines.</summary>
    internal static (string Parquet, string[] Lines) Results(string dir, string trace, string timing)
    {
        string path = Path.Combine(TestPaths.RepositoryRoot, trace);
        string parquet = Path.Combine(dir, "r.parquet"), jsonl = Path.Combine(dir, "r.jsonl");
        var (exit, _, err) = Support.Cli.Run("replay", path, "--timing", timing, "--results", parquet, "--quiet");
        Assert.True(exit == 0, err);
        (exit, _, err) = Support.Cli.Run("replay", path, "--timing", timing, "--results", jsonl, "--quiet");
        Assert.True(exit == 0, err);
        string[] lines = File.ReadAllLines(jsonl);
        Assert.Equal(timing == "timeline", lines.Any(l => l.Contains("\"issue\":", StringComparison.Ordinal)));
        return (parquet, lines);
    }

    /// <summary>
    /// Each row, typed as the writer's columns (ulong, long, int, bool, string, or null), rebuilt as its JSON Lines
    /// result: the same keys in the same order, the same values.
    /// </summary>
    internal static void AssertRowsAreJsonLines(List<Dictionary<string, object?>> rows, string[] lines)
    {
        Assert.Equal(lines.Length, rows.Count);
        Assert.NotEmpty(rows);
        for (int i = 0; i < lines.Length; i++)
        {
            var r = rows[i];
            var o = new Dictionary<string, object?>();
            foreach (var (k, v) in r)
            {
                if (v is null || k.StartsWith("fault_", StringComparison.Ordinal))
                {
                    continue;
                }
                o[k] = k is "va" or "par" or "pa" or "ipa" or "value" ? Hex(v) : v;
            }
            if (r["fault_type"] is not null)
            {
                var f = new Dictionary<string, object?>
                {
                    ["type"] = r["fault_type"], ["stage"] = r["fault_stage"], ["level"] = r["fault_level"], ["s1ptw"] = r["fault_s1ptw"],
                    ["target_el"] = r["fault_target_el"], ["esr"] = Hex(r["fault_esr"]), ["far"] = Hex(r["fault_far"]),
                };
                if (r["fault_hpfar"] is not null)
                {
                    f["hpfar"] = Hex(r["fault_hpfar"]);
                }
                o["fault"] = f;
            }
            using var expected = JsonDocument.Parse(lines[i]);
            Assert.Equal(JsonSerializer.Serialize(expected.RootElement), JsonSerializer.Serialize(Reorder(o, expected.RootElement)));
        }
    }

    /// <summary>The row's keys in the JSON line's order (a key the line lacks stays, at the end, and fails the comparison).</summary>
    private static Dictionary<string, object?> Reorder(Dictionary<string, object?> row, JsonElement line)
    {
        var ordered = new Dictionary<string, object?>();
        foreach (var p in line.EnumerateObject())
        {
            if (row.TryGetValue(p.Name, out var v))
            {
                ordered[p.Name] = v is Dictionary<string, object?> d && p.Value.ValueKind == JsonValueKind.Object ? Reorder(d, p.Value) : v;
            }
        }
        foreach (var (k, v) in row)
        {
            ordered.TryAdd(k, v);
        }
        return ordered;
    }
}
