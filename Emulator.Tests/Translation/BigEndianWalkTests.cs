using System.Buffers.Binary;
using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Reporting;
using MmuSim.Tests.Support;
using MmuSim.Translation;
using static MmuSim.Tests.Support.Data;

namespace MmuSim.Tests.Translation;

/// <summary>
/// Big-endian walks (Arm ARM SCTLR_ELx.EE; the pseudocode's walkparams.ee, FetchDescriptor and the descriptor update
/// reverse the 64-bit word when it is 1): SCTLR_EL1.EE for the EL1&amp;0 stage 1, SCTLR_EL2.EE for stage 2 and the
/// EL2 regime, each independent of the other; hardware AF/dirty updates are written back big-endian, so memory (and
/// `dump`, a little-endian 64-bit word) holds the byte-reversed descriptor.
/// </summary>
public class BigEndianWalkTests
{
    private const int Ee = 25;
    private const int Ha = 39, Hd = 40;
    private const int VtcrHa = 21, VtcrHd = 22;
    private const ulong Va = 0x0000_0400_0000_0000;
    private const ulong Oa = 0x0000_0800_0000_0000;

    /// <summary>Remembers every descriptor a builder writes, to store them big-endian once the tables are built.</summary>
    private sealed class Written
    {
        private readonly HashSet<ulong> _pas = [];

        public Written(PageTableBuilder b) => b.OnWrite = (pa, _) => _pas.Add(pa);

        /// <summary>Rewrites every descriptor written so far byte-reversed (a big-endian table).</summary>
        public void StoreBigEndian(PhysicalMemory memory)
        {
            foreach (ulong pa in _pas)
            {
                var a = new PhysicalAddress(pa);
                memory.Write64(a, BinaryPrimitives.ReverseEndianness(memory.Peek64(a)));
            }
        }
    }

    private static ulong Swap(ulong v) => BinaryPrimitives.ReverseEndianness(v);

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void Stage1WalkReadsBigEndianWhenSctlrEl1EeIsSet(Granule g)
    {
        var s = new Scenario().WithStage1(g, 16);
        var w = new Written(s.Lower!);
        s.MapS1(Va, Oa);
        Expect.Pa(s.Translate(Va + 0x18), Oa + 0x18);
        w.StoreBigEndian(s.Memory);
        // EE=0 reads the reversed words little-endian: the root descriptor's bit 0 is now bit 56 of the table
        // descriptor's address byte, so the walk fails where a little-endian walk must.
        Assert.True(s.Translate(Va + 0x18).IsFault);
        s.SetBit(SysReg.SCTLR_EL1, Ee);
        Expect.Pa(s.Translate(Va + 0x18), Oa + 0x18);
        // SCTLR_EL2.EE is not the EL1&0 stage 1's.
        s.SetBit(SysReg.SCTLR_EL1, Ee, false).SetBit(SysReg.SCTLR_EL2, Ee);
        Assert.True(s.Translate(Va + 0x18).IsFault);
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void Stage2WalkReadsBigEndianWhenSctlrEl2EeIsSetWhateverStage1Uses(Granule g)
    {
        var s = new Scenario().WithStage2(g, 24);
        var s2 = new Written(s.Stage2!);
        s.WithStage1(Granule.K4, 25);
        var s1 = new Written(s.Lower!);
        const ulong va = 0x40_0000, ipa = 0x60_0000, pa = 0x90_0000;
        s.MapS1(va, ipa);
        s.MapS2(ipa, pa);
        Expect.Pa(s.Translate(va + 8), pa + 8);
        s2.StoreBigEndian(s.Memory);
        Expect.Fault(s.Translate(va + 8), FaultType.Translation, 2, s.Stage2!.StartLevel, s1ptw: true);
        s.SetBit(SysReg.SCTLR_EL2, Ee);
        Expect.Pa(s.Translate(va + 8), pa + 8); // stage 2 big-endian, stage 1 little-endian
        s1.StoreBigEndian(s.Memory);
        Assert.True(s.Translate(va + 8).IsFault);
        s.SetBit(SysReg.SCTLR_EL1, Ee);
        Expect.Pa(s.Translate(va + 8), pa + 8); // both big-endian
        s2.StoreBigEndian(s.Memory);
        s.SetBit(SysReg.SCTLR_EL2, Ee, false);
        Expect.Pa(s.Translate(va + 8), pa + 8); // stage 1 big-endian, stage 2 little-endian
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void El2RegimeWalksBigEndianWithSctlrEl2Ee(Granule g)
    {
        var s = new Scenario().WithEl2(g, 25);
        var w = new Written(s.El2!);
        const ulong va = 0x20_0000, pa = 0x70_0000;
        s.MapEl2(va, pa);
        w.StoreBigEndian(s.Memory);
        s.SetBit(SysReg.SCTLR_EL1, Ee);
        Assert.True(s.Translate(va, el: 2).IsFault); // SCTLR_EL1.EE does not reach the EL2 regime
        s.SetBit(SysReg.SCTLR_EL2, Ee);
        Expect.Pa(s.Translate(va + 0x40, el: 2), pa + 0x40);
    }

    [Fact]
    public void Stage1HardwareUpdatesAreWrittenBigEndianAndDumpShowsTheReversedWord()
    {
        var s = new Scenario().WithStage1(Granule.K4, 16);
        var w = new Written(s.Lower!);
        ulong slot = s.MapS1(Va, Oa, ap: 2, af: false, dbm: true); // read-only, writable-clean with HD
        ulong desc = s.ReadTable(s.Lower!, slot);
        w.StoreBigEndian(s.Memory);
        s.SetBit(SysReg.SCTLR_EL1, Ee).SetBit(SysReg.TCR_EL1, Ha).SetBit(SysReg.TCR_EL1, Hd);
        Expect.Pa(s.Translate(Va), Oa);
        ulong afSet = desc | (1UL << 10);
        Assert.Equal(Swap(afSet), s.ReadTable(s.Lower!, slot));
        Expect.Pa(s.Translate(Va, AccessType.Write), Oa);
        ulong dirty = afSet & ~(1UL << 7);
        ulong pa = Scenario.Phys(s.Lower!, slot);
        s.Core.Dump(pa, 1, out var dump);
        Assert.Equal(Swap(dirty), dump.Value);
        // The record holds the descriptor's value, not its bytes in memory.
        var update = s.Mmu.Record.Steps.ToArray().Single(st => st.Kind == StepKind.Update);
        Assert.Equal(afSet, update.OldDescriptor);
        Assert.Equal(dirty, update.Descriptor);
    }

    [Fact]
    public void Stage2HardwareUpdatesAreWrittenBigEndianWithSctlrEl2Ee()
    {
        var s = new Scenario().WithStage2(Granule.K4, 24);
        var s2 = new Written(s.Stage2!);
        s.WithStage1(Granule.K4, 25);
        const ulong va = 0x40_0000, ipa = 0x60_0000, pa = 0x90_0000;
        s.MapS1(va, ipa);
        ulong slot = s.MapS2(ipa, pa, s2ap: 1, af: false, dbm: true); // read-only, writable-clean with HD
        ulong desc = s.ReadTable(s.Stage2!, slot);
        s2.StoreBigEndian(s.Memory);
        s.SetBit(SysReg.SCTLR_EL2, Ee).SetBit(SysReg.VTCR_EL2, VtcrHa).SetBit(SysReg.VTCR_EL2, VtcrHd);
        Expect.Pa(s.Translate(va, AccessType.Write), pa);
        ulong updated = desc | (1UL << 10) | (1UL << 7);
        Assert.Equal(Swap(updated), s.ReadTable(s.Stage2!, slot));
        // The stage-1 descriptor (little-endian, SCTLR_EL1.EE=0) is untouched by the stage-2 byte order.
        Expect.Pa(s.Translate(va + 0x10), pa + 0x10);
    }

    [Fact]
    public void ExplainNotesBigEndianReadsOnlyOnStepsOfABigEndianStage()
    {
        var s = new Scenario().WithStage2(Granule.K4, 24);
        var s2 = new Written(s.Stage2!);
        s.WithStage1(Granule.K4, 25);
        const ulong va = 0x40_0000, ipa = 0x60_0000, pa = 0x90_0000;
        s.MapS1(va, ipa);
        s.MapS2(ipa, pa);
        s.Mmu.Record.Detailed = true;
        var sb = new System.Text.StringBuilder();
        Expect.Pa(s.Translate(va), pa);
        WalkFormatter.AppendSteps(sb, s.Mmu.Record.Steps, s.Core, upperRange: false, el: 1);
        Assert.DoesNotContain("EE=1", sb.ToString());
        s2.StoreBigEndian(s.Memory);
        s.SetBit(SysReg.SCTLR_EL2, Ee);
        Expect.Pa(s.Translate(va), pa);
        sb.Clear();
        WalkFormatter.AppendSteps(sb, s.Mmu.Record.Steps, s.Core, upperRange: false, el: 1);
        string[] lines = sb.ToString().Split('\n');
        int notes = lines.Count(l => l.Contains(WalkFormatter.BigEndianNote));
        int s2Reads = s.Mmu.Record.Steps.ToArray().Count(st => st.Kind == StepKind.Read && st.Stage == 2);
        int s1Reads = s.Mmu.Record.Steps.ToArray().Count(st => st.Kind == StepKind.Read && st.Stage == 1);
        Assert.True(s2Reads > 0 && s1Reads > 0);
        Assert.Equal(s2Reads, notes);
        // Each note follows the decoded line of a stage-2 read.
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Contains(WalkFormatter.BigEndianNote))
            {
                Assert.Contains("S2 L", lines[i - 2]);
            }
        }
        var compact = CompactWalkFormatter.Format(s.Mmu.Record.Steps, s.Mmu.Stage1Params(TranslationRegime.El10, false), s.Mmu.Stage2Params, true, true);
        Assert.Equal(s2Reads, compact.Count(l => l.Contains(WalkFormatter.BigEndianNote)));
        Assert.All(compact.Where(l => l.Contains(WalkFormatter.BigEndianNote)), l => Assert.Contains("S2 L", l));
    }
}
