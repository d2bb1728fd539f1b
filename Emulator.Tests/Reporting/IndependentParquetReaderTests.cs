using System.Diagnostics;
using System.Text.Json;
using MmuSim.Reporting;
using MmuSim.Tests.Support;
using Parquet.Schema;

namespace MmuSim.Tests.Reporting;

/// <summary>
/// `replay --results FILE.parquet` read by a reader that shares no code with the writer: hyparquet, a Parquet reader
/// written in JavaScript (.ci/install-parquet-reader.sh installs it with npm; Emulator.Tests/Reporting/read-parquet.mjs
/// prints what it reads). Its footer must name our columns with their types (unsigned 64-bit for addresses, so that
/// pandas, polars and DuckDB read them as uint64), and every row must equal the JSON Lines result. Without node or
/// hyparquet the test is skipped, except under CI=true where a missing reader is a failure.
/// </summary>
[Collection("Console")]
public sealed class IndependentParquetReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmusim-parquet-js").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>Where .ci/install-parquet-reader.sh installs hyparquet (the same default and override).</summary>
    private static string ReaderDir =>
        Environment.GetEnvironmentVariable("MMUSIM_PARQUET_READER") is { Length: > 0 } d ? d
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } c ? c
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "mmusim", "parquet-reader");

    private static string? Node() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => Path.Combine(p, "node")).FirstOrDefault(File.Exists);

    [SkippableTheory]
    [InlineData("traces/qemu/p0001.trace", "additive")] // faults: every fault column
    [InlineData("traces/sample/two-pes.trace", "timeline")] // cpu, issue, complete
    [InlineData("traces/lackey/sumsort.lackey.gz", "additive")] // 255 429 rows in two row groups
    public void HyparquetReadsEveryValueOfTheJsonLinesResults(string trace, string timing)
    {
        string? node = Node();
        bool installed = node is not null && File.Exists(Path.Combine(ReaderDir, "node_modules", "hyparquet", "package.json"));
        Skip.If(!installed && Environment.GetEnvironmentVariable("CI") != "true", "node or hyparquet is missing; .ci/install-parquet-reader.sh installs them");
        Assert.True(installed, $"CI=true: node and hyparquet must be installed in {ReaderDir} (.ci/install-parquet-reader.sh)");

        var (parquet, lines) = ParquetResultWriterTests.Results(_dir, trace, timing);
        string script = Path.Combine(TestPaths.RepositoryRoot, "Emulator.Tests", "Reporting", "read-parquet.mjs");
        var output = RunNode(node!, script, ReaderDir, parquet);

        using var footer = JsonDocument.Parse(output[0]);
        var fields = ParquetResultWriter.Schema.GetDataFields();
        var columns = footer.RootElement.GetProperty("columns").EnumerateArray().ToArray();
        Assert.Equal(fields.Select(f => f.Name), columns.Select(c => c.GetProperty("name").GetString()));
        for (int i = 0; i < fields.Length; i++)
        {
            Assert.Equal(Expected(fields[i]), Described(columns[i]));
        }
        Assert.Equal(lines.Length, footer.RootElement.GetProperty("rows").GetInt64());
        Assert.Equal((lines.Length + ParquetResultWriter.RowGroupRows - 1) / ParquetResultWriter.RowGroupRows, footer.RootElement.GetProperty("rowGroups").GetInt32());
        Assert.Equal(["SNAPPY"], footer.RootElement.GetProperty("codecs").EnumerateArray().Select(c => c.GetString()));

        var rows = new List<Dictionary<string, object?>>(lines.Length);
        foreach (string row in output.Skip(1))
        {
            using var doc = JsonDocument.Parse(row);
            rows.Add(fields.ToDictionary(f => f.Name, f => Value(f, doc.RootElement.GetProperty(f.Name))));
        }
        ParquetResultWriterTests.AssertRowsAreJsonLines(rows, lines);
    }

    /// <summary>How a column of our schema must be described in the file: physical type, repetition, logical integer type.</summary>
    private static string Expected(DataField f)
    {
        string repetition = f.IsNullable ? "OPTIONAL" : "REQUIRED";
        var t = Nullable.GetUnderlyingType(f.ClrType) ?? f.ClrType;
        return t == typeof(ulong) ? $"{f.Name} INT64 {repetition} INTEGER(64,unsigned)"
            : t == typeof(long) ? $"{f.Name} INT64 {repetition} -"
            : t == typeof(int) ? $"{f.Name} INT32 {repetition} -"
            : t == typeof(bool) ? $"{f.Name} BOOLEAN {repetition} -"
            : $"{f.Name} BYTE_ARRAY {repetition} STRING";
    }

    /// <summary>The same description of what hyparquet read from the footer (a signed integer as wide as its physical type is plain: writers differ in stating it).</summary>
    private static string Described(JsonElement c)
    {
        string logical = "-";
        if (c.GetProperty("logical") is { ValueKind: JsonValueKind.Object } l)
        {
            string type = l.GetProperty("type").GetString()!;
            int bits = type == "INTEGER" ? l.GetProperty("bitWidth").GetInt32() : 0;
            string physical = c.GetProperty("type").GetString()!;
            logical = type != "INTEGER" ? type
                : !l.GetProperty("isSigned").GetBoolean() ? $"INTEGER({bits},unsigned)"
                : $"INT{bits}" == physical ? "-" : $"INTEGER({bits},signed)";
        }
        return $"{c.GetProperty("name").GetString()} {c.GetProperty("type").GetString()} {c.GetProperty("repetition").GetString()} {logical}";
    }

    /// <summary>A value as hyparquet printed it, typed as the column (64-bit integers come as decimal strings).</summary>
    private static object? Value(DataField f, JsonElement v)
    {
        if (v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        var t = Nullable.GetUnderlyingType(f.ClrType) ?? f.ClrType;
        return t == typeof(ulong) ? ulong.Parse(v.GetString()!, System.Globalization.CultureInfo.InvariantCulture)
            : t == typeof(long) ? long.Parse(v.GetString()!, System.Globalization.CultureInfo.InvariantCulture)
            : t == typeof(int) ? v.GetInt32()
            : t == typeof(bool) ? v.GetBoolean()
            : v.GetString();
    }

    private static string[] RunNode(string node, string script, string readerDir, string parquet)
    {
        var psi = new ProcessStartInfo(node) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(readerDir);
        psi.ArgumentList.Add(parquet);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var lines = new List<string>();
        while (p.StandardOutput.ReadLine() is { } line)
        {
            lines.Add(line);
        }
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)), "hyparquet did not finish in 2 minutes");
        Assert.True(p.ExitCode == 0, $"node read-parquet.mjs failed: {err.Result}");
        return lines.ToArray();
    }
}
