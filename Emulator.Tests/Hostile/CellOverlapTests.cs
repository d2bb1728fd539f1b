using System.Text;
using MmuSim.Hypervisor;
using MmuSim.Tests.Support;
using static MmuSim.Tests.Hypervisor.CellTestSupport;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// Overlapping cell regions (issue 19): 3,000 copies of one region used to give 4.5 million findings (900 MB from
/// `cell --check`, 67 s, 7.7 GB). Identical regions are one group reported once; every other region gets at most one
/// overlap finding, naming the first earlier regions it overlaps and how many more. The sizes are big enough that a
/// finding per pair would show in the counts asserted here.
/// </summary>
[Collection("Console")]
public sealed class CellOverlapTests
{
    private const string Root = """
        { "name": "uart", "phys_start": "0x09000000", "virt_start": "0x09000000", "size": "0x1000", "flags": "READ | WRITE | IO" },
        { "name": "ram",  "phys_start": "0x40000000", "virt_start": "0x40000000", "size": "0x40000000", "flags": "READ | WRITE" }
        """;

    private static string Region(string name, ulong phys, ulong virt, ulong size) =>
        $$"""{ "name": "{{name}}", "phys_start": "0x{{phys:x}}", "virt_start": "0x{{virt:x}}", "size": "0x{{size:x}}", "flags": "READ | WRITE" }""";

    private static string Cell(IEnumerable<string> regions) => $$"""{ "name": "g", "mem_regions": [ {{string.Join(",\n", regions)}} ] }""";

    private static Task<List<Finding>> Check(string cell) =>
        CellChecker.CheckAsync(Sys(SystemJson(Root)), [Hypervisor.CellTestSupport.Cell(cell, "g.json")], new CellBuildOptions());

    [Fact]
    public async Task ThreeThousandIdenticalRegionsAreOneFinding()
    {
        var regions = Enumerable.Repeat(Region("ram", 0x60000000, 0x0, 0x200000), 3000);
        var findings = (await Check(Cell(regions))).Where(f => f.Kind == "overlap").ToList();
        var f = Assert.Single(findings);
        Assert.Equal(1, f.RegionIndex);
        Assert.Equal("cell 'g' mem_regions[1] 'ram': virt_start + size: IPA [0x0-0x1fffff] repeats mem_regions[0] 'ram' exactly"
            + " (and so do mem_regions [2], [3], [4] and 2,995 more: 2,999 copies): jailhouse maps a cell's regions in order, so the later one wins where they overlap",
            f.Message);
    }

    [Fact]
    public async Task DistinctOverlapsAreOneFindingPerRegionNamingTheFirstFour()
    {
        // 200 nested regions, each overlapping every earlier one (19,900 pairs), and each repeated once.
        var regions = Enumerable.Range(0, 200).SelectMany(i =>
        {
            string r = Region($"r{i}", 0x60000000 + ((ulong)i << 12), (ulong)i << 12, 0x1000000);
            return new[] { r, r };
        });
        var findings = (await Check(Cell(regions))).Where(f => f.Kind == "overlap").ToList();
        // 200 groups of two, each reported once; 199 distinct regions overlapping earlier ones, each reported once.
        Assert.Equal(200 + 199, findings.Count);
        Assert.Equal(200, findings.Count(f => f.Message.Contains(" repeats ", StringComparison.Ordinal)));
        var last = findings.Single(f => f.RegionIndex == 398);
        Assert.Equal("cell 'g' mem_regions[398] 'r199': virt_start + size: IPA [0xc7000-0x10c6fff] overlaps mem_regions[0] 'r0' IPA [0x0-0xffffff],"
            + " mem_regions[2] 'r1' IPA [0x1000-0x1000fff], mem_regions[4] 'r2' IPA [0x2000-0x1001fff], mem_regions[6] 'r3' IPA [0x3000-0x1002fff]"
            + " and 195 more regions: jailhouse maps a cell's regions in order, so the later one wins where they overlap", last.Message);
        Assert.True(findings.Sum(f => f.Message.Length) < 400 * 400, "the findings grow linearly with the regions");
    }

    [Fact]
    public async Task ManyRegionsOnOneMemoryAreOneAliasFindingEach()
    {
        // 1,000 regions on one PA at 1,000 IPAs: 499,500 aliasing pairs, reported as one finding per region.
        var regions = Enumerable.Range(0, 1000).Select(i => Region($"m{i}", 0x60000000, (ulong)i << 21, 0x200000));
        var findings = (await Check(Cell(regions))).Where(f => f.Kind == "phys-alias").ToList();
        Assert.Equal(999, findings.Count);
        Assert.DoesNotContain(await Check(Cell(regions)), f => f.Kind == "overlap");
        Assert.Equal("cell 'g' mem_regions[999] 'm999': PA [0x60000000-0x601fffff] is also mapped by mem_regions[0] 'm0' (PA [0x60000000-0x601fffff]),"
            + " mem_regions[1] 'm1' (PA [0x60000000-0x601fffff]), mem_regions[2] 'm2' (PA [0x60000000-0x601fffff]), mem_regions[3] 'm3' (PA [0x60000000-0x601fffff])"
            + " and 995 more regions at another IPA: one memory, two guest addresses", findings.Single(f => f.RegionIndex == 999).Message);
        Assert.Equal("cell 'g' mem_regions[1] 'm1': PA [0x60000000-0x601fffff] is also mapped by mem_regions[0] 'm0' (PA [0x60000000-0x601fffff]) at another IPA: one memory, two guest addresses",
            findings.Single(f => f.RegionIndex == 1).Message);
    }

    [Fact]
    public void CellCheckOfThreeThousandCopiesWritesAFewLines()
    {
        string dir = Directory.CreateTempSubdirectory("mmusim-overlap").FullName;
        try
        {
            string sys = Path.Combine(dir, "sys.json"), cell = Path.Combine(dir, "g.json");
            File.WriteAllText(sys, SystemJson(Root));
            File.WriteAllText(cell, Cell(Enumerable.Repeat(Region("ram", 0x60000000, 0x0, 0x200000), 3000)), Encoding.UTF8);
            var (exit, output, err) = Support.Cli.Run("cell", "--check", sys, cell);
            Assert.Equal(1, exit);
            Assert.Equal("", err);
            // One overlap line and the count line (and the configuration's other notes, if any): kilobytes, not 900 MB.
            Assert.Equal(1, output.Split('\n').Count(l => l.Contains("[overlap]", StringComparison.Ordinal)));
            Assert.True(output.Length < 4096, output);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
