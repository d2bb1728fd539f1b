using System.Text.Json;
using MmuSim.Caching;
using MmuSim.Core;
using MmuSim.Faults;

namespace MmuSim.Reporting;

/// <summary>
/// The `--json` summary: the text summary's figures with a stable schema (docs/translation-cost.md,
/// "mmusim.summary/1"). Structures appear in configuration order.
/// </summary>
public static class SummaryJson
{
    public const string Schema = "mmusim.summary/1";

    public static void Write(Stream stream, SimulatedCore core, bool stoppedOnFault)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        Write(w, core, stoppedOnFault);
    }

    /// <summary>
    /// The summary of a replay over <paramref name="pes"/> (<see cref="Replay.Replayer.ReportedPes"/>): for one PE,
    /// that PE's summary; for several, the counts of all PEs together and under <c>perPe</c> each PE's whole summary
    /// (with <c>cpu</c>, without schema and model).
    /// </summary>
    /// <param name="provenance">What produced the run (`provenance`: tool version, options, inputs, model), or null.</param>
    public static void Write(Stream stream, IReadOnlyList<SimulatedCore> pes, bool stoppedOnFault, Provenance? provenance = null)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        if (pes.Count == 1)
        {
            Write(w, pes[0], stoppedOnFault, provenance);
            return;
        }
        var total = Statistics.Total(pes.Select(pe => pe.Stats));
        w.WriteStartObject();
        w.WriteString("schema", Schema);
        provenance?.Write(w);
        w.WritePropertyName("model");
        ModelConfigJson.Write(w, pes[0].Config);
        w.WriteNumber("pes", pes.Count);
        Counts(w, total, barriers: true);
        w.WriteStartArray("perPe");
        foreach (var pe in pes)
        {
            w.WriteStartObject();
            w.WriteNumber("cpu", pe.Index);
            Counts(w, pe.Stats, barriers: true, lines: false);
            Structures(w, pe);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteBoolean("stoppedOnFault", stoppedOnFault);
        w.WriteEndObject();
    }

    public static void Write(Utf8JsonWriter w, SimulatedCore core, bool stoppedOnFault, Provenance? provenance = null)
    {
        var s = core.Stats;
        w.WriteStartObject();
        w.WriteString("schema", Schema);
        provenance?.Write(w);
        w.WritePropertyName("model");
        ModelConfigJson.Write(w, core.Config);
        // Barrier counts appear when the trace has barriers, so a version-1 trace's summary stays as it was.
        Counts(w, s, barriers: s.Dsbs + s.Isbs != 0);
        Structures(w, core);
        w.WriteBoolean("stoppedOnFault", stoppedOnFault);
        w.WriteEndObject();
    }

    /// <summary>The counts of a PE, or of several together: lines to cycles per access.</summary>
    /// <param name="lines">Write the trace's line count (not in a PE's own figures: lines are the trace's).</param>
    private static void Counts(Utf8JsonWriter w, Statistics s, bool barriers, bool lines = true)
    {
        if (lines)
        {
            w.WriteNumber("lines", s.Lines);
        }
        w.WriteNumber("accesses", s.Accesses);
        w.WriteNumber("reads", s.Reads);
        w.WriteNumber("writes", s.Writes);
        w.WriteNumber("fetches", s.Fetches);
        w.WriteNumber("atInstructions", s.AtInstructions);
        w.WriteNumber("tlbis", s.Tlbis);
        w.WriteNumber("faults", s.Faults);
        w.WriteStartArray("faultsByKind");
        foreach (var (type, stage, level, count) in s.FaultCells())
        {
            w.WriteStartObject();
            w.WriteString("type", FaultInfo.TypeName(type));
            w.WriteNumber("stage", stage);
            if (level == FaultInfo.NoLevel)
            {
                w.WriteNull("level");
            }
            else
            {
                w.WriteNumber("level", level);
            }
            w.WriteNumber("count", count);
            w.WriteStartArray("firstLines");
            foreach (var f in s.FirstFaults(type, stage, level))
            {
                w.WriteStartObject();
                w.WriteNumber("line", f.Line);
                w.WriteString("op", ResultNames.Op(f.Op));
                w.WriteString("va", $"0x{f.Va:x}");
                w.WriteNumber("el", f.El);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("inputFaults", s.InputFaults);
        w.WriteNumber("tlbHits", s.TlbHits);
        w.WriteNumber("translations", s.Translations);
        w.WriteNumber("pageCrossings", s.PageCrossings);
        w.WriteNumber("accessTlbHits", s.AccessTlbHits);
        w.WriteNumber("walks", s.Walks);
        w.WriteNumber("walks1D", s.Walks1D);
        w.WriteNumber("walks2D", s.Walks2D);
        w.WriteNumber("dirtyWalks", s.DirtyWalks);
        w.WriteNumber("descriptorReads", s.DescriptorReads);
        w.WriteNumber("descriptorReads1D", s.DescriptorReads1D);
        w.WriteNumber("descriptorReads2D", s.DescriptorReads2D);
        WriteRatio(w, "readsPerWalk1D", s.DescriptorReads1D, s.Walks1D);
        WriteRatio(w, "readsPerWalk2D", s.DescriptorReads2D, s.Walks2D);
        w.WriteNumber("atDescriptorReads", s.AtDescriptorReads);
        w.WriteNumber("hardwareUpdates", s.HardwareUpdates);
        w.WriteNumber("translationCycles", s.TranslationCycles);
        WriteRatio(w, "cyclesPerAccess", s.TranslationCycles, s.Accesses);
        if (s.MaintenanceCycles != 0)
        {
            w.WriteNumber("maintenanceCycles", s.MaintenanceCycles);
        }
        if (barriers)
        {
            w.WriteNumber("broadcastTlbis", s.BroadcastTlbis);
            w.WriteNumber("dsbs", s.Dsbs);
            w.WriteNumber("isbs", s.Isbs);
        }
    }

    private static void Distribution(Utf8JsonWriter w, string name, CycleHistogram h)
    {
        w.WriteStartObject(name);
        w.WriteNumber("count", h.Count);
        w.WriteNumber("total", h.Sum);
        w.WriteNumber("mean", Math.Round(h.Mean, 4));
        w.WriteNumber("p50", h.Percentile(50));
        w.WriteNumber("p90", h.Percentile(90));
        w.WriteNumber("p99", h.Percentile(99));
        w.WriteNumber("max", h.Max);
        w.WriteEndObject();
    }

    /// <summary><c>timing</c>, and with the timeline its figures (docs/translation-cost.md, "The timeline").</summary>
    private static void Timing(Utf8JsonWriter w, SimulatedCore core)
    {
        if (core.Timeline is not { } t)
        {
            w.WriteString("timing", "additive");
            return;
        }
        w.WriteString("timing", "timeline");
        w.WriteStartObject("timeline");
        w.WriteNumber("totalCycles", t.TotalCycles);
        w.WriteNumber("stalledCycles", t.StallCycles);
        w.WriteNumber("windowStallCycles", t.WindowStallCycles);
        w.WriteNumber("queueStallCycles", t.QueueStallCycles);
        Distribution(w, "walkWait", t.WaitCycles);
        Distribution(w, "walkService", t.ServiceCycles);
        w.WriteStartArray("walksInFlight");
        foreach (long cycles in t.WalksInFlight())
        {
            w.WriteNumberValue(cycles);
        }
        w.WriteEndArray();
        w.WriteNumber("meanWalksInFlight", Math.Round(t.MeanWalksInFlight, 4));
        w.WriteNumber("walkerOccupancy", Math.Round(t.WalkerOccupancy, 4));
        w.WriteNumber("meanQueue", Math.Round(t.MeanQueue, 4));
        w.WriteNumber("mergedMisses", t.MergedMisses);
        w.WriteNumber("descriptorMlp", Math.Round(t.DescriptorMlp, 4));
        w.WriteNumber("sharedLineWaits", t.SharedLineWaits);
        w.WriteNumber("missBufferWaits", t.MissBufferWaits);
        w.WriteNumber("memoryWaits", t.MemoryWaits);
        w.WriteEndObject();
    }

    /// <summary>A PE's structures: TLBs, walk caches, IPA cache, walker caches, where reads were served, walk cycles, stale translations.</summary>
    private static void Structures(Utf8JsonWriter w, SimulatedCore core)
    {
        Timing(w, core);
        var s = core.Stats;
        var caches = core.Caches;
        var timing = core.Timing;
        w.WriteStartArray("tlbs");
        foreach (var t in caches.Tlbs)
        {
            w.WriteStartObject();
            w.WriteString("name", t.Name);
            w.WriteString("serves", t.Config.Serves.ToString().ToLowerInvariant());
            Counters(w, t.Stats);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("walkCaches");
        for (int i = 0; i < caches.WalkCaches.Length; i++)
        {
            var c = caches.WalkCaches[i];
            w.WriteStartObject();
            w.WriteString("name", c.Name);
            w.WriteNumber("stage", c.Stage);
            Counters(w, c.Stats);
            w.WriteNumber("readsSaved", timing.SavedByWalkCache[i]);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (caches.IpaCache is { } ipa)
        {
            w.WriteStartObject("ipaCache");
            w.WriteString("name", ipa.Name);
            Counters(w, ipa.Stats);
            w.WriteNumber("readsSaved", timing.SavedByIpaCache);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("ipaCache");
        }
        w.WriteStartArray("walkerCaches");
        for (int i = 0; i < timing.Caches.Levels.Length; i++)
        {
            var c = timing.Caches.Levels[i];
            w.WriteStartObject();
            w.WriteString("name", c.Name);
            Counters(w, c.Stats);
            w.WriteNumber("descriptorAccessesServed", timing.ServedByLevel[i]);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("descriptorReadsServedBy");
        for (int i = 0; i < caches.WalkCaches.Length; i++)
        {
            Served(w, caches.WalkCaches[i].Name, "walkCache", timing.SavedByWalkCache[i]);
        }
        if (caches.IpaCache is { } ic)
        {
            Served(w, ic.Name, "ipaCache", timing.SavedByIpaCache);
        }
        for (int i = 0; i < timing.Caches.Levels.Length; i++)
        {
            Served(w, timing.Caches.Levels[i].Name, "walkerCache", timing.ServedByLevel[i]);
        }
        Served(w, "memory", "memory", timing.ServedByMemory);
        w.WriteEndArray();
        w.WriteNumber("dataCacheAccesses", timing.DataAccesses);

        var h = s.WalkCycles;
        w.WriteStartObject("walkCycles");
        w.WriteNumber("count", h.Count);
        w.WriteNumber("total", h.Sum);
        w.WriteNumber("mean", Math.Round(h.Mean, 3));
        w.WriteNumber("p50", h.Percentile(50));
        w.WriteNumber("p90", h.Percentile(90));
        w.WriteNumber("p99", h.Percentile(99));
        w.WriteNumber("max", h.Max);
        w.WriteStartArray("histogram");
        foreach (var (cycles, count) in h.Values())
        {
            w.WriteStartObject();
            w.WriteNumber("cycles", cycles);
            w.WriteNumber("count", count);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();

        if (core.Stale is { } stale)
        {
            w.WriteStartObject("stale");
            w.WriteNumber("count", stale.Count);
            w.WriteStartArray("reports");
            foreach (var r in stale.Reports)
            {
                w.WriteStartObject();
                w.WriteNumber("line", r.Line);
                w.WriteString("op", ResultNames.Op(r.Op));
                w.WriteString("va", $"0x{r.Va:x}");
                w.WriteNumber("el", r.El);
                w.WriteString("source", r.Source);
                w.WriteString("cached", StaleTranslation.Describe(r.CachedOk, r.CachedPa, r.CachedFault));
                w.WriteString("tables", StaleTranslation.Describe(r.TablesOk, r.TablesPa, r.TablesFault));
                w.WriteNumber("writeLine", r.WriteLine);
                if (r.Register is not null)
                {
                    w.WriteString("register", r.Register);
                }
                else if (r.WriteLine > 0)
                {
                    w.WriteString("descriptorPa", $"0x{r.WritePa:x}");
                }
                w.WriteString("fix", r.Fix);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
    }

    private static void WriteRatio(Utf8JsonWriter w, string name, long a, long b)
    {
        if (b == 0)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteNumber(name, Math.Round((double)a / b, 6));
        }
    }

    private static void Counters(Utf8JsonWriter w, StructureStats st)
    {
        w.WriteNumber("lookups", st.Lookups);
        w.WriteNumber("hits", st.Hits);
        w.WriteNumber("misses", st.Misses);
        w.WriteNumber("fills", st.Fills);
        w.WriteNumber("evictions", st.Evictions);
        w.WriteNumber("invalidations", st.Invalidations);
    }

    private static void Served(Utf8JsonWriter w, string name, string kind, long count)
    {
        w.WriteStartObject();
        w.WriteString("by", name);
        w.WriteString("kind", kind);
        w.WriteNumber("count", count);
        w.WriteEndObject();
    }
}
