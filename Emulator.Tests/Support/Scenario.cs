using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Tests.Support;

/// <summary>
/// A test-side scenario: a <see cref="SimulatedCore"/> whose registers are programmed for a chosen granule and TxSZ at
/// each stage, with page tables built by <see cref="PageTableBuilder"/> and <see cref="Descriptors"/>. Register
/// values are composed here from the Arm field positions (not from the engine's decoders), so a test states the
/// architecture it expects. Stage-1 tables of the EL1&amp;0 regime live in IPA space when stage 2 is configured
/// (stage 2 first): each table page is mapped by stage 2 to PA = IPA + <see cref="S1TableIpaToPa"/>, so an IPA used
/// as a PA reads the wrong memory.
/// </summary>
public sealed class Scenario
{
    /// <summary>Stage-2 tables (PA).</summary>
    public const ulong S2Pool = 0x0200_0000;
    public const ulong S2PoolSize = 0x0100_0000;
    /// <summary>Stage-1 TTBR0_EL1 tables (table space: IPA with stage 2, else PA).</summary>
    public const ulong LowerPool = 0x0400_0000;
    /// <summary>Stage-1 TTBR1_EL1 tables.</summary>
    public const ulong UpperPool = 0x0480_0000;
    /// <summary>EL2 regime tables (PA).</summary>
    public const ulong El2Pool = 0x0500_0000;
    /// <summary>EL2&amp;0 regime tables of the TTBR1_EL2 range (PA).</summary>
    public const ulong El2UpperPool = 0x0580_0000;
    public const ulong S1PoolSize = 0x0080_0000;
    /// <summary>Where stage 2 puts the stage-1 table pages: PA = IPA + this.</summary>
    public const ulong S1TableIpaToPa = 0x0800_0000;

    /// <summary>Attr0 Normal WB RWA, Attr1 Normal NC, Attr2 Device-nGnRE, Attr3 Normal WT.</summary>
    public const ulong Mair = 0x0000_0000_BB04_44FF;

    /// <summary>(I)PS encodings.</summary>
    public const int Ps32 = 0, Ps36 = 1, Ps40 = 2, Ps42 = 3, Ps44 = 4, Ps48 = 5, Ps52 = 6;

    private readonly HashSet<ulong> _s2TablePages = new();

    public Scenario(ModelConfig? config = null)
    {
        // By default the rules of the walk alone: no TLB, no walk caches.
        Core = new SimulatedCore(config: config ?? Presets.Uncached);
        Regs[SysReg.MAIR_EL1] = Mair;
        Regs[SysReg.MAIR_EL2] = Mair;
    }

    public SimulatedCore Core { get; }
    public SystemRegisters Regs => Core.Registers;
    public PhysicalMemory Memory => Core.Memory;
    public Mmu Mmu => Core.Mmu;

    public PageTableBuilder? Lower { get; private set; }
    public PageTableBuilder? Upper { get; private set; }
    public PageTableBuilder? El2 { get; private set; }
    public PageTableBuilder? Stage2 { get; private set; }
    /// <summary>The TTBR1_EL2 tables of the EL2&amp;0 regime (<see cref="WithEl20Upper"/>).</summary>
    public PageTableBuilder? El2Upper { get; private set; }

    // ---------------------------------------------------------------- register encodings (Arm field positions)

    /// <summary>TCR_ELx.TG0 / VTCR_EL2.TG0: 00 4K, 01 64K, 10 16K.</summary>
    public static ulong Tg0(Granule g) => g switch { Granule.K4 => 0, Granule.K64 => 1, _ => 2 };

    /// <summary>TCR_EL1.TG1: 01 16K, 10 4K, 11 64K (not the TG0 encoding).</summary>
    public static ulong Tg1(Granule g) => g switch { Granule.K16 => 1, Granule.K4 => 2, _ => 3 };

    /// <summary>Stage-1 start level, AArch64.S1StartLevel: 3 − ((iasize − 1 − granulebits) DIV stride).</summary>
    public static int Stage1StartLevel(Granule g, int inputSize) => 3 - (inputSize - 1 - (int)g) / ((int)g - 3);

    /// <summary>VTCR_EL2.SL0 (and SL2) for a start level (AArch64.S2StartLevel, inverted).</summary>
    public static (int Sl0, bool Sl2) EncodeSl0(Granule g, int level) => g == Granule.K4
        ? level switch { -1 => (0, true), 0 => (2, false), 1 => (1, false), 2 => (0, false), _ => (3, false) }
        : level switch { 0 => (3, false), 1 => (2, false), 2 => (1, false), _ => (0, false) };

    /// <summary>AArch64.S2StartLevel: SL2:SL0 to a level, for the encodings a test may use.</summary>
    public static int DecodeSl0(Granule g, int sl0, bool sl2) => g == Granule.K4
        ? (sl2 ? -1 : sl0 switch { 0 => 2, 1 => 1, 2 => 0, _ => 3 })
        : sl0 switch { 0 => 3, 1 => 2, 2 => 1, _ => 0 };

    /// <summary>Bytes mapped by one entry at a level.</summary>
    public static ulong LevelSize(Granule g, int level) => 1UL << ((int)g + ((int)g - 3) * (3 - level));

    /// <summary>Replaces bits [hi:lo] of a register.</summary>
    public Scenario SetField(SysReg reg, int hi, int lo, ulong value)
    {
        ulong mask = (hi - lo + 1 >= 64 ? ulong.MaxValue : (1UL << (hi - lo + 1)) - 1) << lo;
        Regs[reg] = (Regs[reg] & ~mask) | ((value << lo) & mask);
        return this;
    }

    public Scenario SetBit(SysReg reg, int bit, bool value = true) => SetField(reg, bit, bit, value ? 1UL : 0);

    // ---------------------------------------------------------------- regime set-up

    /// <summary>
    /// EL1&amp;0 stage 1, TTBR0 range: TCR_EL1.{T0SZ, TG0, IPS, DS}, EPD1=1 until <see cref="WithUpper"/>, TTBR0_EL1 =
    /// the root, SCTLR_EL1.M=1. With stage 2 configured the tables are in IPA space.
    /// </summary>
    public Scenario WithStage1(Granule g, int t0sz, int ips = Ps48, bool ds = false, ulong pool = LowerPool)
    {
        int inputSize = 64 - t0sz;
        Lower = new PageTableBuilder(Memory, g, inputSize, Stage1StartLevel(g, inputSize), new FrameAllocator(pool, S1PoolSize), ds)
        {
            TableToPhysical = S1TableToPhysical,
        };
        SetField(SysReg.TCR_EL1, 5, 0, (ulong)t0sz);
        SetField(SysReg.TCR_EL1, 15, 14, Tg0(g));
        SetField(SysReg.TCR_EL1, 34, 32, (ulong)ips);
        SetBit(SysReg.TCR_EL1, 59, ds);
        if (Upper is null)
        {
            SetBit(SysReg.TCR_EL1, 23); // EPD1: no TTBR1 walks
            SetField(SysReg.TCR_EL1, 31, 30, Tg1(g));
        }
        Regs[SysReg.TTBR0_EL1] = Ttbr(Lower.Root);
        SetBit(SysReg.SCTLR_EL1, 0);
        return this;
    }

    /// <summary>EL1&amp;0 stage 1, TTBR1 range: TCR_EL1.{T1SZ, TG1}, EPD1=0, TTBR1_EL1.</summary>
    public Scenario WithUpper(Granule g, int t1sz)
    {
        bool ds = (Lower?.Ds ?? false) && g != Granule.K64; // TCR_EL1.DS has no effect on a 64K range
        int inputSize = 64 - t1sz;
        Upper = new PageTableBuilder(Memory, g, inputSize, Stage1StartLevel(g, inputSize), new FrameAllocator(UpperPool, S1PoolSize), ds)
        {
            TableToPhysical = S1TableToPhysical,
        };
        SetField(SysReg.TCR_EL1, 21, 16, (ulong)t1sz);
        SetField(SysReg.TCR_EL1, 31, 30, Tg1(g));
        SetBit(SysReg.TCR_EL1, 23, false);
        Regs[SysReg.TTBR1_EL1] = Ttbr(Upper.Root);
        SetBit(SysReg.SCTLR_EL1, 0);
        return this;
    }

    /// <summary>
    /// Stage 2: VTCR_EL2.{T0SZ, SL0, TG0, PS, DS, SL2} (RES1 bit 31), VTTBR_EL2 = root, HCR_EL2.VM=1. Without
    /// <paramref name="startLevel"/> the walk starts where stage 1 would, moved down one level with concatenation for
    /// 16K when that level would be 0 without DS.
    /// </summary>
    public Scenario WithStage2(Granule g, int t0sz, int? startLevel = null, int ps = Ps48, bool ds = false, ulong pool = S2Pool)
    {
        if (Lower is not null || Upper is not null)
        {
            throw new InvalidOperationException("configure stage 2 before the EL1&0 stage-1 tables (they live in IPA space)");
        }
        int inputSize = 64 - t0sz;
        int level = startLevel ?? Stage1StartLevel(g, inputSize);
        if (startLevel is null && g == Granule.K16 && level == 0 && !ds)
        {
            level = 1;
        }
        var (sl0, sl2) = EncodeSl0(g, level);
        Stage2 = new PageTableBuilder(Memory, g, inputSize, level, new FrameAllocator(pool, S2PoolSize), ds);
        ulong vtcr = (uint)t0sz | ((ulong)(uint)sl0 << 6) | (Tg0(g) << 14) | ((ulong)(uint)ps << 16) | (1UL << 31)
            | (ds ? 1UL << 32 : 0) | (sl2 ? 1UL << 33 : 0);
        Regs[SysReg.VTCR_EL2] = vtcr;
        Regs[SysReg.VTTBR_EL2] = Ttbr(Stage2.Root);
        SetBit(SysReg.HCR_EL2, 0);
        return this;
    }

    /// <summary>EL2 regime (E2H=0): TCR_EL2.{T0SZ, TG0, PS, DS} with RES1 bits 23 and 31, TTBR0_EL2, SCTLR_EL2.M=1.</summary>
    public Scenario WithEl2(Granule g, int t0sz, int ps = Ps48, bool ds = false)
    {
        int inputSize = 64 - t0sz;
        El2 = new PageTableBuilder(Memory, g, inputSize, Stage1StartLevel(g, inputSize), new FrameAllocator(El2Pool, S1PoolSize), ds);
        Regs[SysReg.TCR_EL2] = (uint)t0sz | (Tg0(g) << 14) | ((ulong)(uint)ps << 16) | (1UL << 23) | (1UL << 31) | (ds ? 1UL << 32 : 0);
        Regs[SysReg.TTBR0_EL2] = Ttbr(El2.Root);
        SetBit(SysReg.SCTLR_EL2, 0);
        return this;
    }

    /// <summary>
    /// The EL2&amp;0 regime (FEAT_VHE), TTBR0_EL2 range: HCR_EL2.E2H=1, TCR_EL2 in the TCR_EL1 layout {T0SZ, TG0, IPS,
    /// DS} with EPD1=1 until <see cref="WithEl20Upper"/>, TTBR0_EL2, SCTLR_EL2.M=1 (the SCTLR_EL1 layout). The tables
    /// are in <see cref="El2"/>. TGE is left to the caller.
    /// </summary>
    public Scenario WithEl20(Granule g, int t0sz, int ips = Ps48, bool ds = false)
    {
        int inputSize = 64 - t0sz;
        El2 = new PageTableBuilder(Memory, g, inputSize, Stage1StartLevel(g, inputSize), new FrameAllocator(El2Pool, S1PoolSize), ds);
        Regs[SysReg.TCR_EL2] = (uint)t0sz | (Tg0(g) << 14) | (1UL << 23) | (Tg1(g) << 30) | ((ulong)(uint)ips << 32) | (ds ? 1UL << 59 : 0);
        Regs[SysReg.TTBR0_EL2] = Ttbr(El2.Root);
        SetBit(SysReg.SCTLR_EL2, 0);
        SetBit(SysReg.HCR_EL2, 34);
        return this;
    }

    /// <summary>The EL2&amp;0 regime's TTBR1_EL2 range: TCR_EL2.{T1SZ, TG1}, EPD1=0, TTBR1_EL2.</summary>
    public Scenario WithEl20Upper(Granule g, int t1sz)
    {
        bool ds = (El2?.Ds ?? false) && g != Granule.K64;
        int inputSize = 64 - t1sz;
        El2Upper = new PageTableBuilder(Memory, g, inputSize, Stage1StartLevel(g, inputSize), new FrameAllocator(El2UpperPool, S1PoolSize), ds);
        SetField(SysReg.TCR_EL2, 21, 16, (ulong)t1sz);
        SetField(SysReg.TCR_EL2, 31, 30, Tg1(g));
        SetBit(SysReg.TCR_EL2, 23, false);
        Regs[SysReg.TTBR1_EL2] = Ttbr(El2Upper.Root);
        return this;
    }

    /// <summary>TTBR BADDR with BADDR[51:48] in bits [5:2] (used only when the output size is 52 bits).</summary>
    public static ulong Ttbr(ulong root) => (root & 0x0000_FFFF_FFFF_FFFE) | (((root >> 48) & 0xF) << 2);

    /// <summary>Where a stage-1 table address is stored: through the stage-2 table-page map when stage 2 exists.</summary>
    private ulong S1TableToPhysical(ulong tableAddress)
    {
        if (Stage2 is null)
        {
            return tableAddress;
        }
        ulong pageSize = 1UL << (int)Stage2.Granule;
        ulong page = tableAddress & ~(pageSize - 1);
        if (_s2TablePages.Add(page))
        {
            Stage2.Set(page, 3, Descriptors.Stage2Leaf(page + S1TableIpaToPa, 3, Stage2.Granule, ds: Stage2.Ds));
        }
        return tableAddress + S1TableIpaToPa;
    }

    // ---------------------------------------------------------------- mapping

    private PageTableBuilder S1For(ulong va) => (va >> 55 & 1) != 0
        ? Upper ?? throw new InvalidOperationException("no TTBR1 tables")
        : Lower ?? throw new InvalidOperationException("no TTBR0 tables");

    /// <summary>Maps an EL1&amp;0 stage-1 leaf at <paramref name="level"/>; returns the descriptor's table-space address.</summary>
    public ulong MapS1(ulong va, ulong oa, int level = 3, int ap = 0, bool af = true, bool uxn = false, bool pxn = false,
        bool dbm = false, int attrIndx = 0, int sh = 3)
    {
        var b = S1For(va);
        return b.Set(va, level, Descriptors.Stage1Leaf(oa, level, b.Granule, attrIndx, ap, sh, af, false, uxn, pxn, false, dbm, b.Ds));
    }

    /// <summary>Writes a raw stage-1 descriptor for <paramref name="va"/> at <paramref name="level"/>.</summary>
    public ulong SetS1(ulong va, int level, ulong descriptor) => S1For(va).Set(va, level, descriptor);

    /// <summary>Maps an EL2-regime leaf.</summary>
    public ulong MapEl2(ulong va, ulong pa, int level = 3, int ap = 0, bool af = true, bool xn = false, bool dbm = false, int attrIndx = 0)
    {
        var b = El2 ?? throw new InvalidOperationException("no EL2 tables");
        return b.Set(va, level, Descriptors.Stage1Leaf(pa, level, b.Granule, attrIndx, ap, 3, af, false, xn, false, false, dbm, b.Ds));
    }

    /// <summary>Maps a stage-2 leaf.</summary>
    public ulong MapS2(ulong ipa, ulong pa, int level = 3, int s2ap = 3, int xn = 0, bool af = true, bool dbm = false, int memAttr = 0xF)
    {
        var b = Stage2 ?? throw new InvalidOperationException("no stage-2 tables");
        return b.Set(ipa, level, Descriptors.Stage2Leaf(pa, level, b.Granule, memAttr, s2ap, 3, af, xn, false, dbm, b.Ds));
    }

    /// <summary>Writes a raw stage-2 descriptor.</summary>
    public ulong SetS2(ulong ipa, int level, ulong descriptor) => (Stage2 ?? throw new InvalidOperationException("no stage-2 tables")).Set(ipa, level, descriptor);

    /// <summary>ORs stage-1 table attributes into the table descriptor at <paramref name="level"/> on the path of <paramref name="va"/>.</summary>
    public void SetTableAttrs(ulong va, int level, int apTable = 0, bool uxnTable = false, bool pxnTable = false, PageTableBuilder? tables = null)
    {
        var b = tables ?? S1For(va);
        ulong slot = b.DescriptorAddress(va, level);
        ulong desc = b.Read(slot);
        if ((desc & 3) != 3)
        {
            throw new InvalidOperationException($"no table descriptor at level {level} for 0x{va:x}");
        }
        desc |= ((ulong)apTable << 61) | (uxnTable ? 1UL << 60 : 0) | (pxnTable ? 1UL << 59 : 0);
        b.Set(va, level, desc);
    }

    /// <summary>The PA where a table-space address of <paramref name="b"/> is stored.</summary>
    public static ulong Phys(PageTableBuilder b, ulong tableAddress) => b.TableToPhysical(tableAddress);

    /// <summary>The word now stored at a table-space address of <paramref name="b"/>.</summary>
    public ulong ReadTable(PageTableBuilder b, ulong tableAddress) => Memory.Peek64(new PhysicalAddress(b.TableToPhysical(tableAddress)));

    // ---------------------------------------------------------------- running

    /// <summary>One translation through <see cref="Mmu.Translate"/>.</summary>
    public TranslationResult Translate(ulong va, AccessType type = AccessType.Read, int el = 1, AtMode at = AtMode.None)
    {
        Mmu.Translate(new AccessRequest(new VirtualAddress(va), (byte)el, type, at), out var r);
        return r;
    }

    /// <summary>Descriptor reads of the last translation.</summary>
    public int Reads => Mmu.Record.Reads;

    /// <summary>An R/W/X through the core at <paramref name="el"/> (routing, ESR, FAR, HPFAR).</summary>
    public AccessOutcome Access(ulong va, AccessType type = AccessType.Read, int el = 1)
    {
        Core.CurrentEl = (byte)el;
        var op = type switch { AccessType.Write => TraceOp.Write, AccessType.Fetch => TraceOp.Fetch, _ => TraceOp.Read };
        Core.Execute(new TraceRecord { Op = op, Address = va, Size = 8, Line = 1 }, out var o);
        return o;
    }

    /// <summary>An AT instruction through the core (PAR_EL1).</summary>
    public AccessOutcome At(AtOp op, ulong va)
    {
        Core.Execute(new TraceRecord { Op = TraceOp.At, At = op, Address = va, Line = 1 }, out var o);
        return o;
    }
}

/// <summary>Assertions on translation results.</summary>
public static class Expect
{
    public static void Pa(in TranslationResult r, ulong pa)
    {
        Assert.False(r.IsFault, $"expected PA 0x{pa:x}, got fault {r.Fault}");
        Assert.Equal($"0x{pa:x}", $"0x{r.Pa:x}");
    }

    public static void Fault(in TranslationResult r, FaultType type, int stage, int level, bool s1ptw = false)
    {
        Assert.True(r.IsFault, $"expected {type} stage {stage} level {level}, got PA 0x{r.Pa:x}");
        Assert.Equal((type, stage, level, s1ptw), (r.Fault.Type, (int)r.Fault.Stage, (int)r.Fault.Level, r.Fault.S1Ptw));
    }

    public static void Ok(in TranslationResult r) => Assert.False(r.IsFault, $"expected success, got {r.Fault}");
}
