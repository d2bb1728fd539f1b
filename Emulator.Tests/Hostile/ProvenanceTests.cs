using System.Text.Json;
using MmuSim.Reporting;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// `--json` says what produced it (issue 19): tool version, command, every option as it took effect, the inputs
/// (path, size, format, compression), the model (source, name, digest), demand paging and skipped lines. Compared
/// whole against golden files (Emulator.Tests/Golden/NAME.json.txt) with the version and temporary paths masked;
/// `MMUSIM_UPDATE_GOLDEN=1` rewrites them, as for GoldenOutputTests.
/// </summary>
[Collection("Console")]
public sealed class ProvenanceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmusim-provenance").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Summary(string expectedErr, params string[] args)
    {
        string json = Path.Combine(_dir, "s.json");
        var (exit, _, err) = Support.Cli.Run(["replay", .. args, "--quiet", "--json", json]);
        Assert.Equal(expectedErr, err.Replace(_dir, "<tmp>").Replace("\r\n", "\n"));
        Assert.Equal(0, exit);
        string root = TestPaths.RepositoryRoot + Path.DirectorySeparatorChar;
        return File.ReadAllText(json)
            .Replace(JsonEncodedText.Encode(Provenance.ToolVersion).Value, "<version>")
            .Replace(_dir, "<tmp>")
            .Replace(root, "")
            .Replace("\r\n", "\n");
    }

    private static void Golden(string name, string actual)
    {
        string golden = Path.Combine(TestPaths.RepositoryRoot, "Emulator.Tests", "Golden", name + ".json.txt");
        if (Environment.GetEnvironmentVariable("MMUSIM_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(golden, actual);
        }
        Assert.True(File.Exists(golden), $"no golden file {golden}: run with MMUSIM_UPDATE_GOLDEN=1 and read it");
        Assert.Equal(File.ReadAllText(golden), actual);
    }

    [Fact]
    public void ATextTraceUnderAPreset()
    {
        Golden("replay-provenance-preset", Summary("", Path.Combine(TestPaths.RepositoryRoot, "traces", "sample", "example.trace"), "--preset", "bench", "--max-memory", "64m"));
    }

    [Fact]
    public void AForeignTraceUnderDemandPagingWithSkippedLines()
    {
        // A compressed lackey trace with a bad line skipped: format, compression, demand paging and the count show.
        string bad = Path.Combine(_dir, "bad.lackey");
        File.WriteAllText(bad, "==1== lackey\n L 00002000,8\n Q nonsense\n S 00003000,4\n");
        Golden("replay-provenance-foreign", Summary("mmusim: skipped <tmp>/bad.lackey:3:2: unknown lackey record 'Q' (expected L, S or M)\n", Path.Combine(TestPaths.RepositoryRoot, "traces", "champsim", "sample.champsim.xz"), bad, "--skip-bad-lines", "--seed", "7"));
    }

    [Fact]
    public void TheModelDigestTellsModelsApart()
    {
        Assert.Equal(Provenance.ModelDigest(MmuSim.Core.Presets.All["bench"]), Provenance.ModelDigest(MmuSim.Core.Presets.All["bench"]));
        Assert.NotEqual(Provenance.ModelDigest(MmuSim.Core.Presets.All["bench"]), Provenance.ModelDigest(MmuSim.Core.Presets.All["neoverse-n1"]));
        Assert.Matches("^sha256:[0-9a-f]{64}$", Provenance.ModelDigest(MmuSim.Core.Presets.All["bench"]));
    }

    [Fact]
    public void TheVersionIsMinVersFromGit()
    {
        // MinVer: MAJOR.MINOR.PATCH[-PRERELEASE]+COMMIT (the commit is the build metadata).
        Assert.Matches(@"^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?(\+[0-9a-f]{7,40})?$", Provenance.ToolVersion);
    }
}
