using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.CompilerServices;
using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Registers;

namespace MmuSim.Translation;

/// <summary>The input of one translation.</summary>
/// <param name="Va">The address as issued, tag included.</param>
/// <param name="El">The exception level whose permissions apply (for AT, the level the instruction names).</param>
/// <param name="Type">Read, write or instruction fetch.</param>
/// <param name="At">AT instruction mode, or <see cref="AtMode.None"/> for a real access.</param>
public readonly record struct AccessRequest(VirtualAddress Va, byte El, AccessType Type, AtMode At = AtMode.None);

/// <summary>
/// The VMSAv8-64 translation engine: one walker for both stages, with stage-1 descriptor fetches of the EL1&amp;0
/// regime translated through stage 2 (AArch64.S1Walk / S2Walk composition). Faults are values; the steps of
/// every translation are recorded in <see cref="Record"/>.
/// </summary>
public sealed partial class Mmu
{
    private readonly SystemRegisters _regs;
    private readonly PhysicalMemory _mem;
    private uint _generation = uint.MaxValue;

    /// <summary>Per <see cref="TranslationRegime"/>: what its stage 1 and stage 2 are under the current registers.</summary>
    private readonly RegimeSnapshot[] _regimes = new RegimeSnapshot[TranslationRegimes.Count];
    private WalkParams _s2;
    private Hcr _hcr;
    private int _paMax;
    private bool _xnx;
    private ulong _walkCtxS2;
    private IWalkCaches? _caches;
    private bool _useCaches;

    private bool _s1WalkCache;
    private bool _s2WalkCache;
    private bool _ipaCache;
    private bool _walkCaches1;
    private bool _walkCaches2;
    private bool _ipaCacheOn;

    public Mmu(SystemRegisters regs, PhysicalMemory memory)
    {
        _regs = regs;
        _mem = memory;
    }

    /// <summary>The steps of the most recent translation.</summary>
    public WalkRecord Record { get; } = new();

    /// <summary>
    /// Walk caches and IPA cache consulted by walks of real accesses (never by AT); null for none. Set before the
    /// first translation.
    /// </summary>
    public IWalkCaches? Caches
    {
        get => _caches;
        set
        {
            _caches = value;
            _s1WalkCache = value?.HasWalkCache(1) ?? false;
            _s2WalkCache = value?.HasWalkCache(2) ?? false;
            _ipaCache = value?.HasIpaCache ?? false;
        }
    }

    /// <summary>
    /// Translate without side effects: hardware AF/dirty updates are decided as usual but not written to memory
    /// (the stale-translation checker's second opinion).
    /// </summary>
    public bool DryRun { get; init; }

    /// <summary>The current VMID (VTTBR_EL2.VMID, 8 or 16 bits per VTCR_EL2.VS), whether or not stage 2 is on.</summary>
    public ushort CurrentVmid
    {
        get
        {
            Refresh();
            return _s2.Tag;
        }
    }

    /// <summary>The current EL1&amp;0 ASID (from the TTBR that TCR_EL1.A1 selects, 8 or 16 bits per TCR_EL1.AS).</summary>
    public ushort CurrentAsid
    {
        get
        {
            Refresh();
            return Snapshot(TranslationRegime.El10).Lower.Tag;
        }
    }

    /// <summary>The ASID bits the implementation has (ID_AA64MMFR0_EL1.ASIDBits): 0xFFFF or 0xFF.</summary>
    public ushort AsidMask => _regs.Mmfr0.AsidBits == 2 ? (ushort)0xFFFF : (ushort)0xFF;

    /// <summary>The VMID bits the implementation has (ID_AA64MMFR1_EL1.VMIDBits): 0xFFFF or 0xFF.</summary>
    public ushort VmidMask => _regs.Mmfr1.VmidBits == 2 ? (ushort)0xFFFF : (ushort)0xFF;

    /// <summary>Hardware descriptor updates performed so far.</summary>
    public long HardwareUpdates { get; private set; }

    /// <summary>The regime of an access at <paramref name="el"/> under the current registers (<see cref="TranslationRegimes.Of"/>).</summary>
    public TranslationRegime RegimeOf(int el)
    {
        Refresh();
        return TranslationRegimes.Of(el, _hcr);
    }

    /// <summary>
    /// Stage-1 parameters of <paramref name="regime"/> for the VA range <paramref name="upper"/> selects (the lower one
    /// in a one-range regime), for explain and the reports.
    /// </summary>
    public WalkParams Stage1Params(TranslationRegime regime, bool upper)
    {
        Refresh();
        ref RegimeSnapshot rs = ref Snapshot(regime);
        return upper && rs.TwoRanges ? rs.Upper : rs.Lower;
    }

    public WalkParams Stage2Params
    {
        get
        {
            Refresh();
            return _s2;
        }
    }

    /// <summary>True when <paramref name="regime"/> currently has stage 2 enabled.</summary>
    public bool Stage2Enabled(TranslationRegime regime)
    {
        Refresh();
        return Snapshot(regime).Stage2On;
    }

    /// <summary>True when the stage-1 MMU of <paramref name="regime"/> is on.</summary>
    public bool Stage1Enabled(TranslationRegime regime)
    {
        Refresh();
        return Snapshot(regime).Stage1On;
    }

    /// <summary>Rebuilds the regime snapshot when a register was written since the last translation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Refresh()
    {
        if (_framesEpoch != _mem.Epoch)
        {
            Array.Clear(_frames);
            _framesEpoch = _mem.Epoch;
        }
        if (_generation != _regs.Generation)
        {
            Rebuild();
        }
    }

    private void Rebuild()
    {
        _generation = _regs.Generation;
        _s2 = WalkParamsBuilder.Stage2(_regs);
        _hcr = _regs.Hcr;
        _paMax = _regs.Mmfr0.PaMax;
        _xnx = _regs.Mmfr1.Xnx >= 1;
        ulong vmid = (ulong)_s2.Tag << ContextTag.VmidShift;
        _walkCtxS2 = vmid;
        for (int i = 0; i < TranslationRegimes.Count; i++)
        {
            var regime = (TranslationRegime)i;
            ref RegimeSnapshot rs = ref _regimes[i];
            rs.TwoRanges = regime.HasTwoVaRanges();
            rs.Lower = WalkParamsBuilder.Stage1(_regs, regime, upperRange: false);
            rs.Upper = rs.TwoRanges ? WalkParamsBuilder.Stage1(_regs, regime, upperRange: true) : rs.Lower;
            rs.Stage1On = regime.Stage1Enabled(_regs);
            rs.Stage2On = regime.Stage2Enabled(_regs);
            rs.AsidTagged = regime.HasAsid();
            // HCR_EL2.DC gives stage 1 of EL1&0 (the regime stage 2 follows) Normal write-back attributes when it is off.
            rs.DefaultCacheable = regime.HasStage2() && _hcr.Dc;
            rs.Sctlr = new Sctlr(_regs[regime.Sctlr()]);
            rs.Mair = _regs[regime.Mair()];
            // Context tags (arm-notes §8.3): the regime; the VMID in a regime with stage 2 (even with VM=0); the ASID
            // that TCR.A1 selects (both ranges' Tag hold it) in a regime with ASIDs. The enable state of each stage is
            // part of the tag so that turning a stage on or off never reuses an entry made under the other setting.
            ulong ctx = ContextTag.Of(regime) | (regime.HasStage2() ? vmid : 0) | (rs.AsidTagged ? rs.Lower.Tag : 0UL);
            // Walk-cache entries are intermediate entries: never global, so always ASID-tagged (arm-notes §8.3).
            rs.WalkCtx = ctx;
            rs.Ctx = ctx | (rs.Stage1On ? 0 : ContextTag.Stage1Off) | (rs.Stage2On ? ContextTag.Stage2On : 0);
            rs.CtxGlobal = (rs.Ctx & ~ContextTag.AsidMask) | ContextTag.Global;
        }
        BuildGates();
    }

    /// <summary>What one regime's translations need, decoded from the registers once per generation.</summary>
    private struct RegimeSnapshot
    {
        /// <summary>Stage 1 of the lower VA range (TTBR0), the only one of a one-range regime.</summary>
        public WalkParams Lower;
        /// <summary>Stage 1 of the upper VA range (TTBR1) of a two-range regime (else a copy of <see cref="Lower"/>).</summary>
        public WalkParams Upper;
        public bool TwoRanges;
        public bool Stage1On;
        public bool Stage2On;
        /// <summary>nG leaves are tagged with the ASID; without ASIDs every translation is global.</summary>
        public bool AsidTagged;
        /// <summary>HCR_EL2.DC applies to this regime's disabled stage 1.</summary>
        public bool DefaultCacheable;
        public Sctlr Sctlr;
        public ulong Mair;
        /// <summary>TLB context tag of a non-global entry, and of a global one.</summary>
        public ulong Ctx;
        public ulong CtxGlobal;
        /// <summary>Stage-1 walk-cache context.</summary>
        public ulong WalkCtx;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref RegimeSnapshot Snapshot(TranslationRegime regime) =>
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_regimes), (int)regime);

    /// <summary>The VA range of <paramref name="va"/>: VA[55] in a two-range regime, else 0 (lower).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool UpperRange(ref RegimeSnapshot rs, ulong va) => rs.TwoRanges && BitOps.Bit(va, 55);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref WalkParams Stage1Params(ref RegimeSnapshot rs, bool upper) => ref upper ? ref rs.Upper : ref rs.Lower;

    /// <summary>
    /// The checks of an access that read no table, in R_XCHFJ order: with stage 1 off the PAMax check
    /// (AArch64.S1DisabledOutput); with it on TxSZ, VA range, EPD/E0PD, then the TTBR base address size. They
    /// depend on registers only, so they run before any TLB lookup: an access they reject never hits a TLB, and a
    /// cached entry can never hide them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool InputFault(in AccessRequest req, ref WalkParams p, bool s1On, bool upper, out FaultInfo fault)
    {
        ulong va = req.Va.Value;
        bool tbi = p.Tbi && !(req.Type == AccessType.Fetch && p.Tbid);
        int top = tbi ? 55 : 63;
        if (!s1On)
        {
            if (BitOps.AnyAbove(va & BitOps.Mask(top, 0), _paMax))
            {
                fault = FaultInfo.Stage1(FaultType.AddressSize, 0);
                return true;
            }
        }
        else if (p.ConfigFault || !InRange(va, top, p.InputSize, upper) || p.Epd || (p.E0Pd && req.El == 0))
        {
            fault = FaultInfo.Stage1(FaultType.Translation, 0);
            return true;
        }
        else if (p.BaseAddressSizeFault)
        {
            fault = FaultInfo.Stage1(FaultType.AddressSize, 0);
            return true;
        }
        fault = default;
        return false;
    }

    /// <summary>
    /// <see cref="InputFault"/> precomputed for one VA range and access kind: an access passes when
    /// (VA &amp; Mask) == Expect, the range is usable (<see cref="Ok"/>) and it is not an EL0 access to an E0PD range.
    /// </summary>
    private struct InputGate
    {
        public ulong Mask;
        public ulong Expect;
        public bool Ok;
        public bool E0Pd;
    }

    /// <summary>Gates by ((regime · 2 + range) · 2 + fetch), range 1 being the upper VA range (TTBR1).</summary>
    private readonly InputGate[] _gates = new InputGate[TranslationRegimes.Count * 4];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int GateIndex(TranslationRegime regime, bool upper, bool fetch) =>
        ((int)regime * 2 + (upper ? 1 : 0)) * 2 + (fetch ? 1 : 0);

    private void BuildGates()
    {
        for (int range = 0; range < TranslationRegimes.Count * 2; range++)
        {
            ref RegimeSnapshot rs = ref _regimes[range >> 1];
            bool upper = (range & 1) != 0;
            ref WalkParams p = ref Stage1Params(ref rs, upper);
            bool s1On = rs.Stage1On;
            for (int fetch = 0; fetch < 2; fetch++)
            {
                ref var g = ref _gates[range * 2 + fetch];
                int top = p.Tbi && !(fetch == 1 && p.Tbid) ? 55 : 63;
                if (!s1On)
                {
                    // AArch64.S1DisabledOutput: VA[top:PAMax] must be zero.
                    g = new InputGate { Mask = _paMax >= 64 ? 0 : BitOps.Mask(top, _paMax), Expect = 0, Ok = true };
                }
                else if (p.ConfigFault || p.Epd || p.BaseAddressSizeFault)
                {
                    g = new InputGate { Ok = false };
                }
                else
                {
                    ulong m = BitOps.Mask(top, p.InputSize);
                    g = new InputGate { Mask = m, Expect = upper ? m : 0, Ok = true, E0Pd = p.E0Pd };
                }
            }
        }
    }

    /// <summary>
    /// The TLB lookup key of a real access, or false when the access fails a check that needs no table (it must
    /// then be translated, which reports that fault without a walk). Same decision as <see cref="InputFault"/>,
    /// from gates precomputed when the registers change.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetLookupKey(in AccessRequest req, out LookupKey key)
    {
        Refresh();
        ulong va = req.Va.Value;
        var regime = TranslationRegimes.Of(req.El, _hcr);
        ref RegimeSnapshot rs = ref Snapshot(regime);
        ref var g = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_gates),
            GateIndex(regime, UpperRange(ref rs, va), req.Type == AccessType.Fetch));
        if ((va & g.Mask) != g.Expect || !g.Ok || (g.E0Pd && req.El == 0))
        {
            key = default;
            return false;
        }
        key.Va = va & 0x00FF_FFFF_FFFF_FFFFUL;
        key.Ctx = rs.Ctx;
        key.CtxGlobal = rs.CtxGlobal;
        return true;
    }

    /// <summary>True when <paramref name="req"/> fails a check that needs no table (for tests of the gates).</summary>
    internal bool HasInputFault(in AccessRequest req)
    {
        Refresh();
        ref RegimeSnapshot rs = ref Snapshot(TranslationRegimes.Of(req.El, _hcr));
        bool upper = UpperRange(ref rs, req.Va.Value);
        return InputFault(in req, ref Stage1Params(ref rs, upper), rs.Stage1On, upper, out _);
    }

    /// <summary>Translates one access. Returns false with <c>result.Fault</c> set when it faults.</summary>
    public bool Translate(in AccessRequest req, out TranslationResult result)
    {
        Refresh();
        Record.Clear();
        result = default;
        result.Level = -2;
        result.S2Level = -2;
        _useCaches = _caches is not null && req.At == AtMode.None;
        _walkCaches1 = _useCaches && _s1WalkCache;
        _walkCaches2 = _useCaches && _s2WalkCache;
        _ipaCacheOn = _useCaches && _ipaCache;
        _memoOn = !_walkCaches2 && !Record.Detailed;
        _memoTableReads = _memoOn && !_ipaCacheOn;
        _pathMemoOn = Record.ReadsUnrecorded && !_walkCaches1 && !_ipaCacheOn && req.At == AtMode.None;
        bool ok = TranslateCore(in req, ref result);
        return ok;
    }

    private bool TranslateCore(in AccessRequest req, ref TranslationResult r)
    {
        var regime = TranslationRegimes.Of(req.El, _hcr);
        ref RegimeSnapshot rs = ref Snapshot(regime);
        bool s2On = rs.Stage2On;
        bool fetch = req.Type == AccessType.Fetch;
        ulong va = req.Va.Value;
        ulong ipa;
        byte s1Attr;
        byte s1Sh;
        int s1Shift;
        int s1Contig;

        bool s1On = rs.Stage1On;
        bool upper = UpperRange(ref rs, va);
        ref WalkParams p = ref Stage1Params(ref rs, upper);
        if (InputFault(in req, ref p, s1On, upper, out r.Fault))
        {
            return false;
        }
        r.TwoDimensional = s1On && s2On;

        if (!s1On)
        {
            // AArch64.S1DisabledOutput: flat map of the PAMax-bit address space.
            ipa = va & BitOps.Mask(_paMax);
            s1Shift = s1Contig = _paMax;
            r.Global = true;
            r.S1Permissions = AllStage1Permissions;
            if (rs.DefaultCacheable)
            {
                s1Attr = 0xFF;
                s1Sh = 0;
            }
            else
            {
                // Data: Device-nGnRnE; fetches: Normal, write-through if SCTLR.I else non-cacheable. Shareability
                // is reported as 0 in PAR, as QEMU 7.2 does (Device and NC become outer shareable once combined).
                s1Attr = !fetch ? Attributes.DeviceNGnRnE : rs.Sctlr.I ? (byte)0xEE : (byte)0x44;
                s1Sh = 0;
            }
        }
        else
        {
            _pathRegime = (byte)((int)regime * 2 + (upper ? 1 : 0));
            if (!Walk<Stage1Walk>(ref p, va, s2On, nested: false, rs.WalkCtx, FrameSlotsS1, out Leaf leaf, out r.Fault))
            {
                return false;
            }
            r.Level = (sbyte)leaf.Level;
            var sctlr = rs.Sctlr;
            if (!Stage1Leaf(ref p, ref leaf, in req, s2On, sctlr, out r.Fault))
            {
                return false;
            }
            ipa = leaf.OutputBase | (va & BitOps.Mask(leaf.Shift));
            ulong mair = rs.Mair;
            s1Attr = (byte)(mair >> (8 * (int)BitOps.Field(leaf.Descriptor, 4, 2)));
            s1Sh = (byte)(p.Ds ? p.TcrSh : (int)BitOps.Field(leaf.Descriptor, 9, 8));
            s1Shift = leaf.Shift;
            // What a TLB entry holds, from the descriptor as it is now in memory (after any AF/dirty update): the
            // permissions of every EL and access type, whether a write must still set the dirty state, nG.
            r.Global = !rs.AsidTagged || !BitOps.Bit(leaf.Descriptor, 11);
            r.S1Permissions = _useCaches ? Stage1PermissionMask(leaf.Descriptor, leaf.TableAttrs, ref p, sctlr.Wxn) : (ushort)0;
            r.S1Clean = p.Hd && BitOps.Bit(leaf.Descriptor, 51) && BitOps.Bit(leaf.Descriptor, 7);
            r.S1DescriptorPa = leaf.DescriptorPa;
            r.S1Shift = (byte)leaf.Shift;
            s1Contig = ContiguousShift(ref p, in leaf);
        }

        r.Ipa = ipa;
        r.HasIpa = s2On;
        if (!s2On || req.At == AtMode.Stage1)
        {
            r.Pa = ipa;
            r.Attr = s1Attr;
            r.Sh = s1Sh;
            r.BlockShift = (byte)s1Shift;
            r.ContiguousShift = (byte)s1Contig;
            r.S2Permissions = AllStage2Permissions;
            return true;
        }

        var s2Access = req.Type == AccessType.Write ? S2Access.Write : fetch ? S2Access.Fetch : S2Access.Read;
        if (!Stage2(ipa, s2Access, s1ptw: false, el0: req.El == 0, isAt: req.At != AtMode.None, FrameSlotsS2Final, out var s2))
        {
            r.Fault = s2.Fault;
            return false;
        }
        if (r.Level == -2)
        {
            r.Level = (sbyte)s2.Level;
        }
        r.Pa = s2.Pa;
        r.Attr = Attributes.Combine(s1Attr, Attributes.FromStage2(s2.MemAttr, _hcr.Cd));
        r.Sh = Attributes.CombineShareability(s1Sh, s2.Sh, r.Attr);
        r.BlockShift = (byte)Math.Min(s1Shift, s2.Shift);
        r.ContiguousShift = (byte)Math.Min(s1Contig, s2.ContiguousShift);
        r.S2Level = (sbyte)s2.Level;
        r.S2Permissions = _useCaches ? Stage2PermissionMask(s2.Descriptor, _s2.Hd, _xnx) : (byte)0;
        r.S2Clean = _s2.Hd && BitOps.Bit(s2.Descriptor, 51) && !BitOps.Bit(s2.Descriptor, 7);
        return true;
    }

    /// <summary>Every stage-1 permission bit (EL0..EL2 × read, write, fetch).</summary>
    public const ushort AllStage1Permissions = 0x1FF;

    /// <summary>Every stage-2 permission bit (EL0, EL1 × read, write, fetch).</summary>
    public const byte AllStage2Permissions = 0x3F;

    /// <summary>
    /// Stage-1 permissions of a leaf for every EL and access type: bit (el·3 + type), decided by the same
    /// <see cref="Stage1PermissionInputs"/> and <see cref="Stage1Permits"/> as a walk, so a TLB hit faults exactly
    /// when a walk would.
    /// </summary>
    internal static ushort Stage1PermissionMask(ulong desc, int tableAttrs, ref WalkParams p, bool wxn)
    {
        Stage1PermissionInputs(desc, tableAttrs, ref p, out int ap, out int apClean, out bool xn, out bool pxn);
        int key = ap | apClean << 2 | (xn ? 16 : 0) | (pxn ? 32 : 0) | (p.TwoRanges ? 64 : 0) | (wxn ? 128 : 0);
        return Stage1Masks[key];
    }

    // Every walk that fills a TLB needs the mask of all 9 (EL, access) pairs; the inputs are 8 bits, so the masks are
    // tabulated once from the same Stage1Permits a walk uses (a table, not a second copy of the rules).
    private static readonly ushort[] Stage1Masks = BuildStage1Masks();

    private static ushort[] BuildStage1Masks()
    {
        var masks = new ushort[256];
        for (int key = 0; key < 256; key++)
        {
            int ap = key & 3, apClean = (key >> 2) & 3;
            bool xn = (key & 16) != 0, pxn = (key & 32) != 0, twoRanges = (key & 64) != 0, wxn = (key & 128) != 0;
            int mask = 0;
            for (int el = 0; el <= 2; el++)
            {
                for (int t = 0; t < 3; t++)
                {
                    var type = (AccessType)t;
                    if (Stage1Permits(type == AccessType.Write ? ap : apClean, xn, pxn, twoRanges, wxn, el, type))
                    {
                        mask |= 1 << (el * 3 + t);
                    }
                }
            }
            masks[key] = (ushort)mask;
        }
        return masks;
    }

    /// <summary>Stage-2 permissions of a leaf: bit ((el == 0 ? 0 : 3) + type), as <see cref="Stage2Permits"/> decides.</summary>
    internal static byte Stage2PermissionMask(ulong desc, bool hd, bool xnx)
    {
        int s2ap = (int)BitOps.Field(desc, 7, 6);
        if (hd && BitOps.Bit(desc, 51))
        {
            s2ap |= 2; // writable-clean counts as writable
        }
        return Stage2Masks[s2ap | (int)BitOps.Field(desc, 54, 53) << 2 | (xnx ? 16 : 0)];
    }

    /// <summary>Stage-2 masks for every (S2AP, XN, XNX), tabulated from <see cref="Stage2Permits"/>.</summary>
    private static readonly byte[] Stage2Masks = BuildStage2Masks();

    private static byte[] BuildStage2Masks()
    {
        var masks = new byte[32];
        for (int key = 0; key < 32; key++)
        {
            int s2ap = key & 3, xn = (key >> 2) & 3;
            bool xnx = (key & 16) != 0;
            int mask = 0;
            for (int e = 0; e < 2; e++)
            {
                for (int t = 0; t < 3; t++)
                {
                    if (Stage2Permits(s2ap, xn, xnx, el0: e == 0, read: t == 0, write: t == 1, fetch: t == 2))
                    {
                        mask |= 1 << (e * 3 + t);
                    }
                }
            }
            masks[key] = (byte)mask;
        }
        return masks;
    }

    /// <summary>
    /// The size a cached entry for <paramref name="leaf"/> may cover: the whole contiguous group (Arm ARM D8.6.1,
    /// "The Contiguous bit") when coalescing is on, the Contiguous bit is set at a level that has it, the stage
    /// has no hardware AF/dirty update (those are made per descriptor, so one entry for the group would hide
    /// them), and every member of the group is a correctly programmed copy: same attributes, AF and permissions,
    /// consecutive output addresses. The group is checked in memory without counting descriptor reads; a
    /// misprogrammed group is simply cached page by page, so coalescing never changes a result.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ContiguousShift(ref WalkParams p, in Leaf leaf) =>
        !_useCaches || !BitOps.Bit(leaf.Descriptor, 52) ? leaf.Shift : ContiguousGroupShift(ref p, in leaf);

    private int ContiguousGroupShift(ref WalkParams p, in Leaf leaf)
    {
        if (!_caches!.CoalesceContiguous || p.Ha || !TranslationGeometry.ContiguousAllowed(p.Granule, leaf.Level, p.Ds))
        {
            return leaf.Shift;
        }
        int entries = TranslationGeometry.ContiguousEntries(p.Granule, leaf.Level);
        int log2 = System.Numerics.BitOperations.Log2((uint)entries);
        int groupShift = leaf.Shift + log2;
        if (groupShift > p.InputSize)
        {
            return leaf.Shift; // a group larger than the input range is a programming error: no coalescing
        }
        ulong groupBytes = (ulong)entries * 8;
        ulong firstPa = leaf.DescriptorPa & ~(groupBytes - 1);
        ulong member = (leaf.DescriptorPa - firstPa) >> 3;
        ulong groupOa = leaf.OutputBase - (member << leaf.Shift);
        if ((groupOa & BitOps.Mask(groupShift)) != 0)
        {
            return leaf.Shift;
        }
        ulong fieldMask = AddressFieldMask(ref p);
        ulong rest = leaf.Descriptor & ~fieldMask;
        for (int i = 0; i < entries; i++)
        {
            ulong d = _mem.Peek64(new PhysicalAddress(firstPa + ((ulong)i << 3)));
            if ((d & ~fieldMask) != rest || DescriptorAddress(d, in p) != groupOa + ((ulong)i << leaf.Shift))
            {
                return leaf.Shift;
            }
        }
        return groupShift;
    }

    /// <summary>The descriptor bits that hold an output address (see <see cref="DescriptorAddress"/>).</summary>
    private static ulong AddressFieldMask(ref WalkParams p)
    {
        int g = (int)p.Granule;
        if (p.Ds)
        {
            return BitOps.Mask(49, g) | BitOps.Mask(9, 8);
        }
        return BitOps.Mask(47, g) | (p.Granule == Granule.K64 && p.Lpa ? BitOps.Mask(15, 12) : 0);
    }

    /// <summary>
    /// VA range check for an enabled stage 1: bits [top:inputsize] must all equal VA[55] in a two-range regime
    /// (all zeros for TTBR0, all ones for TTBR1), and all be zero in a one-range regime.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool InRange(ulong va, int top, int inputSize, bool upper)
    {
        ulong bits = BitOps.Field(va, top, inputSize);
        return upper ? bits == BitOps.Mask(top - inputSize + 1) : bits == 0;
    }

    // Host frames of recent walks, one per (walk, level), as the native yardstick keeps them: the tables of the upper
    // levels are the same on almost every walk, so their reads skip the frame lookup. Only frames a walk may read
    // whole are kept; they never move, and PhysicalMemory.Epoch says when they must be forgotten. Every read still
    // happens. Slots: 0-4 the stage-1 walk, 5-9 the stage-2 walk of the output IPA, then five per stage-1 level for
    // the stage-2 walks of that level's table addresses (levels -1..3 each).
    private const int FrameSlotsS1 = 0;
    private const int FrameSlotsS2Final = 5;
    private const int FrameSlotCount = 35;

    /// <summary>The slots of the stage-2 walk that translates the address of a stage-1 table at <paramref name="s1Level"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FrameSlotsS2ForS1Table(int s1Level) => 10 + 5 * (s1Level + 1);

    private unsafe struct FrameSlot
    {
        public ulong FrameNumber;
        public ulong* Frame;
    }

    private readonly FrameSlot[] _frames = new FrameSlot[FrameSlotCount];
    private int _framesEpoch = -1;

    /// <summary>
    /// The descriptor at <paramref name="pa"/>, through the frame slot: a hit is one compare and one load, inline.
    /// Anything else is <see cref="ReadDescriptorSlow"/>, out of line so that the walk loop keeps its registers;
    /// a PA that is not backed reads as 0 and sets <see cref="_readAborted"/> (the value comes back in a register,
    /// not through memory, on every read).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe ulong ReadDescriptor(int slot, ulong pa)
    {
        Debug.Assert((uint)slot < FrameSlotCount);
        ref FrameSlot f = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_frames), slot);
        ulong* frame = f.Frame;
        if (f.FrameNumber == pa >> PhysicalMemory.FrameShift && frame != null)
        {
            return frame[(pa >> 3) & (PhysicalMemory.WordsPerFrame - 1)];
        }
        return ReadDescriptorSlow(ref f, pa);
    }

    /// <summary>Set by a read of a PA that is not backed (an external abort on the walk); the walk clears it.</summary>
    private bool _readAborted;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private unsafe ulong ReadDescriptorSlow(ref FrameSlot f, ulong pa)
    {
        ulong fn = pa >> PhysicalMemory.FrameShift;
        ulong* frame = _mem.FrameForWalk(fn);
        if (frame != null)
        {
            f.FrameNumber = fn;
            f.Frame = frame;
            return frame[(pa >> 3) & (PhysicalMemory.WordsPerFrame - 1)];
        }
        if (_mem.TryRead64(new PhysicalAddress(pa), out ulong value))
        {
            return value;
        }
        _readAborted = true;
        return 0;
    }

    /// <summary>
    /// Which stage a <see cref="Walk{TStage}"/> instance serves. The loop is one source for both stages; the type only
    /// lets the compiler drop the stage-2 translation of table addresses from the stage-2 instance, whose loop is
    /// then smaller (nested walks run it four times per stage-1 walk).
    /// </summary>
    private interface IWalkStage
    {
        bool MayTranslateTables { get; }

        /// <summary>The stage (WalkParams.Stage of every walk of this instance), a constant for the compiler.</summary>
        byte Stage { get; }
    }

    private readonly struct Stage1Walk : IWalkStage
    {
        public bool MayTranslateTables => true;

        public byte Stage => 1;
    }

    private readonly struct Stage2Walk : IWalkStage
    {
        public bool MayTranslateTables => false;

        public byte Stage => 2;
    }

    /// <summary>What a walk found at its last lookup.</summary>
    private struct Leaf
    {
        public ulong Descriptor;
        /// <summary>The descriptor's address in the table's space (IPA for stage 1 through stage 2).</summary>
        public ulong DescriptorAddress;
        public ulong DescriptorPa;
        /// <summary>The block or page address (descriptor address field, low bits cleared).</summary>
        public ulong OutputBase;
        public int Level;
        public int Shift;
        /// <summary>Table attributes ORed down the walk: bit0 PXNTable, bit1 UXN/XNTable, bit2 APTable[0], bit3 APTable[1].</summary>
        public int TableAttrs;
    }

    private enum S2Access : byte
    {
        Read,
        Write,
        Fetch,
    }

    private struct S2Result
    {
        public ulong Pa;
        public int MemAttr;
        public byte Sh;
        public int Level;
        public int Shift;
        public int ContiguousShift;
        /// <summary>The leaf descriptor after any hardware update.</summary>
        public ulong Descriptor;
        public FaultInfo Fault;
    }

    /// <summary>
    /// The walk loop shared by both stages (AArch64.S1Walk / S2Walk): per level, index, descriptor fetch (through
    /// stage 2 for an EL1&amp;0 stage-1 table when <paramref name="s1ViaS2"/>), validity, output-address size, then
    /// descend or stop at a leaf. Geometry comes from <see cref="TranslationGeometry"/>; nothing is per level.
    /// </summary>
    private bool Walk<TStage>(ref WalkParams p, ulong ia, bool s1ViaS2, bool nested, ulong cacheCtx, int frameSlots, out Leaf leaf, out FaultInfo fault)
        where TStage : struct, IWalkStage
    {
        leaf = default;
        fault = default;
        // What the loop needs from p, in locals: the stage-2 calls below are opaque to the compiler, which would
        // otherwise reload every field of p after each of them.
        var g = p.Granule;
        int stride = TranslationGeometry.Stride(g);
        int level = p.StartLevel;
        int indexBits = p.FirstLevelBits;
        ulong tableBase = p.TableBase;
        byte stage = default(TStage).Stage;
        Debug.Assert(p.Stage == stage);
        // An output address with any bit at or above the output size is an address size fault.
        ulong aboveOa = ~BitOps.Mask(p.OaSize);
        bool plainAddress = !p.Ds && !(g == Granule.K64 && p.Lpa); // the output address is bits [47:g] alone
        ulong addressMask = BitOps.Mask(47, (int)g);
        var record = Record;
        int tableAttrs = 0;
        // A walk cache holds table descriptors already read: the walk resumes below the deepest one that covers
        // the input address, with the table attributes accumulated above it.
        bool walkCache = stage == 1 ? _walkCaches1 : _walkCaches2;
        if (walkCache && _caches!.TryResume(stage, cacheCtx, ia, g, level, record, out var resume))
        {
            level = resume.Level + 1;
            tableBase = resume.NextTable;
            tableAttrs = resume.TableAttrs;
            indexBits = stride;
        }
        // The path memo (stage 1 only): the walk down to the last-level table, by the block of VAs it maps.
        bool pathMemo = default(TStage).MayTranslateTables && _pathMemoOn && level < 3 && !walkCache;
        ulong block = 0;
        byte regime = (byte)(_pathRegime | (s1ViaS2 ? 0x80 : 0));
        int readsAtStart = record.Reads, stepsAtStart = record.Count;
        if (pathMemo)
        {
            block = (ia >> TranslationGeometry.LevelShift(g, 2)) + 1;
            if (TryPath(block, regime, out ulong table, out int attrs))
            {
                level = 3;
                tableBase = table;
                tableAttrs = attrs;
                indexBits = stride;
                pathMemo = false;
            }
        }
        int shift = TranslationGeometry.LevelShift(g, level);
        ulong indexMask = BitOps.Mask(indexBits);
        while (true)
        {
            int index = (int)((ia >> shift) & indexMask);
            ulong descAddr = tableBase + ((ulong)index << 3);
            ulong descPa = descAddr;
            if (default(TStage).MayTranslateTables && s1ViaS2)
            {
                // Stage-1 descriptor addresses are IPAs: translate them through stage 2 as reads; a stage-2 fault
                // here is reported with S1PTW=1 and the descriptor's IPA (Arm ARM D8.2.x, "nested walks").
                if (!(_memoTableReads && TryTableRead(descAddr, out descPa)))
                {
                    if (!Stage2(descAddr, S2Access.Read, s1ptw: true, el0: false, isAt: false, FrameSlotsS2ForS1Table(level), out var s2))
                    {
                        record.Add(new WalkStep { Kind = StepKind.Read, Stage = stage, Level = (sbyte)level, TableBase = tableBase, Index = index, DescriptorAddress = descAddr, InputAddress = ia, Nested = nested, NotRead = true });
                        fault = s2.Fault;
                        return false;
                    }
                    descPa = s2.Pa;
                }
            }
            ulong desc = ReadDescriptor(frameSlots + level + 1, descPa);
            bool aborted = _readAborted;
            record.AddRead(stage, level, nested, tableBase, index, descAddr, descPa, desc, ia, aborted);
            if (aborted)
            {
                _readAborted = false;
                fault = MakeFault(stage, FaultType.ExternalWalk, level, ia, nested);
                return false;
            }
            // bit0=0: invalid. bits[1:0]=01 at level 3: reserved. 01 below level 3: a block, if this level allows one.
            bool isTable = (desc & 2) != 0;
            if ((desc & 1) == 0 || (level == 3 && !isTable)
                || (!isTable && !TranslationGeometry.BlockAllowed(g, level, p.Ds, p.Lpa)))
            {
                fault = MakeFault(stage, FaultType.Translation, level, ia, nested);
                return false;
            }
            ulong address = plainAddress ? desc & addressMask : DescriptorAddress(desc, in p);
            if ((address & aboveOa) != 0)
            {
                fault = MakeFault(stage, FaultType.AddressSize, level, ia, nested);
                return false;
            }
            if (isTable && level < 3)
            {
                tableAttrs |= (int)(desc >> 59) & 0xF;
                if (walkCache)
                {
                    _caches!.FillTable(stage, cacheCtx, ia, g, new TableEntry { NextTable = address, TableAttrs = tableAttrs, Level = (sbyte)level });
                }
                if (pathMemo && level == 2 && record.Count == stepsAtStart && record.Reads - readsAtStart <= byte.MaxValue)
                {
                    RememberPath(block, regime, address, tableAttrs, record.Reads - readsAtStart);
                }
                tableBase = address;
                level++;
                shift -= stride;
                indexMask = (1UL << stride) - 1; // stride ≤ 13
                continue;
            }
            if (level == 3 && g == Granule.K4)
            {
                NoteLastLevelTable(stage, ia, descPa, frameSlots + level + 1, default(TStage).MayTranslateTables && s1ViaS2 ? tableBase : 0);
            }
            leaf.Descriptor = desc;
            leaf.DescriptorAddress = descAddr;
            leaf.DescriptorPa = descPa;
            leaf.Level = level;
            leaf.Shift = shift;
            leaf.OutputBase = address & ~BitOps.Mask(shift);
            leaf.TableAttrs = tableAttrs;
            return true;
        }
    }

    /// <summary>
    /// The output (or next-table) address of a descriptor: bits [47:g]; with DS also [49:48] and [51:50] from
    /// bits [9:8]; with 64K and FEAT_LPA, OA[51:48] from bits [15:12] (so with an output size below 52 bits they
    /// raise the address size fault the architecture requires).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong DescriptorAddress(ulong desc, in WalkParams p)
    {
        int g = (int)p.Granule;
        if (p.Ds)
        {
            return (desc & BitOps.Mask(49, g)) | (BitOps.Field(desc, 9, 8) << 50);
        }
        ulong a = desc & BitOps.Mask(47, g);
        if (p.Granule == Granule.K64 && p.Lpa)
        {
            a |= BitOps.Field(desc, 15, 12) << 48;
        }
        return a;
    }

    /// <summary>A walk fault of <paramref name="stage"/> (kept out of line: the walk loop stays small).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static FaultInfo MakeFault(byte stage, FaultType type, int level, ulong ia, bool nested) =>
        stage == 1
            ? FaultInfo.Stage1(type, level)
            : FaultInfo.Stage2(type, level, new IntermediatePhysicalAddress(ia), nested);

    /// <summary>
    /// Stage-1 leaf checks in priority order (R_XCHFJ): access flag, then permission; then the hardware AF/dirty
    /// update, whose write of a stage-1 descriptor is itself translated through stage 2 as a write.
    /// </summary>
    private bool Stage1Leaf(ref WalkParams p, ref Leaf leaf, in AccessRequest req, bool s2On, Sctlr sctlr, out FaultInfo fault)
    {
        fault = default;
        ulong desc = leaf.Descriptor;
        ulong newDesc = desc;
        if (!BitOps.Bit(desc, 10))
        {
            if (!p.Ha)
            {
                fault = FaultInfo.Stage1(FaultType.AccessFlag, leaf.Level);
                return false;
            }
            newDesc |= 1UL << 10;
        }
        bool dbm = p.Hd && BitOps.Bit(desc, 51);
        Stage1PermissionInputs(desc, leaf.TableAttrs, ref p, out int ap, out int apClean, out bool xn, out bool pxn);
        if (!Stage1Permits(req.Type == AccessType.Write ? ap : apClean, xn, pxn, p.TwoRanges, sctlr.Wxn, req.El, req.Type))
        {
            fault = FaultInfo.Stage1(FaultType.Permission, leaf.Level);
            return false;
        }
        // AT never updates the dirty state (it may update AF, as QEMU does).
        if (dbm && req.Type == AccessType.Write && req.At == AtMode.None && BitOps.Bit(desc, 7))
        {
            newDesc &= ~(1UL << 7);
        }
        if (newDesc != desc)
        {
            ulong pa = leaf.DescriptorPa;
            if (s2On)
            {
                // The update is a write to the descriptor's IPA and needs stage-2 write permission (S1PTW=1).
                if (!Stage2(leaf.DescriptorAddress, S2Access.Write, s1ptw: true, el0: false, isAt: false, FrameSlotsS2ForS1Table(leaf.Level), out var s2))
                {
                    fault = s2.Fault;
                    return false;
                }
                pa = s2.Pa;
            }
            WriteBack(1, leaf.Level, leaf.DescriptorAddress, pa, desc, newDesc);
            leaf.Descriptor = newDesc;
        }
        return true;
    }

    /// <summary>
    /// The inputs of the stage-1 permission check of a leaf. With HD, DBM=1 makes AP[2] a dirty bit:
    /// writable-clean counts as writable for the write check (<paramref name="ap"/>), before APTable applies, so it
    /// is only "writable" when AP[2] is the only thing that would refuse the write. Writable-clean changes nothing
    /// else: "EL0-writable implies PXN" and WXN look at AP as programmed (<paramref name="apClean"/>; QEMU 7.2 and
    /// the checked corpus). Hierarchical attributes apply unless HPD.
    /// </summary>
    internal static void Stage1PermissionInputs(ulong desc, int tableAttrs, ref WalkParams p, out int ap, out int apClean, out bool xn, out bool pxn)
    {
        ap = (int)BitOps.Field(desc, 7, 6);
        apClean = ap;
        if (p.Hd && BitOps.Bit(desc, 51))
        {
            ap &= 1;
        }
        xn = BitOps.Bit(desc, 54);
        pxn = BitOps.Bit(desc, 53);
        if (!p.Hpd)
        {
            if ((tableAttrs & 4) != 0)
            {
                ap &= 2; // APTable[0]: no EL0 access
                apClean &= 2;
            }
            if ((tableAttrs & 8) != 0)
            {
                ap |= 2; // APTable[1]: read-only
                apClean |= 2;
            }
            xn |= (tableAttrs & 2) != 0;
            pxn |= (tableAttrs & 1) != 0;
        }
    }

    /// <summary>
    /// Stage-1 direct permissions (Arm ARM D8.4.1): AP[2:1] for data; UXN/PXN for fetches, with EL0-writable
    /// implying PXN and SCTLR.WXN making writable memory execute-never. One-range regimes use AP[2] and XN only.
    /// </summary>
    internal static bool Stage1Permits(int ap, bool xn, bool pxn, bool twoRanges, bool wxn, int el, AccessType type)
    {
        bool privWrite = (ap & 2) == 0;
        if (!twoRanges)
        {
            return type switch
            {
                AccessType.Read => true,
                AccessType.Write => privWrite,
                _ => !xn && !(wxn && privWrite),
            };
        }
        bool userRead = (ap & 1) != 0;
        bool userWrite = ap == 1;
        if (el == 0)
        {
            return type switch
            {
                AccessType.Read => userRead,
                AccessType.Write => userWrite,
                _ => !xn && !(wxn && userWrite),
            };
        }
        return type switch
        {
            AccessType.Read => true,
            AccessType.Write => privWrite,
            _ => !pxn && !userWrite && !(wxn && privWrite),
        };
    }

    /// <summary>
    /// Stage-2 permission (Arm ARM D8.4.3): S2AP[0] read, S2AP[1] write; execute from XN[1:0], split by EL with
    /// FEAT_XNX, else XN[1] alone.
    /// </summary>
    internal static bool Stage2Permits(int s2ap, int xn, bool xnx, bool el0, bool read, bool write, bool fetch)
    {
        if (fetch)
        {
            if (!xnx)
            {
                return (xn & 2) == 0;
            }
            return xn switch { 0 => true, 1 => el0, 2 => false, _ => !el0 };
        }
        if (write)
        {
            return (s2ap & 2) != 0;
        }
        return !read || (s2ap & 1) != 0;
    }

    /// <summary>
    /// A full stage-2 lookup of one IPA: T0SZ/SL0 configuration, IPA range, VTTBR base, the walk, access flag,
    /// permission, HCR_EL2.PTW for table walks, then the hardware AF/dirty update.
    /// </summary>
    private bool Stage2(ulong ipa, S2Access access, bool s1ptw, bool el0, bool isAt, int frameSlots, out S2Result result)
    {
        result = default;
        ref WalkParams p = ref _s2;
        var ipaTyped = new IntermediatePhysicalAddress(ipa);
        if (p.ConfigFault || BitOps.AnyAbove(ipa, p.InputSize))
        {
            result.Fault = FaultInfo.Stage2(FaultType.Translation, 0, ipaTyped, s1ptw);
            return false;
        }
        if (p.BaseAddressSizeFault)
        {
            result.Fault = FaultInfo.Stage2(FaultType.AddressSize, 0, ipaTyped, s1ptw);
            return false;
        }
        // The IPA cache holds stage-2 leaves as they are in memory; every check below runs on the cached descriptor
        // exactly as on one just read. Only a write that must set the dirty state walks anyway: hardware updates
        // are made by walks (the cached copy is then replaced by the updated one).
        Leaf leaf = default;
        bool cached = false;
        Stage2LeafEntry hit = default;
        if (_ipaCacheOn && _caches!.TryStage2Leaf(_walkCtxS2, ipa, p.StartLevel, s1ptw, Record, out hit))
        {
            bool mustSetDirty = access == S2Access.Write && !isAt && p.Hd && BitOps.Bit(hit.Descriptor, 51) && !BitOps.Bit(hit.Descriptor, 7);
            if (!mustSetDirty)
            {
                cached = true;
                leaf.Descriptor = hit.Descriptor;
                leaf.Level = hit.Level;
                leaf.Shift = hit.Shift;
                leaf.OutputBase = hit.OutputBase | (ipa & BitOps.Mask(hit.GroupShift) & ~BitOps.Mask(hit.Shift));
            }
        }
        if (!cached && !(s1ptw && _memoOn
                ? WalkStage2ForTable(ipa, frameSlots, out leaf, out result.Fault)
                : Walk<Stage2Walk>(ref p, ipa, s1ViaS2: false, nested: s1ptw, _walkCtxS2, frameSlots, out leaf, out result.Fault)))
        {
            return false;
        }
        result.Level = leaf.Level;
        ulong desc = leaf.Descriptor;
        ulong newDesc = desc;
        if (!BitOps.Bit(desc, 10))
        {
            if (!p.Ha)
            {
                result.Fault = FaultInfo.Stage2(FaultType.AccessFlag, leaf.Level, ipaTyped, s1ptw);
                return false;
            }
            newDesc |= 1UL << 10;
        }
        int s2ap = (int)BitOps.Field(desc, 7, 6);
        bool dbm = p.Hd && BitOps.Bit(desc, 51);
        if (dbm)
        {
            s2ap |= 2; // writable-clean counts as writable
        }
        int memAttr = (int)BitOps.Field(desc, 5, 2);
        bool write = access == S2Access.Write;
        if (!Stage2Permits(s2ap, (int)BitOps.Field(desc, 54, 53), _xnx, el0, access == S2Access.Read, write, access == S2Access.Fetch)
            || (s1ptw && !write && _hcr.Ptw && Attributes.IsStage2Device(memAttr)))
        {
            // HCR_EL2.PTW: a stage-1 walk that lands in stage-2 Device memory is a stage-2 permission fault.
            result.Fault = FaultInfo.Stage2(FaultType.Permission, leaf.Level, ipaTyped, s1ptw);
            return false;
        }
        if (dbm && write && !isAt && !BitOps.Bit(desc, 7))
        {
            newDesc |= 1UL << 7;
        }
        if (newDesc != desc)
        {
            WriteBack(2, leaf.Level, leaf.DescriptorAddress, leaf.DescriptorPa, desc, newDesc);
            leaf.Descriptor = newDesc;
        }
        result.Pa = leaf.OutputBase | (ipa & BitOps.Mask(leaf.Shift));
        if (s1ptw && access == S2Access.Read && _memoTableReads && newDesc == desc)
        {
            MarkTableReadable(ipa, result.Pa);
        }
        result.MemAttr = memAttr;
        result.Sh = (byte)(p.Ds ? p.TcrSh : (int)BitOps.Field(desc, 9, 8));
        result.Shift = leaf.Shift;
        result.Descriptor = leaf.Descriptor;
        result.ContiguousShift = cached ? hit.GroupShift : ContiguousShift(ref p, in leaf);
        if (!cached && _ipaCacheOn)
        {
            int group = result.ContiguousShift;
            _caches!.FillStage2Leaf(_walkCtxS2, ipa, new Stage2LeafEntry
            {
                Descriptor = leaf.Descriptor,
                OutputBase = leaf.OutputBase & ~BitOps.Mask(group),
                Level = (sbyte)leaf.Level,
                Shift = (byte)leaf.Shift,
                GroupShift = (byte)group,
            });
        }
        return true;
    }

    private void WriteBack(int stage, int level, ulong descAddr, ulong descPa, ulong oldValue, ulong newValue)
    {
        if (!DryRun)
        {
            _mem.Write64(new PhysicalAddress(descPa), newValue);
            HardwareUpdates++;
        }
        Record.Add(new WalkStep
        {
            Kind = StepKind.Update,
            Stage = (byte)stage,
            Level = (sbyte)level,
            DescriptorAddress = descAddr,
            DescriptorPa = descPa,
            Descriptor = newValue,
            OldDescriptor = oldValue,
        });
    }
}
