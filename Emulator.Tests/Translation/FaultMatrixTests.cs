using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Tests.Support;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Tests.Translation;

/// <summary>
/// Every fault type × stage × level that can occur, per granule (with and without FEAT_LPA2): a stage-1 fault, a
/// stage-2 fault on the final IPA (stage 1 off), and a stage-2 fault on the first stage-1 table read (S1PTW). Each row
/// builds the smallest scenario that causes exactly that fault and checks the fault facts, the ESR and HPFAR the core
/// reports, and the PAR of the matching AT instruction, against hand-written status codes.
/// </summary>
public class FaultMatrixTests
{
    public enum Where
    {
        Stage1,
        Stage2,
        Stage2OnS1Walk,
    }

    /// <summary>Arm ARM ESR_ELx.DFSC / IFSC (long-descriptor format), written out.</summary>
    private static readonly Dictionary<(FaultType, int), int> FscTable = new()
    {
        [(FaultType.Translation, -1)] = 0x2B,
        [(FaultType.Translation, 0)] = 0x04,
        [(FaultType.Translation, 1)] = 0x05,
        [(FaultType.Translation, 2)] = 0x06,
        [(FaultType.Translation, 3)] = 0x07,
        [(FaultType.AddressSize, -1)] = 0x29,
        [(FaultType.AddressSize, 0)] = 0x00,
        [(FaultType.AddressSize, 1)] = 0x01,
        [(FaultType.AddressSize, 2)] = 0x02,
        [(FaultType.AddressSize, 3)] = 0x03,
        [(FaultType.AccessFlag, 0)] = 0x08,
        [(FaultType.AccessFlag, 1)] = 0x09,
        [(FaultType.AccessFlag, 2)] = 0x0A,
        [(FaultType.AccessFlag, 3)] = 0x0B,
        [(FaultType.Permission, 0)] = 0x0C,
        [(FaultType.Permission, 1)] = 0x0D,
        [(FaultType.Permission, 2)] = 0x0E,
        [(FaultType.Permission, 3)] = 0x0F,
        [(FaultType.ExternalWalk, -1)] = 0x13,
        [(FaultType.ExternalWalk, 0)] = 0x14,
        [(FaultType.ExternalWalk, 1)] = 0x15,
        [(FaultType.ExternalWalk, 2)] = 0x16,
        [(FaultType.ExternalWalk, 3)] = 0x17,
    };

    private const ulong Va = (1UL << 42) + 0x10;
    private const ulong Oa = 1UL << 43;
    private const ulong Unbacked = 0x7000_0000;
    private const ulong TooBig = 1UL << 45;      // above the 44-bit output size used for address-size rows

    /// <summary>Block levels: 4K L1/L2 (+L0 with DS), 16K L2 (+L1 with DS), 64K L1 (FEAT_LPA)/L2.</summary>
    private static bool BlockLevel(Granule g, bool ds, int level) => g switch
    {
        Granule.K4 => level is 1 or 2 || (ds && level == 0),
        Granule.K16 => level == 2 || (ds && level == 1),
        _ => level is 1 or 2,
    };

    private static int S1Start(Granule g, bool ds) => ds ? (g == Granule.K4 ? -1 : 0) : (g == Granule.K64 ? 1 : 0);

    /// <summary>Stage-2 start for a 48-bit (52 with DS) IPA: 16K without DS needs two concatenated L1 tables.</summary>
    private static int S2Start(Granule g, bool ds) => ds ? (g == Granule.K4 ? -1 : 0) : (g == Granule.K4 ? 0 : 1);

    public static TheoryData<Granule, bool, Where, FaultType, int> Cases()
    {
        var d = new TheoryData<Granule, bool, Where, FaultType, int>();
        foreach (var (g, ds) in new[] { (Granule.K4, false), (Granule.K4, true), (Granule.K16, false), (Granule.K16, true), (Granule.K64, false) })
        {
            foreach (var where in Enum.GetValues<Where>())
            {
                int start = where == Where.Stage1 ? S1Start(g, ds) : S2Start(g, ds);
                bool stage2Ds = where != Where.Stage1 && ds;
                var levels = Enumerable.Range(start, 4 - start).ToArray();
                foreach (int l in levels.Contains(0) ? levels : levels.Prepend(0))
                {
                    d.Add(g, ds, where, FaultType.Translation, l);
                    if (!stage2Ds) // a 52-bit IPA needs PS=52 (QEMU): no stage-2 address can be too big
                    {
                        d.Add(g, ds, where, FaultType.AddressSize, l);
                    }
                }
                foreach (int l in levels)
                {
                    d.Add(g, ds, where, FaultType.ExternalWalk, l);
                    if (l == 3 || BlockLevel(g, ds, l))
                    {
                        d.Add(g, ds, where, FaultType.AccessFlag, l);
                        d.Add(g, ds, where, FaultType.Permission, l);
                    }
                }
            }
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void FaultOccursAsDescribed(Granule g, bool ds, Where where, FaultType type, int level)
    {
        var access = type == FaultType.Permission ? AccessType.Write : AccessType.Read;
        var (s, va, faultIpa) = where switch
        {
            Where.Stage1 => BuildStage1(g, ds, type, level),
            Where.Stage2 => BuildStage2(g, ds, type, level),
            _ => BuildS1ptw(g, ds, type, level),
        };
        int stage = where == Where.Stage1 ? 1 : 2;
        bool s1ptw = where == Where.Stage2OnS1Walk;

        var r = s.Translate(va, access);
        Expect.Fault(r, type, stage, level, s1ptw);

        int fsc = FscTable[(type, level)];
        var o = s.Access(va, access);
        ulong ec = stage == 1 ? 0x25UL : 0x24UL;
        Assert.Equal(stage, o.TargetEl);
        Assert.Equal((ec << 26) | (1UL << 25) | (s1ptw ? 0x80UL : 0) | (access == AccessType.Write ? 0x40UL : 0) | (uint)fsc, o.Esr);
        Assert.Equal(va, o.Far);
        Assert.Equal(stage == 2, o.HasHpfar);
        if (stage == 2)
        {
            Assert.Equal((faultIpa >> 12) << 4, o.Hpfar);
        }

        if (type != FaultType.ExternalWalk) // an external abort during AT is taken as an abort, not reported in PAR
        {
            bool write = access == AccessType.Write;
            var op = where == Where.Stage2 ? (write ? AtOp.S12E1W : AtOp.S12E1R) : (write ? AtOp.S1E1W : AtOp.S1E1R);
            ulong par = 1UL | ((ulong)(uint)fsc << 1) | (s1ptw ? 1UL << 8 : 0) | (stage == 2 ? 1UL << 9 : 0) | (1UL << 11);
            Assert.Equal($"0x{par:x}", $"0x{s.At(op, va).Par:x}");
        }
    }

    private static (Scenario, ulong, ulong) BuildStage1(Granule g, bool ds, FaultType type, int level)
    {
        var s = new Scenario().WithStage1(g, ds ? 12 : 16, ips: type == FaultType.AddressSize ? Scenario.Ps44 : Scenario.Ps48, ds: ds);
        var b = s.Lower!;
        bool leafFault = type is FaultType.AccessFlag or FaultType.Permission;
        s.MapS1(Va, Oa, leafFault ? level : 3, ap: type == FaultType.Permission ? 2 : 0, af: type != FaultType.AccessFlag);
        ulong va = Va;
        bool walked = level >= b.StartLevel;
        switch (type)
        {
            case FaultType.Translation when walked:
                s.SetS1(Va, level, 0);
                break;
            case FaultType.Translation:
                va = Va | (1UL << 50); // outside the 48-bit range
                break;
            case FaultType.AddressSize when !walked:
                s.Regs[SysReg.TTBR0_EL1] |= TooBig;
                break;
            case FaultType.AddressSize:
                BreakAddress(b, Va, level, s);
                break;
            case FaultType.ExternalWalk:
                s.Memory.DeclareRam(new PhysicalAddress(Scenario.LowerPool), Scenario.S1PoolSize);
                Redirect(s, b, Va, level, SysReg.TTBR0_EL1);
                break;
        }
        return (s, va, 0);
    }

    private static (Scenario, ulong, ulong) BuildStage2(Granule g, bool ds, FaultType type, int level)
    {
        bool size = type == FaultType.AddressSize;
        var s = new Scenario().WithStage2(g, ds ? 12 : size ? 20 : 16, startLevel: S2Start(g, ds), ps: ds ? Scenario.Ps52 : size ? Scenario.Ps44 : Scenario.Ps48, ds: ds);
        var b = s.Stage2!;
        bool leafFault = type is FaultType.AccessFlag or FaultType.Permission;
        s.MapS2(Va, Oa, leafFault ? level : 3, s2ap: type == FaultType.Permission ? 1 : 3, af: type != FaultType.AccessFlag);
        ulong ipa = Va;
        bool walked = level >= b.StartLevel;
        switch (type)
        {
            case FaultType.Translation when walked:
                s.SetS2(Va, level, 0);
                break;
            case FaultType.Translation:
                ipa = Va | (1UL << 50);
                break;
            case FaultType.AddressSize when !walked:
                s.Regs[SysReg.VTTBR_EL2] |= TooBig;
                break;
            case FaultType.AddressSize:
                BreakAddress(b, Va, level, s);
                break;
            case FaultType.ExternalWalk:
                s.Memory.DeclareRam(new PhysicalAddress(Scenario.S2Pool), Scenario.S2PoolSize);
                Redirect(s, b, Va, level, SysReg.VTTBR_EL2);
                break;
        }
        return (s, ipa, ipa);
    }

    /// <summary>The stage-2 lookup of the first stage-1 descriptor (the root entry, an IPA in the stage-1 pool) faults.</summary>
    private static (Scenario, ulong, ulong) BuildS1ptw(Granule g, bool ds, FaultType type, int level)
    {
        bool size = type == FaultType.AddressSize;
        var s = new Scenario();
        bool walked = level >= S2Start(g, ds);
        if (type == FaultType.Translation && !walked)
        {
            // A 16 MB IPA space: the stage-1 root (IPA 0x0400_0000) is outside it.
            s.WithStage2(g, 40);
        }
        else
        {
            s.WithStage2(g, ds ? 12 : size ? 20 : 16, startLevel: S2Start(g, ds), ps: ds ? Scenario.Ps52 : size ? Scenario.Ps44 : Scenario.Ps48, ds: ds);
        }
        s.WithStage1(g, 16);
        s.MapS1(Va, 0x4000_0000);
        s.MapS2(0x4000_0000, Oa);
        var b = s.Stage2!;
        ulong root = s.Lower!.DescriptorAddress(Va, s.Lower.StartLevel);
        switch (type)
        {
            case FaultType.Translation when walked:
                s.SetS2(root, level, 0);
                break;
            case FaultType.Translation:
                break;
            case FaultType.AddressSize when !walked:
                s.Regs[SysReg.VTTBR_EL2] |= TooBig;
                break;
            case FaultType.AddressSize:
                BreakAddress(b, root, level, s);
                break;
            case FaultType.AccessFlag:
                s.SetS2(root, level, Descriptors.Stage2Leaf(0, level, g, af: false, ds: ds));
                break;
            case FaultType.Permission:
                s.SetS2(root, level, Descriptors.Stage2Leaf(0, level, g, s2ap: 0, ds: ds));
                break;
            case FaultType.ExternalWalk:
                s.Memory.DeclareRam(new PhysicalAddress(Scenario.S2Pool), 0x1000_0000 - Scenario.S2Pool);
                Redirect(s, b, root, level, SysReg.VTTBR_EL2);
                break;
        }
        return (s, Va, root);
    }

    /// <summary>Puts a bit above the 44-bit output size into the address of the descriptor at <paramref name="level"/>.</summary>
    private static void BreakAddress(PageTableBuilder b, ulong ia, int level, Scenario s)
    {
        ulong slot = b.DescriptorAddress(ia, level);
        ulong desc = s.ReadTable(b, slot);
        b.Set(ia, level, Descriptors.WithAddress(desc, Decode(desc, b) | TooBig, b.Granule, b.Ds));
    }

    private static ulong Decode(ulong desc, PageTableBuilder b)
    {
        int gs = (int)b.Granule;
        ulong mask = ((1UL << 50) - 1) & ~((1UL << gs) - 1);
        return b.Ds ? (desc & mask) | (((desc >> 8) & 3) << 50) : desc & ((1UL << 48) - 1) & ~((1UL << gs) - 1);
    }

    /// <summary>Makes the table read at <paramref name="level"/> come from unbacked memory.</summary>
    private static void Redirect(Scenario s, PageTableBuilder b, ulong ia, int level, SysReg baseReg)
    {
        if (level == b.StartLevel)
        {
            s.Regs[baseReg] = Unbacked;
            return;
        }
        b.Set(ia, level - 1, Descriptors.Table(Unbacked, b.Granule, b.Ds));
    }
}
