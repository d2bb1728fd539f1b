using System.Runtime.CompilerServices;
using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Caching;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Timing;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Core;

/// <summary>
/// A simulated AArch64 core: current EL, the system registers, physical memory, the MMU, its translation caches
/// and the cycle model. Executes trace records; accesses, AT and dump produce an <see cref="AccessOutcome"/> with
/// the exact fault registers and, for accesses, the cycles translation cost.
/// </summary>
/// <remarks>
/// An access first passes the checks that need no table (<see cref="Mmu.TryGetLookupKey"/>), then looks up the TLB
/// levels that serve its kind, in order. A hit decides permissions from the entry (a permission fault is reported
/// from it exactly as a walk would report it); a write to an entry that is not yet dirty, like a miss, goes to
/// the walker, whose translation then fills every level of the path. The timing model prices the lookups and the
/// walker's recorded steps.
/// </remarks>
public sealed class SimulatedCore
{
    private readonly Tlb[] _dataPath;
    private readonly Tlb[] _fetchPath;
    private readonly int[] _dataLatency;
    private readonly int[] _fetchLatency;
    private readonly bool _coalesce;
    private readonly bool _dataCaches;
    private StaleChecker? _stale;

    public SimulatedCore(PhysicalMemory? memory = null, ModelConfig? config = null)
    {
        Registers = new SystemRegisters();
        Memory = memory ?? new PhysicalMemory();
        Config = config ?? ModelConfig.Default;
        Mmu = new Mmu(Registers, Memory);
        Caches = new TranslationCaches(Config.Caching);
        if (!Config.Caching.IsEmpty)
        {
            Mmu.Caches = Caches;
        }
        Timing = new TimingModel(Config.Timing, Config.Caching);
        _dataPath = Caches.DataPath;
        _fetchPath = Caches.FetchPath;
        _dataLatency = Caches.DataLatency;
        _fetchLatency = Caches.FetchLatency;
        _coalesce = Config.Caching.CoalesceContiguous;
        _dataCaches = Config.Timing.ModelDataCaches;
    }

    public SystemRegisters Registers { get; }
    public PhysicalMemory Memory { get; }
    public Mmu Mmu { get; }
    public ModelConfig Config { get; }
    public TranslationCaches Caches { get; }
    public TimingModel Timing { get; }
    public Statistics Stats { get; } = new();

    /// <summary>The current exception level (`el N`); EL1 until a trace says otherwise.</summary>
    public byte CurrentEl { get; set; } = 1;

    /// <summary>
    /// Check every access translated with the help of a cached entry against the tables in memory
    /// (<see cref="StaleChecker"/>). Turn on before the first record.
    /// </summary>
    public bool CheckStale
    {
        get => _stale is not null;
        set => _stale = value ? _stale ?? new StaleChecker(Registers, Memory) : null;
    }

    /// <summary>The stale-translation checker, when <see cref="CheckStale"/> is on.</summary>
    public StaleChecker? Stale => _stale;

    /// <summary>TLB levels the last access looked up, in its path order (for explain).</summary>
    public int LastLookups { get; private set; }

    /// <summary>The last access hit in the last level it looked up.</summary>
    public bool LastTlbHit { get; private set; }

    /// <summary>The last access went to the walker (its steps are in <see cref="Mmu.Record"/>, priced).</summary>
    public bool LastWalked { get; private set; }

    /// <summary>The TLB levels an access of <paramref name="type"/> looks up, in order.</summary>
    public Tlb[] PathOf(AccessType type) => type == AccessType.Fetch ? _fetchPath : _dataPath;

    /// <summary>Executes one record. Returns true and fills <paramref name="outcome"/> for result-producing lines.</summary>
    public bool Execute(in TraceRecord rec, out AccessOutcome outcome)
    {
        outcome = default;
        Stats.Records++;
        switch (rec.Op)
        {
            case TraceOp.Reg:
                Registers[rec.Reg] = rec.Value;
                _stale?.OnRegisterWrite(rec.Reg, rec.Line);
                return false;
            case TraceOp.Mem:
                Memory.Write64(new PhysicalAddress(rec.Address), rec.Value);
                _stale?.OnMemoryWrite(rec.Address, rec.Line);
                return false;
            case TraceOp.Ram:
                Memory.DeclareRam(new PhysicalAddress(rec.Address), rec.Value);
                return false;
            case TraceOp.El:
                CurrentEl = (byte)rec.Value;
                return false;
            case TraceOp.Tlbi:
                Stats.Tlbis++;
                Caches.Invalidate(rec.Tlbi, rec.Value, Mmu.CurrentVmid, Mmu.AsidMask);
                return false;
            case TraceOp.Dump:
                Stats.Dumps++;
                outcome.Line = rec.Line;
                outcome.Op = TraceOp.Dump;
                outcome.Pa = rec.Address;
                outcome.Value = Memory.Peek64(new PhysicalAddress(rec.Address));
                return true;
            case TraceOp.At:
                ExecuteAt(in rec, ref outcome);
                return true;
            default:
                ExecuteAccess(in rec, ref outcome);
                return true;
        }
    }

    private void ExecuteAccess(in TraceRecord rec, ref AccessOutcome o)
    {
        var type = rec.Op switch { TraceOp.Write => AccessType.Write, TraceOp.Fetch => AccessType.Fetch, _ => AccessType.Read };
        switch (type)
        {
            case AccessType.Write: Stats.Writes++; break;
            case AccessType.Fetch: Stats.Fetches++; break;
            default: Stats.Reads++; break;
        }
        byte el = CurrentEl;
        o.Line = rec.Line;
        o.Op = rec.Op;
        o.Va = rec.Address;
        o.El = el;
        ulong va = rec.Address;
        int size = type == AccessType.Fetch ? 4 : rec.Size;
        TranslatePage(in rec, va, type, el, size, ref o);
        if ((va & 0xFFF) + (ulong)size > 0x1000 && !o.IsFault)
        {
            // An access that crosses into the next 4 KiB page needs that page translated too (and faults on it
            // with FAR = the start of that page, arm-notes §12 #67); the result reports the first byte's PA.
            Stats.PageCrossings++;
            ulong pa = o.Pa, ipa = o.Ipa;
            bool hasIpa = o.HasIpa;
            long first = o.Cycles;
            TranslatePage(in rec, (va | 0xFFF) + 1, type, el, size, ref o);
            o.Cycles += first;
            if (!o.IsFault)
            {
                o.Pa = pa;
                o.Ipa = ipa;
                o.HasIpa = hasIpa;
            }
        }
    }

    /// <summary>Translates the page of <paramref name="va"/> for the access of <paramref name="rec"/>: TLB lookups, then a walk on a miss.</summary>
    private void TranslatePage(in TraceRecord rec, ulong va, AccessType type, byte el, int size, ref AccessOutcome o)
    {
        var req = new AccessRequest(new VirtualAddress(va), el, type);
        LastWalked = false;
        LastTlbHit = false;
        LastLookups = 0;
        if (!Mmu.TryGetLookupKey(in req, out var key))
        {
            // Rejected before any lookup (VA range, TxSZ, EPD/E0PD, PAMax): the MMU reports the fault, no table is read.
            Stats.InputFaults++;
            Mmu.Translate(in req, out var rf);
            o.Cycles = 0;
            Stats.CountFault(in rf.Fault);
            Report(ref o, in rf.Fault, type, el, va);
            return;
        }

        long cycles = 0;
        var path = type == AccessType.Fetch ? _fetchPath : _dataPath;
        if (path.Length != 0)
        {
            int n = Caches.Lookup(path, in key, out bool hit, out var e, out ulong ctx);
            LastLookups = n;
            cycles = (type == AccessType.Fetch ? _fetchLatency : _dataLatency)[n];
            if (hit && TryCompleteHit(in rec, in req, in key, in e, ctx, type, el, size, cycles, ref o))
            {
                return;
            }
        }
        Walk(in rec, in req, in key, path, type, el, size, cycles, ref o);
    }

    /// <summary>
    /// Completes an access from a TLB entry: stage-1 then stage-2 permission, as a walk orders them (R_XCHFJ).
    /// Returns false when the access must walk after all: a write that would set the dirty state of either stage.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryCompleteHit(in TraceRecord rec, in AccessRequest req, in LookupKey key, in TlbEntry e, ulong ctx,
        AccessType type, byte el, int size, long cycles, ref AccessOutcome o)
    {
        int t = (int)type;
        bool write = type == AccessType.Write;
        ulong offset = key.Va & BitOps.Mask(e.Shift);
        FaultInfo fault;
        if (((e.S1Permissions >> (el * 3 + t)) & 1) == 0)
        {
            fault = FaultInfo.Stage1(FaultType.Permission, e.S1Level);
        }
        else if (write && e.S1Clean)
        {
            Stats.DirtyWalks++;
            return false;
        }
        else if (((e.S2Permissions >> ((el == 0 ? 0 : 3) + t)) & 1) == 0)
        {
            fault = FaultInfo.Stage2(FaultType.Permission, e.S2Level, new IntermediatePhysicalAddress(e.IpaBase | offset), false);
        }
        else if (write && e.S2Clean)
        {
            Stats.DirtyWalks++;
            return false;
        }
        else
        {
            fault = default;
        }

        LastTlbHit = true;
        Stats.TlbHits++;
        o.Cycles = cycles;
        Stats.TranslationCycles += cycles;
        bool ok = !fault.IsFault;
        if (ok)
        {
            o.Pa = e.PaBase | offset;
            o.HasIpa = e.HasIpa;
            o.Ipa = e.IpaBase | offset;
            if (_dataCaches)
            {
                Timing.DataAccess(o.Pa, size);
            }
        }
        else
        {
            o.HasIpa = e.HasIpa && fault.Stage == 2;
            o.Ipa = e.IpaBase | offset;
            Stats.CountFault(in fault);
            Report(ref o, in fault, type, el, req.Va.Value);
        }
        if (_stale is not null)
        {
            var shape = new StaleChecker.CachedShape
            {
                Source = "TLB",
                FillLine = e.FillLine,
                S1Level = e.S1Level,
                Global = ContextTag.IsGlobal(ctx),
                Asid = ContextTag.Asid(key.Ctx),
            };
            _stale.Check(in req, rec.Op, rec.Line, ok, o.Pa, in fault, in shape);
        }
        return true;
    }

    private void Walk(in TraceRecord rec, in AccessRequest req, in LookupKey key, Tlb[] path, AccessType type, byte el,
        int size, long cycles, ref AccessOutcome o)
    {
        Caches.CurrentLine = rec.Line;
        LastWalked = true;
        bool ok = Mmu.Translate(in req, out var r);
        var record = Mmu.Record;
        long walkCycles = Timing.PriceWalk(record.MutableSteps);
        int reads = record.Reads;
        Stats.Walks++;
        if (r.TwoDimensional)
        {
            Stats.Walks2D++;
            Stats.DescriptorReads2D += reads;
        }
        else
        {
            Stats.Walks1D++;
            Stats.DescriptorReads1D += reads;
        }
        Stats.DescriptorReads += reads;
        Stats.WalkCycles.Add(walkCycles);
        cycles += walkCycles;
        o.Cycles = cycles;
        Stats.TranslationCycles += cycles;
        if (record.Updates != 0)
        {
            Stats.HardwareUpdates += record.Updates;
            RetireUpdatedLeaves(record);
        }
        o.HasIpa = r.HasIpa && (ok || r.Fault.Stage == 2 && !r.Fault.S1Ptw);
        o.Ipa = r.Ipa;
        if (ok)
        {
            o.Pa = r.Pa;
            if (path.Length != 0)
            {
                Fill(path, in key, in r, rec.Line);
            }
            if (_dataCaches)
            {
                Timing.DataAccess(r.Pa, size);
            }
        }
        else
        {
            Stats.CountFault(in r.Fault);
            Report(ref o, in r.Fault, type, el, req.Va.Value);
        }
        if (_stale is not null && record.CacheHits != 0)
        {
            long fill = long.MaxValue;
            string source = "walk cache";
            foreach (ref readonly var s in record.Steps)
            {
                if (s.Kind is StepKind.WalkCacheLookup or StepKind.IpaCacheLookup && s.Hit && s.FillLine < fill)
                {
                    fill = s.FillLine;
                    source = s.Kind == StepKind.IpaCacheLookup ? $"IPA cache {Caches.IpaCache!.Name}" : $"walk cache {Caches.WalkCaches[s.Structure].Name}";
                }
            }
            var shape = new StaleChecker.CachedShape { Source = source, FillLine = fill, S1Level = -1, Global = r.Global, Asid = ContextTag.Asid(key.Ctx) };
            _stale.Check(in req, rec.Op, rec.Line, ok, r.Pa, in r.Fault, in shape);
        }
    }

    /// <summary>A hardware update rewrote stage-1 leaves: retire every TLB entry made from their old values.</summary>
    private void RetireUpdatedLeaves(WalkRecord record)
    {
        foreach (ref readonly var s in record.Steps)
        {
            if (s.Kind == StepKind.Update && s.Stage == 1)
            {
                Caches.RetireStage1Descriptor(s.DescriptorPa);
            }
        }
    }

    /// <summary>Fills every level of the access's path with the translation just walked.</summary>
    private void Fill(Tlb[] path, in LookupKey key, in TranslationResult r, long line)
    {
        int shift = _coalesce ? r.ContiguousShift : r.BlockShift;
        ulong low = BitOps.Mask(shift);
        var e = new TlbEntry
        {
            PaBase = r.Pa & ~low,
            IpaBase = r.Ipa & ~low,
            HasIpa = r.HasIpa,
            S1DescriptorPa = r.S1DescriptorPa,
            FillLine = line,
            S1Permissions = r.S1Permissions,
            S2Permissions = r.S2Permissions,
            Shift = (byte)shift,
            S1Level = r.Level,
            S2Level = r.S2Level,
            S1Clean = r.S1Clean,
            S2Clean = r.S2Clean,
        };
        Caches.Fill(path, key.Va, r.Global ? key.CtxGlobal : key.Ctx, in e);
    }

    /// <summary>
    /// Routes a fault (Arm ARM D1.3 and HCR_EL2): stage-2 faults, faults of the EL2 regime, EL0 faults with
    /// HCR_EL2.TGE=1 and (HCR_EL2.TEA=1) external aborts on a walk go to EL2; other stage-1 faults to EL1.
    /// Fills ESR, FAR and (stage 2) HPFAR as that EL sees them.
    /// </summary>
    private void Report(ref AccessOutcome o, in FaultInfo f, AccessType type, byte el, ulong va)
    {
        var hcr = Registers.Hcr;
        byte target = f.Stage == 2 || el == 2 || (el == 0 && hcr.Tge) || (f.Type == FaultType.ExternalWalk && hcr.Tea)
            ? (byte)2
            : (byte)1;
        o.Fault = f;
        o.TargetEl = target;
        o.Esr = Syndrome.Esr(in f, type, el, target);
        o.Far = va;
        o.Hpfar = f.Stage == 2 ? Syndrome.Hpfar(f.Ipa) : 0;
    }

    /// <summary>
    /// AT: the result goes to PAR_EL1 (the trace's AT runs at EL2, so no AT fault is taken as an exception). AT
    /// walks from the root without TLBs or walk caches and is not priced.
    /// </summary>
    private void ExecuteAt(in TraceRecord rec, ref AccessOutcome o)
    {
        Stats.AtInstructions++;
        var (el, write, mode) = Decode(rec.At);
        o.Line = rec.Line;
        o.Op = TraceOp.At;
        o.At = rec.At;
        o.Va = rec.Address;
        o.El = el;
        var req = new AccessRequest(new VirtualAddress(rec.Address), el, write ? AccessType.Write : AccessType.Read, mode);
        if (Mmu.Translate(in req, out var r))
        {
            o.Par = Syndrome.ParSuccess(r.Pa, r.Attr, r.Sh);
        }
        else
        {
            o.Fault = r.Fault;
            o.Par = Syndrome.ParFault(in r.Fault);
        }
        Stats.AtDescriptorReads += Mmu.Record.Reads;
        if (Mmu.Record.Updates != 0)
        {
            RetireUpdatedLeaves(Mmu.Record);
        }
    }

    /// <summary>An AT operation's EL, direction and stages.</summary>
    public static (byte El, bool Write, AtMode Mode) Decode(AtOp op) => op switch
    {
        AtOp.S1E1R => (1, false, AtMode.Stage1),
        AtOp.S1E1W => (1, true, AtMode.Stage1),
        AtOp.S1E0R => (0, false, AtMode.Stage1),
        AtOp.S1E0W => (0, true, AtMode.Stage1),
        AtOp.S12E1R => (1, false, AtMode.Stage12),
        AtOp.S12E1W => (1, true, AtMode.Stage12),
        AtOp.S12E0R => (0, false, AtMode.Stage12),
        AtOp.S12E0W => (0, true, AtMode.Stage12),
        AtOp.S1E2R => (2, false, AtMode.Stage1),
        _ => (2, true, AtMode.Stage1),
    };
}
