using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MmuSim.Bits;
using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Replay;
using MmuSim.Reporting;

namespace MmuSim.Analysis;

/// <summary>One configuration of a sweep, named as the tables name it.</summary>
public sealed record SweepConfig(string Name, ModelConfig Model);

/// <summary>One run of a sweep: a configuration over a group of traces (replayed in order as one stream).</summary>
/// <param name="Summary">The summary exactly as `replay --json` writes it (UTF-8 JSON).</param>
/// <param name="Error">What stopped the run early (bad input, the memory cap), or null.</param>
public sealed record SweepRun(string Config, IReadOnlyList<string> Traces, byte[] Summary, string? Error = null);

/// <summary>
/// Sweeps: the configurations a command line names (--config files, --preset names, and --vary over each of them)
/// and their replays, in parallel, of traces parsed once (<see cref="RecordedTrace"/>).
/// </summary>
public static class Sweep
{
    /// <summary>
    /// Every configuration of <paramref name="bases"/> × the values of each --vary (`PATH=V1,V2,...`, PATH in the
    /// model JSON's own syntax: `tlbs[2].entries`, `walkCaches[0].ways`, `memoryLatency`): the cross product, each
    /// checked as a configuration file is (<see cref="ConfigException"/> names the key), named `BASE` or
    /// `BASE:PATH=V,PATH=V`.
    /// </summary>
    public static IReadOnlyList<SweepConfig> Expand(IReadOnlyList<SweepConfig> bases, IReadOnlyList<string> vary)
    {
        var axes = new List<(string Path, string[] Values)>();
        foreach (var v in vary)
        {
            int eq = v.IndexOf('=');
            if (eq <= 0 || eq == v.Length - 1)
            {
                throw new ConfigException(null, "--vary", $"'{PrintableText.Escape(v)}' is not PATH=V1,V2,... (e.g. tlbs[2].entries=512,1024)");
            }
            string[] values = v[(eq + 1)..].Split(',', StringSplitOptions.TrimEntries);
            if (values.Any(x => x.Length == 0))
            {
                throw new ConfigException(null, "--vary", $"'{PrintableText.Escape(v)}' has an empty value");
            }
            axes.Add((v[..eq].Trim(), values));
        }
        var result = new List<SweepConfig>();
        foreach (var b in bases)
        {
            var combos = new List<List<(string Path, string Value)>> { new() };
            foreach (var (path, values) in axes)
            {
                combos = combos.SelectMany(c => values.Select(x => new List<(string, string)>(c) { (path, x) })).ToList();
            }
            foreach (var combo in combos)
            {
                if (combo.Count == 0)
                {
                    result.Add(b);
                    continue;
                }
                string name = b.Name + ":" + string.Join(",", combo.Select(c => $"{c.Path}={c.Value}"));
                var node = JsonNode.Parse(ModelConfigJson.ToJson(b.Model))!;
                foreach (var (path, value) in combo)
                {
                    Set(node, path, value);
                }
                node["name"] = name;
                result.Add(new SweepConfig(name, ModelConfigJson.Parse(Encoding.UTF8.GetBytes(node.ToJsonString()), $"--vary {name}")));
            }
        }
        var dup = result.GroupBy(c => c.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
        {
            throw new ConfigException(null, "--config", $"two configurations are named '{dup.Key}' (a sweep names each run by its configuration)");
        }
        return result;
    }

    /// <summary>Sets PATH (`a.b[2].c`) in <paramref name="root"/> to <paramref name="value"/> (a number, true/false, null, or else a string).</summary>
    private static void Set(JsonNode root, string path, string value)
    {
        var parts = new List<object>();
        foreach (var seg in path.Split('.'))
        {
            int br = seg.IndexOf('[');
            string key = br < 0 ? seg : seg[..br];
            if (key.Length != 0)
            {
                parts.Add(key);
            }
            while (br >= 0)
            {
                int end = seg.IndexOf(']', br);
                if (end < 0 || !int.TryParse(seg.AsSpan(br + 1, end - br - 1), NumberStyles.None, CultureInfo.InvariantCulture, out int index))
                {
                    throw new ConfigException(null, "--vary", $"'{PrintableText.Escape(path)}': bad index in '{PrintableText.Escape(seg)}'");
                }
                parts.Add(index);
                br = seg.IndexOf('[', end);
            }
        }
        if (parts.Count == 0)
        {
            throw new ConfigException(null, "--vary", "empty path");
        }
        JsonNode cur = root;
        string walked = "";
        for (int i = 0; i < parts.Count; i++)
        {
            bool last = i == parts.Count - 1;
            if (parts[i] is string key)
            {
                walked = walked.Length == 0 ? key : $"{walked}.{key}";
                if (cur is not JsonObject obj)
                {
                    throw new ConfigException(null, "--vary", $"'{PrintableText.Escape(path)}': {walked} is not inside an object");
                }
                if (last)
                {
                    obj[key] = Value(value);
                    return;
                }
                cur = obj[key] ?? throw new ConfigException(null, "--vary", $"'{PrintableText.Escape(path)}': the model has no {walked}");
            }
            else
            {
                int index = (int)parts[i];
                walked += $"[{index}]";
                if (cur is not JsonArray arr || index >= arr.Count)
                {
                    throw new ConfigException(null, "--vary", $"'{PrintableText.Escape(path)}': the model has no {walked}");
                }
                if (last)
                {
                    arr[index] = Value(value);
                    return;
                }
                cur = arr[index]!;
            }
        }
    }

    private static JsonNode? Value(string v)
    {
        if (long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n))
        {
            return JsonValue.Create(n);
        }
        return v switch
        {
            "true" => JsonValue.Create(true),
            "false" => JsonValue.Create(false),
            "null" => null,
            _ => JsonValue.Create(v),
        };
    }

    /// <summary>
    /// Replays every (trace group, configuration) pair on up to <paramref name="jobs"/> threads, each run with a
    /// system of its own over the traces parsed once. Runs come back in input order: groups, then configurations.
    /// <paramref name="progress"/> is told after each run (from the thread that ran it).
    /// </summary>
    public static SweepRun[] Run(IReadOnlyList<(IReadOnlyList<string> Names, IReadOnlyList<RecordedTrace> Traces)> groups,
        IReadOnlyList<SweepConfig> configs, ReplayOptions options, ulong maxMemory, int jobs, Action<SweepRun>? progress = null, CancellationToken ct = default)
    {
        var work = groups.SelectMany(g => configs.Select(c => (Group: g, Config: c))).ToArray();
        var runs = new SweepRun[work.Length];
        Parallel.For(0, work.Length, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, jobs), CancellationToken = ct }, i =>
        {
            var (group, config) = work[i];
            runs[i] = RunOne(group.Names, group.Traces, config, options, maxMemory);
            progress?.Invoke(runs[i]);
        });
        return runs;
    }

    /// <summary>One configuration over one group of parsed traces: the summary `replay --json` would write.</summary>
    public static SweepRun RunOne(IReadOnlyList<string> names, IReadOnlyList<RecordedTrace> traces, SweepConfig config, ReplayOptions options, ulong maxMemory)
    {
        var core = new SimulatedCore(new PhysicalMemory { MaxBytes = (long)maxMemory }, config.Model);
        core.Mmu.Record.Detailed = false;
        var replayer = new Replayer(core, null, options);
        string? error = null;
        try
        {
            replayer.ReplayRecorded(traces);
        }
        catch (MemoryLimitException e)
        {
            error = e.Message;
        }
        using var ms = new MemoryStream();
        SummaryJson.Write(ms, replayer.ReportedPes, replayer.StoppedOnFault);
        return new SweepRun(config.Name, names, ms.ToArray(), error);
    }
}
