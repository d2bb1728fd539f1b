using BenchmarkDotNet.Attributes;
using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Core;
using MmuSim.Tracing;

namespace MmuSim.Perf;

/// <summary>
/// A run of accesses that all miss the TLBs (preset "bench", two stages, 4K at both), as a replay without results
/// runs them (<see cref="SimulatedCore.ExecuteAccessRun"/>), with the walk prefetches on and off. The pages lie 64 KiB
/// apart, so the 256 Ki pages use 8 Ki last-level tables at each stage (64 MiB of tables, more than the host's
/// caches) and random order makes every walk's last-level reads miss them, as on the yardstick's <c>cold</c> trace.
/// One operation = one access = one nested walk.
/// </summary>
[MemoryDiagnoser]
public class WalkRunBenchmarks
{
    private const int Pages = 256 * 1024;
    private const int Batch = 16 * 1024;
    private const ulong VaBase = 0x10_0000_0000;
    private const ulong IpaBase = 0x1_0000_0000;
    private const ulong Stride = 0x1_0000;
    private SimulatedCore _core = null!;
    private PlainAccess[] _run = null!;
    private int _next;

    [Params(false, true)]
    public bool Prefetch { get; set; }

    [GlobalSetup]
    public void GlobalSetup()
    {
        _core = new SimulatedCore(config: Presets.Bench) { PrefetchWalks = Prefetch };
        _core.Mmu.Record.Detailed = false; // as the CLI replays without results
        var s1 = new PageTableBuilder(_core.Memory, Granule.K4, 48, 0, new FrameAllocator(0x4000_0000, 0x400_0000));
        var s2 = new PageTableBuilder(_core.Memory, Granule.K4, 40, 0, new FrameAllocator(0x8000_0000, 0x800_0000));
        s1.TableToPhysical = ipa => ipa + 0x5000_0000;
        s2.MapRange(0x4000_0000, 0x9000_0000, 0x400_0000, (oa, l) => Descriptors.Stage2Leaf(oa, l, Granule.K4), allowBlocks: false);
        for (ulong i = 0; i < Pages; i++)
        {
            ulong ipa = IpaBase + i * Stride;
            s1.Set(VaBase + i * Stride, 3, Descriptors.Stage1Leaf(ipa, 3, Granule.K4, nG: true));
            s2.Set(ipa, 3, Descriptors.Stage2Leaf(0x2_0000_0000 + i * Stride, 3, Granule.K4));
        }
        Setup.Enable(_core, s1, s2);
        var rng = new Random(7);
        _run = new PlainAccess[Pages];
        for (int i = 0; i < Pages; i++)
        {
            ulong va = VaBase + (ulong)rng.Next(Pages) * Stride + (ulong)rng.Next(512) * 8;
            _run[i] = new PlainAccess { Op = i % 3 == 0 ? TraceOp.Write : TraceOp.Read, Va = va, Size = 8 };
        }
        for (int k = 0; k < Pages / Batch; k++)
        {
            Walk(); // the whole order once: the memos and hints as in the middle of a long replay
        }
    }

    /// <summary>The next <see cref="Batch"/> accesses of the random order (the order wraps).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long Walk()
    {
        long line = 0;
        _core.ExecuteAccessRun(_run.AsSpan(_next, Batch), 1, ref line);
        _next = (_next + Batch) % Pages;
        return _core.Stats.Walks + line;
    }
}
