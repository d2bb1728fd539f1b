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
}
