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
        // Every access on its own, in order: the batched run loop commits a run's hits in the order of each entry's
        // last hit, which keeps LRU state but not each access's stack distance.
        var replayer = new Replayer(core, null, replay with { InOrder = true });
        started?.Invoke(replayer);
        Exception? error = null;
        for (int i = 0; i < traces.Count && error is null; i++)
        {
            error = await PassAsync(replayer, traces[i], i, replay, ct).ConfigureAwait(false);
        }
        curves.Complete();
        return (new MrcResult(traces, curves.PageShifts, curves.Footprint, curves.Removals, curves.Curves(), core.Stats.Walks), error);
    }

    /// <summary>Parse chunks (2^20 accesses each) a pass keeps ahead of it: enough that the parser never waits long, little memory.</summary>
    private const int PassRingChunks = 3;

    /// <summary>Accesses the pass replays between looks at whether the parser has more.</summary>
    private const long PassBudget = 1 << 20;

    /// <summary>
    /// Input <paramref name="index"/> through the pass. Our own formats are parsed on a thread of their own a few
    /// chunks ahead (a bounded recording with one reader), so that parsing and the pass share the machine's cores
    /// instead of taking turns: the same calls in the same order as a replay of the file (what the parser read before
    /// a malformed line, then its error). Foreign formats are parsed on the pass's thread (below). Returns the error
    /// that ends the pass (bad input, the memory cap, an interrupt), or null.
    /// </summary>
    private static async ValueTask<Exception?> PassAsync(Replayer replayer, string path, int index, ReplayOptions replay, CancellationToken ct)
    {
        TraceInput input;
        try
        {
            input = TraceInput.Open(path, replay.Format);
        }
        catch (Exception e) when (e is TraceFormatException or IOException)
        {
            return e;
        }
        await using (input.ConfigureAwait(false))
        {
            if (input.IsForeign)
            {
                // lackey, ChampSim and QEMU inputs reach the handler one access (and one instruction record) at a time:
                // handing each across threads costs more than parsing it (an mrc of `sort` under lackey: 1.0 s through
                // a recording, 0.57 s parsed on the pass's own thread), so they are parsed here.
                try
                {
                    await replayer.ReplayAsync(input, index, ct).ConfigureAwait(false);
                    return null;
                }
                catch (Exception e) when (e is TraceFormatException or MemoryLimitException or IOException)
                {
                    return e;
                }
                catch (OperationCanceledException e) when (ct.IsCancellationRequested)
                {
                    return new OperationCanceledException("interrupted", e, ct); // as below: the curves keep what was read
                }
            }
            var recording = RecordedTrace.BeginBounded(input, readers: 1, PassRingChunks);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var parse = Task.Run(async () => await recording.FillAsync(input, replay.Parse, ct: stop.Token).ConfigureAwait(false), CancellationToken.None);
            Exception? error = null;
            try
            {
                replayer.BeginRecordedPart(recording, index, input);
                while (replayer.ReplayRecordedPart(recording, 0, PassBudget) == RecordedPart.Paused)
                {
                    ct.ThrowIfCancellationRequested();
                    recording.WaitToRead(0);
                }
            }
            catch (RecordingFailedException e) when (e.InnerException is TraceFormatException or IOException)
            {
                error = e.InnerException; // the parser's own error: file, line and column
            }
            catch (MemoryLimitException e)
            {
                error = e;
            }
            catch (Exception e) when (ct.IsCancellationRequested && e is OperationCanceledException or RecordingFailedException { InnerException: OperationCanceledException })
            {
                // Interrupted (SIGINT): the curves keep what the pass read, as after a malformed line.
                error = new OperationCanceledException("interrupted", e, ct);
            }
            finally
            {
                recording.Leave(0);
                if (error is not null)
                {
                    await stop.CancelAsync().ConfigureAwait(false);
                }
            }
            try
            {
                await parse.ConfigureAwait(false);
            }
            catch (Exception e) when (error is not null || e is TraceFormatException or IOException)
            {
                error ??= e; // already reported through the pass, or stopped with it
            }
            return error;
        }
    }
}
