using System.Text.Json;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Cli;

[Collection("Console")]
public class ReplayModelOptionsTests
{
    [Fact]
    public void JsonSummaryHasTheDocumentedFields()
    {
        string json = Path.Combine(Path.GetTempPath(), $"mmusim-{Guid.NewGuid():N}.json");
        try
        {
            string trace = Path.Combine(TestPaths.Traces, "bench", "s2_nested.trace");
            int exit = MmuSim.Cli.Program.Run(["replay", trace, "--preset", "bench", "--json", json]);
            Assert.Equal(0, exit);
            var root = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
            Assert.Equal("mmusim.summary/1", root.GetProperty("schema").GetString());
            Assert.Equal(12, root.GetProperty("accesses").GetInt64());
            Assert.Equal(7, root.GetProperty("walks").GetInt64());
            Assert.Equal(7, root.GetProperty("walks2D").GetInt64());
            Assert.Equal(168, root.GetProperty("descriptorReads").GetInt64());
            Assert.Equal(24.0, root.GetProperty("readsPerWalk2D").GetDouble());
            Assert.Equal(16854, root.GetProperty("translationCycles").GetInt64());
            Assert.Equal(0, root.GetProperty("faults").GetInt64());
            var tlbs = root.GetProperty("tlbs").EnumerateArray().ToList();
            Assert.Equal(["L1", "L2"], tlbs.Select(t => t.GetProperty("name").GetString()));
            Assert.Equal(12, tlbs[0].GetProperty("lookups").GetInt64());
            Assert.Equal(5, tlbs[0].GetProperty("hits").GetInt64());
            Assert.Equal(7, tlbs[0].GetProperty("misses").GetInt64());
            var walk = root.GetProperty("walkCycles");
            Assert.Equal(2400, walk.GetProperty("p50").GetInt64());
            Assert.Equal(2400, walk.GetProperty("max").GetInt64());
            Assert.Equal("bench", root.GetProperty("model").GetProperty("name").GetString());
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Fact]
    public void ABadConfigurationIsAnInputError()
    {
        string cfg = Path.Combine(Path.GetTempPath(), $"mmusim-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(cfg, """{ "tlbs": [ { "name": "L2", "serves": "unified", "entries": 1280, "ways": 3, "latency": 3 } ] }""");
            string trace = Path.Combine(TestPaths.Traces, "sample", "example.trace");
            Assert.Equal(2, MmuSim.Cli.Program.Run(["replay", trace, "--config", cfg]));
            Assert.Equal(2, MmuSim.Cli.Program.Run(["replay", trace, "--preset", "pentium"]));
        }
        finally
        {
            File.Delete(cfg);
        }
    }
}
