using MmuSim.Bits;
using MmuSim.Core;
using MmuSim.Hypervisor;
using MmuSim.Tests.Support;
using static MmuSim.Tests.Hypervisor.CellTestSupport;
using static MmuSim.Tests.Support.Cli;

namespace MmuSim.Tests.Core;

/// <summary>
/// One <see cref="ConfigException"/> for every configuration: model files and options, system and cell files. Its
/// parts (file, line and column, key, reason) are filled where known, and its message keeps the formats each reader used.
/// </summary>
[Collection("Console")]
public class ConfigExceptionTests
{
    private static ConfigException Model(string json) =>
        Assert.Throws<ConfigException>(() => ModelConfigJson.Parse(System.Text.Encoding.UTF8.GetBytes(json), "cfg.json"));

    [Fact]
    public void AModelConfigurationErrorNamesFileAndKey()
    {
        var e = Model("""{ "tlbs": [ { "name": "L2", "serves": "unified", "entries": 1280, "ways": 3, "latency": 3 } ] }""");
        Assert.Equal(("cfg.json", "tlbs[0].ways", 0, 0, "3 does not divide entries (1280)"), (e.File, e.Key, e.Line, e.Column, e.Reason));
        Assert.Equal("cfg.json: tlbs[0].ways: 3 does not divide entries (1280)", e.Message);
        Assert.Empty(e.Errors);
    }

    [Fact]
    public void AModelSyntaxErrorNamesLineAndColumn()
    {
        var e = Model("{\n  \"tlbs\": [ , ]\n}");
        Assert.Equal(("cfg.json", 2, (string?)null), (e.File, e.Line, e.Key));
        Assert.True(e.Column > 0);
        Assert.Equal($"cfg.json:2:{e.Column}: {e.Reason}", e.Message);
        Assert.StartsWith("invalid JSON: ", e.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ADocumentThatIsNoObjectNamesNoEmptyKey() =>
        Assert.Equal("cfg.json: must be an object, got an array", Model("[1]").Message);

    [Fact]
    public void AMissingModelFileIsAConfigurationError()
    {
        string path = Path.Combine(Path.GetTempPath(), $"mmusim-missing-{Guid.NewGuid():N}.json");
        var e = Assert.Throws<ConfigException>(() => ModelConfigJson.Load(path));
        Assert.Equal(path, e.File);
        Assert.StartsWith($"{path}: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ACellErrorNamesPlaceAndField()
    {
        var e = Assert.Throws<ConfigException>(() => Cell("""
            { "name": "guest", "mem_regions": [ { "phys_start": 0, "virt_start": 0, "size": "lots", "flags": "READ" } ] }
            """, "bad.json"));
        Assert.Equal(new SourcePos("bad.json", 1, 81), e.Where);
        Assert.Equal(("bad.json", 1, 81), (e.File, e.Line, e.Column));
        Assert.Equal("cell 'guest': mem_regions[0].size", e.Key);
        Assert.Equal("bad.json:1:81: cell 'guest': mem_regions[0].size: \"lots\" is not an unsigned 64-bit number (0x hexadecimal or decimal)", e.Message);
    }

    [Fact]
    public void AContradictoryCellConfigurationReportsEveryErrorAsFindings()
    {
        var sys = CellConfigLoader.LoadSystem(Path.Combine(Examples, "qemu-virt.json"));
        var cell = Cell("""
            { "name": "bad", "mem_regions": [
              { "name": "a", "phys_start": "0xb0000000", "virt_start": "0x0", "size": "0x1800", "flags": "READ" },
              { "name": "b", "phys_start": "0xb1000000", "virt_start": "0x0", "size": "0x1000", "flags": "READ" } ] }
            """, "bad.json");
        var e = Assert.Throws<ConfigException>(() => CellSetupBuilder.Build(sys, [cell], new CellBuildOptions()));
        Assert.NotEmpty(e.Errors);
        var findings = e.Errors.Cast<Finding>().ToList();
        Assert.All(findings, f => Assert.Equal(Severity.Error, f.Severity));
        Assert.Equal(string.Join(Environment.NewLine, findings.Select(f => f.ToString())), e.Message);
        Assert.Equal(findings.Select(f => f.Pos), e.Errors.Select(x => x.Pos));
    }

    [Fact]
    public void TheCliExitsWithTwoAndPrintsTheMessage()
    {
        string trace = Path.Combine(TestPaths.Traces, "sample", "example.trace");
        var (exit, _, err) = Run("replay", trace, "--preset", "pentium");
        Assert.Equal(2, exit);
        Assert.StartsWith("mmusim: --preset: unknown preset 'pentium' (known: ", err, StringComparison.Ordinal);
        (exit, _, err) = Run("explain", trace, "--line", "1", "--preset", "bench", "--config", "x.json");
        Assert.Equal(2, exit);
        Assert.Equal("mmusim: use either --config or --preset, not both", err.TrimEnd());
        (exit, _, err) = Run("cell", Path.Combine(Examples, "qemu-virt.json"), Path.Combine(TestPaths.Traces, "sample", "example.trace"));
        Assert.Equal(2, exit);
        Assert.StartsWith("mmusim cell: ", err, StringComparison.Ordinal);
        Assert.Contains("example.trace:1:1: invalid JSON: ", err, StringComparison.Ordinal);
    }
}
