using BenchmarkDotNet.Attributes;
using MmuSim.Core;
using MmuSim.Tracing;

namespace MmuSim.Perf;

/// <summary>
/// The timeline's cost per access against the additive model alone (the baseline), through the PE's run loop as a
/// replay without results runs it: TLB hits (16 pages, preset neoverse-n1, one stage) and walks (preset uncached,
/// two stages: every access walks 24 descriptors). The timeline must allocate nothing per access.
/// </summary>
[MemoryDiagnoser]
public class TimelineBenchmarks
{
    private const int Batch = 16 * 1024;
    private const int Pages = 4096;
    private SimulatedCore _hitCore = null!;
    private SimulatedCore _walkCore = null!;
    private PlainAccess[] _hits = null!;
    private PlainAccess[] _walks = null!;

    [Params(false, true)]
    public bool Timeline { get; set; }

    [GlobalSetup]
    public void GlobalSetup()
    {
        _hitCore = Setup.Core(Presets.NeoverseN1, twoStage: false, pages: 16);
        _walkCore = Setup.Core(Presets.Uncached, twoStage: true, pages: Pages);
        foreach (var core in new[] { _hitCore, _walkCore })
        {
            core.Mmu.Record.Detailed = false; // as the CLI replays without results
            if (Timeline)
            {
                core.StartTimeline();
            }
        }
        var rng = new Random(3);
        _hits = new PlainAccess[Batch];
        _walks = new PlainAccess[Batch];
        for (int i = 0; i < Batch; i++)
        {
            _hits[i] = new PlainAccess { Op = i % 4 == 0 ? TraceOp.Write : TraceOp.Read, Va = 0x1000_0000 + (ulong)rng.Next(16) * 0x1000 + (ulong)rng.Next(512) * 8, Size = 8 };
            _walks[i] = new PlainAccess { Op = TraceOp.Read, Va = 0x1000_0000 + (ulong)rng.Next(Pages) * 0x1000, Size = 8 };
        }
        TlbHits();
        Walks();
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public long TlbHits()
    {
        long line = 0;
        _hitCore.ExecuteAccessRun(_hits.AsSpan(), 1, ref line);
        return _hitCore.Stats.TranslationCycles + (_hitCore.Timeline?.TotalCycles ?? 0) + line;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public long Walks()
    {
        long line = 0;
        _walkCore.ExecuteAccessRun(_walks.AsSpan(), 1, ref line);
        return _walkCore.Stats.TranslationCycles + (_walkCore.Timeline?.TotalCycles ?? 0) + line;
    }
}
