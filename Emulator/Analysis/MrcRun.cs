using MmuSim.Caching;
using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Replay;
using MmuSim.Timing;
using MmuSim.Tracing;

namespace MmuSim.Analysis;

/// <summary>The outcome of a one-pass miss-ratio-curve run.</summary>
/// <param name="Inputs">The traces, in order.</param>
/// <param name="PageShifts">log2 of each page size the entries used, ascending.</param>
/// <param name="Footprint">Distinct entries used.</param>
/// <param name="Removals">Entries TLB maintenance removed while live (0: the curves are exact for LRU).</param>
/// <param name="ProbeWalks">Walks the replay made (misses of the probe TLB).</param>
public sealed record MrcResult(IReadOnlyList<string> Inputs, IReadOnlyList<int> PageShifts, int Footprint, long Removals,
    IReadOnlyList<MissCurve> Curves, long ProbeWalks);

/// <summary>
/// One replay of the traces through a single unified TLB level (the probe) whose lookups feed
/// <see cref="MissRatioCurves"/>. The probe's size only decides how often the replay walks (a bigger probe walks
/// less), never the curves: every access names the entry that serves it whatever the probe holds. The model's
/// <see cref="CachingConfig.CoalesceContiguous"/> is kept, since it decides what one entry maps.
/// </summary>
public static class MrcRun
{
    /// <summary>Entries of the probe TLB: large enough that a replay of a few million pages rarely walks twice.</summary>
    public const int ProbeEntries = 1 << 18;
    public const int ProbeWays = 16;

    /// <summary>The single-level model the pass replays through (no walk caches: their hits would change nothing counted).</summary>
    public static ModelConfig ProbeModel(ModelConfig basis, int entries = ProbeEntries, int ways = ProbeWays) => new("mrc-probe",
        new CachingConfig([new TlbConfig("probe", TlbServes.Unified, entries, ways, 0)], [], null, basis.Caching.CoalesceContiguous),
        new TimingConfig([], 0));

    /// <summary>
    /// Replays <paramref name="traces"/> and returns the curves, with the error that stopped the replay early (bad
    /// input, the memory cap): the curves then cover the lines before it. <paramref name="started"/> is handed the
    /// replayer before it starts (a progress display reads its input and position).
    /// </summary>
    public static async ValueTask<(MrcResult Result, Exception? Error)> RunAsync(IReadOnlyList<string> traces, ModelConfig basis, MrcOptions options,
        ReplayOptions replay, ulong maxMemory, CancellationToken ct = default, Action<Replayer>? started = null)
    {
        var core = new SimulatedCore(new PhysicalMemory { MaxBytes = (long)maxMemory }, ProbeModel(basis));
        core.Mmu.Record.Detailed = false;
        var curves = new MissRatioCurves(options);
        core.Caches.Tlbs[0].Observer = curves;
        // A sink makes the replay take the per-access path: the batched run loop commits a run's hits in the order of
        // each entry's last hit, which keeps LRU state but not each access's stack distance.
        var replayer = new Replayer(core, NullSink.Instance, replay);
        started?.Invoke(replayer);
        Exception? error = null;
        try
        {
            await replayer.ReplayFilesAsync(traces, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TraceFormatException or MemoryLimitException or IOException)
        {
            error = e;
        }
        curves.Complete();
        return (new MrcResult(traces, curves.PageShifts, curves.Footprint, curves.Removals, curves.Curves(), core.Stats.Walks), error);
    }

    private sealed class NullSink : IOutcomeSink
    {
        public static readonly NullSink Instance = new();

        public void OnOutcome(in AccessOutcome outcome)
        {
        }
    }
}
