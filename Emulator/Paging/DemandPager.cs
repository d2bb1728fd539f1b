using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Building;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Translation;

namespace MmuSim.Paging;

/// <summary>Which page or block sizes demand paging maps with.</summary>
public enum PageSizePolicy : byte
{
    /// <summary>`4k`: level-3 pages (one granule).</summary>
    Page,
    /// <summary>`2m`: level-2 blocks (2 MiB with 4K, 32 MiB with 16K, 512 MiB with 64K).</summary>
    Block2M,
    /// <summary>`1g`: level-1 blocks (1 GiB with 4K); level-2 blocks with the granules that have no level-1 block.</summary>
    Block1G,
    /// <summary>`mixed`: by the alignment of the first touch: a level-1 block for an address aligned to one, then level 2, else a page.</summary>
    Mixed,
}

/// <summary>How demand paging builds the guest's (and the hypervisor's) tables.</summary>
public sealed record DemandPagingOptions
{
    /// <summary>1: the guest OS only (VA → PA). 2: guest OS and hypervisor (VA → IPA → PA).</summary>
    public int Stages { get; init; } = 2;

    /// <summary>
    /// The regime the tables are built for: <see cref="TranslationRegime.El10"/> (a guest OS: TTBR0/1_EL1, with
    /// stage 2 when <see cref="Stages"/> is 2) or <see cref="TranslationRegime.El20"/> (a VHE host: HCR_EL2.{E2H,TGE}
    /// = {1,1}, TTBR0/1_EL2; EL0 runs in EL2&amp;0, which has no stage 2, so <see cref="Stages"/> must be 1).
    /// </summary>
    public TranslationRegime Regime { get; init; } = TranslationRegime.El10;
    public Granule Stage1Granule { get; init; } = Granule.K4;
    public Granule Stage2Granule { get; init; } = Granule.K4;
    public PageSizePolicy Stage1Sizes { get; init; } = PageSizePolicy.Page;
    public PageSizePolicy Stage2Sizes { get; init; } = PageSizePolicy.Page;
    public FramePlacement Placement { get; init; } = FramePlacement.Sequential;
    public int Seed { get; init; } = 1;

    /// <summary>Size of guest RAM and of host RAM: every frame (data and tables) comes from these.</summary>
    public ulong MaxBytes { get; init; } = DemandPager.DefaultMaxBytes;

    /// <summary>Parses `4k`, `2m`, `1g` or `mixed`.</summary>
    public static bool TryParseSizes(string s, out PageSizePolicy p)
    {
        p = s.ToLowerInvariant() switch
        {
            "4k" or "page" => PageSizePolicy.Page,
            "2m" => PageSizePolicy.Block2M,
            "1g" => PageSizePolicy.Block1G,
            "mixed" => PageSizePolicy.Mixed,
            _ => (PageSizePolicy)255,
        };
        return (byte)p != 255;
    }

    /// <summary>Parses `4k`, `16k` or `64k`.</summary>
    public static bool TryParseGranule(string s, out Granule g)
    {
        g = s.ToLowerInvariant() switch { "4k" => Granule.K4, "16k" => Granule.K16, "64k" => Granule.K64, _ => 0 };
        return g != 0;
    }

    /// <summary>The `--regime` names, in the order the help lists them.</summary>
    public static readonly (string Name, TranslationRegime Regime)[] RegimeNames =
    [
        ("el10", TranslationRegime.El10),
        ("el20", TranslationRegime.El20),
    ];

    /// <summary>Parses `el10` (a guest OS at EL1) or `el20` (a VHE host at EL2).</summary>
    public static bool TryParseRegime(string s, out TranslationRegime r)
    {
        foreach (var (name, regime) in RegimeNames)
        {
            if (string.Equals(s, name, StringComparison.OrdinalIgnoreCase))
            {
                r = regime;
                return true;
            }
        }
        r = TranslationRegime.El10;
        return false;
    }

    /// <summary>Parses `sequential`, `random` or `fragmented`.</summary>
    public static bool TryParsePlacement(string s, out FramePlacement p)
    {
        p = s.ToLowerInvariant() switch
        {
            "sequential" => FramePlacement.Sequential,
            "random" => FramePlacement.Random,
            "fragmented" => FramePlacement.Fragmented,
            _ => (FramePlacement)255,
        };
        return (byte)p != 255;
    }
}

/// <summary>
/// Demand paging (docs/foreign-traces.md): plays the guest OS and, with two stages, the hypervisor for traces that
/// carry virtual addresses only. It programs an EL1&amp;0 regime (48-bit VA in both TTBR ranges, 40-bit IPA and PA,
/// Normal write-back memory), or with <see cref="DemandPagingOptions.Regime"/> EL2&amp;0 the same stage 1 for a VHE
/// host (HCR_EL2.{E2H,TGE} = {1,1}: EL0 translates through TTBR0/1_EL2 and TCR_EL2 in the TCR_EL1 layout), and, on the first touch of an address, serves the translation fault the walker
/// reports: a stage-1 fault maps the VA to a guest frame (user page: read/write at EL0 and EL1, executable at EL0),
/// a stage-2 fault maps the IPA to a host frame (read/write/execute). Tables are built with
/// <see cref="PageTableBuilder"/> in simulated memory, so every later walk reads real descriptors; the guest's own
/// table frames are IPAs and get stage-2 mappings when the guest writes them, as a hypervisor would on the guest
/// kernel's first store. Frames come from two pools (guest RAM in the IPA space, host RAM in the PA space) of
/// <see cref="DemandPagingOptions.MaxBytes"/> each, placed by the seeded policy; a full pool stops the replay
/// with a memory-limit error.
/// </summary>
public sealed class DemandPager : IDemandPager
{
    /// <summary>Default size of each RAM pool.</summary>
    public const ulong DefaultMaxBytes = 4UL << 30;

    /// <summary>Largest pool: both fit under the 40-bit IPA and PA spaces.</summary>
    public const ulong MaxPoolBytes = 256UL << 30;

    /// <summary>Guest RAM: IPAs with two stages, PAs with one.</summary>
    public const ulong GuestRamBase = 0x4000_0000;

    /// <summary>Host RAM (two stages): far from guest RAM so an IPA is never mistaken for a PA in the results.</summary>
    public const ulong HostRamBase = 0x80_0000_0000;

    public const int VaBits = 48;
    public const int IpaBits = 40;

    private readonly DemandPagingOptions _o;
    private readonly FrameAllocator _guestFrames;
    private readonly FrameAllocator? _hostFrames;
    private readonly PageTableBuilder _s1Lo;
    private readonly PageTableBuilder _s1Hi;
    private readonly PageTableBuilder? _s2;
    private readonly long[] _mapped = new long[2 * 4];
    private readonly Mmu _mmu;

    /// <summary>The regime whose tables the pager builds (TTBR0/1_EL1 and, with two stages, VTTBR_EL2; or TTBR0/1_EL2).</summary>
    private readonly TranslationRegime _regime;

    public DemandPager(SimulatedCore core, DemandPagingOptions options)
    {
        _o = options;
        if (options.Stages is not (1 or 2))
        {
            throw new ArgumentException($"demand paging has 1 or 2 stages, not {options.Stages}");
        }
        if (options.Regime is not (TranslationRegime.El10 or TranslationRegime.El20))
        {
            throw new ArgumentException($"demand paging builds EL1&0 or EL2&0 tables, not {options.Regime.Name()}");
        }
        if (options.Regime == TranslationRegime.El20 && options.Stages != 1)
        {
            throw new ArgumentException("demand paging for EL2&0 has one stage (the EL2&0 regime has no stage 2)");
        }
        _regime = options.Regime;
        if (options.MaxBytes < (4UL << 20) || options.MaxBytes > MaxPoolBytes)
        {
            throw new ArgumentException($"demand-paging memory must be between 4 MiB and {MaxPoolBytes >> 30} GiB");
        }
        ulong g1 = 1UL << (int)options.Stage1Granule;
        ulong g2 = 1UL << (int)options.Stage2Granule;
        ulong pool = options.MaxBytes & ~(Math.Max(g1, g2) - 1);
        var memory = core.Memory;
        _mmu = core.Mmu;
        _guestFrames = new FrameAllocator(GuestRamBase, pool, g1, options.Placement, options.Seed);
        if (TwoStages)
        {
            _hostFrames = new FrameAllocator(HostRamBase, pool, g2, options.Placement, options.Seed + 1);
            _s2 = new PageTableBuilder(memory, options.Stage2Granule, IpaBits, Stage2StartLevel(options.Stage2Granule), _hostFrames);
            memory.DeclareRam(new PhysicalAddress(HostRamBase), pool);
        }
        else
        {
            memory.DeclareRam(new PhysicalAddress(GuestRamBase), pool);
        }
        int s1Start = TranslationGeometry.Stage1StartLevel(options.Stage1Granule, VaBits);
        _s1Lo = new PageTableBuilder(memory, options.Stage1Granule, VaBits, s1Start, _guestFrames);
        _s1Hi = new PageTableBuilder(memory, options.Stage1Granule, VaBits, s1Start, _guestFrames);
        if (TwoStages)
        {
            Func<ulong, ulong> toPa = TableIpaToPa;
            _s1Lo.TableToPhysical = toPa;
            _s1Hi.TableToPhysical = toPa;
        }
        Program(core.Registers);
        core.CurrentEl = 0;
        core.DemandPager = this;
    }

    /// <summary>
    /// Serves another PE of the same system too: its registers name the same tables (the tables are in the memory
    /// every PE shares, so a page mapped on one PE's first touch is mapped for all), it runs at EL0, and its
    /// translation faults come here.
    /// </summary>
    public void Attach(SimulatedCore pe)
    {
        Program(pe.Registers);
        pe.CurrentEl = 0;
        pe.DemandPager = this;
    }

    public bool TwoStages => _o.Stages == 2;

    public DemandPagingOptions Options => _o;

    /// <summary>Stage-1 translation faults served.</summary>
    public long Stage1Faults { get; private set; }

    /// <summary>Stage-2 translation faults served on data accesses.</summary>
    public long Stage2Faults { get; private set; }

    /// <summary>Stage-2 translation faults served on stage-1 table walks (S1PTW).</summary>
    public long Stage2WalkFaults { get; private set; }

    /// <summary>Stage-2 mappings made when the guest wrote a new table frame (the guest kernel's own faults).</summary>
    public long Stage2TableFaults { get; private set; }

    /// <summary>Mappings that got a smaller size than asked because no suitably aligned frame was free.</summary>
    public long Fallbacks { get; private set; }

    /// <summary>Bytes of stage-1 tables built (both TTBR ranges).</summary>
    public ulong Stage1TableBytes => _s1Lo.TablesBytes + _s1Hi.TablesBytes;

    /// <summary>Bytes of stage-2 tables built.</summary>
    public ulong Stage2TableBytes => _s2?.TablesBytes ?? 0;

    /// <summary>Guest RAM handed out (data frames and stage-1 tables).</summary>
    public ulong GuestBytesUsed => _guestFrames.Used;

    /// <summary>Host RAM handed out (data frames and stage-2 tables).</summary>
    public ulong HostBytesUsed => _hostFrames?.Used ?? 0;

    /// <summary>Leaf mappings made at <paramref name="stage"/> and <paramref name="level"/>.</summary>
    public long Mappings(int stage, int level) => _mapped[(stage - 1) * 4 + level];

    /// <summary>The builder of the stage-1 range <paramref name="upper"/> (TTBR1) or lower (TTBR0).</summary>
    public PageTableBuilder Stage1Tables(bool upper) => upper ? _s1Hi : _s1Lo;

    public PageTableBuilder? Stage2Tables => _s2;

    public bool TryServe(in AccessRequest request, in FaultInfo fault)
    {
        if (fault.Type != FaultType.Translation || _mmu.RegimeOf(request.El) != _regime)
        {
            return false; // only missing mappings of the guest's regime are ours to fill
        }
        if (fault.Stage == 1)
        {
            ulong va = request.Va.Value;
            ulong top = va >> VaBits;
            if (top != 0 && top != 0xFFFF)
            {
                return false; // outside both 48-bit VA ranges: a real fault
            }
            MapStage1(top != 0 ? _s1Hi : _s1Lo, va, fault.Level);
            Stage1Faults++;
            return true;
        }
        if (_s2 is null || fault.Ipa.Value >> IpaBits != 0)
        {
            return false;
        }
        MapStage2(fault.Ipa.Value, fault.Level);
        if (fault.S1Ptw)
        {
            Stage2WalkFaults++;
        }
        else
        {
            Stage2Faults++;
        }
        return true;
    }

    private void MapStage1(PageTableBuilder b, ulong va, int faultLevel)
    {
        var g = _o.Stage1Granule;
        int level = ChooseLevel(_o.Stage1Sizes, g, va, faultLevel, b.StartLevel);
        (level, ulong ipa) = Allocate(_guestFrames, b, level, "guest RAM");
        ulong size = b.LevelSize(level);
        b.Set(va & ~(size - 1), level, Descriptors.Stage1Leaf(ipa, level, g, attrIndx: 0, ap: 1, sh: 3, af: true, nG: true, uxn: false, pxn: true));
        _mapped[level]++;
    }

    private void MapStage2(ulong ipa, int faultLevel)
    {
        var g = _o.Stage2Granule;
        int level = ChooseLevel(_o.Stage2Sizes, g, ipa, faultLevel, _s2!.StartLevel);
        (level, ulong pa) = Allocate(_hostFrames!, _s2, level, "host RAM");
        ulong size = _s2.LevelSize(level);
        _s2.Set(ipa & ~(size - 1), level, Descriptors.Stage2Leaf(pa, level, g, memAttr: 0xF, s2ap: 3, sh: 3, af: true, xn: 0));
        _mapped[4 + level]++;
    }

    /// <summary>
    /// The level to map at: the policy's, never above the level of the invalid descriptor (tables below it exist
    /// already), and only where the granule allows a block (Arm ARM D8.2: 4K blocks at levels 1 and 2, 16K and 64K at
    /// level 2 without FEAT_LPA2/LPA).
    /// </summary>
    private static int ChooseLevel(PageSizePolicy policy, Granule g, ulong address, int faultLevel, int startLevel)
    {
        int want = policy switch
        {
            PageSizePolicy.Page => 3,
            PageSizePolicy.Block2M => 2,
            PageSizePolicy.Block1G => TranslationGeometry.BlockAllowed(g, 1, false, false) ? 1 : 2,
            _ => MixedLevel(g, address),
        };
        want = Math.Max(want, Math.Max(faultLevel, startLevel));
        while (want < 3 && !TranslationGeometry.BlockAllowed(g, want, false, false))
        {
            want++;
        }
        return want;
    }

    private static int MixedLevel(Granule g, ulong address)
    {
        for (int l = 1; l < 3; l++)
        {
            if (TranslationGeometry.BlockAllowed(g, l, false, false) && (address & BitOps.Mask(TranslationGeometry.LevelShift(g, l))) == 0)
            {
                return l;
            }
        }
        return 3;
    }

    /// <summary>A frame for a mapping at <paramref name="level"/>, or at a deeper level when no aligned frame is free.</summary>
    private (int Level, ulong Address) Allocate(FrameAllocator frames, PageTableBuilder b, int level, string pool)
    {
        for (int l = level; l <= 3; l++)
        {
            if (l < 3 && !TranslationGeometry.BlockAllowed(b.Granule, l, false, false))
            {
                continue;
            }
            ulong size = b.LevelSize(l);
            if (frames.TryAllocate(size, size, out ulong at))
            {
                if (l != level)
                {
                    Fallbacks++;
                }
                return (l, at);
            }
        }
        throw new Memory.MemoryLimitException(
            $"demand paging: {pool} ({frames.PoolSize >> 20} MiB) is full after {frames.Used >> 20} MiB of frames: raise --max-memory");
    }

    /// <summary>
    /// Where a guest table frame (an IPA) lives: its stage-2 mapping, made first if missing (the hypervisor serving the
    /// guest kernel's stage-2 fault on its first store to the new table).
    /// </summary>
    private ulong TableIpaToPa(ulong ipa)
    {
        if (_s2!.TryLookup(ipa, out ulong pa, out int level))
        {
            return pa;
        }
        MapStage2(ipa, level);
        Stage2TableFaults++;
        _s2.TryLookup(ipa, out pa, out _);
        return pa;
    }

    /// <summary>Stage-2 start level for a 40-bit IPA: the deepest with at most 16 concatenated tables (AArch64.S2InconsistentSL).</summary>
    private static int Stage2StartLevel(Granule g)
    {
        int stride = TranslationGeometry.Stride(g);
        for (int l = 3; l >= 0; l--)
        {
            if (IpaBits - TranslationGeometry.LevelShift(g, l) <= stride + 4)
            {
                return l;
            }
        }
        return 0;
    }

    /// <summary>Programs the EL1&amp;0 regime (and stage 2) for the guest, or the EL2&amp;0 regime of a VHE host.</summary>
    private void Program(SystemRegisters regs)
    {
        ulong tg0 = _o.Stage1Granule switch { Granule.K4 => 0b00, Granule.K64 => 0b01, _ => 0b10 };
        ulong tg1 = _o.Stage1Granule switch { Granule.K4 => 0b10, Granule.K64 => 0b11, _ => 0b01 };
        const ulong Ips40 = 0b010;
        // TCR_EL1: T0SZ=T1SZ=16 (48-bit VA in both ranges), inner/outer write-back walks, inner shareable, TG0/TG1,
        // IPS=40 bits, AS=1 (16-bit ASID), TBI0=TBI1=0 (the top byte is part of the address).
        ulong tcr = (64 - VaBits) | (0b01UL << 8) | (0b01UL << 10) | (0b11UL << 12) | (tg0 << 14)
            | ((ulong)(64 - VaBits) << 16) | (0b01UL << 24) | (0b01UL << 26) | (0b11UL << 28) | (tg1 << 30)
            | (Ips40 << 32) | (1UL << 36);
        const ulong Sctlr = 0x30D0_1805; // M, C, I and the RES1 bits (SCTLR_EL1 layout, SCTLR_EL2's with E2H=1); WXN=0
        if (_regime == TranslationRegime.El20)
        {
            // A VHE host: E2H makes EL2 use EL2&0 (TCR_EL2 in the TCR_EL1 layout, TTBR1_EL2, ASIDs), TGE puts EL0 in it.
            regs[SysReg.MAIR_EL2] = 0xFF;
            regs[SysReg.TCR_EL2] = tcr;
            regs[SysReg.TTBR0_EL2] = _s1Lo.Root | (1UL << 48);
            regs[SysReg.TTBR1_EL2] = _s1Hi.Root;
            regs[SysReg.SCTLR_EL2] = Sctlr;
            regs[SysReg.HCR_EL2] = (1UL << 31) | (1UL << 34) | (1UL << 27); // RW, E2H, TGE
            return;
        }
        regs[SysReg.MAIR_EL1] = 0xFF; // Attr0: Normal, inner/outer write-back non-transient, read/write-allocate
        regs[SysReg.TCR_EL1] = tcr;
        regs[SysReg.TTBR0_EL1] = _s1Lo.Root | (1UL << 48); // ASID 1: user pages are nG
        regs[SysReg.TTBR1_EL1] = _s1Hi.Root;
        if (_s2 is not null)
        {
            int sl0 = _o.Stage2Granule == Granule.K4 ? 2 - _s2.StartLevel : 3 - _s2.StartLevel;
            ulong vtg0 = _o.Stage2Granule switch { Granule.K4 => 0b00, Granule.K64 => 0b01, _ => 0b10 };
            // VTCR_EL2: T0SZ=24 (40-bit IPA), SL0, write-back inner shareable walks, TG0, PS=40 bits; bit 31 RES1.
            regs[SysReg.VTCR_EL2] = (64 - IpaBits) | ((ulong)sl0 << 6) | (0b01UL << 8) | (0b01UL << 10) | (0b11UL << 12)
                | (vtg0 << 14) | (Ips40 << 16) | (1UL << 31);
            regs[SysReg.VTTBR_EL2] = _s2.Root | (1UL << 48); // VMID 1
            regs[SysReg.HCR_EL2] = (1UL << 31) | 1; // RW (EL1 is AArch64), VM (stage 2 on)
        }
        regs[SysReg.SCTLR_EL1] = Sctlr;
    }

    /// <summary>The demand-paging part of the summary.</summary>
    public void WriteSummary(TextWriter w)
    {
        w.WriteLine($"demand paging      {(TwoStages ? "2 stages" : "1 stage")}, {TranslationGeometry.Name(_o.Stage1Granule)}"
            + (TwoStages ? $" / {TranslationGeometry.Name(_o.Stage2Granule)}" : "")
            + $" granule, {_o.Placement.ToString().ToLowerInvariant()} frames (seed {_o.Seed})"
            + (_regime == TranslationRegime.El20 ? ", EL2&0 (VHE host)" : ""));
        w.WriteLine($"  faults served    {Stage1Faults + Stage2Faults + Stage2WalkFaults + Stage2TableFaults,12:N0}   (stage 1 {Stage1Faults:N0}; stage 2: data {Stage2Faults:N0}, walks {Stage2WalkFaults:N0}, table stores {Stage2TableFaults:N0})");
        w.WriteLine($"  stage 1 mappings {Describe(1, _o.Stage1Granule)}");
        if (TwoStages)
        {
            w.WriteLine($"  stage 2 mappings {Describe(2, _o.Stage2Granule)}");
        }
        if (Fallbacks > 0)
        {
            w.WriteLine($"  smaller than asked {Fallbacks,10:N0}   (no aligned frame free)");
        }
        w.WriteLine($"  table memory     {Stage1TableBytes + Stage2TableBytes,12:N0} B (stage 1 {Stage1TableBytes:N0} B, stage 2 {Stage2TableBytes:N0} B)");
        w.WriteLine($"  frames used      {GuestBytesUsed + HostBytesUsed,12:N0} B (guest RAM {GuestBytesUsed:N0} B" + (TwoStages ? $", host RAM {HostBytesUsed:N0} B)" : ")"));
    }

    private string Describe(int stage, Granule g)
    {
        var parts = new List<string>();
        for (int l = 1; l <= 3; l++)
        {
            long n = Mappings(stage, l);
            if (n > 0)
            {
                parts.Add($"{n:N0} x {SizeName(1UL << TranslationGeometry.LevelShift(g, l))}");
            }
        }
        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }

    private static string SizeName(ulong bytes) =>
        bytes >= 1UL << 30 ? $"{bytes >> 30} GiB" : bytes >= 1UL << 20 ? $"{bytes >> 20} MiB" : $"{bytes >> 10} KiB";
}
