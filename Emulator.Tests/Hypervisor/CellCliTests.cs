using System.Text.Json;
using MmuSim.Cli;
using MmuSim.Hypervisor;
using static MmuSim.Tests.Hypervisor.CellTestSupport;

namespace MmuSim.Tests.Hypervisor;

/// <summary>The `cell` and `faults` commands end to end: exit codes, files written, nothing written on errors.</summary>
public sealed class CellCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"cellcli-{Guid.NewGuid():n}");

    public CellCliTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private static int Run(params string[] args) => Program.BuildRoot().Parse(args).Invoke();

    private string Temp(string name) => Path.Combine(_dir, name);

    [Fact]
    public void CellWritesTheSetupTrace()
    {
        string output = Temp("setup.trace");
        int rc = Run("cell", Path.Combine(Examples, "qemu-virt.json"), Path.Combine(Examples, "linux-demo.json"), "--hw-af", "-o", output);
        Assert.Equal(0, rc);
        Assert.Equal(File.ReadAllText(Path.Combine(Examples, "linux-demo.setup.trace")).ReplaceLineEndings("\n"), File.ReadAllText(output));
    }

    [Fact]
    public void AContradictoryConfigurationWritesNothing()
    {
        string cell = Temp("bad.json");
        File.WriteAllText(cell, """
            { "name": "bad", "mem_regions": [
              { "name": "a", "phys_start": "0xb0000000", "virt_start": "0x0", "size": "0x1800", "flags": "READ" },
              { "name": "b", "phys_start": "0xb1000000", "virt_start": "0x0", "size": "0x1000", "flags": "READ" } ] }
            """);
        string output = Temp("never.trace");
        Assert.Equal(2, Run("cell", Path.Combine(Examples, "qemu-virt.json"), cell, "-o", output));
        Assert.False(File.Exists(output));

        File.WriteAllText(cell, """{ "name": "bad", "mem_regions": [ { "phys_start": 0, "virt_start": 0, "size": 4096, "flags": "READ | EXEC" } ] }""");
        Assert.Equal(2, Run("cell", Path.Combine(Examples, "qemu-virt.json"), cell, "-o", output));
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void BadOptionsAreErrors()
    {
        Assert.Equal(1, Run("cell", Path.Combine(Examples, "qemu-virt.json"), "--granule", "8k", "-o", Temp("x.trace")));
        Assert.Equal(1, Run("cell", Path.Combine(Examples, "qemu-virt.json"), "--pool", "0x1000", "-o", Temp("x.trace")));
        Assert.False(File.Exists(Temp("x.trace")));
        Assert.Equal(2, Run("cell", Temp("missing.json")));
    }

    [Fact]
    public void CheckExitsNonZeroOnErrorsAndOnWarningsWhenAsked()
    {
        // The bundled example has notes only (W+X RAM, sub-page regions): a CI gate passes.
        Assert.Equal(0, Run("cell", "--check", Path.Combine(Examples, "qemu-virt.json"), Path.Combine(Examples, "linux-demo.json")));
        string sys = Temp("clean.json");
        File.WriteAllText(sys, SystemJson(Region("ram", 0x4000_0000, 0x4000_0000, 0x4000_0000, "READ | WRITE")));
        Assert.Equal(0, Run("cell", "--check", sys));
        Assert.Equal(0, Run("cell", sys, "--granule", "64k", "--jailhouse-compat", "-o", Temp("compat.trace")));
        Assert.Contains("--jailhouse-compat: JAILHOUSE_MEM_EXECUTE is ignored", File.ReadAllText(Temp("compat.trace")));
        Assert.Equal(0, Run("cell", "--check", sys, "--jailhouse-compat")); // every writable region becomes W+X: notes

        // A sub-page region without an access width: a warning, exit 1 only with --warnings-as-errors, gone with --ignore.
        string cell = Temp("widthless.json");
        File.WriteAllText(cell, """{ "name": "g", "mem_regions": [ { "phys_start": "0x09040000", "virt_start": "0x09040000", "size": "0x100", "flags": "READ | WRITE | IO" } ] }""");
        Assert.Equal(0, Run("cell", "--check", sys, cell));
        Assert.Equal(1, Run("cell", "--check", sys, cell, "--warnings-as-errors"));
        Assert.Equal(0, Run("cell", "--check", sys, cell, "--warnings-as-errors", "--ignore", "access-width,root-never-owned"));

        // An error gates whatever the options; --ignore cannot hide it, and an unknown kind is a bad option.
        string hv = Temp("hv.json");
        File.WriteAllText(hv, """{ "name": "h", "mem_regions": [ { "phys_start": "0xfc000000", "virt_start": "0x0", "size": "0x1000", "flags": "READ" } ] }""");
        Assert.Equal(1, Run("cell", "--check", sys, hv, "--ignore", "reaches-hypervisor"));
        Assert.Equal(1, Run("cell", "--check", sys, "--ignore", "no-such-kind"));
    }

    [Fact]
    public void FaultsWritesJsonAndKeepsResultsBeforeBadInput()
    {
        string json = Temp("faults.json");
        Assert.Equal(0, Run("faults", Path.Combine(Examples, "linux-demo.setup.trace"), Path.Combine(Examples, "linux-demo.guest.trace"), "--json", json));
        using (var doc = JsonDocument.Parse(File.ReadAllBytes(json)))
        {
            Assert.Equal(5, doc.RootElement.GetProperty("faults").GetArrayLength());
        }

        string guest = Temp("guest.trace");
        File.WriteAllText(guest, "el 1\nR 0x4f000000\nW 0x4f100000\nbogus 1 2\nR 0x4f000000\n");
        Assert.Equal(2, Run("faults", Path.Combine(Examples, "linux-demo.setup.trace"), guest, "--json", json));
        using (var doc = JsonDocument.Parse(File.ReadAllBytes(json)))
        {
            Assert.Equal(2, doc.RootElement.GetProperty("faults").GetArrayLength());
        }

        Assert.Equal(0, Run("faults", Path.Combine(Examples, "linux-demo.setup.trace"), Path.Combine(Examples, "linux-demo.guest.trace"), "--stop-on-fault", "--json", json));
        using (var doc = JsonDocument.Parse(File.ReadAllBytes(json)))
        {
            Assert.Equal(1, doc.RootElement.GetProperty("faults").GetArrayLength());
        }
    }

    [Fact]
    public async Task TheHypervisorMapProbeCanRunAgainstASetupTrace()
    {
        string trace = Temp("setup.trace");
        File.WriteAllLines(trace, File.ReadAllLines(Path.Combine(Examples, "linux-demo.setup.trace"))
            .Where(l => !l.Contains("EL2 debug_console: L3 page", StringComparison.Ordinal)));
        Assert.Equal(1, Run("cell", "--check", Path.Combine(Examples, "qemu-virt.json"), "--against", trace));
        var sys = CellConfigLoader.LoadSystem(Path.Combine(Examples, "qemu-virt.json"));
        var findings = await CellChecker.CheckAsync(sys, [], new CellBuildOptions(), trace);
        Assert.Contains(findings, f => f.Kind == "hypervisor-map-gap" && f.Message.Contains("no debug_console at VA [0x9000000-0x9000fff]", StringComparison.Ordinal));
    }
}
