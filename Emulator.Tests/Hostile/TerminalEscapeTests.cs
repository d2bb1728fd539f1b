using MmuSim.Tests.Support;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// No input-derived text reaches the terminal raw: ESC, OSC and BEL in an option value, a file name, an unknown
/// option, a configuration's key or a setup trace's region name come out as visible escapes (\x1b, \x07), in the
/// whole one-line message each command prints.
/// </summary>
[Collection("Console")]
public sealed class TerminalEscapeTests : IDisposable
{
    private const string Osc = "\u001b]0;pwned\u0007";
    private const string Csi = "\u001b[2J";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-esc-" + Guid.NewGuid().ToString("N"));

    public TerminalEscapeTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Example => Path.Combine(TestPaths.Traces, "sample", "example.trace");

    private static string Err(params string[] args)
    {
        var (_, _, err) = Support.Cli.Run(args);
        return err.Replace("\r\n", "\n");
    }

    public static TheoryData<string[], string> Messages() => new()
    {
        { ["replay", "EXAMPLE", "--preset", "x" + Osc], "mmusim: --preset: unknown preset 'x\\x1b]0;pwned\\x07' (known: neoverse-n1, cortex-a76, cortex-a55, cortex-a53, small-in-order, bench, uncached)\n" },
        { ["esr", "0x" + Csi], "mmusim esr: '0x\\x1b[2J' is not a 64-bit number (hexadecimal, with or without 0x; 0d... for decimal)\n" },
        { ["hpfar", Osc], "mmusim hpfar: '\\x1b]0;pwned\\x07' is not a 64-bit number (hexadecimal, with or without 0x; 0d... for decimal)\n" },
        { ["par", Csi], "mmusim par: '\\x1b[2J' is not a 64-bit number (hexadecimal, with or without 0x; 0d... for decimal)\n" },
        { ["replay", "EXAMPLE", "--bogus" + Csi], "mmusim: unknown option '--bogus\\x1b[2J'; see mmusim replay --help\n" },
        { ["replay", "EXAMPLE", "--demand-paging", Csi], "mmusim: bad --demand-paging '\\x1b[2J' (auto, on or off)\n" },
        { ["convert", "EXAMPLE", "-", "--to", Osc], "mmusim: --to is text or binary, not '\\x1b]0;pwned\\x07'\n" },
        { ["replay", "EXAMPLE", "--config", "/nonexistent" + Csi], "mmusim: /nonexistent\\x1b[2J: no such file or directory\n" },
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void OptionValuesAndNamesAreEscaped(string[] args, string expected)
    {
        Assert.Equal(expected, Err(args.Select(a => a == "EXAMPLE" ? Example : a).ToArray()));
    }

    [Fact]
    public void AConfigurationsUnknownKeyIsEscaped()
    {
        string cfg = Path.Combine(_dir, "c.json");
        File.WriteAllText(cfg, "{ \"tl\\u001b[1mbs\": [] }");
        Assert.Equal($"mmusim: {cfg}: tl\\x1b[1mbs: unknown key (allowed: description, name, tlbs, walkCaches, ipaCache, walkerCaches, memoryLatency, coalesceContiguous, modelDataCaches, timeline, maintenance)\n",
            Err("replay", Example, "--quiet", "--config", cfg));
    }

    [Fact]
    public void ATraceFileNameIsEscaped()
    {
        string trace = Path.Combine(_dir, "t" + Csi + ".trace");
        File.WriteAllText(trace, "R 0x1000\nR zz\n");
        string shown = trace.Replace("\u001b", "\\x1b");
        Assert.Equal($"mmusim: {shown}:2:3: bad virtual address 'zz': 'z' is not a decimal digit\n", Err("replay", trace, "--quiet"));
    }

    [Fact]
    public void RegionNamesOfASetupTraceAreEscapedInTheFaultReport()
    {
        // A cell whose names hold escapes: `cell` writes them escaped into the setup trace's JSON, `faults` reads
        // them back as the characters they are, and must not print those raw.
        string cells = Path.Combine(TestPaths.Traces, "cells");
        string evil = Path.Combine(_dir, "evil.json");
        string json = string.Join('\n', File.ReadLines(Path.Combine(cells, "linux-demo.json")).Where(l => !l.StartsWith("//", StringComparison.Ordinal)));
        File.WriteAllText(evil, json.Replace("\"name\": \"linux-demo\"", "\"name\": \"lin\\u001b]0;x\\u0007ux\""));
        string setup = Path.Combine(_dir, "setup.trace");
        Assert.Equal(0, Support.Cli.Run("cell", Path.Combine(cells, "qemu-virt.json"), evil, "-o", setup).Exit);
        string guest = Path.Combine(_dir, "g.trace");
        File.WriteAllText(guest, "R 0x1000\n");
        var (_, stdout, _) = Support.Cli.Run("faults", setup, guest);
        Assert.DoesNotContain('\u001b', stdout);
        Assert.DoesNotContain('\u0007', stdout);
        Assert.Contains("nearest is cell 'lin\\x1b]0;x\\x07ux' region 3 'uart'", stdout);
    }
}
