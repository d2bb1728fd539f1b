using MmuSim.Bits;
using MmuSim.Caching;
using MmuSim.Core;
using MmuSim.Tests.Support;
using MmuSim.Timing;

namespace MmuSim.Tests.Core;

public class ModelConfigTests
{
    private static ConfigException Bad(string json) =>
        Assert.Throws<ConfigException>(() => ModelConfigJson.Parse(System.Text.Encoding.UTF8.GetBytes(json), "cfg.json"));

    [Fact]
    public void ABadUtf8ByteIsAnErrorAtThatByte()
    {
        // A Latin-1 'é' in a TLB name: valid JSON syntax, not UTF-8 (System.Text.Json alone throws without a position).
        byte[] bytes = System.Text.Encoding.Latin1.GetBytes("{\n  \"tlbs\": [{ \"name\": \"L1\u00e9\", \"serves\": \"data\", \"entries\": 64, \"ways\": 4 }]\n}");
        var e = Assert.Throws<ConfigException>(() => ModelConfigJson.Parse(bytes, "cfg.json"));
        Assert.Equal("cfg.json:2:25: invalid JSON: this byte is not UTF-8 text", e.Message);
    }

    [Theory]
    [InlineData("""{ "tlbs": [ { "name": "L2", "serves": "unified", "entries": 1280, "ways": 3, "latency": 3 } ] }""", "cfg.json: tlbs[0].ways: 3 does not divide entries (1280)")]
    [InlineData("""{ "tlbs": [ { "name": "L2", "serves": "both", "entries": 8, "ways": 8, "latency": 3 } ] }""", "cfg.json: tlbs[0].serves: must be \"instruction\", \"data\" or \"unified\", got the string \"both\"")]
    [InlineData("""{ "tlbs": [ { "name": "L1", "serves": "data", "entries": 8, "latency": 1 } ] }""", "cfg.json: tlbs[0].ways: is required")]
    [InlineData("""{ "tlbs": [ { "name": "L1", "serves": "data", "entries": 8, "ways": 8, "latency": 1, "size": 3 } ] }""", "cfg.json: tlbs[0].size: unknown key")]
    [InlineData("""{ "tlbs": [ { "name": "L1", "serves": "data", "entries": 8, "ways": 8, "latency": 1, "policy": "mru" } ] }""", "cfg.json: tlbs[0].policy: must be")]
    [InlineData("""{ "tlbs": [ { "name": "A", "serves": "data", "entries": 8, "ways": 8, "latency": 1 }, { "name": "A", "serves": "data", "entries": 8, "ways": 8, "latency": 1 } ] }""", "cfg.json: tlbs[1].name: \"A\" names another structure already")]
    [InlineData("""{ "walkCaches": [ { "name": "W", "stage": 3, "entries": 8, "ways": 2, "latency": 1 } ] }""", "cfg.json: walkCaches[0].stage: must be in 1..2, got 3")]
    [InlineData("""{ "walkCaches": [ { "name": "W", "stage": 1, "levels": [2, 3], "entries": 8, "ways": 2, "latency": 1 } ] }""", "cfg.json: walkCaches[0].levels[1]: must be a table level -1..2")]
    [InlineData("""{ "walkerCaches": [ { "name": "L1D$", "sizeBytes": 65536, "ways": 4, "lineBytes": 48, "latency": 4 } ] }""", "cfg.json: walkerCaches[0].lineBytes: must be a power of two, got 48")]
    [InlineData("""{ "walkerCaches": [ { "name": "L1D$", "sizeBytes": 1000, "ways": 4, "lineBytes": 64, "latency": 4 } ] }""", "cfg.json: walkerCaches[0].sizeBytes: 1000 is not a whole number of sets")]
    [InlineData("""{ "memoryLatency": "slow" }""", "cfg.json: memoryLatency: must be an integer, got the string \"slow\"")]
    [InlineData("""{ "tlb": [] }""", "cfg.json: tlb: unknown key")]
    [InlineData("""{ "tlbs": [ 1 ] }""", "cfg.json: tlbs[0]: must be an object, got the number 1")]
    [InlineData("""{ "timeline": { "window": 0 } }""", "cfg.json: timeline.window: must be in 1..4096, got 0")]
    [InlineData("""{ "timeline": { "walkers": 2, "ports": 1 } }""", "cfg.json: timeline.ports: unknown key")]
    [InlineData("""{ "timeline": { "memoryRequests": 0 } }""", "cfg.json: timeline.memoryRequests: must be in 1..1000000, got 0")]
    [InlineData("""{ "timeline": 4 }""", "cfg.json: timeline: must be an object, got the number 4")]
    public void ErrorsNameTheKey(string json, string message) => Assert.StartsWith(message, Bad(json).Message, StringComparison.Ordinal);

    [Fact]
    public void SyntaxErrorsGiveLineAndColumn() =>
        Assert.StartsWith("cfg.json:2:", Bad("{\n  \"tlbs\": [ , ]\n}").Message, StringComparison.Ordinal);

    [Fact]
    public void AnEmptyDocumentIsNoCaching()
    {
        var c = Machine.Config("{}");
        Assert.True(c.Caching.IsEmpty);
        Assert.Empty(c.Timing.WalkerCaches);
        Assert.Equal(100, c.Timing.MemoryLatency);
        var e = Machine.Config("""{ "ipaCache": {}, "walkCaches": [] }""");
        Assert.Null(e.Caching.IpaCache);
    }

    [Fact]
    public void TimelineKeysAreReadWithTheirDefaults()
    {
        Assert.Null(Machine.Config("{}").Timing.Timeline);
        Assert.Equal(TimelineConfig.Serial, Machine.Config("{}").Timing.TimelineOrSerial);
        var t = Machine.Config("""{ "timeline": { "window": 64, "walkers": 3, "walkQueue": 0, "memoryRequests": null } }""").Timing.Timeline;
        Assert.Equal(new TimelineConfig(Window: 64, IssueInterval: 1, IssueWidth: 1, Walkers: 3, WalkQueue: 0), t);
    }

    [Fact]
    public void EveryPresetHasATimelineThatRoundTrips()
    {
        foreach (var (name, preset) in Presets.All)
        {
            Assert.NotNull(preset.Timing.Timeline);
            var back = Machine.Config(ModelConfigJson.ToJson(preset));
            Assert.True(preset.Timing.Timeline == back.Timing.Timeline, name);
        }
    }

    [Fact]
    public void NonPowerOfTwoWaysAreAccepted()
    {
        var c = Machine.Config("""{ "tlbs": [ { "name": "L2", "serves": "unified", "entries": 1280, "ways": 5, "latency": 3, "policy": "tree-plru" } ] }""");
        var t = Assert.Single(c.Caching.Tlbs);
        Assert.Equal((1280, 5, 256, ReplacementPolicy.TreePlru), (t.Entries, t.Ways, t.Sets, t.Policy));
    }

    public static TheoryData<ReplacementPolicy> EveryPolicy() => new(ReplacementPolicies.All.Select(p => p.Policy));

    /// <summary>Every policy of the registry is read under its name and its aliases and written back under its name, with its seed when seeded.</summary>
    [Theory]
    [MemberData(nameof(EveryPolicy))]
    public void EveryPolicyRoundTripsThroughTheSchema(ReplacementPolicy policy)
    {
        var info = ReplacementPolicies.Of(policy);
        foreach (string name in info.Aliases.Prepend(info.Name))
        {
            var c = Machine.Config($$"""{ "ipaCache": { "entries": 8, "ways": 2, "latency": 1, "policy": "{{name}}", "seed": 9 } }""");
            Assert.Equal(policy, c.Caching.IpaCache!.Policy);
            var written = System.Text.Json.JsonDocument.Parse(ModelConfigJson.ToJson(c)).RootElement.GetProperty("ipaCache");
            Assert.Equal(info.Name, written.GetProperty("policy").GetString());
            Assert.Equal(info.Seeded, written.TryGetProperty("seed", out var seed));
            if (info.Seeded)
            {
                Assert.Equal(9UL, seed.GetUInt64());
            }
        }
    }

    [Fact]
    public void AnUnknownPolicyListsTheRegistry()
    {
        string message = Bad("""{ "walkCaches": [ { "name": "W", "stage": 1, "entries": 8, "ways": 2, "latency": 1, "policy": "mru" } ] }""").Message;
        Assert.Equal($"cfg.json: walkCaches[0].policy: must be {ReplacementPolicies.QuotedNames}, got the string \"mru\"", message);
        Assert.EndsWith("policy: must be " + ReplacementPolicies.QuotedNames + ", got the number 3",
            Bad("""{ "ipaCache": { "entries": 8, "ways": 2, "latency": 1, "policy": 3 } }""").Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("neoverse-n1")]
    [InlineData("cortex-a76")]
    [InlineData("cortex-a55")]
    [InlineData("cortex-a53")]
    [InlineData("small-in-order")]
    [InlineData("bench")]
    [InlineData("uncached")]
    public void PresetsRoundTripThroughTheSchema(string name)
    {
        Assert.True(Presets.TryGet(name, out var p));
        var back = Machine.Config(ModelConfigJson.ToJson(p));
        Assert.Equal(ModelConfigJson.ToJson(p), ModelConfigJson.ToJson(back));
    }

    [Fact]
    public void TheBenchConfigFileIsTheBenchPreset()
    {
        var file = ModelConfigJson.Load(Path.Combine(TestPaths.Traces, "bench", "bench.config.json"));
        Assert.Equal(ModelConfigJson.ToJson(Presets.Bench), ModelConfigJson.ToJson(file));
    }

    [Fact]
    public void TheDefaultIsNeoverseN1()
    {
        Assert.Equal("neoverse-n1", ModelConfig.Default.Name);
        Assert.Equal("neoverse-n1", new SimulatedCore().Config.Name);
    }
}
