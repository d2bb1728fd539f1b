using MmuSim.Addressing;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Tests.Support;
using MmuSim.Tracing;
using static MmuSim.Tests.Support.Data;
using MmuSim.Translation;

namespace MmuSim.Tests.Translation;

/// <summary>
/// Permissions (Arm ARM D8.4): stage-1 AP[2:1] at EL0/EL1, UXN/PXN, "EL0-writable implies PXN", SCTLR.WXN, the
/// hierarchical APTable/UXNTable/PXNTable with HPD, the one-range EL2 regime, and stage-2 S2AP and XN[1:0] with and
/// without FEAT_XNX. A permission fault is reported at the leaf level, whatever level the restriction came from.
/// </summary>
public class PermissionTests
{
    /// <summary>Arm ARM table "Data access permissions for stage 1 of a two-range regime": AP → (EL1 R, EL1 W, EL0 R, EL0 W).</summary>
    private static readonly (int Ap, bool El1R, bool El1W, bool El0R, bool El0W)[] ApTable =
    [
        (0, true, true, false, false),
        (1, true, true, true, true),
        (2, true, false, false, false),
        (3, true, false, true, false),
    ];

    public static TheoryData<Granule, int, int, AccessType, bool> ApRows()
    {
        var d = new TheoryData<Granule, int, int, AccessType, bool>();
        foreach (var g in AllGranules)
        {
            foreach (var (ap, r1, w1, r0, w0) in ApTable)
            {
                d.Add(g, ap, 1, AccessType.Read, r1);
                d.Add(g, ap, 1, AccessType.Write, w1);
                d.Add(g, ap, 0, AccessType.Read, r0);
                d.Add(g, ap, 0, AccessType.Write, w0);
            }
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(ApRows))]
    public void DataAccessPermissions(Granule g, int ap, int el, AccessType type, bool allowed)
    {
        var s = new Scenario().WithStage1(g, 16);
        s.MapS1(LowVa, Oa1, ap: ap);
        s.MapS1(LowVa + 0x4000_0000, Oa2, level: 2, ap: ap);
        foreach (var (va, level) in new[] { (LowVa, 3), (LowVa + 0x4000_0000, 2) })
        {
            var r = s.Translate(va, type, el);
            if (allowed)
            {
                Expect.Ok(r);
            }
            else
            {
                Expect.Fault(r, FaultType.Permission, 1, level);
            }
        }
        if (!allowed)
        {
            var o = s.Access(LowVa, type, el);
            ulong ec = el == 0 ? 0x24UL : 0x25UL;
            Assert.Equal((ec << 26) | (1UL << 25) | (type == AccessType.Write ? 0x40UL : 0) | 0x0F, o.Esr);
        }
    }

    // AP, UXN, PXN, WXN -> EL0 fetch, EL1 fetch (Arm ARM "Stage 1 instruction execution permissions")
    public static TheoryData<Granule, int, bool, bool, bool, bool, bool> FetchRows()
    {
        var rows = new (int, bool, bool, bool, bool, bool)[]
        {
            (0, false, false, false, true, true),
            (1, false, false, false, true, false),  // EL0-writable implies PXN (item 33)
            (2, false, false, false, true, true),
            (3, false, false, false, true, true),
            (0, true, false, false, false, true),
            (0, false, true, false, true, false),
            (3, true, true, false, false, false),
            (1, true, false, false, false, false),
            (0, false, false, true, true, false),   // WXN: EL1-writable -> not EL1-executable (item 34)
            (1, false, false, true, false, false),  // WXN: EL0-writable -> not EL0-executable
            (2, false, false, true, true, true),    // read-only: WXN has no effect
            (3, false, false, true, true, true),
        };
        var d = new TheoryData<Granule, int, bool, bool, bool, bool, bool>();
        foreach (var g in AllGranules)
        {
            foreach (var (ap, uxn, pxn, wxn, x0, x1) in rows)
            {
                d.Add(g, ap, uxn, pxn, wxn, x0, x1);
            }
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(FetchRows))]
    public void InstructionFetchPermissions(Granule g, int ap, bool uxn, bool pxn, bool wxn, bool el0Exec, bool el1Exec)
    {
        var s = new Scenario().WithStage1(g, 16);
        s.MapS1(LowVa, Oa1, ap: ap, uxn: uxn, pxn: pxn);
        s.SetBit(SysReg.SCTLR_EL1, 19, wxn);
        foreach (var (el, exec) in new[] { (0, el0Exec), (1, el1Exec) })
        {
            var r = s.Translate(LowVa, AccessType.Fetch, el);
            if (exec)
            {
                Expect.Pa(r, Oa1);
            }
            else
            {
                Expect.Fault(r, FaultType.Permission, 1, 3);
                var o = s.Access(LowVa + 4, AccessType.Fetch, el);
                Assert.Equal(el == 0 ? 0x8200_000FUL : 0x8600_000FUL, o.Esr); // IABT lower / same EL, IFSC 0x0F
                Assert.Equal(LowVa + 4, o.Far);
            }
        }
    }

    // APTable, UXNTable, PXNTable, leaf AP, EL, access -> allowed
    public static TheoryData<int, bool, bool, int, int, AccessType, bool> HierarchicalRows => new()
    {
        { 1, false, false, 1, 0, AccessType.Read, false },   // APTable[0]: no EL0 access
        { 1, false, false, 1, 1, AccessType.Write, true },
        { 1, false, false, 1, 1, AccessType.Fetch, true },   // no longer EL0-writable, so no implied PXN
        { 2, false, false, 1, 1, AccessType.Write, false },  // APTable[1]: read-only
        { 2, false, false, 1, 0, AccessType.Write, false },
        { 2, false, false, 1, 0, AccessType.Read, true },
        { 2, false, false, 1, 1, AccessType.Fetch, true },   // APTable[1] removed EL0 write, so no implied PXN either
        { 3, false, false, 1, 0, AccessType.Read, false },
        { 3, false, false, 1, 1, AccessType.Write, false },
        { 3, false, false, 1, 1, AccessType.Read, true },
        { 0, true, false, 0, 0, AccessType.Fetch, false },   // UXNTable (item 35)
        { 0, true, false, 0, 1, AccessType.Fetch, true },
        { 0, false, true, 0, 1, AccessType.Fetch, false },   // PXNTable
        { 0, false, true, 0, 0, AccessType.Fetch, true },
    };

    /// <summary>Table restrictions accumulate down the walk; the fault is at the leaf (level 3), from any table level.</summary>
    [Theory]
    [MemberData(nameof(HierarchicalRows))]
    public void HierarchicalPermissions(int apTable, bool uxnTable, bool pxnTable, int ap, int el, AccessType type, bool allowed)
    {
        foreach (var g in AllGranules)
        {
            for (int level = Start48(g); level < 3; level++)
            {
                var s = new Scenario().WithStage1(g, 16);
                s.MapS1(LowVa, Oa1, ap: ap);
                s.SetTableAttrs(LowVa, level, apTable, uxnTable, pxnTable);
                var r = s.Translate(LowVa, type, el);
                if (allowed)
                {
                    Expect.Pa(r, Oa1);
                }
                else
                {
                    Expect.Fault(r, FaultType.Permission, 1, 3);
                }
                // HPD0 (FEAT_HPDS) turns the table attributes off (item 36).
                s.SetBit(SysReg.TCR_EL1, 41);
                var t = ApTable[ap];
                bool leafOnly = type switch
                {
                    AccessType.Read => el == 0 ? t.El0R : t.El1R,
                    AccessType.Write => el == 0 ? t.El0W : t.El1W,
                    _ => el == 0 || ap != 1, // leaf UXN/PXN are 0; AP=01 implies PXN
                };
                Assert.Equal(leafOnly, !s.Translate(LowVa, type, el).IsFault);
                // Without FEAT_HPDS the HPD bit is ignored.
                s.SetField(SysReg.ID_AA64MMFR1_EL1, 15, 12, 0);
                Assert.Equal(allowed, !s.Translate(LowVa, type, el).IsFault);
            }
        }
    }

    [Fact]
    public void UpperRangeUsesHpd1()
    {
        var s = new Scenario().WithStage1(Granule.K4, 16).WithUpper(Granule.K16, 16);
        s.MapS1(HighVa, Oa2, ap: 0);
        s.SetTableAttrs(HighVa, 1, apTable: 2);
        Expect.Fault(s.Translate(HighVa, AccessType.Write), FaultType.Permission, 1, 3);
        s.SetBit(SysReg.TCR_EL1, 41); // HPD0: the other range
        Expect.Fault(s.Translate(HighVa, AccessType.Write), FaultType.Permission, 1, 3);
        s.SetBit(SysReg.TCR_EL1, 42); // HPD1
        Expect.Pa(s.Translate(HighVa, AccessType.Write), Oa2);
    }

    // ---------------------------------------------------------------- EL2 regime (one range, E2H=0)

    // AP, XN, WXN, XNTable, APTable -> read, write, fetch (EL2 accesses)
    public static TheoryData<Granule, int, bool, bool, bool, int, bool, bool> El2Rows()
    {
        var rows = new (int, bool, bool, bool, int, bool, bool)[]
        {
            (0, false, false, false, 0, true, true),
            (1, false, false, false, 0, true, true),    // AP[1] ignored: 01 is 00 (item 38), and no implied PXN
            (2, false, false, false, 0, false, true),
            (3, false, false, false, 0, false, true),
            (0, true, false, false, 0, true, false),
            (0, false, true, false, 0, true, false),    // WXN
            (1, false, true, false, 0, true, false),
            (2, false, true, false, 0, false, true),
            (0, false, false, true, 0, true, false),    // XNTable
            (0, false, false, false, 2, false, true),   // APTable[1]
            (0, false, false, false, 1, true, true),    // APTable[0] is RES0 in a one-range regime
        };
        var d = new TheoryData<Granule, int, bool, bool, bool, int, bool, bool>();
        foreach (var g in AllGranules)
        {
            foreach (var (ap, xn, wxn, xnTable, apTable, w, x) in rows)
            {
                d.Add(g, ap, xn, wxn, xnTable, apTable, w, x);
            }
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(El2Rows))]
    public void El2RegimePermissions(Granule g, int ap, bool xn, bool wxn, bool xnTable, int apTable, bool write, bool exec)
    {
        var s = new Scenario().WithEl2(g, 16);
        s.MapEl2(LowVa, Oa1, ap: ap, xn: xn);
        s.SetTableAttrs(LowVa, 2, apTable, xnTable, tables: s.El2);
        s.SetBit(SysReg.SCTLR_EL2, 19, wxn);
        Expect.Pa(s.Translate(LowVa, AccessType.Read, el: 2), Oa1);
        Assert.Equal(write, !s.Translate(LowVa, AccessType.Write, el: 2).IsFault);
        Assert.Equal(exec, !s.Translate(LowVa, AccessType.Fetch, el: 2).IsFault);
        if (!exec)
        {
            Expect.Fault(s.Translate(LowVa, AccessType.Fetch, el: 2), FaultType.Permission, 1, 3);
            var o = s.Access(LowVa, AccessType.Fetch, el: 2);
            Assert.Equal(2, o.TargetEl);
            Assert.Equal(0x8600_000FUL, o.Esr); // IABT same EL
        }
        // The EL1&0 regime's registers play no part: SCTLR_EL1.WXN and TCR_EL1 are not used at EL2.
        s.SetBit(SysReg.SCTLR_EL1, 19, !wxn);
        Assert.Equal(exec, !s.Translate(LowVa, AccessType.Fetch, el: 2).IsFault);
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void El2RegimeHasOneRange(Granule g)
    {
        var s = new Scenario().WithEl2(g, 16);
        s.MapEl2(LowVa, Oa1);
        Expect.Pa(s.Translate(LowVa + 0x10, el: 2), Oa1 + 0x10);
        // VA[55]=1 is out of range (no TTBR1_EL2 with E2H=0): translation fault level 0.
        Expect.Fault(s.Translate(0xFFFF_0000_0000_0000 | LowVa, el: 2), FaultType.Translation, 1, 0);
        Expect.Fault(s.Translate(0x0080_0000_0000_0000 | LowVa, el: 2), FaultType.Translation, 1, 0);
        // TBI (TCR_EL2[20]) ignores the top byte; VA[55] still has to be 0.
        s.SetBit(SysReg.TCR_EL2, 20);
        Expect.Pa(s.Translate(0xAB00_0000_0000_0000 | LowVa, el: 2), Oa1);
        Expect.Fault(s.Translate(0xAB80_0000_0000_0000 | LowVa, el: 2), FaultType.Translation, 1, 0);
        // TBID (TCR_EL2[29]) keeps the tag for fetches.
        s.SetBit(SysReg.TCR_EL2, 29);
        Expect.Fault(s.Translate(0xAB00_0000_0000_0000 | LowVa, AccessType.Fetch, el: 2), FaultType.Translation, 1, 0);
        // Stage 2 never applies to EL2 accesses.
        s.SetBit(SysReg.HCR_EL2, 0);
        Expect.Pa(s.Translate(LowVa, el: 2), Oa1);
        // A fault at EL2 is taken to EL2 as "same EL", with no HPFAR.
        var o = s.Access(LowVa + 0x1000_0000, AccessType.Write, el: 2);
        Assert.Equal(2, o.TargetEl);
        Assert.Equal(0x9600_0040UL, o.Esr & ~0xFUL);
        Assert.False(o.HasHpfar);
    }

    [Fact]
    public void El2MmuOffIsFlat()
    {
        var s = new Scenario();
        Expect.Pa(s.Translate(0x8_1234_5678, el: 2), 0x8_1234_5678);
        s.Regs[SysReg.ID_AA64MMFR0_EL1] = Mmfr0WithPaRange(0);
        Expect.Fault(s.Translate(0x8_1234_5678, el: 2), FaultType.AddressSize, 1, 0);
        Assert.Equal(0x9600_0000UL, s.Access(0x8_1234_5678, el: 2).Esr);
    }

    // ---------------------------------------------------------------- stage 2

    // S2AP -> read, write, fetch (fetches check only XN)
    public static TheoryData<Granule, int, bool, bool> S2apRows()
    {
        var d = new TheoryData<Granule, int, bool, bool>();
        foreach (var g in AllGranules)
        {
            d.Add(g, 0, false, false);
            d.Add(g, 1, true, false);
            d.Add(g, 2, false, true); // write-only (item 44)
            d.Add(g, 3, true, true);
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(S2apRows))]
    public void Stage2AccessPermissions(Granule g, int s2ap, bool read, bool write)
    {
        var s = new Scenario().WithStage2(g, 16);
        s.WithStage1(g, 16);
        s.MapS1(LowVa, 0x4000_0000, ap: 1);
        s.MapS2(0x4000_0000, Oa1, s2ap: s2ap);
        foreach (int el in new[] { 0, 1 })
        {
            Assert.Equal(read, !s.Translate(LowVa, AccessType.Read, el).IsFault);
            Assert.Equal(write, !s.Translate(LowVa, AccessType.Write, el).IsFault);
            Expect.Pa(s.Translate(LowVa, AccessType.Fetch, el: 0), Oa1);
        }
        if (!read)
        {
            Expect.Fault(s.Translate(LowVa), FaultType.Permission, 2, 3);
            var o = s.Access(LowVa + 0x30);
            Assert.Equal(0x9200_000FUL, o.Esr);
            Assert.Equal((0x4000_0030UL >> 12) << 4, o.Hpfar); // QEMU writes HPFAR for S1PTW=0 permission faults too
            Assert.Equal(0x4000_0030UL, o.Ipa);
        }
    }

    // FEAT_XNX, XN[1:0] -> EL1 fetch, EL0 fetch (Arm ARM "Stage 2 instruction execution permissions")
    public static TheoryData<Granule, bool, int, bool, bool> XnRows()
    {
        var rows = new (bool, int, bool, bool)[]
        {
            (true, 0, true, true),
            (true, 1, false, true),   // item 46
            (true, 2, false, false),
            (true, 3, true, false),
            (false, 0, true, true),
            (false, 1, true, true),   // without XNX bit 53 is ignored
            (false, 2, false, false),
            (false, 3, false, false),
        };
        var d = new TheoryData<Granule, bool, int, bool, bool>();
        foreach (var g in AllGranules)
        {
            foreach (var (xnx, xn, x1, x0) in rows)
            {
                d.Add(g, xnx, xn, x1, x0);
            }
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(XnRows))]
    public void Stage2ExecuteNever(Granule g, bool xnx, int xn, bool el1Exec, bool el0Exec)
    {
        var s = new Scenario().WithStage2(g, 16);
        s.WithStage1(g, 16);
        s.MapS1(LowVa, 0x4000_0000, ap: 0);
        s.MapS2(0x4000_0000, Oa1, xn: xn);
        s.SetField(SysReg.ID_AA64MMFR1_EL1, 31, 28, xnx ? 1UL : 0);
        foreach (var (el, exec) in new[] { (1, el1Exec), (0, el0Exec) })
        {
            var r = s.Translate(LowVa, AccessType.Fetch, el);
            if (exec)
            {
                Expect.Pa(r, Oa1);
            }
            else
            {
                Expect.Fault(r, FaultType.Permission, 2, 3);
                Assert.Equal(0x8200_000FUL, s.Access(LowVa, AccessType.Fetch, el).Esr);
            }
            // Data accesses ignore XN.
            Expect.Pa(s.Translate(LowVa, AccessType.Write, 1), Oa1);
        }
    }

    [Fact]
    public void AtUsesTheNamedElAndDirection()
    {
        var s = new Scenario().WithStage2(Granule.K4, 16);
        s.WithStage1(Granule.K4, 16);
        s.MapS1(LowVa, 0x4000_0000, ap: 3);          // read-only at EL0 and EL1
        s.MapS2(0x4000_0000, Oa1, s2ap: 1);          // read-only at stage 2
        s.MapS1(LowVa + 0x1000, 0x4000_1000, ap: 0); // EL1 only
        s.MapS2(0x4000_1000, Oa1 + 0x1000, s2ap: 1);
        const ulong ok = 0xFF00_0000_0000_0B80;      // ATTR 0xFF, SH=11 [8:7], NS [9], RES1 [11]
        Assert.Equal(ok | 0x4000_0000, s.At(AtOp.S1E1R, LowVa).Par);     // stage 1 only: the IPA (item 66)
        Assert.Equal(ok | 0x4000_0000, s.At(AtOp.S1E0R, LowVa).Par);
        Assert.Equal(0x81FUL, s.At(AtOp.S1E1W, LowVa).Par);              // F, FST 0x0F (stage-1 permission L3)
        Assert.Equal(ok | Oa1, s.At(AtOp.S12E1R, LowVa).Par);
        Assert.Equal(0x81FUL, s.At(AtOp.S1E0R, LowVa + 0x1000).Par);     // EL0 has no access to AP=00
        Assert.Equal(0xA1FUL, s.At(AtOp.S12E1W, LowVa + 0x1000).Par);    // S=1: stage-2 permission L3
        Assert.Equal(0x81FUL, s.At(AtOp.S12E0W, LowVa + 0x1000).Par);    // stage 1 refuses first
    }
}
