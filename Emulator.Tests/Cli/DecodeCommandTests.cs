using MmuSim.Cli;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Cli;

/// <summary>`mmusim esr|hpfar|par|explain` as a user runs them.</summary>
[Collection("Console")]
public sealed class DecodeCommandTests
{
    private static (int Exit, string Out, string Err) Run(params string[] args) => Support.Cli.Run(args);

    [Fact]
    public void EsrWithEl2NamesTheRegisterAndDecodesTheAbort()
    {
        var (exit, output, _) = Run("esr", "0x9383_0006", "--el2");
        Assert.Equal(0, exit);
        Assert.Contains("ESR_EL2 = 0x93830006", output);
        Assert.Contains("DFSC  [5:0] = 0x06  Translation fault, level 2", output);
    }

    [Theory]
    [InlineData("hpfar", "0x12d4478c0", "faulting IPA page 0x12d4478c000")]
    [InlineData("par", "0d2077", "FST [6:1] = 0x0e  Permission fault, level 2")]
    [InlineData("par", "81d", "FST [6:1] = 0x0e  Permission fault, level 2")]
    public void DecodersAcceptHexAndDecimal(string command, string value, string expected)
    {
        var (exit, output, _) = Run(command, value);
        Assert.Equal(0, exit);
        Assert.Contains(expected, output);
    }

    [Fact]
    public void ABadValueIsAnError()
    {
        var (exit, _, err) = Run("esr", "0xZZ");
        Assert.Equal(2, exit);
        Assert.Equal("mmusim esr: '0xZZ' is not a 64-bit number (hexadecimal, with or without 0x; 0d... for decimal)\n", err.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void ExplainRunsFromTheCommandLine()
    {
        var (exit, output, _) = Run("explain", Path.Combine(TestPaths.Qemu, "p0008.trace"), "--line", "263", "--preset", "uncached");
        Assert.Equal(0, exit);
        Assert.Contains("steps of the walk (11 descriptor reads)", output);
        var (bad, _, err) = Run("explain", Path.Combine(TestPaths.Qemu, "p0008.trace"), "--line", "7");
        Assert.Equal(2, bad);
        Assert.Contains("p0008.trace:7: not an access", err);
    }
}
