using MmuSim.Addressing;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Faults;
using MmuSim.Tests.Support;
using MmuSim.Tracing;
using MmuSim.Translation;
using static MmuSim.Tests.Support.Data;

namespace MmuSim.Tests.Translation;

/// <summary>
/// FEAT_PAN and unprivileged accesses (arm-notes §7.1): with PSTATE.PAN=1 a privileged data access to a page EL0 may
/// access (AP[1]=1) is a stage-1 permission fault, fetches are not affected; LDTR/STTR at EL1 are checked with EL0's
/// permissions and ignore PAN; AT S1E1RP/S1E1WP check PAN, S1E1R/S1E1W do not. A TLB hit answers as the walk does.
/// </summary>
public class PanTests
{
    private static Scenario Mapped(int ap, Granule g = Granule.K4)
    {
        var s = new Scenario().WithStage1(g, 16);
        s.MapS1(LowVa, Oa1, ap: ap);
        return s;
    }

    private static AccessOutcome Run(Scenario s, TraceOp op, ulong va)
    {
        s.Core.Execute(new TraceRecord { Op = op, Address = va, Size = 8, Line = 1 }, out var o);
        return o;
    }

    // Per granule, AP → EL1 read, EL1 write under PAN=1 (AP[1]=1 pages refuse both), EL0 (LDTR/STTR) read, write.
    public static TheoryData<Granule, int, bool, bool, bool, bool> ApRows()
    {
        var d = new TheoryData<Granule, int, bool, bool, bool, bool>();
        foreach (var g in AllGranules)
        {
            d.Add(g, 0, true, true, false, false);
            d.Add(g, 1, false, false, true, true);
            d.Add(g, 2, true, false, false, false);
            d.Add(g, 3, false, false, true, false);
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(ApRows))]
    public void PanAndUnprivilegedAccessesForEachAp(Granule g, int ap, bool r1, bool w1, bool r0, bool w0)
    {
        var s = Mapped(ap, g);
        s.Core.CurrentEl = 1;
        s.Core.SetPan(true);
        // Twice each: the second is answered from the TLB and must agree with the walk.
        for (int i = 0; i < 2; i++)
        {
            Check(Run(s, TraceOp.Read, LowVa), r1, unpriv: false);
            Check(Run(s, TraceOp.Write, LowVa), w1, unpriv: false);
            Check(Run(s, TraceOp.Ldtr, LowVa), r0, unpriv: true);
            Check(Run(s, TraceOp.Sttr, LowVa), w0, unpriv: true);
        }
        s.Core.SetPan(false);
        Assert.False(Run(s, TraceOp.Read, LowVa).IsFault); // every page is EL1-readable without PAN
    }

    private static void Check(in AccessOutcome o, bool allowed, bool unpriv)
    {
        Assert.Equal(unpriv, o.Unpriv);
        Assert.Equal(1, o.El);
        if (allowed)
        {
            Assert.False(o.IsFault, $"expected success, got {o.Fault}");
            Assert.Equal(Oa1, o.Pa);
            return;
        }
        Assert.Equal((FaultType.Permission, 1, 3), (o.Fault.Type, (int)o.Fault.Stage, (int)o.Fault.Level));
        Assert.Equal(1, o.TargetEl); // LDTR/STTR faults are taken as the EL1 access they are
        Assert.Equal(Syndrome.EcDataAbortSameEl, (int)(o.Esr >> 26));
    }

    [Fact]
    public void FetchesAndEl0AreNotAffected()
    {
        var s = Mapped(3); // EL0 read-only, executable at EL1
        s.Core.SetPan(true);
        s.Core.CurrentEl = 1;
        Assert.False(Run(s, TraceOp.Fetch, LowVa).IsFault);
        s.Core.CurrentEl = 0;
        Assert.False(Run(s, TraceOp.Read, LowVa).IsFault);
    }

    [Fact]
    public void AtS1E1RpChecksPanAndS1E1RDoesNot()
    {
        var s = Mapped(1);
        s.Core.SetPan(true);
        Assert.Equal(0UL, s.At(AtOp.S1E1R, LowVa).Par & 1);
        Assert.Equal(0UL, s.At(AtOp.S1E1W, LowVa).Par & 1);
        var rp = s.At(AtOp.S1E1RP, LowVa);
        Assert.Equal(1UL, rp.Par & 1);
        Assert.Equal(0b001111UL, (rp.Par >> 1) & 0x3F);
        Assert.Equal(1UL, s.At(AtOp.S1E1WP, LowVa).Par & 1);
        s.Core.SetPan(false);
        Assert.Equal(0UL, s.At(AtOp.S1E1RP, LowVa).Par & 1);
    }

    [Fact]
    public void PermissionMaskCarriesThePanBits()
    {
        // AP=01 (EL0 RW): EL1 read/write allowed, but not under PAN; fetch under PAN follows EL1's (PXN implied).
        Assert.True(Permissions.Stage1Permits(1, false, false, true, false, 1, AccessType.Read));
        Assert.False(Permissions.Stage1Permits(1, false, false, true, false, 1, AccessType.Read, pan: true));
        Assert.False(Permissions.Stage1Permits(1, false, false, true, false, 1, AccessType.Write, pan: true));
        Assert.True(Permissions.Stage1Permits(0, false, false, true, false, 1, AccessType.Write, pan: true));
        // The one-range EL2 regime has no EL0 and no PAN.
        Assert.True(Permissions.Stage1Permits(1, false, false, false, false, 2, AccessType.Read, pan: true));
        Assert.Equal(Permissions.PanIndex + 1, Permissions.MaskIndex(1, AccessType.Write, pan: true));
    }
}
