using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Caching;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Replay;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Checking;

/// <summary>
/// The TLB-maintenance checker (`replay --check-maintenance`): watches a replay and reports where hardware may give
/// another outcome than the sequential replay (docs/trace-format.md, "Writes in the stream, and when effects are
/// guaranteed"; docs/tlb-maintenance.md). It is architectural, not a model of one TLB: for each store to a
/// descriptor it keeps the old value, and for each PE whether the PE may still hold a translation made from it
/// (every PE that reaches the descriptor from an enabled regime, whether or not it accessed it: speculative walks,
/// Arm ARM D8.13), until a TLBI that reaches the PE, names the entry and was issued after the store was ordered
/// has completed (R_PSMWS, R_BLDZX: completion by a DSB of the issuing PE). Each access is walked again over the
/// tables now in memory and over every old view the PE may still use; a different outcome is a finding.
/// </summary>
public sealed class MaintenanceChecker : IReplayObserver
{
    private const long Never = long.MaxValue;

    /// <summary>One store's old value of a 64-bit word (a descriptor when a PE reaches it).</summary>
    private sealed class OldValue
    {
        public ulong Pa;
        public ulong Old;
        public ulong New;
        public long Line;
        public int Writer;
        public long Seq;
        /// <summary>DSB of the writer that orders stores, broadcast domain: other PEs' walks see the store.</summary>
        public long OrderedSeq = Never;
        /// <summary>DSB of the writer that orders stores, any domain.</summary>
        public long SelfDsbSeq = Never;
        /// <summary>ISB of the writer after <see cref="SelfDsbSeq"/>: the writer's own walks see the store.</summary>
        public long SelfSyncSeq = Never;
        public bool OldValid;
        public bool OldTable;
        public DescriptorPlace[] Places = [];
        public PeView[] Views = [];
        /// <summary>What happened to the store, for explain (at most <see cref="MaxEvents"/>).</summary>
        public List<string>? Events;
    }

    /// <summary>What one PE may still hold of an old value or an old register context.</summary>
    private struct PeView
    {
        public bool Held;
        public long MissedLine;
        public int MissedIssuer;
        public bool MissedBroadcast;
        public TlbiOp MissedOp;
        public ulong MissedXt;
        public bool MissedUnordered;
        /// <summary>The missed TLBI has not completed (no DSB of its issuer yet).</summary>
        public bool MissedIncomplete;
        public long RemovedLine;
        public long RemovedSeq;
        public int RemovedIssuer;
        /// <summary>Stage-2 descriptor: an (R)IPAS2* covering it completed at this sequence number.</summary>
        public long S2DoneSeq;
        /// <summary>VA ranges that completed VA TLBIs removed (an old table descriptor, an old register context).</summary>
        public List<(ulong First, ulong Last)>? Covered;
    }

    /// <summary>A translation-register write (or PSTATE.PAN change) of one PE.</summary>
    private sealed class RegChange
    {
        public SysReg Reg;
        public bool IsPan;
        public ulong Old;
        public long Line;
        public long Seq;
        public bool Synced;
        public PeView View;
        public ushort OldAsid;
        public ushort OldVmid;
        public List<string>? Events;
    }

    private sealed class PendingTlbi
    {
        public TlbiOperation Op;
        public long Line;
        public long Seq;
        public int Issuer;
        public bool Broadcast;
        public ushort Vmid;
        public TranslationRegime E1;
        public TranslationRegime E2;
        public string Name = "";
    }

    private sealed class PeState
    {
        public required SimulatedCore Core;
        public required SystemRegisters Shadow;
        public required Mmu Mmu;
        public uint Synced = uint.MaxValue;
        public long LastIsb;
        public readonly List<PendingTlbi> Pending = new();
        public readonly List<RegChange> Regs = new();
        public ulong[] RegsBefore = new ulong[SystemRegisters.Count];
        public bool PanBefore;
        /// <summary>
        /// Accesses (4 KiB page, type, unprivileged, misaligned) that every view translated alike at
        /// <see cref="CleanVersion"/>: while nothing but accesses has run since, they cannot give a finding.
        /// </summary>
        public readonly HashSet<ulong> Clean = new();
        public long CleanVersion = -1;
    }

    /// <summary>Bumped by every line that is not an access: what a PE may hold, and memory, change only there.</summary>
    private long _version;

    /// <summary>Most clean accesses remembered per PE (the set is emptied beyond).</summary>
    public const int MaxClean = 1 << 16;

    private readonly SimulatedSystem _system;
    private readonly PhysicalMemory _memory;
    private readonly TableLocations _tables;
    private readonly List<PeState> _pes = new();
    private readonly Dictionary<ulong, List<OldValue>> _byPa = new();
    private readonly List<OldValue> _live = new();
    private readonly HashSet<(FindingKind, long, int)> _reported = new();
    private readonly List<DescriptorPlace> _places = new();
    private long _seq;
    private bool _started;
    private bool _barriers;
    private ulong _storedBefore;

    /// <summary>Old values kept per descriptor word (the oldest is dropped beyond).</summary>
    public const int MaxVersions = 8;

    /// <summary>Events kept per old value or register change for explain's chain of events.</summary>
    public const int MaxEvents = 32;

    private static void Note(ref List<string>? events, string text)
    {
        events ??= new List<string>();
        if (events.Count < MaxEvents)
        {
            events.Add(text);
        }
    }

    /// <summary>VA ranges kept per old value and PE (VA TLBIs beyond are not counted).</summary>
    public const int MaxCoveredRanges = 64;

    public MaintenanceChecker(SimulatedSystem system)
    {
        _system = system;
        _memory = system.Memory;
        _tables = new TableLocations(_memory);
    }

    /// <summary>Findings in the order they were found.</summary>
    public List<MaintenanceFinding> Findings { get; } = new();

    /// <summary>Called for each finding as it is found (a findings file written as the replay goes).</summary>
    public Action<MaintenanceFinding>? OnFinding { get; set; }

    /// <summary>Old values kept now (for a bound on memory: it follows the tables, not the trace).</summary>
    public int LiveOldValues => _live.Count;

    private PeState State(SimulatedCore pe)
    {
        while (_pes.Count <= pe.Index)
        {
            var core = _system.Pes[_pes.Count];
            var shadow = new SystemRegisters();
            _pes.Add(new PeState { Core = core, Shadow = shadow, Mmu = new Mmu(shadow, _memory) { DryRun = true } });
        }
        return _pes[pe.Index];
    }

    private bool Synchronized => !_barriers;

    /// <inheritdoc/>
    public void OnExecuting(int input, SimulatedCore pe, in TraceRecord record)
    {
        var ps = State(pe);
        switch (record.Op)
        {
            case TraceOp.Mem:
                _storedBefore = _memory.Peek64(new PhysicalAddress(record.Address & ~7UL));
                break;
            case TraceOp.Reg:
                ps.RegsBefore[(int)record.Reg] = pe.Registers[record.Reg];
                break;
            case TraceOp.Pstate:
                ps.PanBefore = pe.Pan;
                break;
        }
    }

    /// <inheritdoc/>
    public bool OnExecuted(int input, SimulatedCore pe, in TraceRecord record, bool produced, in AccessOutcome outcome)
    {
        if (record.Op == TraceOp.Cpu)
        {
            return true;
        }
        var ps = State(pe);
        _seq++;
        if (record.Op is not (TraceOp.Read or TraceOp.Write or TraceOp.Fetch or TraceOp.Ldtr or TraceOp.Sttr or TraceOp.At or TraceOp.Dump))
        {
            _version++;
        }
        switch (record.Op)
        {
            case TraceOp.Read or TraceOp.Write or TraceOp.Fetch:
                _started = true;
                CheckAccess(ps, (AccessType)(record.Op - TraceOp.Read), record.Address, record.Size, unpriv: false, in outcome);
                break;
            case TraceOp.Ldtr or TraceOp.Sttr:
                _started = true;
                CheckAccess(ps, record.Op == TraceOp.Ldtr ? AccessType.Read : AccessType.Write, record.Address, record.Size, unpriv: true, in outcome);
                break;
            case TraceOp.At:
                _started = true;
                break;
            case TraceOp.Mem:
                if (_started)
                {
                    OnStore(ps, record.Address & ~7UL, _storedBefore, record.Value, record.Line);
                }
                break;
            case TraceOp.Reg:
                OnRegister(ps, record.Reg, ps.RegsBefore[(int)record.Reg], record.Line);
                break;
            case TraceOp.Pstate:
                if (ps.PanBefore != pe.Pan)
                {
                    var rc = new RegChange { IsPan = true, Old = ps.PanBefore ? 1UL : 0, Line = record.Line, Seq = _seq };
                    Note(ref rc.Events, $"line {record.Line} (cpu {pe.Index}): pstate PAN {(pe.Pan ? 1 : 0)} (was {(ps.PanBefore ? 1 : 0)}): applies after the next isb");
                    AddRegChange(ps, rc);
                }
                break;
            case TraceOp.Tlbi:
                OnTlbi(ps, record.Line);
                break;
            case TraceOp.Dsb:
                _barriers = true;
                OnDsb(ps, record.Dsb, record.Line);
                break;
            case TraceOp.Isb or TraceOp.El:
                // ISB, and exception entry and return, are context synchronization events (Arm ARM D1.4, "Context
                // synchronization event"; FEAT_ExS not implemented).
                if (record.Op == TraceOp.Isb)
                {
                    _barriers = true;
                }
                OnIsb(ps, record.Line, record.Op == TraceOp.Isb ? "isb" : $"el {record.Value}");
                break;
        }
        return true;
    }

    // ---- events ----

    private void OnStore(PeState ps, ulong pa, ulong old, ulong value, long line)
    {
        if (old == value)
        {
            return;
        }
        if (_tables.Stale)
        {
            _tables.Build(_system.Pes);
        }
        _tables.Find(pa, _places);
        var ov = new OldValue
        {
            Pa = pa,
            Old = old,
            New = value,
            Line = line,
            Writer = ps.Core.Index,
            Seq = _seq,
            Places = _places.ToArray(),
            Views = new PeView[_system.Pes.Count],
        };
        if (Synchronized)
        {
            ov.OrderedSeq = ov.SelfDsbSeq = ov.SelfSyncSeq = _seq;
        }
        bool reached = ov.Places.Length > 0;
        if (reached)
        {
            var first = ov.Places[0];
            ov.OldValid = (old & 1) != 0;
            ov.OldTable = ov.OldValid && first.Level < 3 && (old & 2) != 0;
            bool newTable = (value & 1) != 0 && first.Level < 3 && (value & 2) != 0;
            foreach (var place in ov.Places)
            {
                ov.Views[place.Pe].Held = ov.OldValid;
            }
            if (ov.OldTable || newTable)
            {
                _tables.Stale = true; // the reachable tables change with a table descriptor
            }
        }
        Note(ref ov.Events, $"line {line} (cpu {ov.Writer}): store 0x{value:x} at PA 0x{pa:x} (was 0x{old:x}){(reached
            ? $", a level-{ov.Places[0].Level} descriptor of {(ov.Places[0].Stage == 2 ? "IPA" : "VA")} 0x{ov.Places[0].InputBase:x}" : "")}"
            + (ov.OldValid ? $"; the old entry may be held by cpu {string.Join(", ", ov.Places.Select(p => p.Pe).Distinct())}" : ""));
        if (!_byPa.TryGetValue(pa, out var list))
        {
            _byPa[pa] = list = new List<OldValue>();
        }
        list.Add(ov);
        _live.Add(ov);
        if (list.Count > MaxVersions)
        {
            _live.Remove(list[0]);
            list.RemoveAt(0);
        }
        if (reached && (value & 1) != 0)
        {
            CheckBreakBeforeMake(ps, list, value, line);
        }
    }

    private void OnRegister(PeState ps, SysReg reg, ulong old, long line)
    {
        if (SystemRegisters.IsIdRegister(reg) || old == ps.Core.Registers[reg])
        {
            return;
        }
        _tables.Stale = true;
        var regs = ps.Core.Registers;
        // The tags the entries of the old context carry: compared with the new context's at each access.
        var rc = new RegChange { Reg = reg, Old = old, Line = line, Seq = _seq };
        Note(ref rc.Events, $"line {line} (cpu {ps.Core.Index}): {reg} = 0x{regs[reg]:x} (was 0x{old:x}): applies after the next isb");
        SyncShadow(ps);
        ps.Shadow[reg] = old;
        rc.OldAsid = ps.Mmu.CurrentAsid;
        rc.OldVmid = ps.Mmu.CurrentVmid;
        ps.Shadow[reg] = regs[reg];
        AddRegChange(ps, rc);
    }

    private void AddRegChange(PeState ps, RegChange rc)
    {
        if (Synchronized)
        {
            rc.Synced = true;
        }
        // Before the first access nothing is cached yet: set-up register writes only need their ISB.
        rc.View.Held = _started && rc.Reg is SysReg.TTBR0_EL1 or SysReg.TTBR1_EL1 or SysReg.TTBR0_EL2 or SysReg.TTBR1_EL2
            or SysReg.VTTBR_EL2 or SysReg.TCR_EL1 or SysReg.TCR_EL2 or SysReg.VTCR_EL2 or SysReg.MAIR_EL1 or SysReg.MAIR_EL2 && !rc.IsPan;
        ps.Regs.RemoveAll(r => r.Reg == rc.Reg && r.IsPan == rc.IsPan && r.Synced && !r.View.Held);
        ps.Regs.Add(rc);
        if (ps.Regs.Count > 64)
        {
            ps.Regs.RemoveAt(0);
        }
    }

    private void OnTlbi(PeState ps, long line)
    {
        var core = ps.Core;
        var hcr = core.Registers.Hcr;
        var t = new PendingTlbi
        {
            Op = core.LastTlbi,
            Line = line,
            Seq = _seq,
            Issuer = core.Index,
            Broadcast = core.IsBroadcast(core.LastTlbi.Op, hcr),
            Vmid = core.Mmu.CurrentVmid,
            E1 = TranslationRegimes.OfE1Maintenance(core.CurrentEl, hcr),
            E2 = TranslationRegimes.OfE2Maintenance(hcr),
        };
        string name = $"tlbi {t.Op.Op}{(t.Op.Xt != 0 ? $" 0x{t.Op.Xt:x}" : "")} ({(t.Broadcast ? "broadcast" : "local")})";
        if (Synchronized)
        {
            Complete(t, _seq, line, name);
            return;
        }
        // Until a DSB completes it, the TLBI has removed nothing: what it was meant to remove names it as the cause.
        foreach (var ov in _live)
        {
            for (int p = 0; p < ov.Views.Length; p++)
            {
                if (ov.Views[p].Held && ov.Seq < t.Seq)
                {
                    Missed(ref ov.Views[p], t, false);
                    ov.Views[p].MissedIncomplete = true;
                }
            }
            if (ov.Seq < t.Seq && ov.OldValid)
            {
                Note(ref ov.Events, $"line {line} (cpu {t.Issuer}): {name}: removes nothing until a dsb of cpu {t.Issuer} completes it");
            }
        }
        t.Name = name;
        ps.Pending.Add(t);
    }

    private void OnDsb(PeState ps, DsbOption option, long line)
    {
        int me = ps.Core.Index;
        if (option.OrdersStores())
        {
            foreach (var ov in _live)
            {
                if (ov.Writer == me && ov.SelfDsbSeq == Never)
                {
                    Note(ref ov.Events, $"line {line} (cpu {me}): dsb {option.ToString().ToLowerInvariant()}: the store is ordered"
                        + (option.IsBroadcast() ? " (other PEs' walks see it; cpu " + me + "'s own after an isb)" : " for cpu " + me + " only (after an isb)"));
                    ov.SelfDsbSeq = _seq;
                    if (ps.Core.Registers.Mmfr1.Ets >= 2)
                    {
                        ov.SelfSyncSeq = _seq; // FEAT_ETS2: the DSB alone orders the PE's own later walks
                    }
                }
                if (ov.Writer == me && ov.OrderedSeq == Never && option.IsBroadcast())
                {
                    ov.OrderedSeq = _seq;
                }
            }
        }
        // Completion of TLB maintenance (R_PSMWS): a DSB that applies to loads and stores; for a broadcast TLBI, of
        // the Inner or Outer Shareable domain or the full system. The ST and LD forms complete none.
        if (option.OrdersStores() && option.OrdersLoads())
        {
            for (int i = 0; i < ps.Pending.Count; i++)
            {
                var t = ps.Pending[i];
                if (!t.Broadcast || option.IsBroadcast())
                {
                    Complete(t, _seq, line, t.Name);
                    ps.Pending.RemoveAt(i--);
                }
            }
        }
        Prune();
    }

    private void OnIsb(PeState ps, long line, string what)
    {
        int me = ps.Core.Index;
        ps.LastIsb = _seq;
        foreach (var ov in _live)
        {
            if (ov.Writer == me && ov.SelfDsbSeq != Never && ov.SelfSyncSeq == Never)
            {
                ov.SelfSyncSeq = _seq;
                Note(ref ov.Events, $"line {line} (cpu {me}): {what}: cpu {me}'s own walks see the store");
            }
        }
        foreach (var rc in ps.Regs)
        {
            if (!rc.Synced)
            {
                Note(ref rc.Events, $"line {line} (cpu {me}): {what}: the new value applies");
            }
            rc.Synced = true;
        }
        ps.Regs.RemoveAll(r => !r.View.Held);
        Prune();
    }

    /// <summary>Drops old values that no PE may use any more.</summary>
    private void Prune()
    {
        for (int i = _live.Count - 1; i >= 0; i--)
        {
            var ov = _live[i];
            if (ov.OrderedSeq == Never || ov.SelfSyncSeq == Never)
            {
                continue;
            }
            bool dead = true;
            for (int p = 0; p < ov.Views.Length && dead; p++)
            {
                ref var v = ref ov.Views[p];
                dead = !v.Held && (v.RemovedSeq == 0 || v.RemovedIssuer != p || _pes.Count <= p || _pes[p].LastIsb > v.RemovedSeq);
            }
            if (dead)
            {
                _live.RemoveAt(i);
                var list = _byPa[ov.Pa];
                list.Remove(ov);
                if (list.Count == 0)
                {
                    _byPa.Remove(ov.Pa);
                }
            }
        }
    }

    /// <summary>A TLBI has completed (a DSB of its issuer): every old view it names, on every PE it reaches, goes.</summary>
    private void Complete(PendingTlbi t, long seq, long dsbLine, string name)
    {
        foreach (var ov in _live)
        {
            if (ov.Seq >= t.Seq || !ov.OldValid)
            {
                continue;
            }
            // "A TLBI removes only what was cached before it": the store must have been ordered before the TLBI.
            long ordered = t.Issuer == ov.Writer ? ov.SelfDsbSeq : ov.OrderedSeq;
            bool eligible = ordered < t.Seq;
            for (int p = 0; p < ov.Views.Length; p++)
            {
                ref var v = ref ov.Views[p];
                if (!v.Held)
                {
                    continue;
                }
                bool reaches = t.Broadcast || t.Issuer == p;
                var cover = Coverage.None;
                if (reaches && eligible)
                {
                    foreach (var place in ov.Places)
                    {
                        if (place.Pe == p)
                        {
                            var c = Covers(t, in place, ov.Old, ov.OldTable, ref v, seq);
                            cover = c > cover ? c : cover;
                        }
                    }
                }
                string done = $"line {dsbLine} (cpu {t.Issuer}): completes line {t.Line}'s {name}: ";
                if (cover == Coverage.Full)
                {
                    v.Held = false;
                    v.RemovedLine = t.Line;
                    v.RemovedSeq = seq;
                    v.RemovedIssuer = t.Issuer;
                    Note(ref ov.Events, done + $"cpu {p} no longer holds the old entry" + (p == t.Issuer ? $" (for cpu {p}'s own accesses after an isb)" : ""));
                }
                else
                {
                    Missed(ref v, t, reaches && !eligible);
                    Note(ref ov.Events, done + $"cpu {p} may keep the old entry ("
                        + (!reaches ? $"a local TLBI of cpu {t.Issuer} does not reach cpu {p}"
                            : !eligible ? "issued before the store was ordered by a dsb of the writer"
                            : cover == Coverage.Partial ? "it names only part of what the entry covers"
                            : "it does not name the entry: address, ASID, VMID, regime, level hint or last-level form") + ")");
                }
            }
        }
        foreach (var other in _pes)
        {
            if (!t.Broadcast && other.Core.Index != t.Issuer)
            {
                foreach (var rc in other.Regs)
                {
                    if (rc.View.Held && rc.Seq < t.Seq)
                    {
                        Missed(ref rc.View, t, false);
                    }
                }
                continue;
            }
            foreach (var rc in other.Regs)
            {
                if (!rc.View.Held || rc.Seq >= t.Seq)
                {
                    continue;
                }
                var place = new DescriptorPlace(other.Core.Index, 1, -1, 0, 64, RegimeOfRegister(rc.Reg, other.Core.Registers.Hcr),
                    rc.OldAsid, rc.OldVmid, Granule.K4);
                var cover = Covers(t, in place, 0, oldTable: true, ref rc.View, seq);
                if (cover == Coverage.Full)
                {
                    rc.View.Held = false;
                    rc.View.RemovedLine = t.Line;
                    rc.View.RemovedSeq = seq;
                    rc.View.RemovedIssuer = t.Issuer;
                }
                else
                {
                    Missed(ref rc.View, t, false);
                }
            }
        }
    }

    private static void Missed(ref PeView v, PendingTlbi t, bool unordered)
    {
        v.MissedLine = t.Line;
        v.MissedIssuer = t.Issuer;
        v.MissedBroadcast = t.Broadcast;
        v.MissedOp = t.Op.Op;
        v.MissedXt = t.Op.Xt;
        v.MissedUnordered = unordered;
        v.MissedIncomplete = false;
    }

    private static TranslationRegime RegimeOfRegister(SysReg reg, Hcr hcr) => reg switch
    {
        SysReg.TTBR0_EL2 or SysReg.TTBR1_EL2 or SysReg.TCR_EL2 or SysReg.MAIR_EL2 or SysReg.SCTLR_EL2 =>
            hcr.E2H ? TranslationRegime.El20 : TranslationRegime.El2,
        _ => TranslationRegime.El10,
    };

    private enum Coverage : byte
    {
        None,
        Partial,
        Full,
    }

    /// <summary>
    /// Whether TLBI <paramref name="t"/> removes what a PE may hold from the descriptor at <paramref name="place"/>
    /// (Arm ARM D8.13, "TLB maintenance instructions": the regime, VMID, ASID, address, last-level-only forms and the
    /// TTL level hint of each operation). A stage-2 descriptor also needs the combined stage-1+2 entries removed by a
    /// stage-1 operation issued after the stage-2 one completed. An old table descriptor (or an old register
    /// context, <see cref="DescriptorPlace.Level"/> −1) is removed whole only by an operation that covers every
    /// address under it; a VA operation removes its range (<see cref="PeView.Covered"/>).
    /// </summary>
    private static Coverage Covers(PendingTlbi t, in DescriptorPlace place, ulong old, bool oldTable, ref PeView v, long seq)
    {
        var op = t.Op.Local;
        if (op.IsRange() && !t.Op.NamesAddresses)
        {
            return Coverage.None;
        }
        bool wholeContext = place.Level < 0;
        if (place.Stage == 2)
        {
            switch (op)
            {
                case TlbiOp.VMALLS12E1 when place.Vmid == t.Vmid:
                case TlbiOp.ALLE1:
                    return Coverage.Full;
                case TlbiOp.IPAS2E1 or TlbiOp.RIPAS2E1 or TlbiOp.IPAS2LE1 or TlbiOp.RIPAS2LE1 when place.Vmid == t.Vmid:
                    if ((oldTable && op is TlbiOp.IPAS2LE1 or TlbiOp.RIPAS2LE1) || !Overlaps(t, in place) || !TtlMatches(t, in place))
                    {
                        return Coverage.None;
                    }
                    v.S2DoneSeq = seq;
                    return Coverage.Partial;
                case TlbiOp.VMALLE1 when place.Vmid == t.Vmid && t.E1 == TranslationRegime.El10:
                    // The combined entries: only when the stage-2 invalidation had completed before this TLBI.
                    return v.S2DoneSeq != 0 && v.S2DoneSeq < t.Seq ? Coverage.Full : Coverage.None;
                default:
                    return Coverage.None;
            }
        }
        bool vmidOk = !place.Regime.HasStage2() || place.Vmid == t.Vmid;
        bool global = !oldTable && !wholeContext && place.Regime.HasAsid() && !BitOps.Bit(old, 11);
        global |= !place.Regime.HasAsid();
        switch (op)
        {
            case TlbiOp.VMALLE1:
                return place.Regime == t.E1 && vmidOk ? Coverage.Full : Coverage.None;
            case TlbiOp.VMALLS12E1:
                return place.Regime == TranslationRegime.El10 && vmidOk ? Coverage.Full : Coverage.None;
            case TlbiOp.ALLE1:
                return place.Regime == TranslationRegime.El10 ? Coverage.Full : Coverage.None;
            case TlbiOp.ALLE2:
                return place.Regime is TranslationRegime.El2 or TranslationRegime.El20 ? Coverage.Full : Coverage.None;
            case TlbiOp.ASIDE1:
                return place.Regime == t.E1 && vmidOk && !global && place.Asid == t.Op.Asid ? Coverage.Full : Coverage.None;
            case TlbiOp.IPAS2E1 or TlbiOp.IPAS2LE1 or TlbiOp.RIPAS2E1 or TlbiOp.RIPAS2LE1:
                return Coverage.None;
        }
        // By VA.
        bool e2 = op is TlbiOp.VAE2 or TlbiOp.VALE2 or TlbiOp.RVAE2 or TlbiOp.RVALE2;
        var regime = e2 ? t.E2 : t.E1;
        if (place.Regime != regime || (!e2 && !vmidOk))
        {
            return Coverage.None;
        }
        bool lastLevel = op is TlbiOp.VALE1 or TlbiOp.VAALE1 or TlbiOp.VALE2 or TlbiOp.RVALE1 or TlbiOp.RVAALE1 or TlbiOp.RVALE2;
        bool allAsids = op is TlbiOp.VAAE1 or TlbiOp.VAALE1 or TlbiOp.RVAAE1 or TlbiOp.RVAALE1 || !regime.HasAsid();
        if (!allAsids && !global && place.Asid != t.Op.Asid)
        {
            return Coverage.None;
        }
        if (wholeContext || oldTable)
        {
            if (lastLevel && oldTable && !wholeContext)
            {
                return Coverage.None; // last-level forms need not reach walk-cache entries
            }
            // Entries made from every address below: removed where the TLBI's addresses reach.
            if (wholeContext || Overlaps(t, in place))
            {
                ulong first = wholeContext ? t.Op.First : Math.Max(t.Op.First, place.InputBase);
                ulong last = wholeContext ? t.Op.Last : Math.Min(t.Op.Last, place.InputLast);
                v.Covered ??= new();
                if (v.Covered.Count < MaxCoveredRanges)
                {
                    v.Covered.Add((first & ~0xFFFUL, last | 0xFFF));
                }
                return !wholeContext && CoversAll(v.Covered, place.InputBase, place.InputLast) ? Coverage.Full : Coverage.Partial;
            }
            return Coverage.None;
        }
        return Overlaps(t, in place) && TtlMatches(t, in place) ? Coverage.Full : Coverage.None;
    }

    private static bool Overlaps(PendingTlbi t, in DescriptorPlace place) =>
        t.Op.First <= (place.InputLast & BitOps.Mask(55, 0)) && t.Op.Last >= (place.InputBase & BitOps.Mask(55, 0));

    /// <summary>A TTL hint (FEAT_TTL) that does not match the entry's level (or granule) need not remove it.</summary>
    private static bool TtlMatches(PendingTlbi t, in DescriptorPlace place)
    {
        if (!t.Op.HasTtl)
        {
            return true;
        }
        if (t.Op.TtlGranule is { } g && g != place.Granule)
        {
            return false;
        }
        if (t.Op.RangeGranule is { } rg && rg != place.Granule)
        {
            return false;
        }
        return t.Op.TtlLevel == place.Level;
    }

    private static bool CoversAll(List<(ulong First, ulong Last)> ranges, ulong first, ulong last)
    {
        ulong at = first & BitOps.Mask(55, 0);
        ulong end = last & BitOps.Mask(55, 0);
        bool moved = true;
        while (moved)
        {
            moved = false;
            foreach (var (f, l) in ranges)
            {
                if (f <= at && l >= at)
                {
                    if (l >= end)
                    {
                        return true;
                    }
                    at = l + 1;
                    moved = true;
                }
            }
        }
        return false;
    }

    private static bool InCovered(in PeView v, ulong va)
    {
        if (v.Covered is null)
        {
            return false;
        }
        ulong a = va & BitOps.Mask(55, 0);
        foreach (var (f, l) in v.Covered)
        {
            if (a >= f && a <= l)
            {
                return true;
            }
        }
        return false;
    }

    // ---- break-before-make ----

    private void CheckBreakBeforeMake(PeState ps, List<OldValue> versions, ulong value, long line)
    {
        var current = versions[^1];
        var place = current.Places[0];
        foreach (var ov in versions)
        {
            if (!ov.OldValid)
            {
                continue;
            }
            bool held = false;
            for (int p = 0; p < ov.Views.Length && !held; p++)
            {
                held = ov.Views[p].Held;
            }
            if (!held)
            {
                continue;
            }
            string? why = BreakNeeded(ov.Old, value, place, ps.Core.Registers);
            if (why is null)
            {
                continue;
            }
            string tlbi = SuggestTlbi(in place, ov.Old, broadcast: true);
            Report(new MaintenanceFinding(FindingKind.BreakBeforeMake, true, line, ps.Core.Index, false, 0, 0, line,
                new AccessResult(true, 0, default), null,
                $"{why} while a PE may hold the old entry (descriptor PA 0x{ov.Pa:x}): break before make (Arm ARM D8.16.1, "
                + $"\"Using break-before-make when updating translation table entries\"): write 0 at line {line} instead, "
                + $"then dsb ishst; tlbi {tlbi}; dsb ish; then write 0x{value:x}; dsb ishst")
            {
                Chain = [.. ov.Events ?? [], $"line {line} (cpu {ps.Core.Index}): store 0x{value:x} while cpu {HolderList(ov)} may hold the old entry: {why}"],
            });
            return;
        }
    }

    private static string HolderList(OldValue ov)
    {
        var holders = new List<int>();
        for (int p = 0; p < ov.Views.Length; p++)
        {
            if (ov.Views[p].Held)
            {
                holders.Add(p);
            }
        }
        return string.Join(", ", holders);
    }

    /// <summary>
    /// Why replacing valid <paramref name="old"/> by valid <paramref name="value"/> needs break-before-make (Arm ARM
    /// D8.16.1, R_WHZWS and the rules it lists), or null when it does not: a permission-only change (AP, XN/PXN/UXN,
    /// DBM, AF, the table attributes) never does.
    /// </summary>
    private static string? BreakNeeded(ulong old, ulong value, in DescriptorPlace place, SystemRegisters regs)
    {
        bool oldTable = place.Level < 3 && (old & 2) != 0;
        bool newTable = place.Level < 3 && (value & 2) != 0;
        var g = place.Granule;
        var p = new WalkParams { Granule = g, Lpa = g == Granule.K64 };
        ulong oaOld = Mmu.DescriptorAddress(old, in p);
        ulong oaNew = Mmu.DescriptorAddress(value, in p);
        if (oldTable != newTable)
        {
            // FEAT_BBM: level 1 (with nT set on the block) and level 2 allow a change of block size without a break.
            int bbm = regs.Mmfr2.Bbm;
            bool relaxed = bbm >= 2 || (bbm == 1 && BitOps.Bit(oldTable ? value : old, 16));
            return relaxed ? null
                : $"a {(oldTable ? "table" : "block")} descriptor becomes a {(newTable ? "table" : "block")} descriptor (a change of block size; ID_AA64MMFR2_EL1.BBM={bbm})";
        }
        if (oldTable)
        {
            return oaOld != oaNew ? $"the next-level table address changes (0x{oaOld:x} to 0x{oaNew:x})" : null;
        }
        if (oaOld != oaNew)
        {
            return $"the output address changes (0x{oaOld:x} to 0x{oaNew:x}; the Arm ARM waives this only when both entries are read-only and the memory at both addresses is identical, which a trace cannot show)";
        }
        if (BitOps.Bit(old, 52) != BitOps.Bit(value, 52))
        {
            return "the Contiguous bit changes";
        }
        if (place.Stage == 1)
        {
            int ai0 = (int)BitOps.Field(old, 4, 2), ai1 = (int)BitOps.Field(value, 4, 2);
            ulong mair = regs[place.Regime.Mair()];
            if (ai0 != ai1 && BitOps.Field(mair, ai0 * 8 + 7, ai0 * 8) != BitOps.Field(mair, ai1 * 8 + 7, ai1 * 8))
            {
                return $"the memory type or cacheability changes (AttrIndx {ai0} to {ai1})";
            }
            if (place.Regime.HasAsid() && BitOps.Bit(old, 11) && !BitOps.Bit(value, 11))
            {
                return "a non-global entry becomes global (nG 1 to 0) while PEs may hold non-global entries for it";
            }
        }
        else if (BitOps.Field(old, 5, 2) != BitOps.Field(value, 5, 2))
        {
            return "the memory type or cacheability changes (stage-2 MemAttr)";
        }
        if (BitOps.Field(old, 9, 8) != BitOps.Field(value, 9, 8))
        {
            return "the shareability changes (SH)";
        }
        return null;
    }

    // ---- accesses ----

    private struct Alternative
    {
        public List<string>? Events;
        public FindingKind Kind;
        public long Cause;
        public AccessResult Result;
        public string Fix;
    }

    private void SyncShadow(PeState ps)
    {
        var regs = ps.Core.Registers;
        if (ps.Synced == regs.Generation)
        {
            return;
        }
        for (int r = 0; r < SystemRegisters.Count; r++)
        {
            if (ps.Shadow[(SysReg)r] != regs[(SysReg)r])
            {
                ps.Shadow[(SysReg)r] = regs[(SysReg)r];
            }
        }
        ps.Synced = regs.Generation;
    }

    private AccessRequest Request(PeState ps, AccessType type, ulong va, int size, bool unpriv, bool pan)
    {
        var core = ps.Core;
        byte el = core.CurrentEl;
        byte permEl = el;
        bool panOn = false;
        var hcr = ps.Shadow.Hcr;
        if (unpriv && (el == 1 || (el == 2 && TranslationRegimes.InHost(hcr))))
        {
            permEl = 0;
        }
        else
        {
            panOn = pan && type != AccessType.Fetch && el != 0 && TranslationRegimes.Of(el, hcr).HasTwoVaRanges();
        }
        return new AccessRequest(new VirtualAddress(va), permEl, type, AtMode.None, panOn, type == AccessType.Fetch ? (byte)0 : (byte)size);
    }

    private AccessResult Walk(PeState ps, in AccessRequest req, out TranslationResult r)
    {
        bool ok = ps.Mmu.Translate(in req, out r);
        return new AccessResult(ok, ok ? r.Pa : 0, r.Fault);
    }

    private AccessResult WalkWith(PeState ps, in AccessRequest req, ulong pa, ulong value)
    {
        var at = new PhysicalAddress(pa);
        ulong now = _memory.Peek64(at);
        _memory.Write64(at, value);
        try
        {
            return Walk(ps, in req, out _);
        }
        finally
        {
            _memory.Write64(at, now);
        }
    }

    private void CheckAccess(PeState ps, AccessType type, ulong va, int size, bool unpriv, in AccessOutcome outcome)
    {
        if (_live.Count == 0 && ps.Regs.Count == 0)
        {
            return; // nothing old anywhere: every PE sees exactly the tables in memory
        }
        int me = ps.Core.Index;
        if (ps.CleanVersion != _version)
        {
            ps.Clean.Clear();
            ps.CleanVersion = _version;
        }
        ulong key = ((va >> 12) << 4) | ((ulong)type << 2) | (unpriv ? 2UL : 0) | (AccessRequest.Misaligned(va, size) ? 1UL : 0);
        if (ps.Clean.Contains(key))
        {
            return; // the same page, the same kind of access, nothing changed since every view agreed on it
        }
        SyncShadow(ps);
        var req = Request(ps, type, va, size, unpriv, ps.Core.Pan);
        var tables = Walk(ps, in req, out _);
        Span<ulong> read = stackalloc ulong[16];
        int reads = 0;
        foreach (ref readonly var s in ps.Mmu.Record.Steps)
        {
            if (s.Kind == StepKind.Read && !s.NotRead && reads < read.Length)
            {
                read[reads++] = s.DescriptorPa & ~7UL;
            }
        }
        Alternative? found = null;
        for (int i = 0; i < reads && found is null; i++)
        {
            if (!_byPa.TryGetValue(read[i], out var versions))
            {
                continue;
            }
            for (int k = versions.Count - 1; k >= 0 && found is null; k--)
            {
                var ov = versions[k];
                found = Classify(ps, me, ov, in req, va, in tables);
            }
        }
        for (int i = 0; i < ps.Regs.Count && found is null; i++)
        {
            found = ClassifyRegister(ps, ps.Regs[i], type, va, size, unpriv, in tables);
        }
        if (found is not { } alt)
        {
            if (ps.Clean.Count >= MaxClean)
            {
                ps.Clean.Clear();
            }
            ps.Clean.Add(key);
            return;
        }
        var replayed = AccessResult.Of(in outcome);
        // The other outcome to name: the alternative, or the tables' when the replay itself gave the alternative.
        var possible = replayed.SameAs(alt.Result) ? tables : alt.Result;
        // A note when the only other outcome is a fault the tables now would not give (a spurious fault).
        bool note = tables.Ok && !alt.Result.Ok;
        var chain = new List<string>(alt.Events ?? []);
        chain.Add($"line {outcome.Line} (cpu {me}): {ResultNames.Op((ResultOp)type)} 0x{va:x}: the tables give {tables}, the old view gives {alt.Result}");
        Report(new MaintenanceFinding(alt.Kind, !note, outcome.Line, me, true, va, ps.Core.CurrentEl, alt.Cause, replayed, possible, alt.Fix) { Chain = chain });
    }

    private bool Visible(OldValue ov, int pe) =>
        Synchronized || (pe == ov.Writer ? ov.SelfSyncSeq != Never : ov.OrderedSeq != Never);

    private Alternative? Classify(PeState ps, int me, OldValue ov, in AccessRequest req, ulong va, in AccessResult tables)
    {
        if (!Visible(ov, me))
        {
            var r = WalkWith(ps, in req, ov.Pa, ov.Old);
            if (r.SameAs(tables))
            {
                return null;
            }
            if (me == ov.Writer && ov.SelfDsbSeq != Never && me < ov.Views.Length && ov.Views[me].RemovedIssuer == me && ov.Views[me].RemovedSeq != 0)
            {
                // The store was ordered and this PE's own TLBI completed: only the ISB is missing (the context of
                // its later accesses is not yet synchronized with the completed maintenance).
                return new Alternative { Events = ov.Events, Kind = FindingKind.UnsynchronizedContext, Cause = ov.Views[me].RemovedLine, Result = r,
                    Fix = $"isb on cpu {me} after line {ov.Views[me].RemovedLine}'s completing dsb, before this access" };
            }
            string fix = me == ov.Writer
                ? $"after line {ov.Line} (the store on cpu {ov.Writer}): dsb ishst; isb before this access"
                : $"after line {ov.Line} (the store on cpu {ov.Writer}): dsb ishst on cpu {ov.Writer} before cpu {me} uses the new entry";
            return new Alternative { Events = ov.Events, Kind = FindingKind.UnorderedWrite, Cause = ov.Line, Result = r, Fix = fix };
        }
        if (!ov.OldValid || me >= ov.Views.Length)
        {
            return null;
        }
        ref var v = ref ov.Views[me];
        if (v.Held && !(ov.OldTable && InCovered(in v, va)))
        {
            var r = WalkWith(ps, in req, ov.Pa, ov.Old);
            if (r.SameAs(tables))
            {
                return null;
            }
            return new Alternative { Events = ov.Events, Kind = FindingKind.StaleTranslation, Cause = v.MissedLine != 0 ? v.MissedLine : ov.Line, Result = r,
                Fix = StaleFix(ov, in v, me, va, r) };
        }
        if (!v.Held && v.RemovedIssuer == me && v.RemovedSeq != 0 && ps.LastIsb < v.RemovedSeq && !Synchronized)
        {
            var r = WalkWith(ps, in req, ov.Pa, ov.Old);
            if (r.SameAs(tables))
            {
                return null;
            }
            return new Alternative { Events = ov.Events, Kind = FindingKind.UnsynchronizedContext, Cause = v.RemovedLine, Result = r,
                Fix = $"isb on cpu {me} after line {v.RemovedLine}'s completing dsb, before this access" };
        }
        return null;
    }

    private Alternative? ClassifyRegister(PeState ps, RegChange rc, AccessType type, ulong va, int size, bool unpriv, in AccessResult tables)
    {
        bool pending = !rc.Synced;
        if (!pending && (!rc.View.Held || InCovered(in rc.View, va)))
        {
            return null;
        }
        AccessResult r;
        ushort asidNow = ps.Mmu.CurrentAsid, vmidNow = ps.Mmu.CurrentVmid;
        bool tagsDiffer;
        if (rc.IsPan)
        {
            var req = Request(ps, type, va, size, unpriv, rc.Old != 0);
            r = Walk(ps, in req, out _);
            tagsDiffer = false;
        }
        else
        {
            ulong now = ps.Shadow[rc.Reg];
            ps.Shadow[rc.Reg] = rc.Old;
            try
            {
                var req = Request(ps, type, va, size, unpriv, ps.Core.Pan);
                r = Walk(ps, in req, out var tr);
                tagsDiffer = (rc.OldVmid != vmidNow && ps.Mmu.Stage2Enabled(TranslationRegime.El10))
                    || (!tr.Global && rc.OldAsid != asidNow);
            }
            finally
            {
                ps.Shadow[rc.Reg] = ps.Core.Registers[rc.Reg];
            }
        }
        if (r.SameAs(tables))
        {
            return null;
        }
        string name = rc.IsPan ? "pstate PAN" : rc.Reg.ToString();
        if (pending)
        {
            return new Alternative { Events = rc.Events, Kind = FindingKind.UnsynchronizedContext, Cause = rc.Line, Result = r,
                Fix = $"isb on cpu {ps.Core.Index} after line {rc.Line} ({name}), before this access" };
        }
        if (tagsDiffer)
        {
            return null; // the old context's entries carry another ASID or VMID: they do not match this access
        }
        bool e2 = RegimeOfRegister(rc.Reg, ps.Core.Registers.Hcr) != TranslationRegime.El10;
        string tlbi = e2 ? "tlbi ALLE2" : rc.Reg is SysReg.VTTBR_EL2 or SysReg.VTCR_EL2 ? "tlbi VMALLS12E1" : "tlbi VMALLE1 (or a new ASID)";
        return new Alternative { Events = rc.Events, Kind = FindingKind.StaleTranslation, Cause = rc.View.MissedLine != 0 ? rc.View.MissedLine : rc.Line, Result = r,
            Fix = $"after line {rc.Line} ({name} written with the same ASID/VMID): {tlbi}; dsb nsh; isb" };
    }

    private string StaleFix(OldValue ov, in PeView v, int me, ulong va, in AccessResult r)
    {
        var place = ov.Places[0];
        foreach (var p in ov.Places)
        {
            if (p.Pe == me)
            {
                place = p;
                break;
            }
        }
        string tlbi = SuggestTlbi(in place, ov.Old, broadcast: true);
        string holds = r.Ok ? $"cpu {me} still holds VA 0x{va:x} -> PA 0x{r.Pa:x}" : $"cpu {me} may still hold the old entry for VA 0x{va:x} ({r})";
        if (v.MissedLine == 0)
        {
            return $"after line {ov.Line} (the store): dsb ishst; tlbi {tlbi}; dsb ish; isb; {holds}";
        }
        string name = $"tlbi {v.MissedOp}{(TlbiOps.IsRange(v.MissedOp) || v.MissedXt != 0 ? $" 0x{v.MissedXt:x}" : "")}";
        if (v.MissedIncomplete)
        {
            return $"line {v.MissedLine} `{name}` on cpu {v.MissedIssuer} is not complete before this access: dsb ish on cpu {v.MissedIssuer} after it (an ST or LD form completes no TLBI), then isb; {holds}";
        }
        if (v.MissedUnordered)
        {
            return $"line {v.MissedLine} `{name}` ran before the store of line {ov.Line} was ordered: put dsb ishst between them; {holds}";
        }
        if (!v.MissedBroadcast && v.MissedIssuer != me)
        {
            return $"after line {v.MissedLine} `{name}` (local) on cpu {v.MissedIssuer}: use tlbi {tlbi} followed by dsb ish; isb; {holds}";
        }
        return $"line {v.MissedLine} `{name}` does not reach the entry (level {place.Level}, {DescribeTags(in place, ov.Old)}): use tlbi {tlbi}; dsb ish; isb; {holds}";
    }

    private static string DescribeTags(in DescriptorPlace place, ulong old)
    {
        string s = place.Stage == 2 ? $"IPA 0x{place.InputBase:x}, VMID {place.Vmid}" : $"VA 0x{place.InputBase:x}";
        if (place.Stage == 1 && place.Regime.HasAsid())
        {
            s += BitOps.Bit(old, 11) ? $", ASID {place.Asid}" : ", global";
        }
        if (place.Stage == 1 && place.Regime.HasStage2())
        {
            s += $", VMID {place.Vmid}";
        }
        return s;
    }

    /// <summary>
    /// The TLBI that removes what a PE may hold from a descriptor (Arm ARM D8.13): a stage-1 leaf the last-level form
    /// by VA (VAALE1 for a global entry), a table descriptor the all-levels form, a stage-2 descriptor IPAS2E1 then
    /// (after a DSB) VMALLE1 for the combined entries.
    /// </summary>
    private static string SuggestTlbi(in DescriptorPlace place, ulong old, bool broadcast)
    {
        string sfx = broadcast ? "IS" : "";
        bool leaf = place.Level == 3 || (old & 2) == 0;
        ulong page = (place.InputBase & BitOps.Mask(55, 0)) >> 12;
        if (place.Stage == 2)
        {
            return $"IPAS2E1{sfx} 0x{page:x}; dsb ish; tlbi VMALLE1{sfx}";
        }
        string e = place.Regime == TranslationRegime.El10 ? "E1" : "E2";
        if (!place.Regime.HasAsid())
        {
            return $"{(leaf ? "VALE" : "VAE")}{e[1..]}{sfx} 0x{page:x}";
        }
        if (!BitOps.Bit(old, 11) && leaf)
        {
            return place.Regime == TranslationRegime.El10 ? $"VAALE1{sfx} 0x{page:x}" : $"VALE2{sfx} 0x{page:x}";
        }
        ulong xt = ((ulong)place.Asid << 48) | page;
        return $"{(leaf ? "VALE" : "VAE")}{e[1..]}{sfx} 0x{xt:x}";
    }

    private void Report(MaintenanceFinding f)
    {
        if (!_reported.Add((f.Kind, f.Line, f.Cpu)))
        {
            return;
        }
        Findings.Add(f);
        OnFinding?.Invoke(f);
    }
}
