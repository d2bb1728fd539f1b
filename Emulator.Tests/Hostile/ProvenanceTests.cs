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

    private static void Golden(string name, string actual) => GoldenFile.AssertMatches(name + ".json.txt", actual);

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

    /// <summary>The digests `replay --json` gives its inputs, in order (null where the input was not read to its end).</summary>
    private string?[] Digests(params string[] args)
    {
        string json = Path.Combine(_dir, "d.json");
        var (exit, _, err) = Support.Cli.Run(["replay", .. args, "--quiet", "--json", json]);
        Assert.True(exit is 0 or 2, err);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
        return doc.RootElement.GetProperty("provenance").GetProperty("inputs").EnumerateArray().Select(i => i.GetProperty("digest").GetString()).ToArray();
    }

    private static string Xxh3(string path) => $"xxh3:{System.IO.Hashing.XxHash3.HashToUInt64(File.ReadAllBytes(path)):x16}";

    /// <summary>
    /// Each input's digest is the XXH3 of its stored bytes, every byte once, in order, whichever way it was read: a
    /// plain file read directly (with and without a byte order mark, which the direct reads skip and the digest does
    /// not), and gzip, xz and zstd files, whose compressed bytes are hashed.
    /// </summary>
    [Fact]
    public void EachInputsDigestIsTheHashOfItsBytes()
    {
        string bom = Path.Combine(_dir, "bom.trace");
        File.WriteAllBytes(bom, [0xEF, 0xBB, 0xBF, .. File.ReadAllBytes(Path.Combine(TestPaths.Traces, "sample", "example.trace"))]);
        string[] inputs = [Path.Combine(TestPaths.Traces, "sample", "example.trace"), bom, Path.Combine(TestPaths.Traces, "lackey", "sumsort.lackey.gz"),
            Path.Combine(TestPaths.Traces, "analysis", "zipf-asids.trace.xz")];
        Assert.Equal(inputs.Select(Xxh3).ToArray(), inputs.Select(i => Digests(i).Single()).ToArray());
        // Several inputs: each its own.
        Assert.Equal(new[] { Xxh3(inputs[0]), Xxh3(inputs[1]) }, Digests(inputs[0], inputs[1]));
    }

    /// <summary>An input read only in part (a stop on a fault, a malformed line) has no digest: its bytes were not all read.</summary>
    [Fact]
    public void AnInputNotReadToItsEndHasNoDigest()
    {
        string bad = Path.Combine(_dir, "bad.trace");
        File.WriteAllText(bad, "R 0x1000\nR zz\nR 0x2000\n");
        Assert.Equal(new[] { Xxh3(Path.Combine(TestPaths.Traces, "sample", "example.trace")), null },
            Digests(Path.Combine(TestPaths.Traces, "sample", "example.trace"), bad));
        Assert.Equal(new string?[] { null }, Digests(Path.Combine(TestPaths.Traces, "sample", "example.trace"), "--stop-on-fault"));
    }

    /// <summary>The digest is the one `xxhsum -H3` prints (xxHash's own command, an implementation apart from ours).</summary>
    [SkippableFact]
    public void DigestsAreWhatXxhsumPrints()
    {
        Skip.If(!File.Exists("/usr/bin/xxhsum") && Environment.GetEnvironmentVariable("CI") != "true", "xxhsum is not installed (.ci/install-xz.sh)");
        string file = Path.Combine(TestPaths.Traces, "lackey", "sumsort.lackey.gz");
        var psi = new System.Diagnostics.ProcessStartInfo("xxhsum") { RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add("-H3");
        psi.ArgumentList.Add(file);
        using var p = System.Diagnostics.Process.Start(psi)!;
        string line = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        // "XXH3 (FILE) = HEX"
        Assert.Equal(new string?[] { $"xxh3:{line.Trim().Split(" = ")[1]}" }, Digests(file));
    }
}
