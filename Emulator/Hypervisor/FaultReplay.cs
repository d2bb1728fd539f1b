using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Tracing;

namespace MmuSim.Hypervisor;

/// <summary>The outcome of `mmusim faults`: every fault explained, and how far the replay got.</summary>
public sealed class FaultRun
{
    /// <summary>Every fault explained, in trace order, unless <see cref="OnFault"/> takes them as they come.</summary>
    public List<FaultReport> Faults { get; } = new();

    /// <summary>
    /// Given: each report is handed to it (with the run, whose <see cref="Map"/> is known by then) as the replay finds
    /// it and not kept in <see cref="Faults"/>, so memory
    /// does not grow with the number of faults (a trace can fault on every access).
    /// </summary>
    public Action<FaultRun, FaultReport>? OnFault { get; init; }

    /// <summary>Faults found (those in <see cref="Faults"/> or handed to <see cref="OnFault"/>).</summary>
    public long FaultCount { get; set; }
    public SetupMap? Map { get; set; }
    public long Accesses { get; set; }
    public bool StoppedOnFault { get; set; }
    /// <summary>Malformed input that stopped the replay (results before it are kept).</summary>
    public string? Error { get; set; }

    /// <summary>The memory cap (`--max-memory`, the ram-region limit) stopped the replay: exit 3, results before it kept.</summary>
    public bool OverMemoryCap { get; set; }
}

/// <summary>
/// Replays a setup trace and guest traces through a <see cref="SimulatedCore"/> and explains every R/W/X that
/// faults. The cell layout comes from the setup trace's `#@mmusim-` lines.
/// </summary>
public static class FaultReplay
{
    /// <summary>Explains every faulting R/W/X as the replay makes it.</summary>
    private sealed class Watcher(FaultRun run, IReadOnlyList<string> traces, bool stopOnFault) : IReplayObserver
    {
        public bool OnExecuted(int input, SimulatedCore core, in TraceRecord record, bool produced, in AccessOutcome outcome)
        {
            if (!produced || record.Op is not (TraceOp.Read or TraceOp.Write or TraceOp.Fetch))
            {
                return true;
            }
            run.Accesses++;
            if (!outcome.IsFault)
            {
                return true;
            }
            var report = FaultExplainer.Explain(traces[input], in outcome, core, core.Mmu.Record.Steps, run.Map, record.Size == 0 ? 8 : record.Size);
            run.FaultCount++;
            if (run.OnFault is { } onFault)
            {
                onFault(run, report);
            }
            else
            {
                run.Faults.Add(report);
            }
            return !stopOnFault;
        }
    }

    /// <summary>
    /// Replays <paramref name="traces"/> in order. Every input is opened and decoded as `replay` does
    /// (<see cref="TraceInput"/>, the format registry: files or `-`, .gz/.xz, binary and foreign formats); the cell
    /// layout is read from the `#@mmusim-` lines of the text inputs.
    /// </summary>
    /// <param name="maxMemory">Cap on simulated physical memory (`--max-memory`); past it the run stops with <see cref="FaultRun.OverMemoryCap"/>.</param>
    public static async Task<FaultRun> RunAsync(IReadOnlyList<string> traces, bool stopOnFault, CancellationToken ct = default,
        TraceFormat format = TraceFormat.Auto, Stream? stdin = null, long maxMemory = 4L << 30, Action<FaultRun, FaultReport>? onFault = null)
    {
        var run = new FaultRun();
        // Standard input is read once, into a temporary file (deleted when the run ends) for the layout scan and
        // then the replay: in memory, a long input would grow the process whatever --max-memory says.
        string? stdinCopy = null;
        if (traces.Contains("-"))
        {
            stdinCopy = Path.GetTempFileName();
            await using var copy = new FileStream(stdinCopy, FileMode.Create, FileAccess.Write);
            await (stdin ?? Console.OpenStandardInput()).CopyToAsync(copy, ct);
        }
        try
        {
            return await RunAsync(traces, stopOnFault, format, stdinCopy, maxMemory, onFault, ct);
        }
        finally
        {
            if (stdinCopy is not null)
            {
                File.Delete(stdinCopy);
            }
        }
    }

    private static async Task<FaultRun> RunAsync(IReadOnlyList<string> traces, bool stopOnFault, TraceFormat format, string? stdinCopy,
        long maxMemory, Action<FaultRun, FaultReport>? onFault, CancellationToken ct)
    {
        var run = new FaultRun { OnFault = onFault };
        TraceInput Open(string path) => path == "-"
            ? TraceInput.Open(new FileStream(stdinCopy!, FileMode.Open, FileAccess.Read, FileShare.Read), "-", format)
            : TraceInput.Open(path, format);
        try
        {
            foreach (var path in traces)
            {
                using var input = Open(path);
                if (input.InputFormat.IsText)
                {
                    run.Map ??= SetupMap.FromTraceStream(input.Stream, path, LineReader.MaxLineLength);
                }
            }
        }
        catch (FormatException e)
        {
            run.Error = e.Message;
            return run;
        }
        catch (TraceFormatException e)
        {
            run.Error = e.Message;
            return run;
        }
        var core = new SimulatedCore(new Memory.PhysicalMemory { MaxBytes = maxMemory });
        // The replay `replay` runs (every input format, compression, stdin), watched access by access; never demand
        // paging, which would map away the very faults the cell's configuration gives.
        var replayer = new Replayer(core, sink: null, new ReplayOptions { Format = format, DemandPaging = DemandPagingMode.Off }, new Watcher(run, traces, stopOnFault));
        try
        {
            await replayer.ReplayInputsAsync(traces, Open, ct);
            run.StoppedOnFault = replayer.StoppedByObserver;
        }
        catch (TraceFormatException e)
        {
            run.Error = e.Message;
        }
        catch (Memory.MemoryLimitException e)
        {
            run.Error = e.Message;
            run.OverMemoryCap = true;
            run.StoppedOnFault = false;
        }
        return run;
    }
}
