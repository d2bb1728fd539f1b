using System.Globalization;
using MmuSim.Caching;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Paging;

namespace MmuSim.Reporting;

/// <summary>The text summary of a replay: counts, faults, and what translation cost per structure.</summary>
public static class Summary
{
    public static void Write(TextWriter w, Statistics s, bool stoppedOnFault, DemandPager? pager = null)
    {
        w.WriteLine($"lines              {s.Lines,12:N0}");
        if (s.BadLines > 0)
        {
            w.WriteLine($"bad lines skipped  {s.BadLines,12:N0}");
        }
        w.WriteLine($"accesses           {s.Accesses,12:N0}   (R {s.Reads:N0}, W {s.Writes:N0}, X {s.Fetches:N0})");
        w.WriteLine($"at instructions    {s.AtInstructions,12:N0}");
        w.WriteLine($"descriptor reads   {s.DescriptorReads,12:N0}");
        w.WriteLine($"translation cycles {s.TranslationCycles,12:N0}");
        w.WriteLine($"faults             {s.Faults,12:N0}");
        foreach (var (type, stage, level, count) in s.FaultCells())
        {
            string lv = level == FaultInfo.NoLevel ? " -" : $"{level,2}";
            w.WriteLine($"  {FaultInfo.TypeName(type),-14} stage {stage} level {lv}  {count,10:N0}");
        }
        if (s.Dsbs + s.Isbs != 0)
        {
            w.WriteLine($"barriers           {s.Dsbs + s.Isbs,12:N0}   (dsb {s.Dsbs:N0}, isb {s.Isbs:N0})");
        }
        if (s.MaintenanceCycles != 0)
        {
            w.WriteLine($"maintenance cycles {s.MaintenanceCycles,12:N0}   (TLBIs and the DSBs that waited for broadcast ones; prices are assumptions, docs/translation-cost.md)");
        }
        if (pager is not null)
        {
            pager.WriteSummary(w);
            w.WriteLine($"  walks not charged {s.DemandFaultReads,11:N0} descriptor reads (walks that ended in a served fault)");
        }
        if (stoppedOnFault)
        {
            w.WriteLine("stopped at the first fault (--stop-on-fault)");
        }
    }

    /// <summary>
    /// The full summary of a replay over <paramref name="pes"/> (<see cref="Replay.Replayer.ReportedPes"/>): for one
    /// PE, that PE's summary; for several, the counts of all PEs together, a table of each PE's figures, then each
    /// PE's translation-cost section.
    /// </summary>
    public static void Write(TextWriter w, IReadOnlyList<SimulatedCore> pes, bool stoppedOnFault, DemandPager? pager = null)
    {
        if (pes.Count == 1)
        {
            Write(w, pes[0], stoppedOnFault, pager);
            return;
        }
        var total = Statistics.Total(pes.Select(pe => pe.Stats));
        Write(w, total, stoppedOnFault, pager);
        w.WriteLine();
        w.WriteLine($"PEs                {pes.Count,12:N0}");
        w.WriteLine($"  {"PE",-5} {"accesses",13} {"at",9} {"tlbis",9} {"broadcast",9} {"barriers",9} {"desc. reads",13} {"cycles",15} {"faults",9} {"tlb hits",13} {"walks",13}");
        foreach (var pe in pes)
        {
            PeRow(w, pe.Index.ToString(CultureInfo.InvariantCulture), pe.Stats);
        }
        PeRow(w, "all", total);
        foreach (var pe in pes)
        {
            WriteCost(w, pe, pe.Index);
        }
    }

    private static void PeRow(TextWriter w, string name, Statistics s) =>
        w.WriteLine($"  {name,-5} {s.Accesses,13:N0} {s.AtInstructions,9:N0} {s.Tlbis,9:N0} {s.BroadcastTlbis,9:N0} {s.Dsbs + s.Isbs,9:N0} {s.DescriptorReads,13:N0} {s.TranslationCycles,15:N0} {s.Faults,9:N0} {s.TlbHits,13:N0} {s.Walks,13:N0}");

    /// <summary>The full summary of a core: the counts above, then the translation-cost section.</summary>
    public static void Write(TextWriter w, SimulatedCore core, bool stoppedOnFault, DemandPager? pager = null)
    {
        var s = core.Stats;
        Write(w, s, stoppedOnFault, pager);
        WriteCost(w, core);
    }

    private static string Rate(long part, long whole) => whole == 0 ? "-" : (100.0 * part / whole).ToString("0.00", CultureInfo.InvariantCulture) + "%";

    private static string Ratio(long a, long b) => b == 0 ? "-" : ((double)a / b).ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>Per structure lookups, hits, misses and evictions; walks, reads and where they were served; cycles.</summary>
    /// <param name="pe">The PE's number, named in the section's first line when there are several.</param>
    public static void WriteCost(TextWriter w, SimulatedCore core, int pe = -1)
    {
        var s = core.Stats;
        var caches = core.Caches;
        var timing = core.Timing;
        w.WriteLine();
        w.WriteLine(pe < 0 ? $"translation model  {core.Config.Name}" : $"translation model  {core.Config.Name}   (PE {pe})");
        w.WriteLine($"  {"structure",-10} {"kind",-16} {"geometry",-14} {"lookups",13} {"hits",13} {"misses",13} {"hit rate",8} {"evictions",11}");
        foreach (var t in caches.Tlbs)
        {
            Row(w, t.Name, $"TLB {t.Config.Serves.ToString().ToLowerInvariant()}", Geometry(t.Config.Entries, t.Config.Ways), t.Stats);
        }
        foreach (var c in caches.WalkCaches)
        {
            Row(w, c.Name, $"walk cache S{c.Stage}", Geometry(c.Config.Entries, c.Config.Ways), c.Stats);
        }
        if (caches.IpaCache is { } ipa)
        {
            Row(w, ipa.Name, "IPA cache", Geometry(ipa.Config.Entries, ipa.Config.Ways), ipa.Stats);
        }
        foreach (var c in timing.Caches.Levels)
        {
            Row(w, c.Name, "walker cache", $"{Size(c.Config.SizeBytes)} {c.Config.Ways}w {c.Config.LineBytes}B", c.Stats);
        }
        // Hits per translation and per access apart: an access that crosses a page is translated twice
        // (docs/translation-cost.md, "The summary"), so only the per-translation rate is a TLB hit rate.
        w.WriteLine($"tlb hits           {s.TlbHits,12:N0}   ({Rate(s.TlbHits, s.Translations)} of {s.Translations:N0} translations, one per page an access touches)");
        w.WriteLine($"  per access       {s.AccessTlbHits,12:N0}   ({Rate(s.AccessTlbHits, s.Accesses)} of accesses hit on every page; {s.PageCrossings:N0} crossed a page)");
        w.WriteLine($"walks              {s.Walks,12:N0}   (1D {s.Walks1D:N0}, 2D {s.Walks2D:N0}; {s.DirtyWalks:N0} to set a dirty state)");
        w.WriteLine($"  reads per walk   1D {Ratio(s.DescriptorReads1D, s.Walks1D)}, 2D {Ratio(s.DescriptorReads2D, s.Walks2D)}");
        var served = new List<string>();
        for (int i = 0; i < caches.WalkCaches.Length; i++)
        {
            served.Add($"{caches.WalkCaches[i].Name} {timing.SavedByWalkCache[i]:N0}");
        }
        if (caches.IpaCache is { } ic)
        {
            served.Add($"{ic.Name} {timing.SavedByIpaCache:N0}");
        }
        for (int i = 0; i < timing.Caches.Levels.Length; i++)
        {
            served.Add($"{timing.Caches.Levels[i].Name} {timing.ServedByLevel[i]:N0}");
        }
        served.Add($"memory {timing.ServedByMemory:N0}");
        w.WriteLine($"  served by        {string.Join(", ", served)}");
        if (caches.WalkCaches.Length != 0 || caches.IpaCache is not null)
        {
            w.WriteLine("                   (walk and IPA cache figures: descriptor reads their hits made unnecessary)");
        }
        var h = s.WalkCycles;
        w.WriteLine($"walk cycles        mean {h.Mean.ToString("0.0", CultureInfo.InvariantCulture)}, p50 {h.Percentile(50):N0}, p90 {h.Percentile(90):N0}, p99 {h.Percentile(99):N0}, max {h.Max:N0}");
        w.WriteLine($"cycles per access  {Ratio(s.TranslationCycles, s.Accesses)}");
        WriteTiming(w, core);
        if (s.HardwareUpdates != 0)
        {
            w.WriteLine($"hardware updates   {s.HardwareUpdates,12:N0}");
        }
        if (core.Stale is { } stale)
        {
            w.WriteLine($"stale translations {stale.Count,12:N0}   (--check-stale)");
            foreach (var r in stale.Reports.Take(20))
            {
                w.WriteLine($"  {r}");
            }
            if (stale.Count > 20)
            {
                w.WriteLine($"  ... {stale.Count - 20:N0} more (all kept ones are in --json)");
            }
        }
    }

    private static string Pct(double x) => (100 * x).ToString("0.00", CultureInfo.InvariantCulture) + "%";

    private static string Fixed(double x, string format = "0.00") => x.ToString(format, CultureInfo.InvariantCulture);

    private static string Limit(int? n) => n is int v ? v.ToString("N0", CultureInfo.InvariantCulture) : "no limit";

    private static string Distribution(CycleHistogram h) =>
        $"mean {Fixed(h.Mean, "0.0")}, p50 {h.Percentile(50):N0}, p90 {h.Percentile(90):N0}, p99 {h.Percentile(99):N0}, max {h.Max:N0}";

    /// <summary>Which cycle model ran; with the timeline, what it found (docs/translation-cost.md, "The timeline").</summary>
    private static void WriteTiming(TextWriter w, SimulatedCore core)
    {
        if (core.Timeline is not { } t)
        {
            w.WriteLine("timing             additive   (each access's cycles added up, one after another)");
            return;
        }
        var c = t.Config;
        w.WriteLine($"timing             timeline   (window {c.Window:N0}, issue every {c.IssueInterval:N0} cycle(s), {c.IssueWidth:N0} instruction(s)/cycle, {c.Walkers:N0} walker(s), queue {Limit(c.WalkQueue)}, walker-cache misses {Limit(c.WalkerCacheMisses)}, memory requests {Limit(c.MemoryRequests)})");
        w.WriteLine($"  total cycles     {t.TotalCycles,12:N0}   ({Ratio(t.TotalCycles, t.Accesses)} per access; additive {core.Stats.TranslationCycles:N0})");
        w.WriteLine($"  stalled          {t.StallCycles,12:N0}   (window full {t.WindowStallCycles:N0}, walk queue full {t.QueueStallCycles:N0})");
        w.WriteLine($"  walk wait        {Distribution(t.WaitCycles)}");
        w.WriteLine($"  walk service     {Distribution(t.ServiceCycles)}");
        var h = t.WalksInFlight();
        long total = 0;
        foreach (long x in h)
        {
            total += x;
        }
        var parts = new List<string>();
        for (int k = 0; k < h.Length; k++)
        {
            parts.Add($"{k}: {(total == 0 ? "-" : Pct((double)h[k] / total))}");
        }
        w.WriteLine($"  walks in flight  mean {Fixed(t.MeanWalksInFlight)}   (time with k walks: {string.Join(", ", parts)})");
        w.WriteLine($"  occupancy        walkers {Pct(t.WalkerOccupancy)}, queue mean {Fixed(t.MeanQueue)} walks");
        w.WriteLine($"  merged misses    {t.MergedMisses,12:N0}   (hits on an entry whose walk had not finished)");
        w.WriteLine($"  descriptor MLP   {Fixed(t.DescriptorMlp),12}   (reads in flight while a walk is in service; waits: shared line {t.SharedLineWaits:N0}, miss buffers {t.MissBufferWaits:N0}, memory {t.MemoryWaits:N0})");
    }

    private static string Geometry(int entries, int ways) =>
        ways == entries ? $"{entries} FA" : $"{entries} {ways}w";

    private static string Size(long bytes) =>
        bytes >= 1 << 20 && bytes % (1 << 20) == 0 ? $"{bytes >> 20}MiB" : bytes >= 1024 && bytes % 1024 == 0 ? $"{bytes >> 10}KiB" : $"{bytes}B";

    private static void Row(TextWriter w, string name, string kind, string geometry, StructureStats st) =>
        w.WriteLine($"  {name,-10} {kind,-16} {geometry,-14} {st.Lookups,13:N0} {st.Hits,13:N0} {st.Misses,13:N0} {Rate(st.Hits, st.Lookups),8} {st.Evictions,11:N0}");
}
