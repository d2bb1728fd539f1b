using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Reporting;
using MmuSim.Tests.Support;
using MmuSim.Translation;

namespace MmuSim.Tests.Reporting;

/// <summary>
/// `translate` asks without touching: with hardware access-flag and dirty-state management on, the answers are those
/// of the accesses (AF=0 is no fault, a writable-clean page is writable), yet the descriptor in memory is unchanged,
/// and the PE's own TLB is not filled.
/// </summary>
public sealed class TranslationProbeTests
{
    private const string Setup = """
        ram  0x40000000 0x100000
        reg  MAIR_EL1  0xff
        reg  TCR_EL1   0x0000018280803510
        reg  TTBR0_EL1 0x40000000
        mem  0x40000000 0x40001003
        mem  0x40001000 0x40002003
        mem  0x40002000 0x40003003
        mem  0x40003008 0x0008000050000083
        reg  SCTLR_EL1 0x1
        el   1
        """;

    [Fact]
    public async Task AnswersAreTheAccessesButNothingIsWritten()
    {
        var path = Path.Combine(Path.GetTempPath(), $"probe-{Guid.NewGuid():N}.trace");
        File.WriteAllText(path, Setup.Replace("\r\n", "\n") + "\n");
        try
        {
            var replayer = await SetupReplay.RunAsync([path]);
            var pe = replayer.System.Pes[0];
            var answers = TranslationProbe.Accesses(pe, 0x1008, 1);

            // HA=1, HD=1 (TCR_EL1 bits 39, 40): AF=0 is set by hardware, DBM=1 with AP[2]=1 is writable-clean.
            Assert.Equal(["read", "write", "fetch"], answers.Select(a => a.Label));
            Assert.All(answers, a => Assert.False(a.Outcome.IsFault));
            Assert.All(answers, a => Assert.Equal(0x5000_0008UL, a.Outcome.Pa));
            Assert.Equal(0x0008000050000083UL, pe.Memory.Peek64(new Addressing.PhysicalAddress(0x40003008)));
            Assert.Equal(0, pe.Mmu.HardwareUpdates);

            var at = TranslationProbe.At(pe, AtOp.S1E1W, 0x1008);
            Assert.Equal(0x5000_0000UL, at.Outcome.Par & 0x000F_FFFF_FFFF_F000);
            Assert.Equal(0x0008000050000083UL, pe.Memory.Peek64(new Addressing.PhysicalAddress(0x40003008)));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
