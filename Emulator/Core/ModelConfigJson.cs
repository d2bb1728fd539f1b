using System.Numerics;
using System.Text.Json;
using MmuSim.Bits;
using MmuSim.Caching;
using MmuSim.Timing;

namespace MmuSim.Core;

/// <summary>
/// Reads and writes <see cref="ModelConfig"/> as JSON (schema in docs/translation-cost.md). Every key is checked:
/// unknown keys, wrong types and impossible geometries are errors naming the key path, e.g.
/// <c>cfg.json: tlbs[2].ways: 3 does not divide entries (1280)</c>.
/// </summary>
public static class ModelConfigJson
{
    private static readonly string[] TopKeys = ["$schema", "description", "name", "tlbs", "walkCaches", "ipaCache", "walkerCaches", "memoryLatency", "coalesceContiguous", "modelDataCaches", "timeline", "maintenance"];
    private static readonly string[] TimelineKeys = ["window", "issueInterval", "issueWidth", "walkers", "walkQueue", "walkerCacheMisses", "memoryRequests"];
    private static readonly string[] MaintenanceKeys = ["localTlbi", "broadcastTlbi", "broadcastDsb"];
    private static readonly string[] TlbKeys = ["name", "serves", "entries", "ways", "latency", "policy", "seed"];
    private static readonly string[] WalkCacheKeys = ["name", "stage", "levels", "entries", "ways", "latency", "policy", "seed"];
    private static readonly string[] IpaCacheKeys = ["name", "entries", "ways", "latency", "policy", "seed"];
    private static readonly string[] WalkerCacheKeys = ["name", "sizeBytes", "ways", "lineBytes", "latency", "policy", "seed"];

    /// <summary>
    /// Most entries (TLBs, walk caches, IPA cache) and walker-cache lines one model may hold in all: 2^22, a thousand
    /// times a large core's, so a configuration cannot make a run allocate gigabytes before its first access.
    /// </summary>
    public const long MaxModelUnits = 1L << 22;

    /// <summary>Loads a configuration file.</summary>
    public static ModelConfig Load(string path)
    {
        return Parse(BoundedFile.ReadAll(path), path);
    }

    /// <summary>Parses a configuration; <paramref name="source"/> names it in errors.</summary>
    public static ModelConfig Parse(ReadOnlySpan<byte> utf8, string source)
    {
        if (Utf8Text.FirstInvalid(utf8) is var (badLine, badColumn))
        {
            throw new ConfigException(new SourcePos(source, badLine, badColumn), "invalid JSON: this byte is not UTF-8 text");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(utf8.ToArray(), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ConfigException(new SourcePos(source, (int)(e.LineNumber ?? 0) + 1, (int)(e.BytePositionInLine ?? 0) + 1), $"invalid JSON: {FirstSentence(e.Message)}");
        }
        using (doc)
        {
            return new Reader(source).Config(doc.RootElement);
        }
    }

    private static string FirstSentence(string m)
    {
        int i = m.IndexOf(" Path:", StringComparison.Ordinal);
        return i > 0 ? m[..i] : m;
    }

    private sealed class Reader(string source)
    {
        private readonly HashSet<string> _names = new(StringComparer.Ordinal);

        /// <summary>An error at <paramref name="path"/> ("" for the document itself).</summary>
        private ConfigException Error(string path, string reason) => new(source, path.Length == 0 ? null : path, reason);

        private void CheckKeys(JsonElement obj, string path, string[] allowed)
        {
            if (obj.ValueKind != JsonValueKind.Object)
            {
                throw Error(path, $"must be an object, got {Kind(obj)}");
            }
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in obj.EnumerateObject())
            {
                if (System.Array.IndexOf(allowed, p.Name) < 0)
                {
                    throw Error(Join(path, p.Name), $"unknown key (allowed: {string.Join(", ", allowed.Where(k => k[0] != '$'))})");
                }
                if (!seen.Add(p.Name))
                {
                    // JSON leaves duplicates to the reader (RFC 8259 §4); the later one would win without a word.
                    throw Error(Join(path, p.Name), "is given twice");
                }
            }
        }

        private static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

        private static string Kind(JsonElement e) => e.ValueKind switch
        {
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "an array",
            JsonValueKind.String => $"the string \"{e.GetString()}\"",
            JsonValueKind.Number => $"the number {e.GetRawText()}",
            JsonValueKind.True or JsonValueKind.False => $"{e.GetRawText()}",
            _ => "null",
        };

        private long Integer(JsonElement obj, string path, string key, long min, long max, long? fallback = null)
        {
            if (!obj.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
            {
                return fallback ?? throw Error(Join(path, key), "is required");
            }
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long n))
            {
                throw Error(Join(path, key), $"must be an integer, got {Kind(v)}");
            }
            if (n < min || n > max)
            {
                throw Error(Join(path, key), $"must be in {min}..{max}, got {n}");
            }
            return n;
        }

        private ulong Seed(JsonElement obj, string path)
        {
            if (!obj.TryGetProperty("seed", out var v) || v.ValueKind == JsonValueKind.Null)
            {
                return 1;
            }
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetUInt64(out ulong n))
            {
                throw Error(Join(path, "seed"), $"must be an unsigned integer, got {Kind(v)}");
            }
            return n;
        }

        private bool Boolean(JsonElement obj, string path, string key, bool fallback)
        {
            if (!obj.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
            {
                return fallback;
            }
            if (v.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                throw Error(Join(path, key), $"must be true or false, got {Kind(v)}");
            }
            return v.GetBoolean();
        }

        private string Name(JsonElement obj, string path, string? fallback = null)
        {
            string name;
            if (!obj.TryGetProperty("name", out var v) || v.ValueKind == JsonValueKind.Null)
            {
                name = fallback ?? throw Error(Join(path, "name"), "is required");
            }
            else if (v.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(v.GetString()))
            {
                throw Error(Join(path, "name"), $"must be a non-empty string, got {Kind(v)}");
            }
            else
            {
                name = v.GetString()!;
            }
            if (!_names.Add(name))
            {
                throw Error(Join(path, "name"), $"\"{name}\" names another structure already");
            }
            return name;
        }

        private ReplacementPolicy Policy(JsonElement obj, string path)
        {
            if (!obj.TryGetProperty("policy", out var v) || v.ValueKind == JsonValueKind.Null)
            {
                return ReplacementPolicies.Default;
            }
            if (v.ValueKind != JsonValueKind.String || !ReplacementPolicies.TryParse(v.GetString(), out var policy))
            {
                throw Error(Join(path, "policy"), $"must be {ReplacementPolicies.QuotedNames}, got {Kind(v)}");
            }
            return policy;
        }

        /// <summary>entries and ways, with ways dividing entries (ways = entries: fully associative).</summary>
        private (int Entries, int Ways) Geometry(JsonElement obj, string path)
        {
            int entries = (int)Integer(obj, path, "entries", 1, 1 << 24);
            int ways = (int)Integer(obj, path, "ways", 1, 1 << 24);
            if (ways > entries)
            {
                throw Error(Join(path, "ways"), $"{ways} is more than entries ({entries})");
            }
            if (entries % ways != 0)
            {
                throw Error(Join(path, "ways"), $"{ways} does not divide entries ({entries})");
            }
            return (entries, ways);
        }

        private List<JsonElement> Array(JsonElement root, string key)
        {
            if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
            {
                return [];
            }
            if (v.ValueKind != JsonValueKind.Array)
            {
                throw Error(key, $"must be an array, got {Kind(v)}");
            }
            return v.EnumerateArray().ToList();
        }

        /// <summary>Entries of every TLB, walk cache and IPA cache and lines of every walker cache, read so far.</summary>
        private long _units;

        private void Count(long units, string path)
        {
            _units += units;
            if (_units > MaxModelUnits)
            {
                throw Error(path, $"the model would hold more than {MaxModelUnits} entries and cache lines in all (each structure's state is kept in memory); no core has that many");
            }
        }

        public ModelConfig Config(JsonElement root)
        {
            CheckKeys(root, "", TopKeys);
            string name = root.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : Path.GetFileNameWithoutExtension(source);
            if (root.TryGetProperty("name", out var nn) && nn.ValueKind != JsonValueKind.String)
            {
                throw Error("name", $"must be a string, got {Kind(nn)}");
            }

            var tlbs = new List<TlbConfig>();
            var list = Array(root, "tlbs");
            for (int i = 0; i < list.Count; i++)
            {
                string path = $"tlbs[{i}]";
                var o = list[i];
                CheckKeys(o, path, TlbKeys);
                string tname = Name(o, path);
                if (!o.TryGetProperty("serves", out var sv))
                {
                    throw Error(Join(path, "serves"), "is required");
                }
                var serves = (sv.ValueKind == JsonValueKind.String ? sv.GetString()!.ToLowerInvariant() : null) switch
                {
                    "instruction" => TlbServes.Instruction,
                    "data" => TlbServes.Data,
                    "unified" => TlbServes.Unified,
                    _ => throw Error(Join(path, "serves"), $"must be \"instruction\", \"data\" or \"unified\", got {Kind(sv)}"),
                };
                var (entries, ways) = Geometry(o, path);
                Count(entries, Join(path, "entries"));
                int latency = (int)Integer(o, path, "latency", 0, 1_000_000);
                tlbs.Add(new TlbConfig(tname, serves, entries, ways, latency, Policy(o, path), Seed(o, path)));
            }

            var walkCaches = new List<WalkCacheConfig>();
            list = Array(root, "walkCaches");
            for (int i = 0; i < list.Count; i++)
            {
                string path = $"walkCaches[{i}]";
                var o = list[i];
                CheckKeys(o, path, WalkCacheKeys);
                string wname = Name(o, path);
                int stage = (int)Integer(o, path, "stage", 1, 2);
                var levels = new List<int>();
                if (!o.TryGetProperty("levels", out var lv) || lv.ValueKind == JsonValueKind.Null)
                {
                    levels.AddRange([-1, 0, 1, 2]);
                }
                else if (lv.ValueKind != JsonValueKind.Array || lv.GetArrayLength() == 0)
                {
                    throw Error(Join(path, "levels"), $"must be a non-empty array of table levels (-1..2), got {Kind(lv)}");
                }
                else
                {
                    int j = 0;
                    foreach (var e in lv.EnumerateArray())
                    {
                        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int l) || l < -1 || l > 2)
                        {
                            throw Error($"{path}.levels[{j}]", $"must be a table level -1..2 (level 3 holds only leaves), got {Kind(e)}");
                        }
                        levels.Add(l);
                        j++;
                    }
                }
                var (entries, ways) = Geometry(o, path);
                Count(entries, Join(path, "entries"));
                int latency = (int)Integer(o, path, "latency", 0, 1_000_000);
                walkCaches.Add(new WalkCacheConfig(wname, stage, levels.Distinct().Order().ToArray(), entries, ways, latency, Policy(o, path), Seed(o, path)));
            }

            IpaCacheConfig? ipa = null;
            if (root.TryGetProperty("ipaCache", out var ic) && ic.ValueKind != JsonValueKind.Null
                && !(ic.ValueKind == JsonValueKind.Object && !ic.EnumerateObject().Any()))
            {
                CheckKeys(ic, "ipaCache", IpaCacheKeys);
                string iname = Name(ic, "ipaCache", "IPA");
                var (entries, ways) = Geometry(ic, "ipaCache");
                Count(entries, "ipaCache.entries");
                int latency = (int)Integer(ic, "ipaCache", "latency", 0, 1_000_000);
                ipa = new IpaCacheConfig(iname, entries, ways, latency, Policy(ic, "ipaCache"), Seed(ic, "ipaCache"));
            }

            var walkerCaches = new List<WalkerCacheConfig>();
            list = Array(root, "walkerCaches");
            for (int i = 0; i < list.Count; i++)
            {
                string path = $"walkerCaches[{i}]";
                var o = list[i];
                CheckKeys(o, path, WalkerCacheKeys);
                string cname = Name(o, path);
                long size = Integer(o, path, "sizeBytes", 8, 1L << 40);
                int ways = (int)Integer(o, path, "ways", 1, 1 << 20);
                int line = (int)Integer(o, path, "lineBytes", 8, 1 << 20);
                if (!BitOperations.IsPow2(line))
                {
                    throw Error(Join(path, "lineBytes"), $"must be a power of two, got {line}");
                }
                if (size % ((long)ways * line) != 0 || size / ((long)ways * line) == 0)
                {
                    throw Error(Join(path, "sizeBytes"), $"{size} is not a whole number of sets of {ways} ways × {line}-byte lines");
                }
                if (size / ((long)ways * line) > int.MaxValue / ways)
                {
                    throw Error(Join(path, "sizeBytes"), $"{size} is too large");
                }
                Count(size / line, Join(path, "sizeBytes"));
                int latency = (int)Integer(o, path, "latency", 0, 1_000_000);
                walkerCaches.Add(new WalkerCacheConfig(cname, size, ways, line, latency, Policy(o, path), Seed(o, path)));
            }
            int memoryLatency = (int)Integer(root, "", "memoryLatency", 0, 1_000_000, 100);
            bool coalesce = Boolean(root, "", "coalesceContiguous", true);
            bool dataCaches = Boolean(root, "", "modelDataCaches", false);
            MaintenanceCosts? maintenance = null;
            if (root.TryGetProperty("maintenance", out var mc) && mc.ValueKind != JsonValueKind.Null)
            {
                CheckKeys(mc, "maintenance", MaintenanceKeys);
                var assumed = MaintenanceCosts.Assumed;
                maintenance = new MaintenanceCosts(
                    (int)Integer(mc, "maintenance", "localTlbi", 0, 1_000_000, assumed.LocalTlbi),
                    (int)Integer(mc, "maintenance", "broadcastTlbi", 0, 1_000_000, assumed.BroadcastTlbi),
                    (int)Integer(mc, "maintenance", "broadcastDsb", 0, 1_000_000, assumed.BroadcastDsb));
            }
            return new ModelConfig(name,
                new CachingConfig(tlbs, walkCaches, ipa, coalesce),
                new TimingConfig(walkerCaches, memoryLatency, dataCaches, Timeline(root), maintenance));
        }

        /// <summary>The <c>timeline</c> object (absent or null: none, the serial timeline).</summary>
        private TimelineConfig? Timeline(JsonElement root)
        {
            if (!root.TryGetProperty("timeline", out var t) || t.ValueKind == JsonValueKind.Null)
            {
                return null;
            }
            const string path = "timeline";
            CheckKeys(t, path, TimelineKeys);
            var d = TimelineConfig.Serial;
            return new TimelineConfig(
                Window: (int)Integer(t, path, "window", 1, TimelineConfig.MaxWindow, d.Window),
                IssueInterval: (int)Integer(t, path, "issueInterval", 0, 1_000_000, d.IssueInterval),
                IssueWidth: (int)Integer(t, path, "issueWidth", 1, 1024, d.IssueWidth),
                Walkers: (int)Integer(t, path, "walkers", 1, TimelineConfig.MaxWalkers, d.Walkers),
                WalkQueue: Limit(t, path, "walkQueue", 0),
                WalkerCacheMisses: Limit(t, path, "walkerCacheMisses", 1),
                MemoryRequests: Limit(t, path, "memoryRequests", 1));
        }

        /// <summary>An optional limit: absent or null means none.</summary>
        private int? Limit(JsonElement obj, string path, string key, int min) =>
            obj.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? (int)Integer(obj, path, key, min, 1_000_000) : null;
    }

    /// <summary>The fields every set-associative structure shares: ways, latency, policy (and a seeded policy's seed).</summary>
    private static void WriteGeometry(Utf8JsonWriter w, int ways, int latency, ReplacementPolicy policy, ulong seed)
    {
        w.WriteNumber("ways", ways);
        WriteLatencyAndPolicy(w, latency, policy, seed);
    }

    private static void WriteLatencyAndPolicy(Utf8JsonWriter w, int latency, ReplacementPolicy policy, ulong seed)
    {
        w.WriteNumber("latency", latency);
        var info = ReplacementPolicies.Of(policy);
        w.WriteString("policy", info.Name);
        if (info.Seeded)
        {
            w.WriteNumber("seed", seed);
        }
    }

    /// <summary>Writes <paramref name="c"/> in the schema <see cref="Parse"/> reads (what `--json` echoes as "model").</summary>
    public static void Write(Utf8JsonWriter w, ModelConfig c)
    {
        w.WriteStartObject();
        w.WriteString("name", c.Name);
        w.WriteStartArray("tlbs");
        foreach (var t in c.Caching.Tlbs)
        {
            w.WriteStartObject();
            w.WriteString("name", t.Name);
            w.WriteString("serves", t.Serves.ToString().ToLowerInvariant());
            w.WriteNumber("entries", t.Entries);
            WriteGeometry(w, t.Ways, t.Latency, t.Policy, t.Seed);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("walkCaches");
        foreach (var t in c.Caching.WalkCaches)
        {
            w.WriteStartObject();
            w.WriteString("name", t.Name);
            w.WriteNumber("stage", t.Stage);
            w.WriteStartArray("levels");
            foreach (int l in t.Levels)
            {
                w.WriteNumberValue(l);
            }
            w.WriteEndArray();
            w.WriteNumber("entries", t.Entries);
            WriteGeometry(w, t.Ways, t.Latency, t.Policy, t.Seed);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (c.Caching.IpaCache is { } ipa)
        {
            w.WriteStartObject("ipaCache");
            w.WriteString("name", ipa.Name);
            w.WriteNumber("entries", ipa.Entries);
            WriteGeometry(w, ipa.Ways, ipa.Latency, ipa.Policy, ipa.Seed);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("ipaCache");
        }
        w.WriteStartArray("walkerCaches");
        foreach (var t in c.Timing.WalkerCaches)
        {
            w.WriteStartObject();
            w.WriteString("name", t.Name);
            w.WriteNumber("sizeBytes", t.SizeBytes);
            w.WriteNumber("ways", t.Ways);
            w.WriteNumber("lineBytes", t.LineBytes);
            WriteLatencyAndPolicy(w, t.Latency, t.Policy, t.Seed);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("memoryLatency", c.Timing.MemoryLatency);
        w.WriteBoolean("coalesceContiguous", c.Caching.CoalesceContiguous);
        w.WriteBoolean("modelDataCaches", c.Timing.ModelDataCaches);
        if (c.Timing.Timeline is { } tl)
        {
            w.WriteStartObject("timeline");
            w.WriteNumber("window", tl.Window);
            w.WriteNumber("issueInterval", tl.IssueInterval);
            w.WriteNumber("issueWidth", tl.IssueWidth);
            w.WriteNumber("walkers", tl.Walkers);
            WriteLimit(w, "walkQueue", tl.WalkQueue);
            WriteLimit(w, "walkerCacheMisses", tl.WalkerCacheMisses);
            WriteLimit(w, "memoryRequests", tl.MemoryRequests);
            w.WriteEndObject();
        }
        var m = c.Timing.MaintenanceCosts;
        w.WriteStartObject("maintenance");
        w.WriteNumber("localTlbi", m.LocalTlbi);
        w.WriteNumber("broadcastTlbi", m.BroadcastTlbi);
        w.WriteNumber("broadcastDsb", m.BroadcastDsb);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteLimit(Utf8JsonWriter w, string key, int? limit)
    {
        if (limit is int n)
        {
            w.WriteNumber(key, n);
        }
        else
        {
            w.WriteNull(key);
        }
    }

    /// <summary>The configuration as an indented JSON document.</summary>
    public static string ToJson(ModelConfig c)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            Write(w, c);
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }
}
