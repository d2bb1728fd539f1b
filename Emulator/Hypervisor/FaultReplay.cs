using System.IO.Pipelines;
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
    private sealed class Stop : Exception;

    private readonly struct Handler(SimulatedCore core, FaultRun run, string source, bool stopOnFault) : ITraceHandler
    {
        public void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine)
        {
            var self = this;
            PlainAccess.EachRecord(ref self, run, firstLine);
        }

        public void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line)
        {
            var self = this;
            MemWords.EachRecord(ref self, pa, words, line);
        }

        public void OnRecord(in TraceRecord record)
        {
            if (!core.Execute(in record, out var outcome) || record.Op is not (TraceOp.Read or TraceOp.Write or TraceOp.Fetch))
            {
                return;
            }
            run.Accesses++;
            if (!outcome.IsFault)
            {
                return;
            }
            run.Faults.Add(FaultExplainer.Explain(source, in outcome, core, core.Mmu.Record.Steps, run.Map));
            if (stopOnFault)
            {
                throw new Stop();
            }
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
        foreach (var path in traces)
        {
            await using var s = File.OpenRead(path);
            var reader = PipeReader.Create(s, new StreamPipeReaderOptions(bufferSize: 1 << 16, leaveOpen: true));
            try
            {
                await TextTraceParser.ParseAsync(reader, path, new Handler(core, run, path, stopOnFault), ct);
            }
            catch (Stop)
            {
                run.StoppedOnFault = true;
                return run;
            }
            catch (TraceFormatException e)
            {
                run.Error = e.Message;
                return run;
            }
        }
        return run;
    }
}
