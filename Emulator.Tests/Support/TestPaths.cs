namespace MmuSim.Tests.Support;

/// <summary>Locates the traces/ folder copied next to the test assembly.</summary>
public static class TestPaths
{
    public static string Traces => Path.Combine(AppContext.BaseDirectory, "traces");

    public static string Qemu => Path.Combine(Traces, "qemu");

    /// <summary>The docs/ folder of the source tree (the one above the test assembly that holds MmuSim.sln).</summary>
    public static string Docs
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "MmuSim.sln")))
                {
                    return Path.Combine(dir.FullName, "docs");
                }
            }
            throw new DirectoryNotFoundException($"no MmuSim.sln above {AppContext.BaseDirectory}");
        }
    }
}
