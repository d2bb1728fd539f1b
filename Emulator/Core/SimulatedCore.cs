using System.Runtime.InteropServices;
using System.Runtime.CompilerServices;
using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Caching;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Timing;
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
    private readonly long[] _dataLatency;
    private readonly long[] _fetchLatency;
    private readonly bool _coalesce;
    private readonly Tlb? _l1Data;
    private readonly Tlb? _l1Fetch;
    private readonly bool _dataCaches;
    private StaleChecker? _stale;

    /// <summary>A single PE in a system of its own (PE 0), over <paramref name="memory"/>.</summary>
    public SimulatedCore(PhysicalMemory? memory = null, ModelConfig? config = null)
        : this(new SimulatedSystem(memory, config))
    {
    }

    /// <summary>A new PE of <paramref name="system"/> (<see cref="SimulatedSystem.AddPe"/>): its own registers, EL and caches, the system's memory.</summary>
    internal SimulatedCore(SimulatedSystem system)
    {
        System = system;
        Registers = new SystemRegisters();
        Memory = system.Memory;
        Config = system.Config;
        Mmu = new Mmu(Registers, Memory);
        Caches = new TranslationCaches(Config.Caching);
        if (!Config.Caching.IsEmpty)
        {
            Mmu.Caches = Caches;
        }
        Timing = new TimingModel(Config.Timing, Config.Caching);
        // Only walker caches price a read by its address; without them a lean record need only count reads.
        Mmu.Record.LeanReadSteps = Timing.Caches.Levels.Length != 0;
        _dataPath = Caches.DataPath;
        _fetchPath = Caches.FetchPath;
        _dataLatency = Caches.DataLatency;
        _l1Data = _dataPath.Length != 0 ? _dataPath[0] : null;
        _l1Fetch = _fetchPath.Length != 0 ? _fetchPath[0] : null;
        _fetchLatency = Caches.FetchLatency;
        _coalesce = Config.Caching.CoalesceContiguous;
        _dataCaches = Config.Timing.ModelDataCaches;
        DecideShortcuts();
        if (system.Pes.Count != 0)
        {
            // The ID registers describe the implementation: a new PE takes them as the others have them.
            var first = system.Pes[0].Registers;
            foreach (var reg in SystemRegisters.IdRegisters)
            {
                Registers[reg] = first[reg];
            }
        }
        Index = system.Attach(this);
    }


    /// <summary>The system this PE belongs to: the memory and the other PEs.</summary>
    public SimulatedSystem System { get; }

    /// <summary>This PE's number in its system.</summary>
    public int Index { get; }

    public SystemRegisters Registers { get; }
    public PhysicalMemory Memory { get; }
    public Mmu Mmu { get; }
    public ModelConfig Config { get; }
    public TranslationCaches Caches { get; }
    public TimingModel Timing { get; }
    public Statistics Stats { get; } = new();

    /// <summary>The current exception level (`el N`); EL1 until a trace says otherwise.</summary>
    public byte CurrentEl { get; set; } = 1;

    /// <summary>PSTATE.PAN (FEAT_PAN): privileged data accesses may not touch memory EL0 can access.</summary>
    public bool Pan => _pan;

    private bool _pan;

    /// <summary>
    /// The first-level shortcuts (<see cref="TryFirstLevelHit"/>, <see cref="Predict"/>) are off: the stale checker,
    /// modelled data caches or PSTATE.PAN need the general path for every access. Decided when one of them changes
    /// (<see cref="DecideShortcuts"/>), not on every access.
    /// </summary>
    private bool _noShortcuts;

    private void DecideShortcuts() => _noShortcuts = _stale is not null || _dataCaches || _pan;

    /// <summary>Serves translation faults by mapping on first touch (demand paging); null when every fault is the trace's.</summary>
    public IDemandPager? DemandPager { get; set; }

    /// <summary>Most faults one access may have served before its fault is reported (stage 1, stage 2 of the data, tables).</summary>
    public const int MaxDemandFaultsPerAccess = 8;

    /// <summary>
    /// Check every access translated with the help of a cached entry against the tables in memory
    /// (<see cref="StaleChecker"/>). Turn on before the first record.
    /// </summary>
    public bool CheckStale
    {
        get => _stale is not null;
        set
        {
            _stale = value ? _stale ?? new StaleChecker(Registers, Memory) { SeveralPes = System.Pes.Count > 1 } : null;
            DecideShortcuts();
            // Every access must now pass the checker: forget the predicted slots, which bypass it.
            _predictData.Page = ulong.MaxValue;
            _predictFetch.Page = ulong.MaxValue;
        }
    }

    /// <summary>
    /// The timeline this PE's accesses are timed on (<c>--timing timeline</c>), or null for the additive model alone.
    /// It only watches: every hit and walk is reported to it after the cycle model priced it, and results never
    /// depend on it. Whoever runs the trace calls <see cref="PeTimeline.BeginAccess"/> and
    /// <see cref="PeTimeline.EndAccess"/> around each access.
    /// </summary>
    public PeTimeline? Timeline
    {
        get => _timeline;
        set => _timeline = value;
    }

    private PeTimeline? _timeline;

    /// <summary>Times this PE's accesses on a timeline of its own from now on (<c>--timing timeline</c>).</summary>
    public void StartTimeline(bool detailed = false) => _timeline = new PeTimeline(Config.Timing) { Detailed = detailed };

    /// <summary>`inst N`: N instructions that access no memory; they only delay the next access on the timeline.</summary>
    public void Instructions(ulong n)
    {
        Stats.Records++;
        _timeline?.AddInstructions(n);
    }

    /// <summary>The stale-translation checker, when <see cref="CheckStale"/> is on.</summary>
    public StaleChecker? Stale => _stale;

    private enum LastKind : byte
    {
        General,
        PredictedHit,
    }

    private LastKind _last;
    private int _lastLookups;
    private bool _lastTlbHit;
    private bool _lastWalked;

    /// <summary>TLB levels the last access looked up, in its path order (for explain).</summary>
    public int LastLookups => _last == LastKind.PredictedHit ? 1 : _lastLookups;

    /// <summary>The last access hit in the last level it looked up.</summary>
    public bool LastTlbHit => _last == LastKind.PredictedHit || _lastTlbHit;

    /// <summary>The last access went to the walker (its steps are in <see cref="Mmu.Record"/>, priced).</summary>
    public bool LastWalked => _last != LastKind.PredictedHit && _lastWalked;

    /// <summary>
    /// The trace line whose walk filled the TLB entry the last access hit, when it went through the general path (a
    /// hit that faulted, say: its permissions came from that entry, not from a walk of its own).
    /// </summary>
    public long LastHitFillLine => _lastHitFillLine;

    private long _lastHitFillLine;

    /// <summary>The TLB levels an access of <paramref name="type"/> looks up, in order.</summary>
    public Tlb[] PathOf(AccessType type) => type == AccessType.Fetch ? _fetchPath : _dataPath;

    /// <summary>
    /// A load, store or instruction fetch (`R`/`W`/`X`) of <paramref name="size"/> bytes at <paramref name="va"/> on
    /// trace line <paramref name="line"/>, at the current EL: TLB lookups, a walk on a miss, and on a fault the
    /// syndrome registers of the exception it takes. A fetch is 4 bytes whatever <paramref name="size"/> says.
    /// </summary>
    public void Access(AccessType type, ulong va, int size, long line, out AccessOutcome outcome)
    {
        outcome = default;
        // The predicted TLB hit is kept out of the general code so that it pays for nothing else.
        if (!TryFastAccess(type, va, size, line, ref outcome))
        {
            ExecuteAccess(type, va, size, line, ref outcome);
        }
    }

    /// <summary>
    /// <see cref="Access"/> for a caller that never reads the outcome (a replay without results): the same effects
    /// on every structure and statistic, without clearing and returning an outcome for each access.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AccessDiscarding(AccessType type, ulong va, int size, long line)
    {
        ref var o = ref _discarded;
        if (TryFastAccess(type, va, size, line, ref o))
        {
            return;
        }
        o = default; // the general path reads back what it wrote (page crossings), so it starts clean
        ExecuteAccess(type, va, size, line, ref o);
    }

    /// <summary>`reg NAME VALUE`: an MSR. Takes effect for the next access (the walker rebuilds its regime snapshot).</summary>
    public void WriteRegister(SysReg reg, ulong value, long line)
    {
        Stats.Records++;
        Registers[reg] = value;
        _stale?.OnRegisterWrite(reg, line);
        if (SystemRegisters.IsIdRegister(reg) && System.Pes.Count > 1)
        {
            System.WriteIdRegister(this, reg, value, line);
        }
    }

    /// <summary>An ID register written on another PE (<see cref="SimulatedSystem.WriteIdRegister"/>): the same effects, not counted as a record here.</summary>
    internal void SetIdRegister(SysReg reg, ulong value, long line)
    {
        Registers[reg] = value;
        _stale?.OnRegisterWrite(reg, line);
    }

    /// <summary>
    /// `dsb OPT`: a Data Synchronization Barrier. The replay runs every line at once, in order, so it changes
    /// nothing; it is counted, and kept as <see cref="LastDsb"/> for whoever watches the barriers.
    /// </summary>
    public void Dsb(DsbOption option)
    {
        Stats.Records++;
        Stats.Dsbs++;
        LastDsb = option;
        // A DSB that completes this PE's broadcast TLBIs waits for every PE to perform them (R_PSMWS): priced once.
        if (_broadcastPending && option.OrdersLoads() && option.OrdersStores() && option.IsBroadcast())
        {
            _broadcastPending = false;
            Stats.MaintenanceCycles += Config.Timing.MaintenanceCosts.BroadcastDsb;
        }
    }

    /// <summary>This PE issued a broadcast TLBI that no DSB has completed yet.</summary>
    private bool _broadcastPending;

    /// <summary>The option of the last DSB this PE executed (<see cref="DsbOption.SY"/> before any).</summary>
    public DsbOption LastDsb { get; private set; } = DsbOption.SY;

    /// <summary>`isb`: an Instruction Synchronization Barrier (a context synchronization event); changes nothing in the replay, counted.</summary>
    public void Isb()
    {
        Stats.Records++;
        Stats.Isbs++;
    }

    /// <summary>`mem PA VALUE`: a 64-bit store to physical memory by the trace (page tables, data).</summary>
    public void WriteMemory(ulong pa, ulong value, long line)
    {
        Stats.Records++;
        System.WriteMemory(pa, value, line);
    }

    /// <summary>`ram BASE SIZE`: declares RAM (reads elsewhere are external aborts).</summary>
    public void DeclareRam(ulong baseAddress, ulong size)
    {
        Stats.Records++;
        System.DeclareRam(baseAddress, size);
    }

    /// <summary>
    /// `pstate PAN 0|1`: MSR PAN, #imm. While PAN is set, no first-level prediction is made or used (the predicted
    /// paths check EL and type only), so every access passes the PAN-aware general path.
    /// </summary>
    public void SetPan(bool pan)
    {
        Stats.Records++;
        _pan = pan;
        DecideShortcuts();
        _predictData.Page = ulong.MaxValue;
        _predictFetch.Page = ulong.MaxValue;
    }

    /// <summary>
    /// `ldtr`/`sttr`: an unprivileged load or store (LDTR/STTR) of <paramref name="size"/> bytes. At EL1, or at EL2
    /// with HCR_EL2.{E2H,TGE}={1,1}, it is checked with EL0's permissions (in the current EL's regime, which is
    /// EL0's too) and PSTATE.PAN does not apply; elsewhere it is an ordinary load or store. Faults are taken as
    /// those of any access at the current EL; the result says <c>unpriv</c>.
    /// </summary>
    public void AccessUnprivileged(AccessType type, ulong va, int size, long line, out AccessOutcome outcome)
    {
        outcome = default;
        outcome.Unpriv = true;
        ExecuteAccess(type, va, size, line, ref outcome, unpriv: true);
    }

    /// <summary>`el N`: an exception entry or return to EL <paramref name="el"/>.</summary>
    public void ChangeEl(byte el)
    {
        Stats.Records++;
        CurrentEl = el;
    }

    /// <summary>
    /// `tlbi OP [XT]`: TLB maintenance, with the exact scope of the operation (D8.13), decoded against this PE's
    /// registers (regime, VMID, ASID size). The local forms act on this PE's TLBs and walk caches; the IS/OS forms,
    /// and the E1 forms at EL1 under HCR_EL2.FB, on those of every PE of the system (<see cref="IsBroadcast"/>); a TTL
    /// hint is decoded and kept on <see cref="LastTlbi"/> but never keeps an entry.
    /// </summary>
    public void Tlbi(TlbiOp op, ulong xt)
    {
        Stats.Records++;
        Stats.Tlbis++;
        var hcr = Registers.Hcr;
        var e1 = TranslationRegimes.OfE1Maintenance(CurrentEl, hcr);
        var e2 = TranslationRegimes.OfE2Maintenance(hcr);
        LastTlbi = DecodeTlbi(op, xt, e1, e2);
        var costs = Config.Timing.MaintenanceCosts;
        if (IsBroadcast(op, hcr))
        {
            Stats.BroadcastTlbis++;
            Stats.MaintenanceCycles += costs.BroadcastTlbi;
            _broadcastPending = true;
            if (System.Pes.Count > 1)
            {
                System.InvalidateAll(in LastTlbi, Mmu.CurrentVmid, e1, e2);
                return;
            }
        }
        else
        {
            Stats.MaintenanceCycles += costs.LocalTlbi;
        }
        Caches.Invalidate(in LastTlbi, Mmu.CurrentVmid, e1, e2);
    }

    /// <summary>
    /// Whether a TLBI of this PE acts on every PE: the IS and OS forms (every PE is in one Inner and one Outer
    /// Shareable domain), and with HCR_EL2.FB=1 the EL1 forms (VMALLE1, (R)VA(A)(L)E1, ASIDE1) executed at EL1.
    /// </summary>
    public bool IsBroadcast(TlbiOp op, Hcr hcr) =>
        op.Shareability() != TlbiShareability.NonShareable
        || (hcr.Fb && CurrentEl == 1 && op.Local() is TlbiOp.VMALLE1 or TlbiOp.VAE1 or TlbiOp.VALE1 or TlbiOp.VAAE1
            or TlbiOp.VAALE1 or TlbiOp.ASIDE1 or TlbiOp.RVAE1 or TlbiOp.RVAAE1 or TlbiOp.RVALE1 or TlbiOp.RVAALE1);

    /// <summary>The last TLBI this PE executed, decoded.</summary>
    public TlbiOperation LastTlbi;

    /// <summary>
    /// Decodes a TLBI operand against the current registers: a range's BaseADDR counts 64 KiB units when the regime
    /// it addresses has TCR.DS=1 (VTCR_EL2.DS for RIPAS2*), and is sign-extended in a two-range regime.
    /// <paramref name="e1Regime"/> and <paramref name="e2Regime"/>: the regimes the E1 and E2 forms address now.
    /// </summary>
    public TlbiOperation DecodeTlbi(TlbiOp op, ulong xt, TranslationRegime e1Regime = TranslationRegime.El10,
        TranslationRegime e2Regime = TranslationRegime.El2)
    {
        var regime = TranslationCaches.TargetRegime(op, e1Regime, e2Regime);
        bool twoRanges = regime.HasTwoVaRanges();
        bool lpa2 = op.IsRange()
            && (op.ByIpa() ? Mmu.Stage2Params.Ds : Mmu.Stage1Params(regime, upper: twoRanges && BitOps.Bit(xt, 36)).Ds);
        return TlbiOperation.Decode(op, xt, Mmu.AsidMask, lpa2, twoRanges);
    }

    /// <summary>`dump PA`: the 64-bit word at <paramref name="pa"/>, as a result.</summary>
    public void Dump(ulong pa, long line, out AccessOutcome outcome)
    {
        Stats.Records++;
        Stats.Dumps++;
        outcome = default;
        outcome.Line = line;
        outcome.Op = ResultOp.Dump;
        outcome.Pa = pa;
        outcome.Value = System.Peek64(pa);
    }

    /// <summary>`at OP VA`: an address translation instruction; the result is PAR_EL1.</summary>
    public void At(AtOp op, ulong va, long line, out AccessOutcome outcome)
    {
        Stats.Records++;
        outcome = default;
        ExecuteAt(op, va, line, ref outcome);
    }

    private AccessOutcome _discarded;

    /// <summary>
    /// Whether <see cref="ExecuteAccessRun"/> asks the host to start loading the descriptors of the next accesses'
    /// walks while it handles the current one (on by default where the host can prefetch). Nothing it computes
    /// depends on this: it changes only how long a replay of a trace that walks on most accesses takes.
    /// </summary>
    public bool PrefetchWalks { get; set; } = Mmu.CanPrefetch;

    /// <summary>
    /// <see cref="AccessDiscarding"/> for each access of a run (consecutive lines from <paramref name="firstLine"/>),
    /// with the same effects on every structure and statistic. The predicted first-level hits, most accesses of
    /// most traces, run in a loop that holds both predictions in locals and counts in locals: per access a page
    /// compare, a page-crossing check and a count. The counts are committed (<see cref="CommitPredictedHits"/>)
    /// before any other access runs, so everything else sees the state it would have seen; the predictions are
    /// reloaded after it, since that access may have moved them or evicted their entries.
    /// </summary>
    /// <param name="lastLine">Set to the line of each access before it leaves the loop, and to the run's last line.</param>
    /// <returns>
    /// How many elements of <paramref name="run"/> were executed: all of them, or those before the first element that
    /// is not an access (its <see cref="IPlainAccess.Type"/> out of range), which the caller executes itself.
    /// </returns>
    [SkipLocalsInit]
    public int ExecuteAccessRun<TAccess>(ReadOnlySpan<TAccess> run, long firstLine, ref long lastLine)
        where TAccess : struct, IPlainAccess
    {
        if (_timeline is not null)
        {
            return ExecuteTimedRun(run, firstLine, ref lastLine);
        }
        // Per access type (read, write, fetch): the predicted page and the mask of its page bits. A type that the
        // predicted entry does not let complete gets an unmatchable page (its low bits set), as does an invalid
        // prediction. Indexing by type, not branching on it: the mix of types in a trace is unpredictable.
        Span<ulong> page = stackalloc ulong[3];
        Span<ulong> mask = stackalloc ulong[3];
        Span<long> hits = stackalloc long[3];
        ref ulong page0 = ref MemoryMarshal.GetReference(page);
        ref ulong mask0 = ref MemoryMarshal.GetReference(mask);
        ref long hits0 = ref MemoryMarshal.GetReference(hits);
        byte el = CurrentEl;
        int i = 0;
        while (i < run.Length)
        {
            RunPrediction(ref _predictData, _l1Data, el, AccessType.Read, out page0, out mask0);
            RunPrediction(ref _predictData, _l1Data, el, AccessType.Write, out Unsafe.Add(ref page0, 1), out Unsafe.Add(ref mask0, 1));
            RunPrediction(ref _predictFetch, _l1Fetch, el, AccessType.Fetch, out Unsafe.Add(ref page0, 2), out Unsafe.Add(ref mask0, 2));
            hits.Clear();
            int lastType = 0;
            for (; i < run.Length; i++)
            {
                ref readonly TAccess a = ref run[i];
                ulong va = a.Va;
                int t = (int)a.Type; // 0 read, 1 write, 2 fetch
                // Anything else in a run (not from a parser) takes the general path, as does a binary fetch whose
                // size field says more than 4 at the end of a page (there it is the 4-byte instruction it is).
                if ((uint)t > 2 || (va & Unsafe.Add(ref mask0, t)) != Unsafe.Add(ref page0, t) || (va & 0xFFF) + a.Size > 0x1000)
                {
                    break;
                }
                Unsafe.Add(ref hits0, t)++;
                lastType = t;
            }
            CommitPredictedHits(hits0, Unsafe.Add(ref hits0, 1), Unsafe.Add(ref hits0, 2), fetchLast: lastType == 2);
            if (i < run.Length)
            {
                if (PrefetchWalks)
                {
                    // Start the host loads of the walks two accesses on now (a hint: see Mmu.PrefetchFar).
                    if (i + 2 < run.Length)
                    {
                        Mmu.PrefetchFar(run[i + 2].Va);
                    }
                    if (i + 1 < run.Length)
                    {
                        Mmu.PrefetchNear(run[i + 1].Va);
                    }
                }
                ref readonly TAccess next = ref run[i];
                var type = next.Type;
                if ((uint)type > (uint)AccessType.Fetch)
                {
                    return i;
                }
                lastLine = firstLine + i;
                AccessDiscarding(type, next.Va, next.Size, lastLine);
                el = CurrentEl;
                i++;
            }
        }
        lastLine = firstLine + run.Length - 1;
        return run.Length;
    }

    /// <summary>
    /// <see cref="ExecuteAccessRun"/> on the timeline: each access on its own, between its issue and its retirement
    /// (predicted hits still take the fast path, which reports them to the timeline).
    /// </summary>
    [SkipLocalsInit]
    private int ExecuteTimedRun<TAccess>(ReadOnlySpan<TAccess> run, long firstLine, ref long lastLine)
        where TAccess : struct, IPlainAccess
    {
        // The run loop of ExecuteAccessRun, with each predicted hit also timed: its lookup latency and the line of
        // the walk that filled its entry (a merge while that walk is in flight) are the prediction's, per type.
        var timeline = _timeline!;
        Span<ulong> page = stackalloc ulong[3];
        Span<ulong> mask = stackalloc ulong[3];
        Span<long> hits = stackalloc long[3];
        Span<long> fill = stackalloc long[3];
        Span<int> latency = stackalloc int[3];
        byte el = CurrentEl;
        int i = 0;
        while (i < run.Length)
        {
            RunPrediction(ref _predictData, _l1Data, el, AccessType.Read, out page[0], out mask[0]);
            RunPrediction(ref _predictData, _l1Data, el, AccessType.Write, out page[1], out mask[1]);
            RunPrediction(ref _predictFetch, _l1Fetch, el, AccessType.Fetch, out page[2], out mask[2]);
            fill[0] = fill[1] = _l1Data is not null && _predictData.Slot >= 0 ? _l1Data.Entry(_predictData.Slot).FillLine : 0;
            fill[2] = _l1Fetch is not null && _predictFetch.Slot >= 0 ? _l1Fetch.Entry(_predictFetch.Slot).FillLine : 0;
            latency[0] = latency[1] = _l1Data?.Latency ?? 0;
            latency[2] = _l1Fetch?.Latency ?? 0;
            hits.Clear();
            int lastType = 0;
            for (; i < run.Length; i++)
            {
                ref readonly TAccess a = ref run[i];
                ulong va = a.Va;
                int t = (int)a.Type;
                if ((uint)t > 2 || (va & mask[t]) != page[t] || (va & 0xFFF) + a.Size > 0x1000)
                {
                    break;
                }
                hits[t]++;
                lastType = t;
                timeline.Hit(firstLine + i, latency[t], fill[t]);
            }
            CommitPredictedHits(hits[0], hits[1], hits[2], fetchLast: lastType == 2);
            if (i < run.Length)
            {
                if (PrefetchWalks)
                {
                    if (i + 2 < run.Length)
                    {
                        Mmu.PrefetchFar(run[i + 2].Va);
                    }
                    if (i + 1 < run.Length)
                    {
                        Mmu.PrefetchNear(run[i + 1].Va);
                    }
                }
                ref readonly TAccess next = ref run[i];
                if ((uint)next.Type > (uint)AccessType.Fetch)
                {
                    return i;
                }
                lastLine = firstLine + i;
                timeline.BeginAccess(lastLine);
                AccessDiscarding(next.Type, next.Va, next.Size, lastLine);
                timeline.EndAccess();
                el = CurrentEl;
                i++;
            }
        }
        lastLine = firstLine + run.Length - 1;
        return run.Length;
    }

    /// <summary>
    /// The words of a <c>mem</c> line, stored from <paramref name="pa"/> up:
    /// what one <see cref="WriteMemory"/> per word does, without building a record per word.
    /// </summary>
    public void WriteMemoryWords(ulong pa, ReadOnlySpan<ulong> words, long line)
    {
        Stats.Records += words.Length;
        System.WriteMemoryWords(pa, words, line);
    }

    /// <summary>
    /// The page and page mask under which an access of <paramref name="type"/> is a predicted hit that completes
    /// (<see cref="TryPredictedHit"/>'s conditions, which hold for the whole of a run of such hits: nothing in it
    /// changes registers, EL or TLB contents); an unmatchable page otherwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void RunPrediction(ref Prediction p, Tlb? l1, byte el, AccessType type, out ulong page, out ulong mask)
    {
        bool holds = p.Page != ulong.MaxValue && PredictionCompletes(ref p, l1, el, type);
        page = holds ? p.Page : ulong.MaxValue;
        mask = holds ? ~p.LowMask : ulong.MaxValue;
    }

    /// <summary>
    /// The prediction still names the first-level entry a lookup would find (same registers, EL, tag and context in
    /// its slot), and that entry lets an access of <paramref name="type"/> at <paramref name="el"/> complete.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool PredictionCompletes(ref Prediction p, Tlb? l1, byte el, AccessType type)
    {
        int slot = p.Slot;
        return l1 is not null && slot >= 0 && p.Generation == Registers.Generation && p.El == el
            && l1.TagAt(slot) == p.Tag && l1.Context(slot) == p.Ctx
            && ((l1.Entry(slot).Complete >> (el * 3 + (int)type)) & 1) != 0;
    }

    /// <summary>
    /// The effects of that many predicted hits (<see cref="TryFastAccess"/> through <see cref="TryPredictedHit"/>):
    /// counts, cycles, and the first-level lookups and touches, the latter in the order of the last hit of each
    /// kind (one TLB may serve both, and the later touch decides the order).
    /// </summary>
    private void CommitPredictedHits(long reads, long writes, long fetches, bool fetchLast)
    {
        long data = reads + writes;
        long total = data + fetches;
        if (total == 0)
        {
            return;
        }
        var st = Stats;
        st.Records += total;
        st.Reads += reads;
        st.Writes += writes;
        st.Fetches += fetches;
        st.TlbHits += total;
        if (fetchLast)
        {
            CountRun(_l1Data, _predictData.Slot, data);
            CountRun(_l1Fetch, _predictFetch.Slot, fetches);
        }
        else
        {
            CountRun(_l1Fetch, _predictFetch.Slot, fetches);
            CountRun(_l1Data, _predictData.Slot, data);
        }
        _last = LastKind.PredictedHit;

        void CountRun(Tlb? l1, int slot, long n)
        {
            if (n != 0)
            {
                l1!.CountHits(slot, n);
                st.TranslationCycles += n * l1.Latency;
            }
        }
    }

    /// <summary>
    /// An access that does not cross a page and whose translation <see cref="TryPredictedHit"/> completes; false,
    /// having changed nothing, for anything else.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryFastAccess(AccessType type, ulong va, int size, long line, ref AccessOutcome o)
    {
        if (type == AccessType.Fetch)
        {
            size = 4;
        }
        byte el = CurrentEl;
        if ((va & 0xFFF) + (ulong)size > 0x1000 || !(TryPredictedHit(va, type, el, ref o) || TryFirstLevelHit(va, type, el, size, ref o)))
        {
            return false;
        }
        var st = Stats;
        st.Records++;
        switch (type)
        {
            case AccessType.Write: st.Writes++; break;
            case AccessType.Fetch: st.Fetches++; break;
            default: st.Reads++; break;
        }
        o.Line = line;
        o.Op = (ResultOp)type;
        o.Va = va;
        o.El = el;
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ExecuteAccess(AccessType type, ulong va, int size, long line, ref AccessOutcome o, bool unpriv = false)
    {
        Stats.Records++;
        switch (type)
        {
            case AccessType.Write: Stats.Writes++; break;
            case AccessType.Fetch: Stats.Fetches++; break;
            default: Stats.Reads++; break;
        }
        byte el = CurrentEl;
        o.Line = line;
        o.Op = (ResultOp)type;
        o.Va = va;
        o.El = el;
        if (type == AccessType.Fetch)
        {
            size = 4;
        }
        // The EL whose permissions apply: EL0's for LDTR/STTR at EL1, or at EL2 in the EL2&0 host (where EL0 shares
        // the current EL's regime); PSTATE.PAN applies to the other privileged data accesses of a two-range regime.
        byte permEl = el;
        bool pan = false;
        if (unpriv || _pan)
        {
            var hcr = Registers.Hcr;
            if (unpriv && (el == 1 || (el == 2 && TranslationRegimes.InHost(hcr))))
            {
                permEl = 0;
            }
            else
            {
                pan = _pan && type != AccessType.Fetch && el != 0 && TranslationRegimes.Of(el, hcr).HasTwoVaRanges();
            }
        }
        if (type != AccessType.Fetch && AccessRequest.Misaligned(va, size) && Mmu.AlignmentChecked(el))
        {
            // SCTLR_ELx.A: an Alignment fault before any translation (no lookup, no walk, no cycles).
            var fault = FaultInfo.Alignment();
            _last = LastKind.General;
            _lastWalked = false;
            _lastTlbHit = false;
            _lastLookups = 0;
            Stats.CountFault(in fault);
            Report(ref o, in fault, type, el, va);
            return;
        }
        var ctx = new PageContext(permEl, pan, el, (byte)size, Unaligned: false);
        TranslatePage(line, va, type, in ctx, ref o);
        if ((va & 0xFFF) + (ulong)size > 0x1000 && !o.IsFault)
        {
            // An access that crosses into the next 4 KiB page needs that page translated too (and faults on it
            // with FAR = the start of that page, arm-notes §12 #67); the result reports the first byte's PA.
            Stats.PageCrossings++;
            ulong pa = o.Pa, ipa = o.Ipa;
            bool hasIpa = o.HasIpa;
            long first = o.Cycles;
            // The second part starts page-aligned, but a misaligned access touches its memory misaligned too.
            var rest = ctx with { Unaligned = type != AccessType.Fetch && AccessRequest.Misaligned(va, size) };
            bool firstHit = _lastTlbHit;
            TranslatePage(line, (va | 0xFFF) + 1, type, in rest, ref o);
            // Hits are counted per translation; these two let the summary count them per access too.
            Stats.CrossingTlbHits += (firstHit ? 1 : 0) + (_lastTlbHit ? 1 : 0);
            Stats.CrossingAccessTlbHits += firstHit && _lastTlbHit ? 1 : 0;
            o.Cycles += first;
            if (!o.IsFault)
            {
                o.Pa = pa;
                o.Ipa = ipa;
                o.HasIpa = hasIpa;
            }
        }
    }

    /// <summary>
    /// Where the last access of a kind (data, fetch) completed in the first TLB level of its path: its page, under
    /// which register generation and EL, and the slot with the tag and context it held. An access to the same page
    /// under the same registers and EL needs no key and no search: if the slot still holds that tag and context,
    /// it is the entry a lookup would find (<see cref="Tlb.Lookup"/> tries the same slot first).
    /// </summary>
    private struct Prediction
    {
        public ulong Page;
        public ulong LowMask;
        public uint Generation;
        public byte El;
        public int Slot;
        public ulong Tag;
        public ulong Ctx;
    }

    private Prediction _predictData = new() { Slot = -1, Page = ulong.MaxValue };
    private Prediction _predictFetch = new() { Slot = -1, Page = ulong.MaxValue };

    /// <summary>
    /// The one completion of a TLB hit, wherever the entry was found (the predicted slot, a first-level peek, a
    /// lookup of the path): the output address and IPA of <paramref name="offset"/> in the entry, the lookup cycles,
    /// the counts. <see cref="CommitPredictedHits"/> is its batched form for a run of predicted hits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CompleteHit(ref TlbEntry e, ulong offset, long cycles, ref AccessOutcome o)
    {
        o.Pa = e.PaBase | offset;
        o.Ipa = e.IpaBase | offset;
        o.HasIpa = e.HasIpa;
        o.Cycles = cycles;
        Stats.TlbHits++;
        Stats.TranslationCycles += cycles;
        _timeline?.OnHit(cycles, e.FillLine);
    }

    /// <summary>
    /// The common case in few instructions: a predicted first-level hit whose entry lets the access complete
    /// (permitted at both stages, no dirty state to set). Anything else returns false having changed nothing, and
    /// the general path runs. Counts, replacement state and cycles are exactly those of the general path.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryPredictedHit(ulong va, AccessType type, byte el, ref AccessOutcome o)
    {
        ref var p = ref type == AccessType.Fetch ? ref _predictFetch : ref _predictData;
        var l1 = type == AccessType.Fetch ? _l1Fetch : _l1Data;
        if ((va & ~p.LowMask) != p.Page || !PredictionCompletes(ref p, l1, el, type))
        {
            return false;
        }
        int slot = p.Slot;
        l1!.CountHit(slot);
        _last = LastKind.PredictedHit;
        CompleteHit(ref l1.Entry(slot), va & p.LowMask, l1.Latency, ref o);
        return true;
    }

    /// <summary>
    /// A first-level TLB hit on another page than the last one, completed without the general path's layers: the
    /// same key, the same slot (<see cref="Tlb.Peek"/> is <see cref="Tlb.Lookup"/> without side effects), the same
    /// counts, cycles and prediction. Anything else (a miss, a hit that faults or must set a dirty state, stale
    /// checking, data caches) returns false having changed nothing, and the general path runs.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryFirstLevelHit(ulong va, AccessType type, byte el, int size, ref AccessOutcome o)
    {
        var path = type == AccessType.Fetch ? _fetchPath : _dataPath;
        if (path.Length == 0 || _noShortcuts
            || (type != AccessType.Fetch && AccessRequest.Misaligned(va, size)))
        {
            return false; // PAN and alignment checks are the general path's
        }
        var req = new AccessRequest(new VirtualAddress(va), el, type);
        if (!Mmu.TryGetLookupKey(in req, out var key))
        {
            return false;
        }
        var l1 = path[0];
        int slot = l1.Peek(in key);
        if (slot < 0)
        {
            // The general path runs next for this very key with nothing changed in between: it need not search
            // the first level again (a 48-way fully associative scan on Neoverse N1).
            _firstLevelMissed = true;
            _firstLevelMissKey = key;
            return false;
        }
        ref var e = ref l1.Entry(slot);
        if (((e.Complete >> (el * 3 + (int)type)) & 1) == 0)
        {
            return false;
        }
        l1.CommitHit(slot);
        _last = LastKind.PredictedHit; // the accessors then report one lookup, a TLB hit, no walk
        CompleteHit(ref e, key.Va & BitOps.Mask(e.Shift), (type == AccessType.Fetch ? _fetchLatency : _dataLatency)[1], ref o);
        Predict(va, type, el, in key, e.Device);
        return true;
    }

    /// <summary>Set by <see cref="TryFirstLevelHit"/> when the first level missed the key of the access about to take the general path.</summary>
    private bool _firstLevelMissed;
    private LookupKey _firstLevelMissKey;

    /// <summary>
    /// After an access completed: remember where its translation sits in the first TLB level. Not under PSTATE.PAN,
    /// nor for data on Device memory or under SCTLR.A: the predicted paths check no alignment.
    /// </summary>
    private void Predict(ulong va, AccessType type, byte el, in LookupKey key, bool device)
    {
        var path = type == AccessType.Fetch ? _fetchPath : _dataPath;
        ref var p = ref type == AccessType.Fetch ? ref _predictFetch : ref _predictData;
        p.Page = ulong.MaxValue;
        if (path.Length == 0 || _noShortcuts
            || (type != AccessType.Fetch && (device || Mmu.AlignmentChecked(el))))
        {
            return;
        }
        var l1 = path[0];
        int slot = l1.Predicted(in key);
        if (slot < 0)
        {
            return;
        }
        int shift = l1.Entry(slot).Shift;
        p.LowMask = (1UL << shift) - 1;
        p.Page = va & ~p.LowMask;
        p.Generation = Registers.Generation;
        p.El = el;
        p.Slot = slot;
        p.Tag = l1.TagAt(slot);
        p.Ctx = l1.Context(slot);
    }

    /// <summary>
    /// Who makes an access: the EL whose permissions apply (<see cref="PermEl"/>, EL0 for LDTR/STTR), whether
    /// PSTATE.PAN restricts it, the EL it runs at (<see cref="El"/>: its faults are taken from there), its size, and
    /// whether the whole access is misaligned (<see cref="AccessRequest.Unaligned"/>, for the part after a page crossing).
    /// </summary>
    private readonly record struct PageContext(byte PermEl, bool Pan, byte El, byte Size, bool Unaligned);

    /// <summary>Translates the page of <paramref name="va"/> for an access on <paramref name="line"/>: TLB lookups, then a walk on a miss.</summary>
    private void TranslatePage(long line, ulong va, AccessType type, in PageContext c, ref AccessOutcome o)
    {
        byte el = c.PermEl;
        int size = c.Size;
        var req = new AccessRequest(new VirtualAddress(va), el, type, AtMode.None, c.Pan, type == AccessType.Fetch ? (byte)0 : c.Size, c.Unaligned);
        bool plain = !c.Pan && el == c.El;
        _last = LastKind.General;
        _lastWalked = false;
        _lastTlbHit = false;
        _lastLookups = 0;
        if (!Mmu.TryGetLookupKey(in req, out var key))
        {
            InputFault(in req, type, c.El, ref o);
            return;
        }

        long cycles = 0;
        var path = type == AccessType.Fetch ? _fetchPath : _dataPath;
        bool firstMissed = _firstLevelMissed && key.Va == _firstLevelMissKey.Va && key.Ctx == _firstLevelMissKey.Ctx
            && key.CtxGlobal == _firstLevelMissKey.CtxGlobal;
        _firstLevelMissed = false;
        if (path.Length != 0)
        {
            int n = firstMissed
                ? TranslationCaches.LookupAfterFirstMiss(path, in key, out int slot)
                : TranslationCaches.Lookup(path, in key, out slot);
            _lastLookups = n;
            cycles = (type == AccessType.Fetch ? _fetchLatency : _dataLatency)[n];
            if (slot >= 0)
            {
                var tlb = path[n - 1];
                ref var e = ref tlb.Entry(slot);
                if (TryCompleteHit(line, in req, in key, ref e, tlb.Context(slot), type, c.El, size, cycles, ref o))
                {
                    if (!o.IsFault && plain)
                    {
                        Predict(va, type, el, in key, e.Device);
                    }
                    return;
                }
            }
        }
        Walk(line, in req, in key, path, type, c.El, size, cycles, ref o);
        if (!o.IsFault && plain)
        {
            Predict(va, type, el, in key, Attributes.IsDevice(_lastAttr));
        }
    }

    /// <summary>The memory type of the last walk's translation (for <see cref="Predict"/>).</summary>
    private byte _lastAttr;

    /// <summary>Rejected before any lookup (VA range, TxSZ, EPD/E0PD, PAMax): the MMU reports the fault, no table is read.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void InputFault(in AccessRequest req, AccessType type, byte el, ref AccessOutcome o)
    {
        Stats.InputFaults++;
        if (Mmu.Translate(in req, out var rf))
        {
            ThrowHelper.InvalidOperation("an access the input checks reject was translated");
        }
        o.Cycles = 0;
        Stats.CountFault(in rf.Fault);
        Report(ref o, in rf.Fault, type, el, req.Va.Value);
    }

    /// <summary>
    /// Completes an access from a TLB entry: stage-1 then stage-2 permission, as a walk orders them (R_XCHFJ).
    /// Returns false when the access must walk after all: a write that would set the dirty state of either stage,
    /// or a misaligned data access to Device memory (the walk reports its Alignment fault in its place among the
    /// checks). <paramref name="fromEl"/> is the EL the access runs at (faults are taken from it); the request's EL
    /// is the one whose permissions apply.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryCompleteHit(long line, in AccessRequest req, in LookupKey key, ref TlbEntry e, ulong ctx,
        AccessType type, byte fromEl, int size, long cycles, ref AccessOutcome o)
    {
        int t = (int)type;
        byte el = req.El;
        bool write = type == AccessType.Write;
        ulong offset = key.Va & BitOps.Mask(e.Shift);
        FaultInfo fault;
        if (e.Device && req.MisalignedData)
        {
            return false;
        }
        if (((e.S1Permissions >> Permissions.MaskIndex(el, type, req.Pan)) & 1) == 0)
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

        _lastTlbHit = true;
        _lastHitFillLine = e.FillLine;
        bool ok = !fault.IsFault;
        if (ok)
        {
            CompleteHit(ref e, offset, cycles, ref o);
            if (_dataCaches)
            {
                Timing.DataAccess(o.Pa, size);
            }
        }
        else
        {
            // A permission fault decided from the entry: the lookup is a hit and costs its cycles, but no address
            // comes out of it (the IPA only for a stage-2 fault, which reports it).
            Stats.TlbHits++;
            o.Cycles = cycles;
            Stats.TranslationCycles += cycles;
            _timeline?.OnHit(cycles, e.FillLine);
            o.HasIpa = e.HasIpa && fault.Stage == 2;
            o.Ipa = e.IpaBase | offset;
            Stats.CountFault(in fault);
            Report(ref o, in fault, type, fromEl, req.Va.Value);
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
            _stale.Check(in req, (ResultOp)type, line, ok, o.Pa, in fault, in shape);
        }
        return true;
    }

    private void Walk(long line, in AccessRequest req, in LookupKey key, Tlb[] path, AccessType type, byte el,
        int size, long cycles, ref AccessOutcome o)
    {
        Caches.CurrentLine = line;
        _lastWalked = true;
        bool ok = Mmu.Translate(in req, out var r);
        if (!ok && DemandPager is not null)
        {
            ok = ServeDemandFaults(in req, ref r);
        }
        var record = Mmu.Record;
        // Steps are priced one by one when explain may show them or when caches make reads cost differently.
        if (record.Detailed || !Timing.TryPriceUniform(record, out long walkCycles))
        {
            walkCycles = Timing.PriceWalk(record);
        }
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
        _timeline?.OnWalk(cycles, record);
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
            _lastAttr = r.Attr;
            if (path.Length != 0)
            {
                Fill(path, in key, in r, line);
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
            _stale.Check(in req, (ResultOp)type, line, ok, r.Pa, in r.Fault, in shape);
        }
    }

    /// <summary>
    /// Demand paging: while the pager can serve the fault, let it map and retry. The walks that ended in a served
    /// fault exist only because the tables are built lazily, so they are counted apart (DemandFaults,
    /// DemandFaultReads) and not charged: the access costs what its final walk costs, as if the mapping had been
    /// there all along. A fault the pager cannot serve is reported as usual.
    /// </summary>
    private bool ServeDemandFaults(in AccessRequest req, ref TranslationResult r)
    {
        for (int i = 0; i < MaxDemandFaultsPerAccess && DemandPager!.TryServe(in req, in r.Fault); i++)
        {
            Stats.DemandFaults++;
            Stats.DemandFaultReads += Mmu.Record.Reads;
            if (Mmu.Translate(in req, out r))
            {
                return true;
            }
        }
        return false;
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
            S1Shift = r.S1Shift,
            S1Level = r.Level,
            S2Level = r.S2Level,
            S1Clean = r.S1Clean,
            S2Clean = r.S2Clean,
            Device = r.DataDevice, // what a data access through the entry sees, even if a fetch filled it
        };
        e.Seal();
        Caches.Fill(path, key.Va, r.Global ? key.CtxGlobal : key.Ctx, in e);
    }

    /// <summary>
    /// Routes a fault (<see cref="FaultRouting.TargetEl"/>) and fills ESR, FAR and (stage 2) HPFAR as that EL
    /// sees them.
    /// </summary>
    private void Report(ref AccessOutcome o, in FaultInfo f, AccessType type, byte el, ulong va)
    {
        // Every counted fault is reported here, once: the reports show the first lines of each kind.
        Stats.KeepFaultLine(in f, new FaultLine(o.Line, (ResultOp)type, va, el));
        var hcr = Registers.Hcr;
        byte target = FaultRouting.TargetEl(in f, TranslationRegimes.Of(el, hcr), el, hcr);
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
    private void ExecuteAt(AtOp op, ulong va, long line, ref AccessOutcome o)
    {
        Stats.AtInstructions++;
        var (el, write, mode) = op.Decode();
        o.Line = line;
        o.Op = ResultOp.At;
        o.At = op;
        o.Va = va;
        o.El = el;
        // With HCR_EL2.{E2H,TGE}={1,1}, AT S1E1* translate in EL2&0 with EL2's permissions (S1E0* reach EL2&0
        // through the regime of EL0); the result still names the level the instruction names.
        byte permEl = el == 1 && mode == AtMode.Stage1 && TranslationRegimes.InHost(Registers.Hcr) ? (byte)2 : el;
        var req = new AccessRequest(new VirtualAddress(va), permEl, write ? AccessType.Write : AccessType.Read, mode, Pan: _pan && op.ChecksPan());
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
}
