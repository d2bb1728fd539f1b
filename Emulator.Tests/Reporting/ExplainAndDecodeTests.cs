using MmuSim.Faults;
using MmuSim.Reporting;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Reporting;

public class ExplainAndDecodeTests
{
    [Fact]
    public void EsrOfAStage2TranslationFaultIsDecodedInWords()
    {
        string text = SyndromeDecoder.DescribeEsr(0x93830006, 2);
        Assert.Contains("ESR_EL2 = 0x93830006", text);
        Assert.Contains("EC   [31:26] = 0x24  Data Abort from a lower Exception level", text);
        Assert.Contains("ISV   [24] = 1", text);
        Assert.Contains("SAS   [23:22] = 2  access size 4 byte(s)", text);
        Assert.Contains("SRT   [20:16] = 3", text);
        Assert.Contains("WnR   [6]  = 0  read", text);
        Assert.Contains("DFSC  [5:0] = 0x06  Translation fault, level 2", text);
    }

    [Theory]
    [InlineData(0x8600000dUL, "0x21", "IFSC  [5:0] = 0x0d  Permission fault, level 1")]
    [InlineData(0x82000017UL, "0x20", "IFSC  [5:0] = 0x17  Synchronous External abort on translation table walk, level 3")]
    [InlineData(0x920000abUL, "0x24", "DFSC  [5:0] = 0x2b  Translation fault, level -1")]
    [InlineData(0x96000049UL, "0x25", "DFSC  [5:0] = 0x09  Access flag fault, level 1")]
    public void AbortSyndromes(ulong esr, string ec, string fsc)
    {
        string text = SyndromeDecoder.DescribeEsr(esr);
        Assert.Contains($"EC   [31:26] = {ec}", text);
        Assert.Contains(fsc, text);
    }

    [Fact]
    public void S1ptwAndWnrBitsAreNamed()
    {
        string text = SyndromeDecoder.DescribeEsr(0x920000c7);
        Assert.Contains("S1PTW [7]  = 1  stage-2 fault on a stage-1 translation table walk", text);
        Assert.Contains("WnR   [6]  = 1  write", text);
    }

    [Fact]
    public void HpfarGivesTheIpaPage()
    {
        Assert.Contains("faulting IPA page 0x12d4478c000", SyndromeDecoder.DescribeHpfar(0x12d4478c0));
    }

    [Fact]
    public void ParSuccessAndFailure()
    {
        string ok = SyndromeDecoder.DescribePar(0xff00000040100b80);
        Assert.Contains("PA   [51:12] = 0x40100000", ok);
        Assert.Contains("SH   [8:7]   = 3  Inner Shareable", ok);
        Assert.Contains("ATTR [63:56] = 0xff  Normal iWB oWB", ok);
        string bad = SyndromeDecoder.DescribePar(0x81d);
        Assert.Contains("FST [6:1] = 0x0e  Permission fault, level 2", bad);
        Assert.Contains("S   [9]   = 0  fault at stage 1", bad);
    }

    [Fact]
    public async Task ExplainShowsNestedWalkAndDecodedFault()
    {
        // p0008 line 263: an EL1 fetch whose final stage-2 walk reads outside RAM (QEMU: stage-2 SEA, level 3).
        string text = await Explainer.ExplainAsync([Path.Combine(TestPaths.Qemu, "p0008.trace")], 263, MmuSim.Core.Presets.Uncached);
        Assert.Contains("line 263: instruction fetch of VA 0x2f73b478c970 at EL1", text);
        Assert.Contains("stage 2 on: 64K granule, 44-bit input, start level 2 (4 concatenated tables)", text);
        Assert.Contains("S1 L2  table IPA 0x1345c95c000 [474]", text);
        Assert.Contains("BLOCK -> 0x12d44000000 (32 MiB)", text);
        Assert.Contains("outside declared RAM -> synchronous external abort on the walk", text);
        Assert.Contains("outcome: external_walk fault, stage 2, level 3, taken to EL2", text);
        Assert.Contains("HPFAR_EL2 = 0x12d4478c0", text);
        Assert.Contains("steps of the walk (11 descriptor reads)", text);
        Assert.Contains("model uncached: 1100 cycles for this access", text);
        Assert.Contains("no TLB configured", text);
        Assert.Contains("= 0x0048012d44000cc9 [100 cycles, from memory]", text);
    }

    [Fact]
    public async Task ExplainShowsTlbLookupsAndWalkCacheHitsOfTheModel()
    {
        // With the default model, earlier accesses of p0008 left table entries in the walk caches and the IPA cache.
        string text = await Explainer.ExplainAsync([Path.Combine(TestPaths.Qemu, "p0008.trace")], 263);
        Assert.Contains("model neoverse-n1:", text);
        Assert.Contains("TLB L1I: miss", text);
        Assert.Contains("TLB L2: miss", text);
        Assert.Contains("walk cache S1WC: hit for 0x2f73b478c970, level-0 table entry, 1 descriptor read(s) saved", text);
        Assert.Contains("IPA cache IPA: hit for IPA 0x1345c9117b8", text);
        Assert.Contains("steps of the walk (4 descriptor reads)", text);
        Assert.Contains("outcome: external_walk fault, stage 2, level 3, taken to EL2", text);
    }

    [Fact]
    public async Task ExplainOfATlbHitSaysNoWalk()
    {
        // p0000 line 128 reads the page line 127 just wrote: the second access is a TLB hit.
        string text = await Explainer.ExplainAsync([Path.Combine(TestPaths.Qemu, "p0000.trace")], 128);
        Assert.Contains("TLB L1D: hit", text);
        Assert.Contains("no walk: the TLB entry translated it", text);
        Assert.Contains("outcome: PA 0x6cb03768", text);
    }

    [Fact]
    public async Task ExplainOfANonAccessLineIsAnError()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Explainer.ExplainAsync([Path.Combine(TestPaths.Qemu, "p0008.trace")], 7));
        Assert.Contains("p0008.trace:7: not an access", e.Message);
    }

    [Fact]
    public void FscRoundTripsThroughTheDecoder()
    {
        foreach (var t in new[] { FaultType.Translation, FaultType.AddressSize, FaultType.AccessFlag, FaultType.Permission, FaultType.ExternalWalk })
        {
            for (int level = t is FaultType.Translation or FaultType.AddressSize or FaultType.ExternalWalk ? -1 : 0; level <= 3; level++)
            {
                var (type, l, _) = Syndrome.DecodeFsc(Syndrome.Fsc(t, level));
                Assert.Equal((t, level), (type, l));
            }
        }
    }
}
