using MmuSim.Addressing;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Tests.Support;
using MmuSim.Tracing;
using MmuSim.Translation;
using static MmuSim.Tests.Support.Data;

namespace MmuSim.Tests.Translation;

/// <summary>
/// Alignment faults (trace format v2, arm-notes §4.3): SCTLR_ELx.A=1 faults a data access whose VA is not a multiple
/// of its size before any translation; a misaligned data access to Device memory faults after translation (after
/// AF, before permission) whatever A is; fetches are never checked. Stage 1, no level, DFSC 0b100001, FAR = VA.
/// </summary>
public class AlignmentTests
{
    private const int DeviceAttr = 2; // Scenario.Mair index 2: 0x04, Device-nGnRE

    private static AccessOutcome Run(Scenario s, TraceOp op, ulong va, int size)
    {
        s.Core.Execute(new TraceRecord { Op = op, Address = va, Size = (byte)size, Line = 1 }, out var o);
        return o;
    }

    private static void AlignmentFault(in AccessOutcome o, ulong va, bool write)
    {
        Assert.True(o.IsFault, $"expected an alignment fault, got PA 0x{o.Pa:x}");
        Assert.Equal((FaultType.Alignment, 1, FaultInfo.NoLevel), (o.Fault.Type, (int)o.Fault.Stage, o.Fault.Level));
        Assert.False(o.HasHpfar);
        Assert.Equal(va, o.Far);
        Assert.Equal(0x9600_0021UL | (write ? 1UL << 6 : 0), o.Esr);
    }

    public static TheoryData<Granule, int> GranulesAndSizes()
    {
        var d = new TheoryData<Granule, int>();
        foreach (var g in AllGranules)
        {
            foreach (int size in new[] { 2, 4, 8, 16, 64 })
            {
                d.Add(g, size);
            }
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(GranulesAndSizes))]
    public void SctlrAFaultsEveryMisalignmentOfEachSizeBeforeTranslation(Granule g, int size)
    {
        var s = new Scenario().WithStage1(g, 16);
        s.MapS1(LowVa, Oa1);
        s.SetBit(SysReg.SCTLR_EL1, 1);
        s.Core.CurrentEl = 1;
        for (int off = 0; off < 64; off++)
        {
            var r = Run(s, TraceOp.Read, LowVa + (ulong)off, size);
            if (off % size == 0)
            {
                Assert.Equal(Oa1 + (ulong)off, r.Pa);
            }
            else
            {
                AlignmentFault(r, LowVa + (ulong)off, write: false);
            }
        }
        AlignmentFault(Run(s, TraceOp.Sttr, LowVa + 1, size), LowVa + 1, write: true);
        // Before translation: an unmapped VA gives the alignment fault, not the translation fault, and costs nothing.
        var unmapped = Run(s, TraceOp.Write, LowVa + 0x10_0000 + 1, size);
        AlignmentFault(unmapped, LowVa + 0x10_0000 + 1, write: true);
        Assert.Equal(0, unmapped.Cycles);
        Assert.False(Run(s, TraceOp.Read, LowVa + 0x10_0000, size).Fault.Type == FaultType.Alignment);
        Assert.False(Run(s, TraceOp.Read, LowVa + 1, 1).IsFault); // a byte is always aligned
        Assert.False(Run(s, TraceOp.Fetch, LowVa + 2, 4).IsFault); // fetches are never checked
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void DeviceMemoryFaultsMisalignedDataAfterTranslationWhateverA(Granule g)
    {
        ulong page = 1UL << (int)g;
        var s = new Scenario().WithStage1(g, 16);
        s.MapS1(LowVa, Oa1, attrIndx: DeviceAttr);
        s.MapS1(LowVa + page, Oa2); // Normal
        s.MapS1(LowVa + 2 * page, Oa2, attrIndx: DeviceAttr, af: false);
        s.MapS1(LowVa + 3 * page, Oa2, attrIndx: DeviceAttr, ap: 2); // read-only
        s.Core.CurrentEl = 1;
        for (int i = 0; i < 2; i++) // the second time from the TLB: the same answers
        {
            Assert.Equal(Oa1 + 8, Run(s, TraceOp.Read, LowVa + 8, 8).Pa);
            AlignmentFault(Run(s, TraceOp.Read, LowVa + 4, 8), LowVa + 4, write: false);
            AlignmentFault(Run(s, TraceOp.Write, LowVa + 2, 4), LowVa + 2, write: true);
            Assert.Equal(Oa2 + 4, Run(s, TraceOp.Read, LowVa + page + 4, 8).Pa);
        }
        Assert.False(Run(s, TraceOp.Fetch, LowVa + 2, 4).IsFault);
        // After translation: an unmapped VA still gives its translation fault; AF comes first, permission after.
        Assert.Equal(FaultType.Translation, Run(s, TraceOp.Read, LowVa + 16 * page + 4, 8).Fault.Type);
        Assert.Equal(FaultType.AccessFlag, Run(s, TraceOp.Read, LowVa + 2 * page + 4, 8).Fault.Type);
        AlignmentFault(Run(s, TraceOp.Write, LowVa + 3 * page + 4, 8), LowVa + 3 * page + 4, write: true);
    }

    [Fact]
    public void StageOneOffIsDeviceForDataAndStageTwoDeviceFaultsAtStageTwo()
    {
        var s = new Scenario();
        s.Core.CurrentEl = 1;
        AlignmentFault(Run(s, TraceOp.Read, 0x1004, 8), 0x1004, write: false);
        Assert.Equal(0x1008UL, Run(s, TraceOp.Read, 0x1008, 8).Pa);

        var two = new Scenario().WithStage2(Granule.K4, 24).WithStage1(Granule.K4, 16);
        two.MapS1(LowVa, Oa1);
        two.MapS2(Oa1, Oa2, memAttr: 0x1); // stage-2 Device-nGnRE
        two.Core.CurrentEl = 1;
        var o = Run(two, TraceOp.Read, LowVa + 4, 8);
        Assert.Equal((FaultType.Alignment, 2, 2), (o.Fault.Type, (int)o.Fault.Stage, (int)o.TargetEl));
        Assert.Equal(Oa2 + 8, Run(two, TraceOp.Read, LowVa + 8, 8).Pa);
    }

    /// <summary>
    /// With stage 1 off a fetch gets Normal memory and data get Device-nGnRnE, through the same TLB entry: a misaligned
    /// load after a fetch filled the entry must still take its Alignment fault (found by the differential test with
    /// TLBs: the entry took the fetch's memory type, and the load hit it without a check). With HCR_EL2.DC data are
    /// Normal, and the entry lets them through.
    /// </summary>
    [Theory]
    [InlineData("neoverse-n1")]
    [InlineData("cortex-a53")]
    public void StageOneOffDataStayDeviceThroughAnEntryAFetchFilled(string preset)
    {
        Assert.True(Presets.TryGet(preset, out var config));
        var s = new Scenario(config);
        s.Core.CurrentEl = 1;
        s.SetBit(SysReg.SCTLR_EL1, 12); // I: fetches are Normal write-through
        Assert.Equal(0x1000UL, Run(s, TraceOp.Fetch, 0x1000, 4).Pa);
        Assert.Equal(0x2000UL, Run(s, TraceOp.Fetch, 0x2000, 4).Pa); // moves the first level's prediction away
        for (int i = 0; i < 2; i++)
        {
            AlignmentFault(Run(s, TraceOp.Read, 0x1004, 8), 0x1004, write: false);
            AlignmentFault(Run(s, TraceOp.Sttr, 0x1002, 4), 0x1002, write: true);
            Assert.Equal(0x1008UL, Run(s, TraceOp.Read, 0x1008, 8).Pa);
        }
        Assert.True(s.Core.Stats.TlbHits >= 2, "the data accesses were meant to hit the fetch's entry");

        var dc = new Scenario(config);
        dc.Core.CurrentEl = 1;
        dc.SetBit(SysReg.HCR_EL2, 12); // DC: stage 1 off gives Normal write-back (stage 2 acts as on, identity here)
        dc.WithStage2(Granule.K4, 24);
        dc.MapS2(0x1000, 0x5000);
        Assert.Equal(0x5000UL, Run(dc, TraceOp.Fetch, 0x1000, 4).Pa);
        Assert.Equal(0x5004UL, Run(dc, TraceOp.Read, 0x1004, 8).Pa);
    }

    /// <summary>
    /// A misaligned access that crosses from a Normal page into a Device page touches Device memory misaligned: an
    /// Alignment fault on the second page (FAR its first byte, as for any fault of the second part). Found by the
    /// differential test once it drew page crossings: the second part starts page-aligned and was taken as aligned.
    /// From a Device page into a Normal one the first part faults; Normal into Normal is translated.
    /// </summary>
    [Theory]
    [InlineData("uncached")]
    [InlineData("neoverse-n1")]
    public void MisalignedAccessCrossingIntoDeviceFaultsOnTheSecondPage(string preset)
    {
        Assert.True(Presets.TryGet(preset, out var config));
        var s = new Scenario(config).WithStage1(Granule.K4, 16);
        s.MapS1(LowVa, Oa1);
        s.MapS1(LowVa + 0x1000, Oa2, attrIndx: DeviceAttr);
        s.MapS1(LowVa + 0x2000, Oa1 + 0x1000);
        s.MapS1(LowVa + 0x3000, Oa1 + 0x2000);
        s.Core.CurrentEl = 1;
        for (int i = 0; i < 2; i++) // the second time from the TLB
        {
            var o = Run(s, TraceOp.Read, LowVa + 0xFFC, 8);
            AlignmentFault(o, LowVa + 0x1000, write: false);
            AlignmentFault(Run(s, TraceOp.Write, LowVa + 0x1FFE, 4), LowVa + 0x1FFE, write: true);
            Assert.Equal(Oa1 + 0x1FFC, Run(s, TraceOp.Read, LowVa + 0x2FFC, 8).Pa);
        }
    }

    [Fact]
    public void El2And0UsesSctlrEl2A()
    {
        var s = new Scenario();
        s.Regs[SysReg.HCR_EL2] = (1UL << 31) | (1UL << 34) | (1UL << 27);
        s.Regs[SysReg.SCTLR_EL2] = 1UL << 1; // A, MMU off
        s.Core.CurrentEl = 0;
        var o = Run(s, TraceOp.Read, 0x3, 2);
        Assert.Equal((FaultType.Alignment, 2), (o.Fault.Type, (int)o.TargetEl));
        Assert.Equal(Syndrome.EcDataAbortLowerEl, (int)(o.Esr >> 26));
    }
}
