using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using MmuSim.Analysis;
using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Replay;
using MmuSim.Tracing;

namespace MmuSim.Perf;

/// <summary>
/// The analysis side's per-access work: one sweep run over a recorded input (as <c>sweep --stream off</c> runs it),
/// the same run read in parts from a bounded recording (as <c>--stream on</c> and the MRC pass read theirs), and the
/// MRC pass's curve bookkeeping. Each invocation gets a system made beforehand (IterationSetup) that has replayed the
/// input once already, so that what is measured is a replay alone, after every structure that grows with the input
/// (frames, TLB and memo arrays, the MRC stacks) has grown: times and allocations are per access
/// (OperationsPerInvoke), and "Allocated" must read 0 B. (On a fresh system, the first pass allocates about 1 B per
/// access for the run's structures and 45 B per access for the MRC stacks of 2^18 distinct pages: memory that grows
/// with the input's footprint, not garbage per access.)
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class AnalysisBenchmarks
{
    private const int Accesses = 1 << 20;

    private byte[] _text = [];
    private RecordedTrace? _recorded;
    private Replayer? _replayer;
    private MissRatioCurves? _curves;

    private sealed class Config : ManualConfig
    {
        public Config() => AddJob(Job.Default.WithStrategy(RunStrategy.Monitoring).WithInvocationCount(1).WithUnrollFactor(1)
            .WithWarmupCount(2).WithIterationCount(8).WithLaunchCount(1));
    }

    [GlobalSetup]
    public void GlobalSetup()
    {
        // One stage, identity-mapped 2 MiB blocks over 1 GiB, accesses at random 4 KiB pages of it: the first-level
        // TLB misses often and walks stay short, so the loop and the TLBs are what is timed.
        var sb = new System.Text.StringBuilder();
        sb.Append("ram 0x0 0x80000000\n");
        sb.Append("mem 0x40000000 0x40001003\n");
        for (int i = 0; i < 512; i++)
        {
            sb.Append($"mem 0x{0x40001000 + 8 * i:x} 0x{((ulong)i << 21) | 0x401:x}\n");
        }
        sb.Append("reg MAIR_EL1 0xff\nreg TCR_EL1 0x19\nreg TTBR0_EL1 0x40000000\nreg SCTLR_EL1 0x1\n");
        var rng = new Random(1);
        for (int i = 0; i < Accesses; i++)
        {
            sb.Append(rng.Next(4) == 0 ? 'W' : 'R').Append(" 0x").Append(((ulong)rng.Next(1 << 18) << 12 | (ulong)rng.Next(512) << 3).ToString("x")).Append('\n');
        }
        _text = System.Text.Encoding.ASCII.GetBytes(sb.ToString());
        using var input = TraceInput.Open(new MemoryStream(_text), "bench.trace");
        _recorded = RecordedTrace.RecordAsync(input, new ParseOptions()).AsTask().GetAwaiter().GetResult();
    }

    private static Replayer NewReplayer(IOutcomeSink? sink = null)
    {
        var core = new SimulatedCore(new PhysicalMemory(), Presets.Bench);
        core.Mmu.Record.Detailed = false;
        return new Replayer(core, sink, new ReplayOptions());
    }

    [IterationSetup(Target = nameof(RecordedSweepRun))]
    public void NewSystem()
    {
        _replayer = NewReplayer();
        _replayer.ReplayRecorded(_recorded!);
    }

    [IterationSetup(Target = nameof(BoundedSweepRun))]
    public void NewSystemAndBoundedRecording()
    {
        _replayer = NewReplayer();
        _replayer.ReplayRecorded(_recorded!);
        // A reader that has read a bounded recording to its end has left it: each invocation reads a new one, parsed
        // whole here (its ring holds all of it) so that the parse is not measured.
        using var input = TraceInput.Open(new MemoryStream(_text), "bench.trace");
        _bounded = RecordedTrace.BeginBounded(input, readers: 1, ringChunks: 8);
        _bounded.FillAsync(input, new ParseOptions()).AsTask().GetAwaiter().GetResult();
    }

    [IterationSetup(Target = nameof(MrcPass))]
    public void NewProbe()
    {
        var core = new SimulatedCore(new PhysicalMemory(), MrcRun.ProbeModel(Presets.Bench));
        core.Mmu.Record.Detailed = false;
        _curves = new MissRatioCurves(new MrcOptions { SetCounts = [16], L1Entries = 64 });
        core.Caches.Tlbs[0].Observer = _curves;
        _replayer = new Replayer(core, new Discard(), new ReplayOptions());
        _replayer.ReplayRecorded(_recorded!);
    }

    /// <summary>One sweep run over the recorded input, start to end.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Accesses)]
    public bool RecordedSweepRun() => _replayer!.ReplayRecorded(_recorded!);

    /// <summary>The same run read in parts of 2^16 accesses from a bounded recording filled beforehand (one reader).</summary>
    [Benchmark(OperationsPerInvoke = Accesses)]
    public RecordedPart BoundedSweepRun()
    {
        var bounded = _bounded!;
        _replayer!.BeginRecordedPart(bounded, 0);
        RecordedPart part;
        while ((part = _replayer.ReplayRecordedPart(bounded, 0, 1 << 16)) == RecordedPart.Paused)
        {
        }
        return part;
    }

    /// <summary>The MRC pass: the per-access path through the probe TLB, every lookup into the stacks (full, 16 sets, L2 behind a 64-entry L1).</summary>
    [Benchmark(OperationsPerInvoke = Accesses)]
    public int MrcPass()
    {
        _replayer!.ReplayRecorded(_recorded!);
        _curves!.Complete();
        return _curves.Footprint;
    }

    private RecordedTrace? _bounded;

    private sealed class Discard : IOutcomeSink
    {
        public void OnOutcome(in AccessOutcome outcome)
        {
        }
    }
}
