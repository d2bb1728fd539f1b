namespace MmuSim.Tests.Support;

/// <summary>Locates the traces/ and docs/ folders and README.md, copied next to the test assembly.</summary>
public static class TestPaths
{
    public static string Traces => Path.Combine(AppContext.BaseDirectory, "traces");

    public static string Qemu => Path.Combine(Traces, "qemu");

    /// <summary>The QEMU-checked corpus of version-2 features (traces/qemu-v2).</summary>
    public static string QemuV2 => Path.Combine(Traces, "qemu-v2");

    public static string Docs => Path.Combine(AppContext.BaseDirectory, "docs");

    public static string Readme => Path.Combine(AppContext.BaseDirectory, "README.md");

    /// <summary>The source tree (the folder above the test assembly that holds MmuSim.sln), for tests that read or rewrite sources.</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "MmuSim.sln")))
                {
                    return dir.FullName;
                }
            }
            throw new DirectoryNotFoundException("MmuSim.sln not found above " + AppContext.BaseDirectory);
        }
    }
}
