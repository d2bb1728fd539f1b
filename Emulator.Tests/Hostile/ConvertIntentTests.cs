using System.Text.Json;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// A trace converted from a foreign format carries the demand-paging intent (`paging demand`, binary record 0x21):
/// replayed with the default options it gives what the original gives (issue 19: it used to replay with the MMU
/// off unless the user remembered `--demand-paging on`).
/// </summary>
[Collection("Console")]
public sealed class ConvertIntentTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmusim-intent").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private JsonElement Summary(string trace, params string[] options)
    {
        string json = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".json");
        var (exit, _, err) = Support.Cli.Run(["replay", trace, "--quiet", "--json", json, .. options]);
        Assert.Equal("", err);
        Assert.Equal(0, exit);
        return JsonDocument.Parse(File.ReadAllText(json)).RootElement.Clone();
    }

    /// <summary>
    /// Every figure of a summary but its provenance and line numbers: the trace's line count and the lines of the
    /// first faults (a converted trace numbers its own lines; the faults themselves must be the same).
    /// </summary>
    private static string Figures(JsonElement summary) =>
        System.Text.RegularExpressions.Regex.Replace(
            string.Join("\n", summary.EnumerateObject().Where(p => p.Name is not ("lines" or "provenance")).Select(p => $"{p.Name}={p.Value.GetRawText()}")),
            "\"line\": [0-9]+", "\"line\": N");

    [Theory]
    [InlineData("lackey/sumsort.lackey.gz", "c.trace")]
    [InlineData("lackey/sumsort.lackey.gz", "c.mbt")]
    [InlineData("champsim/sample.champsim.xz", "c.trace")]
    [InlineData("champsim/sample.champsim.xz", "c.mbt")]
    public void AConvertedForeignTraceReplaysAsTheOriginal(string original, string converted)
    {
        string source = Path.Combine(TestPaths.Traces, original);
        string target = Path.Combine(_dir, converted);
        var (exit, _, err) = Support.Cli.Run("convert", source, target);
        Assert.Equal(0, exit);
        Assert.StartsWith("mmusim: ", err, StringComparison.Ordinal);
        var direct = Summary(source);
        var replayed = Summary(target);
        Assert.True(direct.GetProperty("walks").GetInt64() > 0, "the original replays under demand paging");
        Assert.Equal(Figures(direct), Figures(replayed));
        // --demand-paging off ignores the intent: the converted trace then replays as the original does with off.
        Assert.Equal(Figures(Summary(source, "--demand-paging", "off")), Figures(Summary(target, "--demand-paging", "off")));
    }

    [Fact]
    public void TheConvertedTextSaysPagingDemandThenElZero()
    {
        string lackey = Path.Combine(_dir, "l.lackey");
        File.WriteAllText(lackey, "==1== lackey\nI  00001000,4\n L 00002000,8\n");
        string text = Path.Combine(_dir, "l.trace");
        Assert.Equal(0, Support.Cli.Run("convert", lackey, text).Exit);
        Assert.Equal("paging demand\nel 0\ninst 1\nX 0x1000\nR 0x2000\n", File.ReadAllText(text));
    }

    [Theory]
    [InlineData("paging\n", "1:7: missing paging mode (demand)")]
    [InlineData("paging lazy\n", "1:8: unknown paging mode (demand) 'lazy'")]
    [InlineData("paging demand now\n", "1:15: unexpected extra operand")]
    public void AMalformedPagingLineIsRefused(string text, string where)
    {
        string path = Path.Combine(_dir, "p.trace");
        File.WriteAllText(path, text);
        var (exit, _, err) = Support.Cli.Run("replay", path, "--quiet");
        Assert.Equal(2, exit);
        Assert.Equal($"mmusim: {path}:{where}\n", err.Replace("\r\n", "\n"));
    }
}
