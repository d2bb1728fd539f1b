using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.CompilerServices;
using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Translation.Acceleration;

namespace MmuSim.Translation;

/// <summary>The input of one translation.</summary>
/// <param name="Va">The address as issued, tag included.</param>
/// <param name="El">The exception level whose permissions apply (for AT, the level the instruction names).</param>
/// <param name="Type">Read, write or instruction fetch.</param>
/// <param name="At">AT instruction mode, or <see cref="AtMode.None"/> for a real access.</param>
/// <param name="Pan">
/// PSTATE.PAN restricts this privileged data access (FEAT_PAN; AT S1E1RP/S1E1WP): a page EL0 can access gives a
/// stage-1 permission fault. Set only where PAN applies (a two-range regime, EL1 or EL2, not LDTR/STTR).
/// </param>
/// <param name="Size">
/// Bytes of a data access, for the memory-type alignment check (a misaligned access to Device memory is an
/// Alignment fault); 0 for fetches and AT, which are never checked.
/// </param>
/// <param name="Unaligned">
/// The access this request translates a part of is misaligned as a whole: set for the part after a 4 KiB page
/// crossing, which starts page-aligned but still touches its memory misaligned (Device memory faults it).
/// </param>
public readonly record struct AccessRequest(VirtualAddress Va, byte El, AccessType Type, AtMode At = AtMode.None, bool Pan = false, byte Size = 0,
    bool Unaligned = false)
{
    /// <summary>Whether a data access of <paramref name="size"/> bytes at <paramref name="va"/> is not a multiple of its size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Misaligned(ulong va, int size) =>
        // A mask for the power-of-two sizes of real accesses: no division on every access.
        size > 1 && ((size & (size - 1)) == 0 ? (va & (uint)(size - 1)) != 0 : va % (uint)size != 0);

    /// <summary>This access is a data access that a Device memory type would fault (misaligned for its size).</summary>
    public bool MisalignedData
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Unaligned || (Size > 1 && Misaligned(Va.Value, Size));
    }
}

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

    private bool _s1WalkCache;
    private bool _s2WalkCache;
    private bool _ipaCache;

    /// <summary>What the translation under way may use (set by <see cref="Translate"/>).</summary>
    private WalkModes _modes;

    /// <summary>The host speed-ups (frame slots, memos, prefetch hints).</summary>
    private readonly WalkAccelerator _accel;

    /// <summary>The stage-1 tables of the walk under way, for the path memo: regime · 2 + VA range.</summary>
    private byte _pathRegime;

    public Mmu(SystemRegisters regs, PhysicalMemory memory)
    {
        _regs = regs;
        _mem = memory;
        _accel = new WalkAccelerator(memory, Record);
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

    /// <summary>Whether this host can prefetch (x86 SSE); elsewhere the replay never asks.</summary>
    public static bool CanPrefetch => WalkAccelerator.CanPrefetch;

    /// <summary>
    /// A hint, some accesses ahead of a walk of <paramref name="va"/>: starts the host loads of its stage-1 last-level
    /// descriptor and of that table's stage-2 lookup (docs/DESIGN.md). Nothing computed depends on it.
    /// </summary>
    public void PrefetchFar(ulong va) => _accel.PrefetchFar(va);

    /// <summary>A hint, an access or two ahead: reads the stage-1 descriptor <see cref="PrefetchFar"/> loaded and prefetches the stage-2 descriptor of its IPA.</summary>
    public void PrefetchNear(ulong va) => _accel.PrefetchNear(va);

    /// <summary>The stage-1 prefetch hint for <paramref name="va"/>'s block (for tests).</summary>
    internal (nuint Frame, ulong TableIpa) Stage1HintFor(ulong va) => _accel.Stage1HintFor(va);

    /// <summary>The stage-2 prefetch hint for <paramref name="ipa"/>'s block (for tests).</summary>
    internal nuint Stage2HintFor(ulong ipa) => _accel.Stage2HintFor(ipa);

    /// <summary>Hardware descriptor updates performed so far.</summary>
    public long HardwareUpdates { get; private set; }

    /// <summary>The regime of an access at <paramref name="el"/> under the current registers (<see cref="TranslationRegimes.Of"/>).</summary>
    public TranslationRegime RegimeOf(int el)
    {
        Refresh();
        return TranslationRegimes.Of(el, _hcr);
    }

    /// <summary>Whether SCTLR_ELx.A of the regime of an access at <paramref name="el"/> asks for alignment checks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool AlignmentChecked(int el) =>
        // Decided once per register generation (Rebuild): asked after every access that took the general path, so
        // the current generation's answer is read in place; anything else (new registers, EL3) goes the long way.
        _generation == _regs.Generation && (uint)el <= 2 ? ((_alignmentChecked >> el) & 1) != 0 : AlignmentCheckedRefreshed(el);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool AlignmentCheckedRefreshed(int el)
    {
        Refresh();
        return (uint)el <= 2 ? ((_alignmentChecked >> el) & 1) != 0 : Snapshot(TranslationRegimes.Of(el, _hcr)).Sctlr.A;
    }

    /// <summary>Bit n: SCTLR_ELx.A of the regime EL n uses (n = 0, 1, 2), from the last <see cref="Rebuild"/>.</summary>
    private byte _alignmentChecked;

    /// <summary>Bits [2n+1:2n]: the regime of a stage-1 translation at EL n (<see cref="TranslationRegimes.Of"/>), per generation.</summary>
    private uint _regimeByEl;

    /// <summary>The regime of an access at <paramref name="el"/> (0..3), decided at the last <see cref="Rebuild"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TranslationRegime RegimeAt(int el) => (TranslationRegime)((_regimeByEl >> ((el & 3) * 2)) & 3);

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
        _accel.CheckEpoch();
        if (_generation != _regs.Generation)
        {
            Rebuild();
        }
    }

    private void Rebuild()
    {
        _generation = _regs.Generation;
        _accel.OnRegisters(_generation);
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
        _alignmentChecked = 0;
        _regimeByEl = 0;
        for (int el = 0; el <= 3; el++)
        {
            _regimeByEl |= (uint)TranslationRegimes.Of(el, _hcr) << (el * 2);
        }
        for (int el = 0; el <= 2; el++)
        {
            if (_regimes[(int)TranslationRegimes.Of(el, _hcr)].Sctlr.A)
            {
                _alignmentChecked |= (byte)(1 << el);
            }
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
        var regime = RegimeAt(req.El);
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
        _modes = new WalkModes(_caches is not null, _s1WalkCache, _s2WalkCache, _ipaCache, Record.Detailed, Record.ReadsUnrecorded,
            at: req.At != AtMode.None);
        bool ok = FullTranslate(in req, ref result);
        return ok;
    }

    /// <summary>
    /// Stage 2 of the EL1&amp;0 regime alone, for an IPA (what a hypervisor asks of its tables; `translate --ipa`):
    /// the stage-2 walk and its checks for an access of <paramref name="type"/> (EL0's stage-2 execute permission when
    /// <paramref name="el0"/>), without a dirty-state update (as AT). With stage 2 off the IPA is the PA. Returns false
    /// with <c>result.Fault</c> set when it faults.
    /// </summary>
    public bool TranslateIpa(IntermediatePhysicalAddress ipa, AccessType type, bool el0, out TranslationResult result)
    {
        Refresh();
        Record.Clear();
        result = default;
        result.Level = -2;
        result.S2Level = -2;
        result.Ipa = ipa.Value;
        result.HasIpa = true;
        if (!Snapshot(TranslationRegime.El10).Stage2On)
        {
            result.Pa = ipa.Value;
            result.Attr = 0xFF;
            result.BlockShift = (byte)_paMax;
            return true;
        }
        _modes = new WalkModes(_caches is not null, _s1WalkCache, _s2WalkCache, _ipaCache, Record.Detailed, Record.ReadsUnrecorded, at: true);
        var access = type == AccessType.Write ? S2Access.Write : type == AccessType.Fetch ? S2Access.Fetch : S2Access.Read;
        if (!S2Translate(ipa.Value, access, s1ptw: false, el0, isAt: true, WalkAccelerator.FrameSlotsS2Final, out var s2))
        {
            result.Fault = s2.Fault;
            return false;
        }
        result.Pa = s2.Pa;
        result.Attr = Attributes.FromStage2(s2.MemAttr, _hcr.Cd);
        result.DataDevice = Attributes.IsDevice(result.Attr);
        result.Sh = s2.Sh;
        result.Level = (sbyte)s2.Level;
        result.S2Level = (sbyte)s2.Level;
        result.BlockShift = (byte)s2.Shift;
        result.ContiguousShift = (byte)s2.ContiguousShift;
        return true;
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
}
