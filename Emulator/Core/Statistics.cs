using MmuSim.Faults;

namespace MmuSim.Core;

/// <summary>Counters of a replay. Fault counts are kept by type × stage × level (level −1..3).</summary>
public sealed class Statistics
{
    private readonly long[] _faults = new long[7 * 2 * 5];

    /// <summary>How many trace lines each fault cell keeps (the first ones), for the reports.</summary>
    public const int KeptFaultLines = 5;

    // The first faults of each cell, in trace order; a cell's list is made at its first fault and stops growing at
    // KeptFaultLines, so a trace that faults on every line allocates nothing after the first few.
    private readonly List<FaultLine>?[] _firstFaults = new List<FaultLine>?[7 * 2 * 5];

    public long Lines { get; set; }
    public long Records { get; internal set; }
    public long Reads { get; internal set; }
    public long Writes { get; internal set; }
    public long Fetches { get; internal set; }
    public long AtInstructions { get; internal set; }
    public long Dumps { get; internal set; }
    public long Tlbis { get; internal set; }

    /// <summary>TLBIs this PE issued that acted on every PE (IS/OS forms, E1 forms under HCR_EL2.FB).</summary>
    public long BroadcastTlbis { get; internal set; }

    /// <summary>`dsb` lines this PE executed.</summary>
    public long Dsbs { get; internal set; }

    /// <summary>`isb` lines this PE executed.</summary>
    public long Isbs { get; internal set; }

    /// <summary>Cycles TLB maintenance cost this PE (TLBIs it issued, DSBs that waited for its broadcast ones).</summary>
    public long MaintenanceCycles { get; internal set; }
    public long Faults { get; internal set; }

    /// <summary>Descriptor reads made for R/W/X accesses (AT walks are counted apart).</summary>
    public long DescriptorReads { get; internal set; }

    /// <summary>Descriptor reads made by AT instructions (translated without caches, not priced).</summary>
    public long AtDescriptorReads { get; internal set; }

    /// <summary>Cycles charged to R/W/X accesses (translation only).</summary>
    public long TranslationCycles { get; internal set; }

    /// <summary>Translation faults served by demand paging (not in <see cref="Faults"/>).</summary>
    public long DemandFaults { get; internal set; }

    /// <summary>Descriptor reads of the walks that ended in a served fault (not charged).</summary>
    public long DemandFaultReads { get; internal set; }

    /// <summary>Malformed lines or records skipped (--skip-bad-lines).</summary>
    public long BadLines { get; set; }

    /// <summary>Accesses translated by a TLB hit without a walk.</summary>
    public long TlbHits { get; internal set; }

    /// <summary>Translations that went to the walker (TLB miss, no TLB, or a write that must set the dirty state).</summary>
    public long Walks { get; internal set; }

    /// <summary>Walks of one stage (stage 1 alone, EL2, or stage 2 alone with stage 1 off).</summary>
    public long Walks1D { get; internal set; }

    /// <summary>Nested walks: stage 1 with every table access translated by stage 2.</summary>
    public long Walks2D { get; internal set; }

    public long DescriptorReads1D { get; internal set; }
    public long DescriptorReads2D { get; internal set; }

    /// <summary>Walks made because a write hit a cached entry that was not yet dirty (FEAT_HAFDBS).</summary>
    public long DirtyWalks { get; internal set; }

    /// <summary>Accesses rejected by a check that needs no table (VA range, TxSZ, EPD, PAMax): no lookup, no walk.</summary>
    public long InputFaults { get; internal set; }

    /// <summary>Accesses that crossed into the next 4 KiB page (translated twice).</summary>
    public long PageCrossings { get; internal set; }

    /// <summary>Of the page-crossing accesses' translations, those a TLB hit made (each is also in <see cref="TlbHits"/>).</summary>
    public long CrossingTlbHits { get; internal set; }

    /// <summary>Page-crossing accesses whose two translations were both TLB hits.</summary>
    public long CrossingAccessTlbHits { get; internal set; }

    /// <summary>
    /// Page translations that reached the TLBs (or the walker, without TLBs): one per access, two for an access that
    /// crosses a page, none for an access refused before any lookup (alignment, input checks). Each ends either in a
    /// TLB hit or in a walk, so it is <see cref="TlbHits"/> + <see cref="Walks"/>; <see cref="TlbHits"/> counts per
    /// translation, and its rate is against this figure.
    /// </summary>
    public long Translations => TlbHits + Walks;

    /// <summary>
    /// Accesses every one of whose translations was a TLB hit: <see cref="TlbHits"/> per access, so a page-crossing
    /// access counts once (and only when both its pages hit). Never more than <see cref="Accesses"/>.
    /// </summary>
    public long AccessTlbHits => TlbHits - CrossingTlbHits + CrossingAccessTlbHits;

    /// <summary>Hardware AF/dirty updates made by R/W/X accesses.</summary>
    public long HardwareUpdates { get; internal set; }

    /// <summary>Cycles of each walk (walk-cache and IPA-cache lookups, descriptor reads and updates; no TLB lookups).</summary>
    public CycleHistogram WalkCycles { get; } = new();

    public long Accesses => Reads + Writes + Fetches;

    /// <summary>The figures of several PEs added up (every counter, every fault cell, the walk-cycle distribution).</summary>
    public static Statistics Total(IEnumerable<Statistics> parts)
    {
        var t = new Statistics();
        foreach (var s in parts)
        {
            t.Lines += s.Lines;
            t.Records += s.Records;
            t.Reads += s.Reads;
            t.Writes += s.Writes;
            t.Fetches += s.Fetches;
            t.AtInstructions += s.AtInstructions;
            t.Dumps += s.Dumps;
            t.Tlbis += s.Tlbis;
            t.BroadcastTlbis += s.BroadcastTlbis;
            t.Dsbs += s.Dsbs;
            t.Isbs += s.Isbs;
            t.MaintenanceCycles += s.MaintenanceCycles;
            t.Faults += s.Faults;
            t.DescriptorReads += s.DescriptorReads;
            t.AtDescriptorReads += s.AtDescriptorReads;
            t.TranslationCycles += s.TranslationCycles;
            t.DemandFaults += s.DemandFaults;
            t.DemandFaultReads += s.DemandFaultReads;
            t.BadLines += s.BadLines;
            t.TlbHits += s.TlbHits;
            t.Walks += s.Walks;
            t.Walks1D += s.Walks1D;
            t.Walks2D += s.Walks2D;
            t.DescriptorReads1D += s.DescriptorReads1D;
            t.DescriptorReads2D += s.DescriptorReads2D;
            t.DirtyWalks += s.DirtyWalks;
            t.InputFaults += s.InputFaults;
            t.PageCrossings += s.PageCrossings;
            t.CrossingTlbHits += s.CrossingTlbHits;
            t.CrossingAccessTlbHits += s.CrossingAccessTlbHits;
            t.HardwareUpdates += s.HardwareUpdates;
            for (int i = 0; i < t._faults.Length; i++)
            {
                t._faults[i] += s._faults[i];
                if (s._firstFaults[i] is { } first)
                {
                    (t._firstFaults[i] ??= []).AddRange(first);
                }
            }
            t.WalkCycles.AddAll(s.WalkCycles);
        }
        // Several PEs run one trace: its first faulting lines are the earliest of all PEs' (a stable sort keeps PE
        // order for one line).
        for (int i = 0; i < t._firstFaults.Length; i++)
        {
            if (t._firstFaults[i] is { } all)
            {
                t._firstFaults[i] = [.. all.OrderBy(f => f.Line).Take(KeptFaultLines)];
            }
        }
        return t;
    }

    internal void CountFault(in FaultInfo f)
    {
        Faults++;
        _faults[Index(f.Type, f.Stage, f.Level)]++;
    }

    /// <summary>Keeps the line of a fault counted by <see cref="CountFault"/> when it is among its cell's first.</summary>
    internal void KeepFaultLine(in FaultInfo f, in FaultLine line)
    {
        ref var first = ref _firstFaults[Index(f.Type, f.Stage, f.Level)];
        if (first is null || first.Count < KeptFaultLines)
        {
            (first ??= new List<FaultLine>(KeptFaultLines)).Add(line);
        }
    }

    /// <summary>The first (at most <see cref="KeptFaultLines"/>) faults of one (type, stage, level) cell, in trace order.</summary>
    public IReadOnlyList<FaultLine> FirstFaults(FaultType t, int stage, int level) =>
        (IReadOnlyList<FaultLine>?)_firstFaults[Index(t, stage, level)] ?? [];

    // A fault without a level (alignment) is counted in the level −1 cell of its type and reported with no level.
    private static int Index(FaultType t, int stage, int level) =>
        (((int)t * 2) + (stage - 1)) * 5 + (level == FaultInfo.NoLevel ? 0 : level + 1);

    /// <summary>Fault count for one (type, stage, level) cell.</summary>
    public long FaultCount(FaultType t, int stage, int level) => _faults[Index(t, stage, level)];

    /// <summary>Non-zero fault cells, in a stable order.</summary>
    public IEnumerable<(FaultType Type, int Stage, int Level, long Count)> FaultCells()
    {
        for (int t = 1; t <= (int)FaultType.Alignment; t++)
        {
            for (int s = 1; s <= 2; s++)
            {
                bool levelless = (FaultType)t == FaultType.Alignment;
                for (int l = -1; l <= (levelless ? -1 : 3); l++)
                {
                    long c = _faults[Index((FaultType)t, s, l)];
                    if (c != 0)
                    {
                        yield return ((FaultType)t, s, levelless ? FaultInfo.NoLevel : l, c);
                    }
                }
            }
        }
    }
}

/// <summary>Where a fault happened: the trace line, what it did, its VA and the EL it ran at.</summary>
public readonly record struct FaultLine(long Line, ResultOp Op, ulong Va, byte El);
