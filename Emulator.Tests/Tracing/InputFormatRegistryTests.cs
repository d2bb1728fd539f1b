using System.Text.RegularExpressions;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Tracing;

/// <summary>
/// The format registry is the one list of input formats: docs/foreign-traces.md's table, README's `--format` row and
/// the commands' help list exactly its formats, names and descriptions.
/// </summary>
[Collection("Console")]
public class InputFormatRegistryTests
{
    [Fact]
    public void ForeignTracesTableListsExactlyTheRegistry()
    {
        string doc = File.ReadAllText(Path.Combine(TestPaths.Docs, "foreign-traces.md"));
        var rows = Regex.Matches(doc, @"^\| `(?<name>[a-z-]+)` \| (?<desc>[^|]+) \| (?<recog>[^|]+) \| (?<foreign>yes|no) \|$", RegexOptions.Multiline)
            .Select(m => (m.Groups["name"].Value, m.Groups["desc"].Value, m.Groups["recog"].Value, m.Groups["foreign"].Value))
            .ToList();
        var registry = InputFormats.All.Select(f => (f.Name, f.Description, f.Recognition, f.IsForeign ? "yes" : "no")).ToList();
        Assert.Equal(registry, rows);
    }

    [Fact]
    public void ReadmeFormatOptionListsTheRegistryNames()
    {
        string readme = File.ReadAllText(TestPaths.Readme);
        var row = Regex.Match(readme, @"^\| `--format (?<values>[a-z\\|-]+)` \|", RegexOptions.Multiline);
        Assert.True(row.Success, "README has no `--format` row");
        Assert.Equal(InputFormats.OptionValues, row.Groups["values"].Value.Split("\\|"));
    }

    [Fact]
    public void NamesAndAliasesParseToTheirFormats()
    {
        Assert.True(InputFormats.TryParse("auto", out var auto));
        Assert.Equal(TraceFormat.Auto, auto);
        foreach (var f in InputFormats.All)
        {
            foreach (var name in f.Aliases.Prepend(f.Name))
            {
                Assert.True(InputFormats.TryParse(name.ToUpperInvariant(), out var id), name);
                Assert.Equal(f.Id, id);
                Assert.Same(f, InputFormats.Of(id));
            }
        }
        Assert.False(InputFormats.TryParse("elf", out _));
        Assert.Equal(InputFormats.All.Count, InputFormats.All.Select(f => f.Id).Distinct().Count());
    }

    [Theory]
    [InlineData("replay")]
    [InlineData("convert")]
    [InlineData("explain")]
    [InlineData("faults")]
    public void HelpListsEveryFormatWithItsDescription(string command)
    {
        var (exit, output, _) = Support.Cli.Run(command, "--help");
        Assert.Equal(0, exit);
        string flat = Regex.Replace(output, @"\s+", " ");
        foreach (var f in InputFormats.All)
        {
            Assert.Contains($"{f.Name} ({f.Description})", flat);
        }
    }
}
