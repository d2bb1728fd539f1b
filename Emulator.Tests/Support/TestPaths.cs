namespace MmuSim.Tests.Support;

/// <summary>Locates the traces/ folder copied next to the test assembly.</summary>
public static class TestPaths
{
    public static string Traces => Path.Combine(AppContext.BaseDirectory, "traces");

    public static string Qemu => Path.Combine(Traces, "qemu");
}
