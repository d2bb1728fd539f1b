using MmuSim.Bits;
using MmuSim.Hypervisor;
using MmuSim.Registers;
using static MmuSim.Tests.Hypervisor.CellTestSupport;

namespace MmuSim.Tests.Hypervisor;

/// <summary>
/// A configuration's names reach setup traces (comments, `#@mmusim-` lines) and the terminal. A name holding a line
/// break must not end its comment line and start a command the replay would run; `cell --check` reports it.
/// </summary>
public class HostileNameTests
{
    // A JSON string holding "\n" then a command: written raw into a comment, the next line would set SCTLR_EL1 to 0.
    private const string Injected = "ram\\nreg SCTLR_EL1 0x0\\n# \\u001b]0;owned\\u0007";

    private static string Root(string name) => $$"""
        { "name": "uart", "phys_start": "0x09000000", "virt_start": "0x09000000", "size": "0x1000", "flags": "READ | WRITE | IO" },
        { "name": "{{name}}", "phys_start": "0x40000000", "virt_start": "0x40000000", "size": "0x40000000", "flags": "READ | WRITE" }
        """;

    [Fact]
    public async Task ANameWithALineBreakCannotAddACommandToTheSetupTrace()
    {
        var sys = Sys(SystemJson(Root(Injected), 0x101122));
        var guest = Cell($$"""{ "name": "g\nreg HCR_EL2 0x0", "mem_regions": [ { "name": "{{Injected}}", "phys_start": "0x80000000", "virt_start": "0x0", "size": "0x200000", "flags": "READ | WRITE | EXECUTE" } ] }""");
        var setup = CellSetupBuilder.Build(sys, [guest], new CellBuildOptions());
        var lines = setup.Trace.Split('\n');
        Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith("reg SCTLR_EL1 0x0", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith("reg HCR_EL2 0x0", StringComparison.Ordinal));
        Assert.DoesNotContain(setup.Trace, c => c == '\u001b' || c == '\u0007');
        Assert.Contains(lines, l => l.Contains("ram\\x0areg SCTLR_EL1 0x0\\x0a# \\x1b]0;owned\\x07", StringComparison.Ordinal));

        // Replayed, the setup still turns the MMU on and stage 2 on: no line of a name ran.
        var core = await ReplaySetup(setup.Trace);
        var direct = setup.CreateCore();
        Assert.Equal(direct.Registers[SysReg.SCTLR_EL2], core.Registers[SysReg.SCTLR_EL2]);
        Assert.Equal(direct.Registers[SysReg.HCR_EL2], core.Registers[SysReg.HCR_EL2]);
        Assert.NotEqual(0UL, core.Registers[SysReg.HCR_EL2]);
    }

    [Fact]
    public async Task CellCheckReportsNamesWithControlCharactersEscaped()
    {
        var sys = Sys(SystemJson(Root(Injected), 0x101122));
        var findings = await CellChecker.CheckAsync(sys, [], new CellBuildOptions());
        var f = Assert.Single(findings, x => x.Kind == "name");
        Assert.Equal(Severity.Warning, f.Severity);
        Assert.Equal("cell 'root' root_cell.mem_regions[1] 'ram\\x0areg SCTLR_EL1 0x0\\x0a# \\x1b]0;owned\\x07': "
            + "the region's name holds control characters (shown escaped here, and written escaped into setup traces)", f.Message);
        Assert.False(PrintableText.HasControl(f.ToString()));
    }

    [Theory]
    [InlineData("plain name", "plain name")]
    [InlineData("a\tb", "a\\x09b")]
    [InlineData("\u001b[31mred", "\\x1b[31mred")]
    [InlineData("x\u2028y\u0085z", "x\\u2028y\\x85z")]
    public void EscapeMakesControlCharactersVisible(string raw, string escaped)
    {
        Assert.Equal(escaped, PrintableText.Escape(raw));
        Assert.False(PrintableText.HasControl(PrintableText.Escape(raw)));
    }
}
