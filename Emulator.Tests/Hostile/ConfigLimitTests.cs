using MmuSim.Bits;
using MmuSim.Core;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// A configuration cannot make a run allocate without bound: a file longer than 16 MiB (`--config /dev/zero`) is
/// refused after reading 16 MiB, a model holding more than 2^22 entries and cache lines in all is refused before
/// anything is built, a directory is named as one, and a key given twice is an error, as cell configurations have it.
/// </summary>
[Collection("Console")]
public sealed class ConfigLimitTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-cfg-" + Guid.NewGuid().ToString("N"));

    public ConfigLimitTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Example => Path.Combine(TestPaths.Traces, "sample", "example.trace");

    private (int Exit, string Out, string Err) Replay(string config)
    {
        var (exit, o, e) = Support.Cli.Run("replay", Example, "--quiet", "--config", config);
        return (exit, o, e.Replace("\r\n", "\n"));
    }

    [Fact]
    public void DevZeroIsRefusedAfterTheCap()
    {
        Assert.Equal((2, "", "mmusim: /dev/zero: is longer than 16 MiB; a configuration is not that large\n"), Replay("/dev/zero"));
    }

    [Fact]
    public void ADirectoryIsNamedAsOne()
    {
        Assert.Equal((2, "", $"mmusim: {_dir}: is a directory\n"), Replay(_dir));
    }

    [Fact]
    public void AKeyGivenTwiceIsRefused()
    {
        string cfg = Path.Combine(_dir, "dup.json");
        File.WriteAllText(cfg, """{ "tlbs": [ { "name": "L1", "serves": "data", "entries": 8, "ways": 8, "latency": 1, "latency": 9 } ] }""");
        Assert.Equal((2, "", $"mmusim: {cfg}: tlbs[0].latency: is given twice\n"), Replay(cfg));
    }

    /// <summary>Structures each within their own limits whose sum is not: generated, so the test has no large fixture.</summary>
    [Theory]
    [InlineData(1, 1 << 22, true)]
    [InlineData(2, 1 << 21, true)]
    [InlineData(3, 1 << 21, false)]
    [InlineData(300, 1 << 14, false)]
    public void TheModelsEntriesInAllAreCapped(int tlbs, int entries, bool accepted)
    {
        string json = "{ \"tlbs\": [" + string.Join(", ", Enumerable.Range(0, tlbs).Select(i =>
            $"{{ \"name\": \"T{i}\", \"serves\": \"unified\", \"entries\": {entries}, \"ways\": 4, \"latency\": 1 }}")) + "] }";
        if (accepted)
        {
            Assert.Equal(tlbs, ModelConfigJson.Parse(System.Text.Encoding.UTF8.GetBytes(json), "m.json").Caching.Tlbs.Count);
            return;
        }
        int over = (int)(ModelConfigJson.MaxModelUnits / entries); // the first TLB past the cap
        var e = Assert.Throws<ConfigException>(() => ModelConfigJson.Parse(System.Text.Encoding.UTF8.GetBytes(json), "m.json"));
        Assert.Equal($"m.json: tlbs[{over}].entries: the model would hold more than 4194304 entries and cache lines in all (each structure's state is kept in memory); no core has that many", e.Message);
    }

    [Fact]
    public void AWalkerCacheCountsItsLines()
    {
        string json = """{ "walkerCaches": [ { "name": "L2$", "sizeBytes": 1099511627776, "ways": 16, "lineBytes": 64, "latency": 4 } ] }""";
        var e = Assert.Throws<ConfigException>(() => ModelConfigJson.Parse(System.Text.Encoding.UTF8.GetBytes(json), "m.json"));
        Assert.StartsWith("m.json: walkerCaches[0].sizeBytes: ", e.Message, StringComparison.Ordinal);
    }
}
