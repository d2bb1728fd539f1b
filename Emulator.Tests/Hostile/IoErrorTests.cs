using MmuSim.Tests.Support;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// Every command meets each kind of I/O failure with one line `mmusim[ CMD]: PATH: reason` and its documented exit
/// code (2 for an input, 1 for an output), never a stack trace: a missing input, a directory in place of a file, a
/// path under a regular file, and a full disk (/dev/full, which is also never replaced: an output that is a device
/// is written in place). The tests run as root, which reads and writes past permissions, so these are the failures
/// root meets too. Outputs that fail leave what else was computed: the text summary is still printed.
/// </summary>
[Collection("Console")]
public sealed class IoErrorTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-io-" + Guid.NewGuid().ToString("N"));
    private readonly string _file;

    public IoErrorTests()
    {
        Directory.CreateDirectory(_dir);
        _file = Path.Combine(_dir, "regular");
        File.WriteAllText(_file, "R 0x1000\n");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Example => Path.Combine(TestPaths.Traces, "sample", "example.trace");
    private static string System => Path.Combine(TestPaths.Traces, "cells", "qemu-virt.json");
    private static string KvmDump => Path.Combine(TestPaths.Traces, "kvm", "stage2_page_tables");

    /// <summary>Inputs that cannot be read: (path, reason).</summary>
    private IEnumerable<(string Path, string Reason)> BadInputs() =>
    [
        (Path.Combine(_dir, "missing"), "no such file or directory"),
        (_dir, "is a directory"),
        (Path.Combine(_file, "x"), "not a directory"),
    ];

    [Fact]
    public void EveryCommandNamesAnUnreadableInput()
    {
        foreach (var (path, reason) in BadInputs())
        {
            foreach (var (args, prefix) in new (string[], string)[]
            {
                (["replay", path, "--quiet"], "mmusim"),
                (["explain", path, "--line", "1"], "mmusim"),
                (["faults", path], "mmusim faults"),
                (["convert", path, Path.Combine(_dir, "out.trace")], "mmusim"),
                (["replay", Example, "--quiet", "--config", path], "mmusim"),
                (["cell", path], "mmusim cell"),
                (["import", "kvm-stage2", path, "-o", Path.Combine(_dir, "out.trace")], "mmusim"),
                (["import", "kvm-stage2", KvmDump, "--setup", path, "-o", Path.Combine(_dir, "out.trace")], "mmusim"),
            })
            {
                var (exit, _, err) = Support.Cli.Run(args);
                Assert.Equal((2, $"{prefix}: {path}: {reason}\n"), (exit, err.Replace("\r\n", "\n")));
            }
        }
        Assert.False(File.Exists(Path.Combine(_dir, "out.trace")));
    }

    [Fact]
    public void EveryCommandNamesAnUnwritableOutput()
    {
        foreach (var (path, reason) in new[] { (_dir, "is a directory"), (Path.Combine(_file, "x"), "not a directory"), ("/dev/full", "no space left on device") })
        {
            foreach (var (args, prefix) in new (string[], string)[]
            {
                (["replay", Example, "--quiet", "--results", path], "mmusim"),
                (["replay", Example, "--quiet", "--json", path], "mmusim"),
                (["faults", Example, "--json", path], "mmusim faults"),
                (["convert", Example, path], "mmusim"),
                (["cell", System, "-o", path], "mmusim cell"),
                (["import", "kvm-stage2", KvmDump, "-o", path], "mmusim import kvm-stage2"),
            })
            {
                var (exit, _, err) = Support.Cli.Run(args);
                string last = err.Replace("\r\n", "\n").Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
                Assert.Equal((1, $"{prefix}: {path}: {reason}"), (exit, last));
                Assert.DoesNotContain("   at ", err);
            }
        }
        // /dev/full is still the device: nothing was renamed over it.
        Assert.False(MmuSim.Bits.PathErrors.IsRegularFile("/dev/full"));
        Assert.True(File.Exists("/dev/full"));
    }

    [Fact]
    public void AFullDiskForResultsStillPrintsTheSummaryAndWritesTheJson()
    {
        string json = Path.Combine(_dir, "s.json");
        var (exit, stdout, err) = Support.Cli.Run("replay", Example, "--quiet", "--results", "/dev/full", "--json", json);
        Assert.Equal((1, "mmusim: /dev/full: no space left on device\n"), (exit, err.Replace("\r\n", "\n")));
        Assert.StartsWith("lines ", stdout, StringComparison.Ordinal);
        Assert.StartsWith("{", File.ReadAllText(json), StringComparison.Ordinal);
    }

    [Fact]
    public void ARegularFileIsReplacedAndADeviceIsNot()
    {
        Assert.True(MmuSim.Bits.PathErrors.IsRegularFile(_file));
        Assert.False(MmuSim.Bits.PathErrors.IsRegularFile(_dir));
        Assert.False(MmuSim.Bits.PathErrors.IsRegularFile("/dev/null"));
        Assert.False(MmuSim.Bits.PathErrors.IsRegularFile(Path.Combine(_dir, "missing")));
        var (exit, _, _) = Support.Cli.Run("convert", Example, "/dev/null");
        Assert.Equal(0, exit);
        Assert.False(MmuSim.Bits.PathErrors.IsRegularFile("/dev/null"));
    }
}
