using System.Globalization;
using System.Text.Json;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Cli;

/// <summary>`mmusim mrc` outputs: the JSON layout the report reads, the CSV outside tools read, bad options.</summary>
[Collection("Console")]
public sealed class MrcCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmusim-mrc").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static string Trace(string name) => Path.Combine(TestPaths.RepositoryRoot, name);

    [Fact]
    public void JsonAndCsvHoldTheSameCurve()
    {
        string json = Path.Combine(_dir, "m.json"), csv = Path.Combine(_dir, "m.csv");
        var (exit, _, err) = Support.Cli.Run("mrc", Trace("traces/lackey/sumsort.lackey.gz"), "--json", json, "--csv", csv, "--quiet");
        Assert.True(exit == 0, err);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
        var root = doc.RootElement;
        Assert.Equal("mmusim mrc", root.GetProperty("tool").GetString());
        Assert.Equal(4096, root.GetProperty("pageSize").GetInt32());
        int footprint = root.GetProperty("footprint").GetInt32();
        var curve = root.GetProperty("curves")[0];
        Assert.Equal("fully-associative", curve.GetProperty("name").GetString());
        Assert.Equal(1, curve.GetProperty("sets").GetInt32());
        var points = curve.GetProperty("points").EnumerateArray().ToArray();
        Assert.Equal(footprint, points.Length);

        string[] lines = File.ReadAllLines(csv);
        Assert.Equal("curve,sets,pageSize,entries,accesses,misses,missRatio", lines[0]);
        Assert.Equal(footprint + 1, lines.Length);
        for (int i = 0; i < points.Length; i++)
        {
            string[] f = lines[i + 1].Split(',');
            long entries = points[i].GetProperty("entries").GetInt64(), misses = points[i].GetProperty("misses").GetInt64(), accesses = points[i].GetProperty("accesses").GetInt64();
            Assert.Equal(["fully-associative", "1", "4096", entries.ToString(CultureInfo.InvariantCulture), accesses.ToString(CultureInfo.InvariantCulture), misses.ToString(CultureInfo.InvariantCulture)], f[..6]);
            Assert.Equal((double)misses / accesses, double.Parse(f[6], CultureInfo.InvariantCulture), 6);
        }
        // Misses never grow with the size (LRU's inclusion property).
        for (int i = 1; i < points.Length; i++)
        {
            Assert.True(points[i].GetProperty("misses").GetInt64() <= points[i - 1].GetProperty("misses").GetInt64());
        }
    }

    [Theory]
    [InlineData("--sets", "0", "mmusim: bad --sets 0 (a number of sets from 1 to 1048576)\n")]
    [InlineData("--l1", "-1", "mmusim: bad --l1 -1 (entries from 1 to 16777216, or 0 for no L2 curve)\n")]
    [InlineData("--preset", "nope", "mmusim: --preset: unknown preset 'nope' (known: neoverse-n1, cortex-a76, cortex-a55, cortex-a53, small-in-order, bench, uncached)\n")]
    public void BadOptionsAreOneLineErrors(string option, string value, string expected)
    {
        var (exit, output, err) = Support.Cli.Run("mrc", Trace("traces/bench/lru.trace"), option, value);
        Assert.Equal(option == "--preset" ? 2 : 1, exit);
        Assert.Equal(expected, err.Replace("\r\n", "\n"));
        Assert.Equal("", output);
    }

    [Fact]
    public void MalformedInputKeepsTheCurvesOfTheLinesBefore()
    {
        string bad = Path.Combine(_dir, "bad.trace");
        File.WriteAllText(bad, string.Join("\n", File.ReadAllLines(Trace("traces/bench/lru.trace"))) + "\nR zz\n");
        string json = Path.Combine(_dir, "m.json"), csv = Path.Combine(_dir, "m.csv");
        var (exit, _, err) = Support.Cli.Run("mrc", bad, "--json", json, "--csv", csv, "--quiet");
        Assert.Equal(2, exit);
        // One line: the error, and that the curves (text, JSON) are of the lines before it; the CSV, which has no
        // place to say so, is not written rather than left looking complete.
        Assert.Equal($"mmusim: {bad}:51:3: bad virtual address 'zz': 'z' is not a decimal digit (the curves cover the 21 lookups before it; {csv} not written)\n", err.Replace("\r\n", "\n"));
        Assert.False(File.Exists(csv));
        // The curves are those of the lines before the bad one, exactly.
        string good = Path.Combine(_dir, "good.trace"), goodJson = Path.Combine(_dir, "g.json");
        File.WriteAllText(good, string.Join("\n", File.ReadAllLines(Trace("traces/bench/lru.trace"))) + "\n");
        Assert.Equal(0, Support.Cli.Run("mrc", good, "--json", goodJson, "--quiet").Exit);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
        using var whole = JsonDocument.Parse(File.ReadAllBytes(goodJson));
        Assert.True(doc.RootElement.GetProperty("footprint").GetInt32() > 0);
        Assert.StartsWith($"{bad}:", doc.RootElement.GetProperty("error").GetString());
        Assert.False(whole.RootElement.TryGetProperty("error", out _));
        foreach (string key in new[] { "footprint", "removals", "curves" })
        {
            Assert.Equal(whole.RootElement.GetProperty(key).GetRawText(), doc.RootElement.GetProperty(key).GetRawText());
        }
    }
}
