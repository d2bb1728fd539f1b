using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Tests.Support;
using MmuSim.Translation;
using static MmuSim.Tests.Support.Data;

namespace MmuSim.Tests.Translation;

/// <summary>
/// Fault priority (Arm ARM R_XCHFJ, notes §4.3 and §12 items 50-54): input-address checks, then the base address, then
/// per level (S1PTW, external abort, translation, address size), then access flag, then permission, then stage 2 of the
/// final IPA; and the walk order and count of a two-stage translation.
/// </summary>
public class PriorityTests
{
    private static Scenario TwoStage(Granule g1 = Granule.K4, Granule g2 = Granule.K4)
    {
        var s = new Scenario().WithStage2(g2, 16);
        s.WithStage1(g1, 16);
        return s;
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void InputChecksBeatTheBaseAddressCheck(Granule g)
    {
        var s = new Scenario().WithStage1(g, 16, ips: Scenario.Ps40);
        s.MapS1(LowVa, Oa1);
        s.Regs[SysReg.TTBR0_EL1] |= 1UL << 45;
        Expect.Fault(s.Translate(LowVa), FaultType.AddressSize, 1, 0);
        Expect.Fault(s.Translate(LowVa | (1UL << 50)), FaultType.Translation, 1, 0);      // range
        s.SetBit(SysReg.TCR_EL1, 55);
        Expect.Fault(s.Translate(LowVa, el: 0), FaultType.Translation, 1, 0);             // E0PD
        s.SetBit(SysReg.TCR_EL1, 7);
        Expect.Fault(s.Translate(LowVa), FaultType.Translation, 1, 0);                    // EPD
        s.SetBit(SysReg.TCR_EL1, 7, false).SetField(SysReg.TCR_EL1, 5, 0, 60);
        Expect.Fault(s.Translate(LowVa & 0xF), FaultType.Translation, 1, 0);              // TxSZ
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void Stage2RangeBeatsVttbrAddressSize(Granule g)
    {
        var s = new Scenario().WithStage2(g, 20, ps: Scenario.Ps44);
        s.MapS2(0x4000_0000, Oa1);
        s.Regs[SysReg.VTTBR_EL2] |= 1UL << 45;
        Expect.Fault(s.Translate(0x4000_0000), FaultType.AddressSize, 2, 0);
        Expect.Fault(s.Translate(1UL << 44), FaultType.Translation, 2, 0);
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void PerLevelOrder(Granule g)
    {
        var s = new Scenario().WithStage1(g, 16, ips: Scenario.Ps44);
        s.MapS1(LowVa, Oa1, ap: 2, af: false);
        // Invalid descriptor whose (ignored) address bits are too big: translation, not address size.
        s.SetS1(LowVa, 2, 0x0000_F000_0000_0000);
        Expect.Fault(s.Translate(LowVa, AccessType.Write), FaultType.Translation, 1, 2);
        // Leaf with AF=0, AP read-only and an output address above the output size: address size at the leaf.
        var t = new Scenario().WithStage1(g, 16, ips: Scenario.Ps44);
        t.MapS1(LowVa, 1UL << 45, ap: 2, af: false);
        Expect.Fault(t.Translate(LowVa, AccessType.Write), FaultType.AddressSize, 1, 3);
        // Then the access flag, then the permission.
        t.MapS1(LowVa, Oa1, ap: 2, af: false);
        Expect.Fault(t.Translate(LowVa, AccessType.Write), FaultType.AccessFlag, 1, 3);
        t.MapS1(LowVa, Oa1, ap: 2);
        Expect.Fault(t.Translate(LowVa, AccessType.Write), FaultType.Permission, 1, 3);
        // An earlier level's fault wins over any later one: the table that would be read next is never read.
        t.SetS1(LowVa, 2, Descriptors.Table(0x7000_0000, g));
        t.Memory.DeclareRam(new PhysicalAddress(Scenario.LowerPool), Scenario.S1PoolSize);
        Expect.Fault(t.Translate(LowVa, AccessType.Write), FaultType.ExternalWalk, 1, 3);
        t.SetS1(LowVa, 1, 0);
        Expect.Fault(t.Translate(LowVa, AccessType.Write), FaultType.Translation, 1, 1);
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void Stage2LeafOrder(Granule g)
    {
        var s = new Scenario().WithStage2(g, 20, ps: Scenario.Ps44);
        s.MapS2(0x4000_0000, 1UL << 45, s2ap: 0, af: false);
        Expect.Fault(s.Translate(0x4000_0000), FaultType.AddressSize, 2, 3);
        s.MapS2(0x4000_0000, Oa1, s2ap: 0, af: false);
        Expect.Fault(s.Translate(0x4000_0000), FaultType.AccessFlag, 2, 3);
        s.MapS2(0x4000_0000, Oa1, s2ap: 0);
        Expect.Fault(s.Translate(0x4000_0000), FaultType.Permission, 2, 3);
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void S1ptwFaultAtALevelBeatsStage1FaultsAtThatLevelAndBelow(Granule g)
    {
        // §12 item 50: the L2 table page is unmapped at stage 2, the L2 descriptor is invalid and the leaf has AF=0.
        var s = TwoStage(g, Granule.K4);
        s.MapS1(LowVa, 0x4000_0000, af: false);
        s.MapS2(0x4000_0000, Oa1);
        ulong l2 = s.Lower!.DescriptorAddress(LowVa, 2);
        s.SetS1(LowVa, 2, 0);
        s.SetS2(l2, 3, 0);
        Expect.Fault(s.Translate(LowVa), FaultType.Translation, 2, 3, s1ptw: true);
        Assert.Equal(l2, s.Translate(LowVa).Fault.Ipa.Value);
        // A stage-1 fault at an earlier level comes first: the L2 table is never read.
        s.SetS1(LowVa, 1, 0);
        Expect.Fault(s.Translate(LowVa), FaultType.Translation, 1, 1);
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void Stage1PermissionBeatsStage2OnTheFinalIpa(Granule g)
    {
        // §12 item 51: stage-1 permission fault and the final IPA unmapped at stage 2.
        var s = TwoStage(g, g);
        s.MapS1(LowVa, 0x4000_0000, ap: 2);
        Expect.Fault(s.Translate(LowVa, AccessType.Write), FaultType.Permission, 1, 3);
        Assert.Equal(1, s.Access(LowVa, AccessType.Write).TargetEl);
        // The walk of the data IPA never happened: every stage-2 lookup was for a stage-1 table.
        Assert.All(s.Mmu.Record.Steps.ToArray(), st => Assert.True(st.Stage == 1 || st.Nested));
        Expect.Fault(s.Translate(LowVa, AccessType.Read), FaultType.Translation, 2, g == Granule.K4 ? 1 : 2); // the first stage-2 entry not shared with the table pages
    }

    [Fact]
    public void Stage1AccessFlagBeatsStage2Permission()
    {
        // §12 item 52.
        var s = TwoStage();
        s.MapS1(LowVa, 0x4000_0000, af: false);
        s.MapS2(0x4000_0000, Oa1, s2ap: 0);
        Expect.Fault(s.Translate(LowVa), FaultType.AccessFlag, 1, 3);
        s.SetBit(SysReg.TCR_EL1, 39);
        Expect.Fault(s.Translate(LowVa), FaultType.Permission, 2, 3);
    }

    [Fact]
    public void Stage1PermissionBeatsTheStage2FaultOfItsHardwareUpdate()
    {
        // §12 item 53: the leaf needs AF (HA=1), its table page is read-only at stage 2, and the access is refused at
        // stage 1: the stage-1 permission fault is reported (QEMU checks permissions before the update).
        var s = TwoStage();
        ulong slot = s.MapS1(LowVa, 0x4000_0000, ap: 2, af: false);
        s.MapS2(0x4000_0000, Oa1);
        s.MapS2(slot & ~0xFFFUL, (slot & ~0xFFFUL) + Scenario.S1TableIpaToPa, s2ap: 1);
        s.SetBit(SysReg.TCR_EL1, 39);
        Expect.Fault(s.Translate(LowVa, AccessType.Write), FaultType.Permission, 1, 3);
        Expect.Fault(s.Translate(LowVa, AccessType.Read), FaultType.Permission, 2, 3, s1ptw: true);
    }

    [Fact]
    public void Stage1AccessFlagIsSetEvenWhenStage2RefusesTheOutput()
    {
        // AArch64.S1Translate commits the stage-1 update before stage 2 translates the output address.
        var s = TwoStage();
        ulong slot = s.MapS1(LowVa, 0x4000_0000, af: false);
        s.SetBit(SysReg.TCR_EL1, 39);
        Expect.Fault(s.Translate(LowVa), FaultType.Translation, 2, 1);
        Assert.NotEqual(0UL, s.ReadTable(s.Lower!, slot) & (1UL << 10));
    }

    /// <summary>
    /// §12 item 54: with no caching, n1 stage-1 levels × n2 stage-2 levels take n1·(n2+1) + n2 descriptor reads, in
    /// order: for each stage-1 level its n2 nested reads then the stage-1 read, then n2 reads for the output IPA.
    /// </summary>
    [Theory]
    [InlineData(Granule.K4, 16, Granule.K4, 16, 24)]
    [InlineData(Granule.K4, 16, Granule.K4, 25, 19)]
    [InlineData(Granule.K4, 25, Granule.K4, 16, 19)]
    [InlineData(Granule.K64, 22, Granule.K64, 22, 8)]
    [InlineData(Granule.K4, 12, Granule.K4, 12, 35)]
    public void NestedWalkOrderAndCount(Granule g1, int t0sz1, Granule g2, int t0sz2, int reads)
    {
        bool ds = t0sz1 < 16;
        var s = new Scenario().WithStage2(g2, t0sz2, ps: ds ? Scenario.Ps52 : Scenario.Ps48, ds: ds);
        s.WithStage1(g1, t0sz1, ds: ds);
        s.MapS1(0x1_0000, 0x4000_0000);
        s.MapS2(0x4000_0000, Oa1);
        Expect.Pa(s.Translate(0x1_0008), Oa1 + 8);
        Assert.Equal(reads, s.Reads);
        int n2 = 4 - s.Stage2!.StartLevel;
        int n1 = 4 - s.Lower!.StartLevel;
        Assert.Equal(n1 * (n2 + 1) + n2, reads);
        var steps = s.Mmu.Record.Steps;
        int i = 0;
        for (int l1 = s.Lower.StartLevel; l1 <= 3; l1++)
        {
            for (int l2 = s.Stage2.StartLevel; l2 <= 3; l2++, i++)
            {
                Assert.Equal((2, l2, true), (steps[i].Stage, (int)steps[i].Level, steps[i].Nested));
            }
            Assert.Equal((1, l1), (steps[i].Stage, (int)steps[i].Level));
            Assert.Equal(steps[i].DescriptorAddress + Scenario.S1TableIpaToPa, steps[i].DescriptorPa); // IPA -> PA
            i++;
        }
        for (int l2 = s.Stage2.StartLevel; l2 <= 3; l2++, i++)
        {
            Assert.Equal((2, l2, false), (steps[i].Stage, (int)steps[i].Level, steps[i].Nested));
        }
    }

    [Fact]
    public void EpdAndInputFaultsReadNothingEvenWithStage2()
    {
        var s = TwoStage();
        s.MapS1(LowVa, 0x4000_0000);
        s.MapS2(0x4000_0000, Oa1);
        s.SetBit(SysReg.TCR_EL1, 7);
        Expect.Fault(s.Translate(LowVa), FaultType.Translation, 1, 0);
        Assert.Equal(0, s.Reads);
        Assert.Equal(0, s.Mmu.Record.Count);
    }
}
