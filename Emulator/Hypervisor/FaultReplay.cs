using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Tracing;

namespace MmuSim.Hypervisor;

/// <summary>The outcome of `mmusim faults`: every fault explained, and how far the replay got.</summary>
public sealed class FaultRun
{
    public List<FaultReport> Faults { get; } = new();
    public SetupMap? Map { get; set; }
    public long Accesses { get; set; }
    public bool StoppedOnFault { get; set; }
    /// <summary>Malformed input that stopped the replay (results before it are kept).</summary>
    public string? Error { get; set; }
}

/// <summary>
/// Replays a setup trace and guest traces through a <see cref="SimulatedCore"/> and explains every R/W/X that
/// faults. The cell layout comes from the setup trace's `#@mmusim-` lines.
/// </summary>
public static class FaultReplay
{
    /// <summary>Explains every faulting R/W/X as the replay makes it.</summary>
    private sealed class Watcher(SimulatedCore core, FaultRun run, IReadOnlyList<string> traces, bool stopOnFault) : IReplayObserver
    {
        public bool OnExecuted(int input, in TraceRecord record, bool produced, in AccessOutcome outcome)
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
            run.Faults.Add(FaultExplainer.Explain(traces[input], in outcome, core, core.Mmu.Record.Steps, run.Map));
            return !stopOnFault;
        }
    }

    public static async Task<FaultRun> RunAsync(IReadOnlyList<string> traces, bool stopOnFault, CancellationToken ct = default)
    {
        var run = new FaultRun();
        foreach (var path in traces)
        {
            try
            {
                run.Map ??= SetupMap.FromTraceLines(File.ReadLines(path), path);
            }
            catch (FormatException e)
            {
                run.Error = e.Message;
                return run;
            }
        }
        var core = new SimulatedCore();
        // The replay `replay` runs (every input format, compression, stdin), watched access by access.
        var replayer = new Replayer(core, sink: null, new ReplayOptions(), new Watcher(core, run, traces, stopOnFault));
        try
        {
            await replayer.ReplayFilesAsync(traces, ct);
            run.StoppedOnFault = replayer.StoppedByObserver;
        }
        catch (TraceFormatException e)
        {
            run.Error = e.Message;
        }
        return run;
    }
}
