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
    /// `BASE:PATH=V,PATH=V`. Paths joined by `;` in one --vary change together, value by value
    /// (`tlbs[2].entries=512,1024;tlbs[2].ways=4,8`: two configurations, not four), so that keys that must agree (the
    /// ways must divide the entries) can be swept at once.
    /// </summary>
    public static IReadOnlyList<SweepConfig> Expand(IReadOnlyList<SweepConfig> bases, IReadOnlyList<string> vary)
    {
        // Each axis: its steps, each step the (path, value) pairs it sets.
        var axes = new List<List<(string Path, string Value)>[]>();
        foreach (var v in vary)
        {
            var parts = new List<(string Path, string[] Values)>();
            foreach (var part in v.Split(';'))
            {
                int eq = part.IndexOf('=');
                if (eq <= 0 || eq == part.Length - 1)
                {
                    throw new ConfigException(null, "--vary", $"'{PrintableText.Escape(part)}' is not PATH=V1,V2,... (e.g. tlbs[2].entries=512,1024)");
                }
                string[] values = part[(eq + 1)..].Split(',', StringSplitOptions.TrimEntries);
                if (values.Any(x => x.Length == 0))
                {
                    throw new ConfigException(null, "--vary", $"'{PrintableText.Escape(part)}' has an empty value");
                }
                parts.Add((part[..eq].Trim(), values));
            }
            if (parts.Any(p => p.Values.Length != parts[0].Values.Length))
            {
                throw new ConfigException(null, "--vary", $"'{PrintableText.Escape(v)}': paths joined by ';' change together, value by value, "
                    + $"so each needs as many values ({string.Join(", ", parts.Select(p => $"{PrintableText.Escape(p.Path)}: {p.Values.Length}"))})");
            }
            axes.Add(Enumerable.Range(0, parts[0].Values.Length).Select(i => parts.Select(p => (p.Path, p.Values[i])).ToList()).ToArray());
        }
        var result = new List<SweepConfig>();
        foreach (var b in bases)
        {
            var combos = new List<List<(string Path, string Value)>> { new() };
            foreach (var steps in axes)
            {
                combos = combos.SelectMany(c => steps.Select(step => new List<(string, string)>([.. c, .. step]))).ToList();
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
    /// Most runs a sweep streams through bounded recordings (<see cref="StreamReaders"/>): they all run at once, each
    /// with its own system, so past this many the sweep records its inputs whole and runs `--jobs` at a time instead.
    /// </summary>
    public const int MaxStreamedRuns = 64;

    /// <summary>
    /// Accesses a streamed run replays before its thread picks the run furthest behind. Long, because a run that
    /// comes back finds its tables and TLBs gone from the host's caches: on the bench `large` sweep (16 runs, two
    /// threads) turns of 2^18 accesses took 8.5 s of CPU, of 2^20 6.6 s, of 2^22 5.4 s, and the recorded sweep 5.2 s.
    /// </summary>
    private const long StreamBudget = 1 << 22;

    /// <summary>Access chunks (2^20 accesses, 16 MiB each) a streamed input keeps: room for the runs to spread over a few turns.</summary>
    public const int StreamRingChunks = 10;

    /// <summary>
    /// Whether `--stream auto` streams: when the sweep can (<paramref name="streamable"/>, <see cref="StreamReaders"/>
    /// not null) and either every run has a thread of its own (<paramref name="runs"/> at most
    /// <paramref name="jobs"/>: nothing to gain from recording, and a run never loses its host caches), or an input
    /// could not be recorded whole in a quarter of <paramref name="availableBytes"/>. An input's length is null when
    /// unknown (standard input: taken as too large); a recorded access takes 16 bytes, about what a line of text or
    /// lackey takes, and a compressed input is taken to grow tenfold.
    /// </summary>
    public static bool StreamsByDefault(bool streamable, int runs, int jobs, IEnumerable<(long? Length, bool Compressed)> inputs, long availableBytes)
    {
        if (!streamable)
        {
            return false;
        }
        if (runs <= jobs)
        {
            return true;
        }
        foreach (var (length, compressed) in inputs)
        {
            if (length is not long bytes || (double)bytes * (compressed ? 10 : 1) > availableBytes / 4.0)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// The readers each input of a streamed sweep has (one per run that reads it), or null when the sweep cannot
    /// stream: a group reads an input twice (the second pass would need what the first let go), or there are more
    /// than <see cref="MaxStreamedRuns"/> runs.
    /// </summary>
    public static Dictionary<string, int>? StreamReaders(IReadOnlyList<IReadOnlyList<string>> groups, int configs)
    {
        if (groups.Count * configs > MaxStreamedRuns || groups.Any(g => g.Distinct(StringComparer.Ordinal).Count() != g.Count))
        {
            return null;
        }
        var readers = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in groups.SelectMany(g => g))
        {
            readers[t] = readers.GetValueOrDefault(t) + configs;
        }
        return readers;
    }

    /// <summary>
    /// Replays every (trace group, configuration) pair on up to <paramref name="jobs"/> threads, each run with a
    /// system of its own over the traces parsed once. Runs come back in input order: groups, then configurations.
    /// <paramref name="progress"/> is told the runs done so far, in fractions of a run (from the thread that ran it).
    /// </summary>
    /// <remarks>
    /// Inputs recorded whole (<see cref="RecordedTrace.Begin"/>) are replayed run by run, `jobs` runs at a time.
    /// Bounded recordings (<see cref="RecordedTrace.BeginBounded"/>, with the readers <see cref="StreamReaders"/>
    /// counts) are streamed: every run is under way at once, and the threads take turns replaying a slice of the run
    /// furthest behind, so the runs follow the parser together and the memory an input holds is a few chunks of it,
    /// however long it is.
    /// </remarks>
    public static SweepRun[] Run(IReadOnlyList<(IReadOnlyList<string> Names, IReadOnlyList<RecordedTrace> Traces)> groups,
        IReadOnlyList<SweepConfig> configs, ReplayOptions options, ulong maxMemory, int jobs, Action<double>? progress = null, CancellationToken ct = default,
        bool timeline = false)
    {
        var work = groups.SelectMany(g => configs.Select(c => (Group: g, Config: c))).ToArray();
        if (work.Length != 0 && work.All(w => w.Group.Traces.All(t => t.IsBounded)))
        {
            return RunStreamed(work, options, maxMemory, jobs, progress, ct, timeline);
        }
        var runs = new SweepRun[work.Length];
        int done = 0;
        Parallel.For(0, work.Length, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, jobs), CancellationToken = ct }, i =>
        {
            var (group, config) = work[i];
            runs[i] = RunOne(group.Names, group.Traces, config, options, maxMemory, timeline);
            progress?.Invoke(Interlocked.Increment(ref done));
        });
        return runs;
    }

    /// <summary>One streamed run: its system (made on its first turn, dropped once it ends), the input it reads and its reader there.</summary>
    private sealed class StreamedRun((IReadOnlyList<string> Names, IReadOnlyList<RecordedTrace> Traces) group, SweepConfig config, int[] readers)
    {
        public readonly (IReadOnlyList<string> Names, IReadOnlyList<RecordedTrace> Traces) Group = group;
        public readonly SweepConfig Config = config;
        /// <summary>This run's reader in each of its inputs.</summary>
        public readonly int[] Readers = readers;
        public Replayer? Replayer;
        /// <summary>The input being read (-1 before the first turn; Traces.Count once ended).</summary>
        public int Input = -1;
        public bool Busy;
        public SweepRun? Result;

        public bool Ended => Result is not null;

        /// <summary>Whether a turn now would do something: start, read what is parsed, or end its input.</summary>
        public bool CanRun => !Busy && !Ended && Group.Traces[Math.Max(0, Input)].CanRead(Readers[Math.Max(0, Input)]);

        /// <summary>How far behind the run is: its input, then its place in it.</summary>
        public (int, int) Place => Input < 0 ? (0, 0) : (Input, Group.Traces[Input].PositionOf(Readers[Input]));

        public double Fraction => Ended ? 1 : Input < 0 ? 0 : (Input + Group.Traces[Input].ReadFraction(Readers[Input])) / Group.Traces.Count;

        /// <summary>Makes the run leave every input it has not finished reading, so that no parse waits for it.</summary>
        public void LeaveAll()
        {
            for (int i = Math.Max(0, Input); i < Group.Traces.Count; i++)
            {
                Group.Traces[i].Leave(Readers[i]);
            }
        }
    }

    private static SweepRun[] RunStreamed(((IReadOnlyList<string> Names, IReadOnlyList<RecordedTrace> Traces) Group, SweepConfig Config)[] work,
        ReplayOptions options, ulong maxMemory, int jobs, Action<double>? progress, CancellationToken ct, bool timeline)
    {
        var nextReader = new Dictionary<RecordedTrace, int>(ReferenceEqualityComparer.Instance);
        var runs = work.Select(w => new StreamedRun(w.Group, w.Config, w.Group.Traces.Select(t =>
        {
            int r = nextReader.GetValueOrDefault(t);
            nextReader[t] = r + 1;
            return r;
        }).ToArray())).ToArray();
        var gate = new object();
        int ended = 0;
        Exception? failure = null;

        void Worker()
        {
            while (true)
            {
                StreamedRun? run = null;
                lock (gate)
                {
                    while (true)
                    {
                        if (ended == runs.Length || failure is not null)
                        {
                            return;
                        }
                        if (ct.IsCancellationRequested)
                        {
                            failure ??= new OperationCanceledException(ct);
                            return;
                        }
                        foreach (var r in runs)
                        {
                            if (r.CanRun && (run is null || r.Place.CompareTo(run.Place) < 0))
                            {
                                run = r;
                            }
                        }
                        if (run is not null)
                        {
                            run.Busy = true;
                            break;
                        }
                        // Every run waits for its parser (or is on another thread): look again shortly.
                        Monitor.Wait(gate, 1);
                    }
                }
                try
                {
                    Turn(run, options, maxMemory, timeline);
                }
                catch (Exception e)
                {
                    lock (gate)
                    {
                        failure ??= e;
                    }
                }
                lock (gate)
                {
                    run.Busy = false;
                    if (run.Ended)
                    {
                        ended++;
                    }
                    Monitor.PulseAll(gate);
                }
                progress?.Invoke(runs.Sum(r => r.Fraction));
            }
        }

        var threads = Enumerable.Range(0, Math.Clamp(jobs, 1, runs.Length)).Select(i => new Thread(Worker) { Name = $"sweep {i}", IsBackground = true }).ToArray();
        foreach (var t in threads)
        {
            t.Start();
        }
        foreach (var t in threads)
        {
            t.Join();
        }
        if (failure is not null)
        {
            // No parse may wait for a run that will not read on.
            foreach (var r in runs)
            {
                r.LeaveAll();
            }
            if (failure is OperationCanceledException)
            {
                throw failure;
            }
            throw new AggregateException(failure);
        }
        return runs.Select(r => r.Result!).ToArray();
    }

    /// <summary>One turn of a streamed run: a slice of its input, and the next input or its summary when it ends one.</summary>
    private static void Turn(StreamedRun run, ReplayOptions options, ulong maxMemory, bool timeline)
    {
        run.Replayer ??= NewReplayer(run.Config, options, maxMemory, timeline);
        var replayer = run.Replayer;
        var traces = run.Group.Traces;
        string? error = null;
        try
        {
            if (run.Input < 0)
            {
                run.Input = 0;
                replayer.BeginRecordedPart(traces[0], 0);
            }
            var part = replayer.ReplayRecordedPart(traces[run.Input], run.Readers[run.Input], StreamBudget);
            if (part == RecordedPart.Paused)
            {
                return;
            }
            if (part == RecordedPart.Completed && run.Input + 1 < traces.Count)
            {
                run.Input++;
                replayer.BeginRecordedPart(traces[run.Input], run.Input);
                return;
            }
        }
        catch (MemoryLimitException e)
        {
            error = e.Message;
        }
        // The run has ended: whole, stopped on a fault, or at the memory cap.
        run.LeaveAll();
        using var ms = new MemoryStream();
        SummaryJson.Write(ms, replayer.ReportedPes, replayer.StoppedOnFault);
        run.Result = new SweepRun(run.Config.Name, run.Group.Names, ms.ToArray(), error);
        run.Replayer = null; // its system's memory goes back while the other runs go on
    }

    /// <summary>One configuration over one group of parsed traces: the summary `replay --json` would write.</summary>
    /// <param name="timeline">Time the accesses on the PE's timeline too (`--timing timeline`), as `replay --timing timeline` does.</param>
    public static SweepRun RunOne(IReadOnlyList<string> names, IReadOnlyList<RecordedTrace> traces, SweepConfig config, ReplayOptions options, ulong maxMemory,
        bool timeline = false)
    {
        var replayer = NewReplayer(config, options, maxMemory, timeline);
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

    /// <summary>A run's system, as `replay --config` makes it: its own memory under the cap, counts only, the timeline when asked.</summary>
    private static Replayer NewReplayer(SweepConfig config, ReplayOptions options, ulong maxMemory, bool timeline)
    {
        var core = new SimulatedCore(new PhysicalMemory { MaxBytes = (long)maxMemory }, config.Model);
        core.Mmu.Record.Detailed = false;
        if (timeline)
        {
            core.StartTimeline();
        }
        return new Replayer(core, null, options);
    }
}
