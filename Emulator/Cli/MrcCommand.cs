using System.CommandLine;
using System.Text;
using MmuSim.Analysis;
using MmuSim.Bits;
using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Replay;
using MmuSim.Tracing;
using Spectre.Console;

namespace MmuSim.Cli;

/// <summary>`mmusim mrc`: miss-ratio curves of LRU TLBs of every size from one replay (docs/analysis.md).</summary>
public static class MrcCommand
{
    public static Command Create()
    {
        var traces = new Argument<string[]>("trace") { Description = "Trace files, replayed in order as one stream ('-' for standard input; .gz and .xz are decompressed).", Arity = ArgumentArity.OneOrMore };
        var json = new Option<string?>("--json") { Description = "Write the curves as JSON to this file ('-': standard output)." };
        var csv = new Option<string?>("--csv") { Description = "Write one row per curve point (curve,sets,pageSize,entries,accesses,misses,missRatio) to this file." };
        var sets = new Option<int[]>("--sets") { Description = "Also the curve of every associativity at this number of sets (repeatable).", AllowMultipleArgumentsPerToken = false };
        var l1 = new Option<int>("--l1") { Description = "Also the curve of an L2 TLB behind a fully associative LRU L1 of this many entries (the L1's miss stream).", DefaultValueFactory = _ => 0 };
        var preset = new Option<string?>("--preset") { Description = "The model whose contiguous-entry coalescing the TLB follows (default neoverse-n1: coalescing on)." };
        var config = new Option<string?>("--config") { Description = "As --preset, from a model JSON file." };
        var input = new ReplayCommand.InputOptions();
        var cmd = new Command("mrc", "Miss-ratio curves: the misses of a fully associative LRU TLB of every size (and of every associativity at fixed set counts, and of an L2 behind an L1) from one replay.")
        {
            traces, json, csv, sets, l1, preset, config,
        };
        input.AddTo(cmd);
        cmd.SetAction((pr, ct) => Run(pr.GetValue(traces)!, pr.GetValue(json), pr.GetValue(csv), pr.GetValue(sets) ?? [], pr.GetValue(l1),
            pr.GetValue(preset), pr.GetValue(config), input, pr, ct));
        return cmd;
    }

    private static async Task<int> Run(string[] traces, string? jsonPath, string? csvPath, int[] sets, int l1, string? preset, string? configPath,
        ReplayCommand.InputOptions input, ParseResult pr, CancellationToken ct)
    {
        if (!input.TryRead(pr, out var settings, out string? error))
        {
            Console.Error.WriteLine($"mmusim: {error}");
            return 1;
        }
        if (sets.Where(s => s < 1 || s > 1 << 20).Select(s => (int?)s).FirstOrDefault() is { } bad)
        {
            Console.Error.WriteLine($"mmusim: bad --sets {bad} (a number of sets from 1 to 1048576)");
            return 1;
        }
        if (l1 < 0 || l1 > 1 << 24)
        {
            Console.Error.WriteLine($"mmusim: bad --l1 {l1} (entries from 1 to 16777216, or 0 for no L2 curve)");
            return 1;
        }
        ModelConfig model;
        try
        {
            model = AnalysisOutputs.Model(preset, configPath);
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"mmusim: {e.Message}");
            return 2;
        }
        using var outputs = AnalysisOutputs.Open(traces, jsonPath, csvPath);
        if (outputs is null)
        {
            return 1;
        }
        var text = outputs.AnyStdout ? Console.Error : Console.Out;
        var options = new MrcOptions { SetCounts = sets.Distinct().ToArray(), L1Entries = l1 };
        var replay = new ReplayOptions
        {
            Format = settings.Format,
            Parse = settings.Parse,
            DemandPaging = settings.DemandPaging,
            Paging = settings.Paging,
        };
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(ct, Interrupts.Observe());
        ct = interrupt.Token;
        var (result, failure) = settings.Quiet || Console.IsErrorRedirected
            ? await MrcRun.RunAsync(traces, model, options, replay, settings.MaxMemory, ct)
            : await RunWithProgress(traces, model, options, replay, settings.MaxMemory, ct);
        int exit = 0;
        string? stopped = null;
        if (failure is not null)
        {
            // What was read before the error is kept: the text and the JSON (with its "error") cover it. The CSV has
            // no place to say it is partial, so it is not written rather than left looking complete.
            long lookups = result.Curves.Count == 0 ? 0 : result.Curves[0].Accesses;
            stopped = failure is OperationCanceledException
                ? $"interrupted by {(Interrupts.ExitCode == 143 ? "SIGTERM" : "SIGINT")} after {lookups} lookups"
                : failure.Message;
            string csvNote = outputs[1] is not null ? $"; {csvPath} not written" : "";
            Console.Error.WriteLine($"mmusim: {stopped} (the curves cover the {lookups} lookups before it{csvNote})");
            exit = failure switch
            {
                OperationCanceledException => Interrupts.ExitCode == 0 ? 130 : Interrupts.ExitCode,
                MemoryLimitException => 3,
                _ => 2,
            };
        }
        MrcWriter.WriteText(text, result);
        if (outputs[0] is { } j)
        {
            MrcWriter.WriteJson(j.Stream, result, stopped);
            j.Commit();
        }
        if (outputs[1] is { } c && failure is null)
        {
            using (var w = new StreamWriter(c.Stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true))
            {
                MrcWriter.WriteCsv(w, result);
            }
            c.Commit();
        }
        return exit;
    }

    /// <summary>
    /// The one pass with a progress bar on stderr (a terminal, without --quiet): the input bytes read of the
    /// inputs' total, with the time left; a bar that only spins when an input's size is unknown (standard input).
    /// </summary>
    private static async Task<(MrcResult, Exception?)> RunWithProgress(string[] traces, ModelConfig model, MrcOptions options,
        ReplayOptions replay, ulong maxMemory, CancellationToken ct)
    {
        long?[] sizes = traces.Select(t => t == "-" || !File.Exists(t) ? (long?)null : new FileInfo(t).Length).ToArray();
        bool known = sizes.All(s => s is not null);
        long total = sizes.Sum(s => s ?? 0);
        Replayer? replayer = null;
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        (MrcResult, Exception?) outcome = default;
        await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask($"mrc: {traces.Length} input(s)", maxValue: known ? Math.Max(1, total) : 100);
                task.IsIndeterminate = !known;
                // On a thread of its own: the replay completes most reads synchronously and would keep this loop from updating.
                var run = Task.Run(() => MrcRun.RunAsync(traces, model, options, replay, maxMemory, ct, r => Volatile.Write(ref replayer, r)).AsTask(), ct);
                while (!run.IsCompleted)
                {
                    await Task.WhenAny(run, Task.Delay(200, CancellationToken.None));
                    if (known && Volatile.Read(ref replayer) is { } r)
                    {
                        int index = r.InputIndex;
                        long done = sizes.Take(Math.Max(0, index)).Sum(s => s ?? 0) + (r.Current?.RawBytesRead ?? 0);
                        task.Value = Math.Min(done, total);
                    }
                }
                outcome = await run;
                task.Value = task.MaxValue;
            });
        return outcome;
    }
}
