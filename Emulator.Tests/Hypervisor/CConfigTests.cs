using System.Diagnostics;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Hypervisor;

/// <summary>
/// C configurations written for the tests (Emulator.Tests/Hypervisor/CConfigs: the layout as docs/cells.md describes
/// it, in the tests' own header) compiled as jailhouse's build compiles its configs — `gcc -c`, then
/// `objcopy -O binary` — and given to `mmusim cell`: the compiler's bytes must be the tests' C-layout builder's, and
/// the tables built from them the golden ones.
/// </summary>
public sealed class CConfigTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"mmusim-cconfig-{Guid.NewGuid():n}");

    public CConfigTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string? OnPath(string tool) => (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);

    private static void Tool(string tool, params string[] args)
    {
        var psi = new ProcessStartInfo(tool) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), $"{tool} did not finish in 60 s");
        Assert.True(p.ExitCode == 0, $"{tool} {string.Join(' ', args)}: exit {p.ExitCode}: {err}");
    }

    /// <summary>Compiles CConfigs/NAME.c into NAME.cell as jailhouse's Kbuild does (object, then its raw bytes).</summary>
    private string Compile(string name)
    {
        string src = Path.Combine(TestPaths.RepositoryRoot, "Emulator.Tests", "Hypervisor", "CConfigs", name + ".c");
        string obj = Path.Combine(_dir, name + ".o");
        string cell = Path.Combine(_dir, name + ".cell");
        Tool("gcc", "-c", "-O2", "-o", obj, src);
        Tool("objcopy", "-O", "binary", "--remove-section=.note.gnu.property", obj, cell);
        return cell;
    }

    [SkippableFact]
    public void CompiledConfigurationsAreTheBuildersBytesAndBuildTheGoldenTables()
    {
        var absent = new[] { "gcc", "objcopy" }.Where(t => OnPath(t) is null).ToList();
        Skip.If(absent.Count > 0 && Environment.GetEnvironmentVariable("CI") != "true",
            $"not installed: {string.Join(", ", absent)} (.ci/install-gcc.sh installs them)");
        Assert.Empty(absent);

        string board = Compile("board");
        string guest = Compile("guest");
        Assert.Equal(CellFileBuilder.Board().System(), File.ReadAllBytes(board));
        Assert.Equal(CellFileBuilder.Guest().Cell(), File.ReadAllBytes(guest));

        var check = Support.Cli.Run("cell", "--check", board, guest);
        Assert.Equal(0, check.Exit);
        var built = Support.Cli.Run("cell", "--jailhouse-tables", board, guest);
        string golden = File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "Emulator.Tests", "Golden", "cell-jailhouse-tables.txt"));
        Assert.Equal(golden, built.Out.Replace("\r\n", "\n") + $"[exit {built.Exit}]\n");
    }
}
