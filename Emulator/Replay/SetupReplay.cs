using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Tracing;

namespace MmuSim.Replay;

/// <summary>
/// A setup trace replayed to ask questions of its state afterwards (`translate`, `tables`): registers, memory (and
/// `load` images) and every PE it names, nothing recorded or priced, and no demand paging (a setup's tables are the
/// ones it writes).
/// </summary>
public static class SetupReplay
{
    /// <summary>Replays <paramref name="paths"/> in order; errors are the replay's (<see cref="TraceFormatException"/>, <see cref="MemoryLimitException"/>, <see cref="IOException"/>).</summary>
    public static async Task<Replayer> RunAsync(IReadOnlyList<string> paths, TraceFormat format = TraceFormat.Auto, long maxMemory = 4L << 30,
        CancellationToken ct = default)
    {
        var core = new SimulatedCore(new PhysicalMemory { MaxBytes = maxMemory }, Presets.Uncached);
        core.Mmu.Record.Detailed = false;
        var replayer = new Replayer(core, sink: null, new ReplayOptions { Format = format, DemandPaging = DemandPagingMode.Off });
        await replayer.ReplayFilesAsync(paths, ct).ConfigureAwait(false);
        return replayer;
    }
}
