using System.Text.Json;
using MmuSim.Bits;

namespace MmuSim.Reporting;

/// <summary>One run of a report: a `replay --json` summary (or one PE of it) under the name the report shows.</summary>
/// <param name="Name">What the report calls the run: the summary file's name, the sweep's configuration, "… PE n".</param>
/// <param name="Source">The file it was read from (or the trace a replay read).</param>
public sealed record ReportRun(string Name, string Source, RunSummary Summary);

/// <summary>
/// The figures of one run that a report shows, as the `--json` summary (schema mmusim.summary/1,
/// docs/translation-cost.md) names them. Fields a summary may lack (an older summary, a PE's part of a multi-PE
/// summary) are null or empty.
/// </summary>
public sealed record RunSummary
{
    public string Model { get; init; } = "";
    public long? Lines { get; init; }
    public long Accesses { get; init; }
    public long Reads { get; init; }
    public long Writes { get; init; }
    public long Fetches { get; init; }
    public long AtInstructions { get; init; }
    public long Tlbis { get; init; }
    public long Faults { get; init; }
    public long InputFaults { get; init; }
    public long TlbHits { get; init; }
    public long Walks { get; init; }
    public long Walks1D { get; init; }
    public long Walks2D { get; init; }
    public long DescriptorReads { get; init; }
    public long DescriptorReads1D { get; init; }
    public long DescriptorReads2D { get; init; }
    public double? ReadsPerWalk1D { get; init; }
    public double? ReadsPerWalk2D { get; init; }
    public long TranslationCycles { get; init; }
    public double? CyclesPerAccess { get; init; }
    public bool StoppedOnFault { get; init; }
    public IReadOnlyList<FaultCell> FaultsByKind { get; init; } = [];
    public IReadOnlyList<StructureFigures> Structures { get; init; } = [];
    public IReadOnlyList<ServedFigure> ServedBy { get; init; } = [];
    public WalkCycleFigures? WalkCycles { get; init; }

    /// <summary>"additive" or "timeline" (`timing`); null in older summaries and in a multi-PE summary's totals of mixed runs.</summary>
    public string? Timing { get; init; }

    /// <summary>The timeline's figures (`timeline`, with --timing timeline), or null.</summary>
    public TimelineFigures? Timeline { get; init; }
}

/// <summary>
/// A `timeline` object (docs/translation-cost.md): stalls, walk wait and service, walks in service over time, merged
/// misses, descriptor-level parallelism. Figures a multi-PE total cannot be made from its PEs' are null.
/// </summary>
/// <param name="WalksInFlight">Cycles with 0, 1, 2, … walks in service.</param>
public sealed record TimelineFigures(long? TotalCycles, long StalledCycles, long WindowStallCycles, long QueueStallCycles,
    DistributionFigures WalkWait, DistributionFigures WalkService, IReadOnlyList<long> WalksInFlight, double? MeanWalksInFlight,
    double? WalkerOccupancy, double? MeanQueue, long MergedMisses, double? DescriptorMlp, long SharedLineWaits, long MissBufferWaits,
    long MemoryWaits);

/// <summary>A distribution as the summary gives it (count, total, mean, nearest-rank percentiles, max); null where a total cannot know it.</summary>
public sealed record DistributionFigures(long Count, long Total, double Mean, long? P50, long? P90, long? P99, long Max);

/// <summary>A `faultsByKind` cell: type, stage, level (null: none, alignment), count and its first lines.</summary>
public sealed record FaultCell(string Type, int Stage, int? Level, long Count, IReadOnlyList<FaultLineFigure> FirstLines);

/// <summary>One of a fault cell's first lines (`firstLines`).</summary>
public sealed record FaultLineFigure(long Line, string Op, string Va, int El);

/// <summary>A TLB, walk cache, IPA cache or walker cache: its lookups, hits, misses and evictions.</summary>
/// <param name="Kind">"TLB data" (serves), "walk cache S1", "IPA cache", "walker cache".</param>
public sealed record StructureFigures(string Name, string Kind, long Lookups, long Hits, long Misses, long Evictions)
{
    /// <summary>Hits per lookup, null without lookups.</summary>
    public double? HitRate => Lookups == 0 ? null : (double)Hits / Lookups;
}

/// <summary>A `descriptorReadsServedBy` entry: where descriptor reads were served (or made unnecessary).</summary>
public sealed record ServedFigure(string By, string Kind, long Count);

/// <summary>
/// `walkCycles`: the distribution of each walk's cycles; <see cref="Histogram"/> is empty in older summaries (and a
/// multi-PE total made from such summaries has no percentiles).
/// </summary>
public sealed record WalkCycleFigures(long Count, long Total, double Mean, long? P50, long? P90, long? P99, long Max,
    IReadOnlyList<(long Cycles, long Count)> Histogram);

/// <summary>The miss-ratio curves of one `mmusim mrc` JSON file.</summary>
/// <param name="PageSize">4096, … or "mixed", as the file writes it.</param>
/// <param name="Error">The file's "error" (mrc stopped early: bad input, the memory cap, a signal): the curves cover only what came before it.</param>
public sealed record MrcCurveSet(string Source, IReadOnlyList<string> Inputs, string PageSize, long Footprint, IReadOnlyList<MrcCurve> Curves, string? Error = null);

/// <summary>One curve: its name ("fully-associative", "sets=64", "l2-of-l1-misses"), sets, and misses per size.</summary>
public sealed record MrcCurve(string Name, long Sets, IReadOnlyList<MrcPoint> Points);

/// <summary>The misses of a TLB of <see cref="Entries"/> entries over <see cref="Accesses"/> accesses.</summary>
public sealed record MrcPoint(long Entries, long Misses, long Accesses)
{
    public double MissRatio => Accesses == 0 ? 0 : (double)Misses / Accesses;
}

/// <summary>What report inputs hold: runs and miss-ratio curves, in the order the files were named.</summary>
public sealed class ReportInputs
{
    public List<ReportRun> Runs { get; } = [];
    public List<MrcCurveSet> Curves { get; } = [];

    /// <summary>
    /// Reads <paramref name="path"/> and adds what it holds. Its kind comes from its "tool" field ("mmusim mrc";
    /// "mmusim sweep" or "mmusim merge", whose "runs" hold summaries) or, without one, from the summary's "schema".
    /// Throws <see cref="ConfigException"/> (file, line and column for bad JSON; file and key path otherwise).
    /// </summary>
    public void Load(string path) => Load(path, File.ReadAllBytes(path));

    /// <summary>As <see cref="Load(string)"/>, from bytes already read (<paramref name="source"/> names them in errors).</summary>
    public void Load(string source, byte[] utf8)
    {
        using var doc = Parse(source, utf8);
        var r = new Reader(source);
        var root = doc.RootElement;
        if (root.TryGetProperty("tool", out var tool))
        {
            string name = r.String(tool, "tool");
            switch (name)
            {
                case "mmusim mrc":
                    Curves.Add(r.Mrc(root));
                    return;
                case "mmusim sweep" or "mmusim merge":
                    AddSweep(r, root);
                    return;
                default:
                    throw new ConfigException(source, "tool", $"'{PrintableText.Escape(name)}' is not a file a report reads (mmusim mrc, mmusim sweep, mmusim merge)");
            }
        }
        if (root.TryGetProperty("schema", out var schema) && schema.ValueKind == JsonValueKind.String && schema.GetString() == SummaryJson.Schema)
        {
            AddSummary(r, root, RunName(source), "");
            return;
        }
        throw new ConfigException(source, null, $"neither a \"tool\" field nor \"schema\": \"{SummaryJson.Schema}\": not a file a report reads");
    }

    /// <summary>Adds a `replay --json` summary (<paramref name="utf8"/>) as the run (or runs, one per PE) <paramref name="runName"/>.</summary>
    public void LoadSummary(string runName, string source, byte[] utf8)
    {
        using var doc = Parse(source, utf8);
        AddSummary(new Reader(source), doc.RootElement, runName, "");
    }

    private static JsonDocument Parse(string source, byte[] utf8)
    {
        if (Utf8Text.FirstInvalid(utf8) is var (badLine, badColumn))
        {
            throw new ConfigException(new SourcePos(source, badLine, badColumn), "invalid JSON: this byte is not UTF-8 text");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(utf8);
        }
        catch (JsonException e)
        {
            throw new ConfigException(new SourcePos(source, (int)(e.LineNumber ?? 0) + 1, (int)(e.BytePositionInLine ?? 0) + 1),
                $"invalid JSON: {FirstSentence(e.Message)}");
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw new ConfigException(source, null, "not a JSON object (a `replay --json` summary, an mrc, sweep or merge file)");
        }
        return doc;
    }

    /// <summary>A summary file's run name: its file name without ".json".</summary>
    private static string RunName(string path)
    {
        string name = Path.GetFileName(path);
        return name.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? name[..^5] : name;
    }

    private void AddSweep(Reader r, JsonElement root)
    {
        var runs = r.Array(root, "runs", "");
        // A configuration replayed over several trace sets is named with its traces, so every run has its own name.
        var configs = new List<(string Config, string Traces, JsonElement Summary, string Key)>();
        int i = 0;
        foreach (var run in runs.EnumerateArray())
        {
            string key = $"runs[{i++}]";
            string config = r.String(r.Get(run, "config", key), key + ".config");
            string traces = run.TryGetProperty("trace", out var t) && t.ValueKind == JsonValueKind.Array
                ? string.Join(" ", t.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => Path.GetFileName(e.GetString()!)))
                : "";
            configs.Add((config, traces, r.Get(run, "summary", key), key + ".summary"));
        }
        foreach (var (config, traces, summary, key) in configs)
        {
            bool shared = configs.Count(c => c.Config == config) > 1;
            AddSummary(r, summary, shared && traces.Length != 0 ? $"{config} ({traces})" : config, key);
        }
    }

    /// <summary>A summary as one run, or, for a multi-PE summary (with "perPe"), as one run per PE.</summary>
    private void AddSummary(Reader r, JsonElement summary, string name, string key)
    {
        if (summary.ValueKind != JsonValueKind.Object)
        {
            throw new ConfigException(r.Source, key.Length == 0 ? null : key, "not a summary object");
        }
        string model = summary.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.Object
            && m.TryGetProperty("name", out var mn) && mn.ValueKind == JsonValueKind.String ? mn.GetString()! : "";
        bool stopped = summary.TryGetProperty("stoppedOnFault", out var st) && st.ValueKind == JsonValueKind.True;
        if (summary.TryGetProperty("perPe", out var perPe) && perPe.ValueKind == JsonValueKind.Array)
        {
            var pes = new List<RunSummary>();
            int i = 0;
            foreach (var pe in perPe.EnumerateArray())
            {
                string peKey = Dot(key, $"perPe[{i++}]");
                long cpu = r.Long(r.Get(pe, "cpu", peKey), peKey + ".cpu");
                var run = new ReportRun($"{name} PE {cpu}", r.Source, r.Summary(pe, peKey, model, stopped));
                Runs.Add(run);
                pes.Add(run.Summary);
            }
            // The whole run beside its PEs: the summary's own totals, and what adds up across PEs.
            Runs.Add(new ReportRun($"{name} total", r.Source, MultiPeTotal.Of(r.Summary(summary, key, model, stopped), pes)));
            return;
        }
        Runs.Add(new ReportRun(name, r.Source, r.Summary(summary, key, model, stopped)));
    }

    private static string Dot(string key, string field) => key.Length == 0 ? field : $"{key}.{field}";

    private static string FirstSentence(string m)
    {
        int cut = m.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return cut > 0 ? m[..cut].TrimEnd('.', ' ') : m;
    }

    /// <summary>Reads the fields of one file, naming the file and the key path of whatever is missing or mistyped.</summary>
    private sealed class Reader(string source)
    {
        public string Source { get; } = source;

        public JsonElement Get(JsonElement o, string field, string key)
        {
            if (o.ValueKind != JsonValueKind.Object)
            {
                throw new ConfigException(Source, key.Length == 0 ? null : key, "not an object");
            }
            if (!o.TryGetProperty(field, out var v))
            {
                throw new ConfigException(Source, Dot(key, field), "missing");
            }
            return v;
        }

        public JsonElement Array(JsonElement o, string field, string key)
        {
            var v = Get(o, field, key);
            return v.ValueKind == JsonValueKind.Array ? v : throw new ConfigException(Source, Dot(key, field), "not an array");
        }

        public string String(JsonElement v, string key) =>
            v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new ConfigException(Source, key, "not a string");

        public long Long(JsonElement v, string key) =>
            v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n) && n >= 0 ? n
                : throw new ConfigException(Source, key, "not a count (a whole number, 0 or more)");

        private long Long(JsonElement o, string field, string key) => Long(Get(o, field, key), Dot(key, field));

        private double? Ratio(JsonElement o, string field, string key)
        {
            if (!o.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
            {
                return null;
            }
            return v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw new ConfigException(Source, Dot(key, field), "not a number or null");
        }

        /// <summary>The report's figures of a summary object (a whole summary or a PE's part of one).</summary>
        public RunSummary Summary(JsonElement s, string key, string model, bool stopped)
        {
            var structures = new List<StructureFigures>();
            if (s.TryGetProperty("tlbs", out _))
            {
                int i = 0;
                foreach (var t in Array(s, "tlbs", key).EnumerateArray())
                {
                    string k = Dot(key, $"tlbs[{i++}]");
                    structures.Add(Structure(t, k, "TLB " + String(Get(t, "serves", k), k + ".serves")));
                }
                i = 0;
                foreach (var c in Array(s, "walkCaches", key).EnumerateArray())
                {
                    string k = Dot(key, $"walkCaches[{i++}]");
                    structures.Add(Structure(c, k, $"walk cache S{Long(c, "stage", k)}"));
                }
                if (s.TryGetProperty("ipaCache", out var ipa) && ipa.ValueKind == JsonValueKind.Object)
                {
                    structures.Add(Structure(ipa, Dot(key, "ipaCache"), "IPA cache"));
                }
                i = 0;
                foreach (var c in Array(s, "walkerCaches", key).EnumerateArray())
                {
                    structures.Add(Structure(c, Dot(key, $"walkerCaches[{i++}]"), "walker cache"));
                }
            }
            var served = new List<ServedFigure>();
            if (s.TryGetProperty("descriptorReadsServedBy", out _))
            {
                int i = 0;
                foreach (var e in Array(s, "descriptorReadsServedBy", key).EnumerateArray())
                {
                    string k = Dot(key, $"descriptorReadsServedBy[{i++}]");
                    served.Add(new ServedFigure(String(Get(e, "by", k), k + ".by"), String(Get(e, "kind", k), k + ".kind"), Long(e, "count", k)));
                }
            }
            var faults = new List<FaultCell>();
            {
                int i = 0;
                foreach (var f in Array(s, "faultsByKind", key).EnumerateArray())
                {
                    string k = Dot(key, $"faultsByKind[{i++}]");
                    var lv = Get(f, "level", k);
                    int? level = lv.ValueKind == JsonValueKind.Null ? null : (int)Long(lv, k + ".level");
                    var lines = new List<FaultLineFigure>();
                    if (f.TryGetProperty("firstLines", out _))
                    {
                        int j = 0;
                        foreach (var l in Array(f, "firstLines", k).EnumerateArray())
                        {
                            string lk = $"{k}.firstLines[{j++}]";
                            lines.Add(new FaultLineFigure(Long(l, "line", lk), String(Get(l, "op", lk), lk + ".op"),
                                String(Get(l, "va", lk), lk + ".va"), (int)Long(l, "el", lk)));
                        }
                    }
                    faults.Add(new FaultCell(String(Get(f, "type", k), k + ".type"), (int)Long(f, "stage", k), level, Long(f, "count", k), lines));
                }
            }
            WalkCycleFigures? walk = null;
            if (s.TryGetProperty("walkCycles", out var wc))
            {
                string k = Dot(key, "walkCycles");
                var histogram = new List<(long, long)>();
                if (wc.TryGetProperty("histogram", out _))
                {
                    int j = 0;
                    foreach (var b in Array(wc, "histogram", k).EnumerateArray())
                    {
                        string bk = $"{k}.histogram[{j++}]";
                        histogram.Add((Long(b, "cycles", bk), Long(b, "count", bk)));
                    }
                }
                var mean = Get(wc, "mean", k);
                walk = new WalkCycleFigures(Long(wc, "count", k), Long(wc, "total", k),
                    mean.ValueKind == JsonValueKind.Number ? mean.GetDouble() : throw new ConfigException(Source, k + ".mean", "not a number"),
                    Long(wc, "p50", k), Long(wc, "p90", k), Long(wc, "p99", k), Long(wc, "max", k), histogram);
            }
            string? timing = s.TryGetProperty("timing", out var tm) ? String(tm, Dot(key, "timing")) : null;
            TimelineFigures? timeline = null;
            if (s.TryGetProperty("timeline", out var tl) && tl.ValueKind != JsonValueKind.Null)
            {
                string k = Dot(key, "timeline");
                var inFlight = new List<long>();
                int j = 0;
                foreach (var c in Array(tl, "walksInFlight", k).EnumerateArray())
                {
                    inFlight.Add(Long(c, $"{k}.walksInFlight[{j++}]"));
                }
                timeline = new TimelineFigures(Long(tl, "totalCycles", k), Long(tl, "stalledCycles", k), Long(tl, "windowStallCycles", k),
                    Long(tl, "queueStallCycles", k), Distribution(tl, "walkWait", k), Distribution(tl, "walkService", k), inFlight,
                    Ratio(tl, "meanWalksInFlight", k), Ratio(tl, "walkerOccupancy", k), Ratio(tl, "meanQueue", k), Long(tl, "mergedMisses", k),
                    Ratio(tl, "descriptorMlp", k), Long(tl, "sharedLineWaits", k), Long(tl, "missBufferWaits", k), Long(tl, "memoryWaits", k));
            }
            return new RunSummary
            {
                Timing = timing,
                Timeline = timeline,
                Model = model,
                Lines = s.TryGetProperty("lines", out _) ? Long(s, "lines", key) : null,
                Accesses = Long(s, "accesses", key),
                Reads = Long(s, "reads", key),
                Writes = Long(s, "writes", key),
                Fetches = Long(s, "fetches", key),
                AtInstructions = Long(s, "atInstructions", key),
                Tlbis = Long(s, "tlbis", key),
                Faults = Long(s, "faults", key),
                InputFaults = Long(s, "inputFaults", key),
                TlbHits = Long(s, "tlbHits", key),
                Walks = Long(s, "walks", key),
                Walks1D = Long(s, "walks1D", key),
                Walks2D = Long(s, "walks2D", key),
                DescriptorReads = Long(s, "descriptorReads", key),
                DescriptorReads1D = Long(s, "descriptorReads1D", key),
                DescriptorReads2D = Long(s, "descriptorReads2D", key),
                ReadsPerWalk1D = Ratio(s, "readsPerWalk1D", key),
                ReadsPerWalk2D = Ratio(s, "readsPerWalk2D", key),
                TranslationCycles = Long(s, "translationCycles", key),
                CyclesPerAccess = Ratio(s, "cyclesPerAccess", key),
                StoppedOnFault = stopped,
                FaultsByKind = faults,
                Structures = structures,
                ServedBy = served,
                WalkCycles = walk,
            };
        }

        private DistributionFigures Distribution(JsonElement o, string field, string key)
        {
            string k = Dot(key, field);
            var d = Get(o, field, key);
            var mean = Get(d, "mean", k);
            return new DistributionFigures(Long(d, "count", k), Long(d, "total", k),
                mean.ValueKind == JsonValueKind.Number ? mean.GetDouble() : throw new ConfigException(Source, k + ".mean", "not a number"),
                Long(d, "p50", k), Long(d, "p90", k), Long(d, "p99", k), Long(d, "max", k));
        }

        private StructureFigures Structure(JsonElement o, string key, string kind) =>
            new(String(Get(o, "name", key), key + ".name"), kind, Long(o, "lookups", key), Long(o, "hits", key), Long(o, "misses", key), Long(o, "evictions", key));

        public MrcCurveSet Mrc(JsonElement root)
        {
            var inputs = new List<string>();
            int i = 0;
            foreach (var e in Array(root, "inputs", "").EnumerateArray())
            {
                inputs.Add(String(e, $"inputs[{i++}]"));
            }
            var ps = Get(root, "pageSize", "");
            string pageSize = ps.ValueKind == JsonValueKind.String ? ps.GetString()! : Long(ps, "pageSize").ToString(System.Globalization.CultureInfo.InvariantCulture);
            var curves = new List<MrcCurve>();
            i = 0;
            foreach (var c in Array(root, "curves", "").EnumerateArray())
            {
                string k = $"curves[{i++}]";
                var points = new List<MrcPoint>();
                int j = 0;
                foreach (var p in Array(c, "points", k).EnumerateArray())
                {
                    string pk = $"{k}.points[{j++}]";
                    points.Add(new MrcPoint(Long(p, "entries", pk), Long(p, "misses", pk), Long(p, "accesses", pk)));
                }
                curves.Add(new MrcCurve(String(Get(c, "name", k), k + ".name"), Long(c, "sets", k), points));
            }
            string? error = root.TryGetProperty("error", out var err) ? String(err, "error") : null;
            return new MrcCurveSet(Source, inputs, pageSize, Long(root, "footprint", ""), curves, error);
        }
    }
}

/// <summary>
/// The total of a multi-PE run: the summary's own whole-run figures (accesses, walks, cycles, faults, …) with what
/// only its PEs carry added up across them. Structures and where reads were served add up by name (each PE has its
/// own). Walk latency merges the PEs' exact histograms, so its percentiles are exact; without histograms they stay
/// unknown. On the timeline, stalls, waits, merges and walk wait and service add up, a distribution's mean is its
/// total over its count and its maximum the largest; the run's length, walks in flight, occupancy, queue, MLP and
/// percentiles are each PE's own and are left out.
/// </summary>
internal static class MultiPeTotal
{
    public static RunSummary Of(RunSummary top, IReadOnlyList<RunSummary> pes)
    {
        var structures = new List<StructureFigures>();
        foreach (var st in pes.SelectMany(p => p.Structures))
        {
            int i = structures.FindIndex(x => x.Name == st.Name);
            if (i < 0)
            {
                structures.Add(st);
            }
            else
            {
                var a = structures[i];
                structures[i] = a with { Lookups = a.Lookups + st.Lookups, Hits = a.Hits + st.Hits, Misses = a.Misses + st.Misses, Evictions = a.Evictions + st.Evictions };
            }
        }
        var served = new List<ServedFigure>();
        foreach (var e in pes.SelectMany(p => p.ServedBy))
        {
            int i = served.FindIndex(x => x.By == e.By);
            if (i < 0)
            {
                served.Add(e);
            }
            else
            {
                served[i] = served[i] with { Count = served[i].Count + e.Count };
            }
        }
        string? timing = pes.Count != 0 && pes.All(p => p.Timing == pes[0].Timing) ? pes[0].Timing : null;
        return top with
        {
            Structures = structures,
            ServedBy = served,
            WalkCycles = WalkCycles(pes.Select(p => p.WalkCycles).OfType<WalkCycleFigures>().ToList()),
            Timing = timing,
            Timeline = pes.Count != 0 && pes.All(p => p.Timeline is not null) ? Timeline(pes.Select(p => p.Timeline!).ToList()) : null,
        };
    }

    private static WalkCycleFigures? WalkCycles(List<WalkCycleFigures> pes)
    {
        if (pes.Count == 0)
        {
            return null;
        }
        long count = pes.Sum(p => p.Count), total = pes.Sum(p => p.Total), max = pes.Max(p => p.Max);
        double mean = count == 0 ? 0 : Math.Round((double)total / count, 4);
        // An exact histogram each (a PE without walks has none): the merged one gives exact percentiles.
        if (pes.Any(p => p.Count != 0 && p.Histogram.Count == 0))
        {
            return new WalkCycleFigures(count, total, mean, null, null, null, max, []);
        }
        var merged = pes.SelectMany(p => p.Histogram).GroupBy(b => b.Cycles).Select(g => (Cycles: g.Key, Count: g.Sum(b => b.Count)))
            .OrderBy(b => b.Cycles).ToList();
        return new WalkCycleFigures(count, total, mean, Percentile(merged, count, 50), Percentile(merged, count, 90), Percentile(merged, count, 99), max, merged);
    }

    /// <summary>Nearest rank, as the summary computes it: the smallest value with at least p% of the samples at or below it (0 when empty).</summary>
    internal static long Percentile(IReadOnlyList<(long Cycles, long Count)> histogram, long count, double p)
    {
        if (count == 0)
        {
            return 0;
        }
        long rank = Math.Max(1, (long)Math.Ceiling(p / 100.0 * count));
        long seen = 0;
        foreach (var (cycles, n) in histogram)
        {
            seen += n;
            if (seen >= rank)
            {
                return cycles;
            }
        }
        return histogram.Count == 0 ? 0 : histogram[^1].Cycles;
    }

    private static TimelineFigures Timeline(List<TimelineFigures> pes) => new(null, pes.Sum(p => p.StalledCycles),
        pes.Sum(p => p.WindowStallCycles), pes.Sum(p => p.QueueStallCycles), Distribution(pes.Select(p => p.WalkWait)),
        Distribution(pes.Select(p => p.WalkService)), [], null, null, null, pes.Sum(p => p.MergedMisses), null,
        pes.Sum(p => p.SharedLineWaits), pes.Sum(p => p.MissBufferWaits), pes.Sum(p => p.MemoryWaits));

    private static DistributionFigures Distribution(IEnumerable<DistributionFigures> pes)
    {
        var all = pes.ToList();
        long count = all.Sum(d => d.Count), total = all.Sum(d => d.Total);
        return new DistributionFigures(count, total, count == 0 ? 0 : Math.Round((double)total / count, 4), null, null, null, all.Max(d => d.Max));
    }
}
