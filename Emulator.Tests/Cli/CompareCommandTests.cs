using System.Text.Json.Nodes;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Cli;

/// <summary>
/// `compare` of runs inside a sweep or merge JSON (FILE#CONFIG, FILE#N): comparing two runs of one sweep used to
/// need each copied into a file of its own ("not a replay summary (replay --json) nor a one-run sweep").
/// </summary>
public sealed class CompareCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmusim-compare-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Sweep => Path.Combine(TestPaths.RepositoryRoot, "Emulator.Tests", "Reporting", "ReportFixtures", "sweep.json");

    /// <summary>Run <paramref name="index"/> of the fixture sweep as a one-run sweep file of its own.</summary>
    private string OneRun(int index, string name)
    {
        var root = JsonNode.Parse(File.ReadAllText(Sweep))!;
        var run = root["runs"]![index]!.DeepClone();
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, new JsonObject { ["tool"] = "mmusim sweep", ["runs"] = new JsonArray(run) }.ToJsonString());
        return path;
    }

    [Fact]
    public void RunsOfOneSweepCompareAsTheSameRunsInFilesOfTheirOwn()
    {
        string a = OneRun(0, "a.json"), b = OneRun(1, "b.json");
        var separate = Support.Cli.Run("compare", a, b);
        Assert.Equal(("", 0), (separate.Err, separate.Exit));
        foreach (var (x, y) in new[] { ("#1", "#2"), ("#a55 <small>", "#uncached & \"slow\""), ("#1", "#uncached & \"slow\"") })
        {
            var r = Support.Cli.Run("compare", Sweep + x, Sweep + y);
            Assert.Equal(("", 0), (r.Err, r.Exit));
            // The same table; only the names in the A:/B: lines differ.
            Assert.Equal(separate.Out.Replace(a, Sweep + x).Replace(b, Sweep + y), r.Out);
        }
    }

    [Fact]
    public void AManyRunFileWithoutARunOrWithOneItDoesNotHoldSaysWhichItHolds()
    {
        string runs = "(#1 a55 <small>, #2 uncached & \"slow\")";
        Assert.Equal(($"mmusim: {Sweep}: 2 runs: name one as {Sweep}#CONFIG or {Sweep}#N {runs}\n", 2), Err("compare", Sweep, Sweep + "#1"));
        Assert.Equal(($"mmusim: {Sweep}: #3: no such run (1 to 2: {runs[1..^1]})\n", 2), Err("compare", Sweep + "#3", Sweep + "#1"));
        Assert.Equal(($"mmusim: {Sweep}: #n1: no run of that configuration {runs}\n", 2), Err("compare", Sweep + "#n1", Sweep + "#1"));
    }

    private static (string Err, int Exit) Err(params string[] args)
    {
        var r = Support.Cli.Run(args);
        return (r.Err.Replace("\r\n", "\n"), r.Exit);
    }
}
