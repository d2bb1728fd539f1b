namespace MmuSim.Tests.Support;

/// <summary>
/// Whole expected outputs in Emulator.Tests/Golden: a test compares what a person reads with its file, and
/// `MMUSIM_UPDATE_GOLDEN=1 dotnet test --filter ...` rewrites the files (then read the diff before committing).
/// </summary>
public static class GoldenFile
{
    /// <summary>Asserts that <paramref name="actual"/> is the golden file <paramref name="fileName"/> (rewriting it first when asked to).</summary>
    public static void AssertMatches(string fileName, string actual)
    {
        string golden = Path.Combine(TestPaths.RepositoryRoot, "Emulator.Tests", "Golden", fileName);
        if (Environment.GetEnvironmentVariable("MMUSIM_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(golden, actual);
        }
        Assert.True(File.Exists(golden), $"no golden file {golden}: run with MMUSIM_UPDATE_GOLDEN=1 and read it");
        Assert.Equal(File.ReadAllText(golden), actual);
    }
}
