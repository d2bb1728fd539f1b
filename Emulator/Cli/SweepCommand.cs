using System.CommandLine;
using System.Diagnostics;
using System.Text;
using MmuSim.Analysis;
using MmuSim.Bits;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Tracing;
using Spectre.Console;

namespace MmuSim.Cli;

/// <summary>
/// `mmusim sweep`: one input, parsed once, replayed through many configurations on all cores; or, with --slurm, a
/// Slurm job array that runs the same replays on a cluster for `mmusim merge` to gather (docs/analysis.md).
/// </summary>
public static class SweepCommand
{
    public static Command Create()
    {
        var traces = new Argument<string[]>("trace") { Description = "Trace files, replayed in order as one stream (with --each-trace: each alone).", Arity = ArgumentArity.OneOrMore };
        var configs = new Option<string[]>("--config") { Description = "A model JSON file (repeatable)." };
        var presets = new Option<string[]>("--preset") { Description = $"A named model (repeatable): {string.Join(", ", Presets.All.Keys)}." };
        var vary = new Option<string[]>("--vary") { Description = "PATH=V1,V2,...: each configuration once per value of the key at PATH in its model JSON, e.g. 'tlbs[2].entries=512,1024,2048' (repeatable: the cross product; paths joined by ';' change together, value by value: 'tlbs[2].entries=512,1024;tlbs[2].ways=4,8')." };
        var each = new Option<bool>("--each-trace") { Description = "One run per trace and configuration instead of the traces as one stream." };
        var json = new Option<string?>("--json") { Description = "Write {\"tool\":\"mmusim sweep\",\"runs\":[{config, trace, summary}]} to this file (each summary as replay --json writes it)." };
        var csv = new Option<string?>("--csv") { Description = "Write one row per run (config,trace,accesses,faults,tlbHits,walks,descriptorReads,...,translationCycles,cyclesPerAccess)." };
        var jobs = new Option<int>("--jobs", "-j") { Description = "Runs at a time (default: one per core).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var slurm = new Option<string?>("--slurm") { Description = "Write a Slurm job array into this directory instead of running: one task per (traces, configuration), each `mmusim replay … --json`; gather with `mmusim merge DIR`." };
        var submit = new Option<bool>("--submit") { Description = "With --slurm: submit the job array with sbatch." };
        var wait = new Option<bool>("--wait") { Description = "With --submit: wait until every task has ended (sbatch --wait)." };
        var report = new Option<string?>("--report") { Description = "Write an HTML report of every run side by side (as `mmusim report` makes from the --json file) to this file." };
        var plot = new Option<string?>("--plot") { Description = "With --report: also write each chart to this directory as ID.svg and ID.png." };
        var sbatch = new Option<string[]>("--sbatch") { Description = "With --slurm: an sbatch option for the job script without its dashes, e.g. --sbatch partition=sim for #SBATCH --partition=sim (repeatable)." };
        var stream = new Option<string>("--stream")
        {
            Description = "on: every run follows the parser at once and each input holds only a few chunks of memory, however long it is; "
                + "off: each input is recorded whole and the runs go --jobs at a time (faster: a run keeps the host's caches); "
                + "auto (default): on when every run has a thread of its own (runs <= --jobs), for standard input, and for inputs too large to record in a quarter of the memory available.",
            DefaultValueFactory = _ => "auto",
        };
        stream.AcceptOnlyFromAmong("auto", "on", "off");
        var timing = ModelOptions.TimingOption();
        var input = new ReplayCommand.InputOptions();
        var cmd = new Command("sweep", "Replay traces through many translation models (parsed once, replayed in parallel) and tabulate the figures per model.")
        {
            traces, configs, presets, vary, each, json, csv, jobs, stream, timing, slurm, submit, wait, sbatch, report, plot,
        };
        input.AddTo(cmd);
        cmd.SetAction((pr, ct) => Run(pr, traces, configs, presets, vary, each, json, csv, jobs, slurm, submit, wait, sbatch, input, ct,
            pr.GetValue(report), pr.GetValue(plot), pr.GetValue(stream)!, pr.GetValue(timing) == "timeline"));
        return cmd;
    }

    private static async Task<int> Run(ParseResult pr, Argument<string[]> tracesArg, Option<string[]> configsOpt, Option<string[]> presetsOpt,
        Option<string[]> varyOpt, Option<bool> eachOpt, Option<string?> jsonOpt, Option<string?> csvOpt, Option<int> jobsOpt, Option<string?> slurmOpt,
        Option<bool> submitOpt, Option<bool> waitOpt, Option<string[]> sbatchOpt, ReplayCommand.InputOptions input, CancellationToken ct,
        string? reportPath, string? plotDir, string streamMode, bool timeline)
    {
        string[] traces = pr.GetValue(tracesArg)!;
        if (plotDir is not null && reportPath is null)
        {
            Console.Error.WriteLine("mmusim: --plot goes with --report (or use mmusim report --plot on a --json file)");
            return 1;
        }
        if (!input.TryRead(pr, out var settings, out string? error))
        {
            Console.Error.WriteLine($"mmusim: {error}");
            return 1;
        }
        int jobs = pr.GetValue(jobsOpt);
        if (jobs < 1)
        {
            Console.Error.WriteLine($"mmusim: bad --jobs {jobs} (at least 1)");
            return 1;
        }
        string? slurmDir = pr.GetValue(slurmOpt);
        if (slurmDir is null && (pr.GetValue(submitOpt) || pr.GetValue(waitOpt) || (pr.GetValue(sbatchOpt) ?? []).Length != 0))
        {
            Console.Error.WriteLine("mmusim: --submit, --wait and --sbatch go with --slurm DIR");
            return 1;
        }
        if (pr.GetValue(waitOpt) && !pr.GetValue(submitOpt))
        {
            Console.Error.WriteLine("mmusim: --wait goes with --submit");
            return 1;
        }
        IReadOnlyList<SweepConfig> configs;
        try
        {
            var bases = new List<SweepConfig>();
            // In command-line order: --config files, then --preset names.
            foreach (var path in pr.GetValue(configsOpt) ?? [])
            {
                var m = ModelConfigJson.Load(path);
                bases.Add(new SweepConfig(m.Name, m));
            }
            foreach (var name in pr.GetValue(presetsOpt) ?? [])
            {
                var m = AnalysisOutputs.Model(name, null);
                bases.Add(new SweepConfig(m.Name, m));
            }
            if (bases.Count == 0)
            {
                bases.Add(new SweepConfig(ModelConfig.Default.Name, ModelConfig.Default));
            }
            configs = Sweep.Expand(bases, pr.GetValue(varyOpt) ?? []);
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"mmusim: {e.Message}");
            return 2;
        }
        bool each = pr.GetValue(eachOpt);
        var groups = each ? traces.Select(t => (IReadOnlyList<string>)[t]).ToList() : [traces];
        if (slurmDir is not null)
        {
            // Each task runs `replay` with the same input options and cycle model as the local runs.
            List<string> taskArgs = [.. InputArguments(pr, input), .. timeline ? (string[])["--timing", "timeline"] : []];
            return SlurmJob.Write(slurmDir, groups, configs, taskArgs, pr.GetValue(sbatchOpt) ?? [],
                pr.GetValue(submitOpt), pr.GetValue(waitOpt));
        }

        var readers = Sweep.StreamReaders(groups, configs.Count);
        if (streamMode == "on" && readers is null)
        {
            Console.Error.WriteLine(groups.Count * configs.Count > Sweep.MaxStreamedRuns
                ? $"mmusim: --stream on: {groups.Count * configs.Count} runs are more than the {Sweep.MaxStreamedRuns} a streamed sweep runs at once"
                : "mmusim: --stream on: a run reads the same input twice, which a streamed input (read once) cannot give");
            return 1;
        }
        using var outputs = AnalysisOutputs.Open(traces, pr.GetValue(jsonOpt), pr.GetValue(csvOpt), reportPath);
        if (outputs is null)
        {
            return 1;
        }
        var options = new ReplayOptions
        {
            Format = settings.Format,
            Parse = settings.Parse,
            DemandPaging = settings.DemandPaging,
            Paging = settings.Paging,
        };
        // Each input is parsed once, on a thread of its own, while the first runs replay what it has parsed so far
        // (RecordedTrace): the parse overlaps the runs instead of preceding them. A malformed line stops the sweep,
        // naming file, line and column, and the runs under way stop with it.
        var parsed = new Dictionary<string, RecordedTrace>(StringComparer.Ordinal);
        var inputs = new List<(TraceInput Input, RecordedTrace Trace)>();
        var opened = new List<TraceInput>();
        var names = traces.Distinct(StringComparer.Ordinal).ToArray();
        try
        {
            foreach (var t in names)
            {
                opened.Add(TraceInput.Open(t, settings.Format));
            }
        }
        catch (Exception e) when (e is TraceFormatException or IOException or ArgumentException)
        {
            foreach (var o in opened)
            {
                await o.DisposeAsync();
            }
            Console.Error.WriteLine($"mmusim: {e.Message}");
            return 2;
        }
        // Streamed (bounded recordings, every run at once) or recorded whole (runs --jobs at a time): see --stream.
        bool streamed = streamMode switch
        {
            "on" => true,
            "off" => false,
            _ => Sweep.StreamsByDefault(readers is not null, groups.Count * configs.Count, jobs,
                opened.Select(o => (o.Length, o.Compression != TraceCompression.None)), GC.GetGCMemoryInfo().TotalAvailableMemoryBytes),
        };
        for (int i = 0; i < names.Length; i++)
        {
            var stream = opened[i];
            var trace = streamed ? RecordedTrace.BeginBounded(stream, readers![names[i]], Sweep.StreamRingChunks) : RecordedTrace.Begin(stream);
            inputs.Add((stream, trace));
            parsed[names[i]] = trace;
        }
        // SIGINT/SIGTERM stop the parse and the runs in order: one line, the signal's exit code, no table and no file
        // (a table of runs cut short at different points would read as the whole input's).
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, Interrupts.Observe());
        var recording = Task.Run(async () =>
        {
            try
            {
                foreach (var (stream, trace) in inputs)
                {
                    await using (stream)
                    {
                        await trace.FillAsync(stream, settings.Parse, ct: stop.Token);
                    }
                }
            }
            catch (Exception e)
            {
                foreach (var (_, trace) in inputs)
                {
                    trace.Fail(e); // the inputs after the one that failed: their runs must not wait for them
                }
                throw;
            }
        }, CancellationToken.None);
        var work = groups.Select(g => (g, (IReadOnlyList<RecordedTrace>)g.Select(t => parsed[t]).ToArray())).ToList();
        var running = Task.Run(() => RunWithProgress(work, configs, options, settings.MaxMemory, jobs, settings.Quiet, timeline, stop.Token), CancellationToken.None);
        try
        {
            await recording;
        }
        catch (Exception e) when (e is TraceFormatException or IOException or ArgumentException)
        {
            await stop.CancelAsync();
            try
            {
                await running;
            }
            catch (Exception stopped) when (stopped is OperationCanceledException or AggregateException)
            {
                // The runs stopped with the recording they read; the parse error below says why.
            }
            Console.Error.WriteLine($"mmusim: {e.Message}");
            return 2;
        }
        catch (OperationCanceledException) when (Interrupts.ExitCode != 0)
        {
            return await Interrupted(running);
        }
        SweepRun[] runs;
        try
        {
            runs = await running;
        }
        catch (Exception e) when (Interrupts.ExitCode != 0 && e is OperationCanceledException or AggregateException or RecordingFailedException)
        {
            return await Interrupted(running);
        }

        var text = outputs.AnyStdout ? Console.Error : Console.Out;
        SweepTable.WriteText(text, runs);
        int exit = 0;
        foreach (var r in runs.Where(r => r.Error is not null))
        {
            Console.Error.WriteLine($"mmusim: {r.Config}: {r.Error}");
            exit = 3;
        }
        int written = outputs.WriteSweep(runs, traces, plotDir);
        return exit == 0 ? written : exit;
    }

    /// <summary>After SIGINT or SIGTERM: waits for the runs to stop, says so on one line, and returns the signal's exit code.</summary>
    private static async Task<int> Interrupted(Task running)
    {
        try
        {
            await running;
        }
        catch (Exception e) when (e is OperationCanceledException or AggregateException or RecordingFailedException)
        {
            // The runs stopped with the signal.
        }
        Console.Error.WriteLine($"mmusim: interrupted by {(Interrupts.ExitCode == 143 ? "SIGTERM" : "SIGINT")}: the sweep stopped before its runs ended; no table or file written");
        return Interrupts.ExitCode;
    }

    /// <summary>Runs the sweep; on a terminal (stderr) and without --quiet, with a progress bar and the time left.</summary>
    private static SweepRun[] RunWithProgress(List<(IReadOnlyList<string>, IReadOnlyList<RecordedTrace>)> work, IReadOnlyList<SweepConfig> configs,
        ReplayOptions options, ulong maxMemory, int jobs, bool quiet, bool timeline, CancellationToken ct)
    {
        if (quiet || Console.IsErrorRedirected)
        {
            return Sweep.Run(work, configs, options, maxMemory, jobs, null, ct, timeline);
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        SweepRun[] runs = [];
        console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask($"sweep: {work.Count * configs.Count} runs", maxValue: work.Count * configs.Count);
                runs = Sweep.Run(work, configs, options, maxMemory, jobs, done => task.Value = done, ct, timeline);
            });
        return runs;
    }

    /// <summary>The input options given on the command line, as `mmusim replay` arguments for the Slurm tasks.</summary>
    private static List<string> InputArguments(ParseResult pr, ReplayCommand.InputOptions input)
    {
        var args = new List<string>();
        foreach (var o in new Option[] { input.Format, input.MaxMemory, input.DemandPaging, input.Stages, input.Regime, input.Granule,
                     input.Stage2Granule, input.PageSize, input.Stage2PageSize, input.Placement, input.Seed })
        {
            if (pr.GetResult(o) is { Implicit: false } r && r.Tokens.Count > 0)
            {
                args.Add(o.Name);
                args.Add(r.Tokens[0].Value);
            }
        }
        if (pr.GetValue(input.SkipBadLines))
        {
            args.Add(input.SkipBadLines.Name);
        }
        return args;
    }
}

/// <summary>
/// The Slurm side of a sweep: DIR/sweep.json (the tasks: configuration, traces), DIR/configs/N.json (each model),
/// DIR/tasks/N.args (each task's `mmusim replay` arguments, one a line) and DIR/job.sh (the job array: task N runs
/// the same mmusim binary on its arguments and writes DIR/out/N.summary.json). `mmusim merge DIR` reads them back.
/// </summary>
internal static class SlurmJob
{
    public const string Manifest = "sweep.json";

    public static int Write(string dir, IReadOnlyList<IReadOnlyList<string>> groups, IReadOnlyList<SweepConfig> configs, List<string> inputArgs,
        string[] sbatchOptions, bool submit, bool wait)
    {
        string sbatch = "";
        if (submit && (sbatch = FindOnPath("sbatch") ?? "").Length == 0)
        {
            Console.Error.WriteLine("mmusim: --submit: sbatch is not on PATH (Slurm is not installed here; the job script can be written without --submit and submitted on the cluster)");
            return 1;
        }
        string root = Path.GetFullPath(dir);
        try
        {
            Directory.CreateDirectory(root);
            foreach (var sub in new[] { "configs", "tasks", "out", "logs" })
            {
                Directory.CreateDirectory(Path.Combine(root, sub));
            }
            for (int c = 0; c < configs.Count; c++)
            {
                File.WriteAllText(Path.Combine(root, "configs", $"{c}.json"), ModelConfigJson.ToJson(configs[c].Model) + "\n");
            }
            using var manifest = new MemoryStream();
            using (var w = new System.Text.Json.Utf8JsonWriter(manifest, new System.Text.Json.JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("tool", "mmusim sweep --slurm");
                w.WriteStartArray("tasks");
                int task = 0;
                foreach (var g in groups)
                {
                    for (int c = 0; c < configs.Count; c++, task++)
                    {
                        var traces = g.Select(t => t == "-" ? t : Path.GetFullPath(t)).ToArray();
                        var args = new List<string>(traces)
                        {
                            "--config", Path.Combine(root, "configs", $"{c}.json"),
                            "--json", Path.Combine(root, "out", $"{task}.summary.json"),
                            "--quiet",
                        };
                        args.AddRange(inputArgs);
                        File.WriteAllText(Path.Combine(root, "tasks", $"{task}.args"), string.Join("\n", args) + "\n");
                        w.WriteStartObject();
                        w.WriteNumber("task", task);
                        w.WriteString("config", configs[c].Name);
                        w.WriteStartArray("trace");
                        foreach (var t in g)
                        {
                            w.WriteStringValue(t);
                        }
                        w.WriteEndArray();
                        w.WriteString("summary", $"out/{task}.summary.json");
                        w.WriteEndObject();
                    }
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            File.WriteAllBytes(Path.Combine(root, Manifest), manifest.ToArray());
            int tasks = groups.Count * configs.Count;
            string script = Script(root, tasks, sbatchOptions);
            string job = Path.Combine(root, "job.sh");
            File.WriteAllText(job, script);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(job, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            }
            Console.Out.WriteLine($"{job}: a job array of {tasks} tasks ({groups.Count} trace group(s) × {configs.Count} configuration(s))");
            if (!submit)
            {
                Console.Out.WriteLine($"submit with: sbatch {job}; then: mmusim merge {root}");
                return 0;
            }
            return Submit(sbatch, job, root, wait);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"mmusim: {root}: {e.Message}");
            return 1;
        }
    }

    /// <summary>The mmusim the tasks run: this very executable (or `dotnet mmusim.dll` when run through the dotnet host).</summary>
    private static string Command()
    {
        string process = Environment.ProcessPath ?? "mmusim";
        // Through the dotnet host the program is the mmusim.dll beside this assembly; a native or apphost mmusim is the process itself.
        string assembly = Path.Combine(AppContext.BaseDirectory, "mmusim.dll");
        return Path.GetFileNameWithoutExtension(process) == "dotnet" && File.Exists(assembly)
            ? $"{Quote(process)} {Quote(assembly)}"
            : Quote(process);
    }

    /// <summary>A word for the POSIX shell: single-quoted, each ' written '\''.</summary>
    public static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static string Script(string root, int tasks, string[] sbatchOptions)
    {
        var sb = new StringBuilder();
        sb.Append("#!/bin/bash\n");
        sb.Append("# Written by mmusim sweep --slurm: task N replays its traces through configs/N's model (tasks/N.args)\n");
        sb.Append("# and writes out/N.summary.json; `mmusim merge DIR` gathers them.\n");
        sb.Append("#SBATCH --job-name=mmusim-sweep\n");
        sb.Append($"#SBATCH --array=0-{tasks - 1}\n");
        sb.Append("#SBATCH --ntasks=1\n");
        sb.Append("#SBATCH --cpus-per-task=1\n");
        sb.Append($"#SBATCH --output={root}/logs/%a.out\n");
        foreach (var o in sbatchOptions)
        {
            sb.Append($"#SBATCH --{o.TrimStart('-')}\n");
        }
        sb.Append("set -euo pipefail\n");
        sb.Append($"dir={Quote(root)}\n");
        sb.Append("id=${SLURM_ARRAY_TASK_ID:?not run as a Slurm array task}\n");
        sb.Append("mapfile -t args < \"$dir/tasks/$id.args\"\n");
        sb.Append($"exec {Command()} replay \"${{args[@]}}\"\n");
        return sb.ToString();
    }

    private static int Submit(string sbatch, string job, string root, bool wait)
    {
        var psi = new ProcessStartInfo(sbatch) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("--parsable");
        if (wait)
        {
            psi.ArgumentList.Add("--wait");
        }
        psi.ArgumentList.Add(job);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        string err = stderr.Result.Trim();
        if (p.ExitCode != 0)
        {
            Console.Error.WriteLine($"mmusim: sbatch failed (exit {p.ExitCode}): {err.Split('\n')[0]}");
            return 1;
        }
        Console.Out.WriteLine($"submitted job {stdout.Trim().Split(';')[0]}{(wait ? " (ended)" : "")}; gather with: mmusim merge {root}");
        return 0;
    }

    public static string? FindOnPath(string name)
    {
        foreach (var d in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string p = Path.Combine(d, name);
            if (File.Exists(p))
            {
                return p;
            }
        }
        return null;
    }
}
