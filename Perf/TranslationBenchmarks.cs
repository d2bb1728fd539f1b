using BenchmarkDotNet.Attributes;
using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Registers;
using MmuSim.Tracing;

namespace MmuSim.Perf;

/// <summary>
/// A core with the standard 4K layout of the tests: stage 1 from L0 (4 levels), optionally nested in stage 2 from
/// L0 (4 levels), so a cold walk reads 4 or 24 descriptors. Pages at VA 0x1000_0000.. map to IPA 0x4100_0000...
/// </summary>
internal static class Setup
{
    public static SimulatedCore Core(ModelConfig config, bool twoStage, int pages)
    {
        var core = new SimulatedCore(config: config);
        var s1 = new PageTableBuilder(core.Memory, Granule.K4, 48, 0, new FrameAllocator(0x4000_0000, 0x10_0000));
        PageTableBuilder? s2 = null;
        if (twoStage)
        {
            s2 = new PageTableBuilder(core.Memory, Granule.K4, 40, 0, new FrameAllocator(0x8000_0000, 0x10_0000));
            s1.TableToPhysical = ipa => ipa + 0x5000_0000;
            s2.MapRange(0x4000_0000, 0x9000_0000, 0x200_0000 + (ulong)pages * 0x1000, (oa, l) => Descriptors.Stage2Leaf(oa, l, Granule.K4), allowBlocks: false);
        }
        for (int i = 0; i < pages; i++)
        {
            // Spread over many L3 tables so that cold walks do not share lines more than real ones would.
            ulong va = 0x1000_0000 + (ulong)i * 0x1000;
            s1.Set(va, 3, Descriptors.Stage1Leaf(0x4100_0000 + (ulong)i * 0x1000, 3, Granule.K4, nG: true));
        }
        Enable(core, s1, s2);
        return core;
    }

    /// <summary>
    /// Turns the MMU on over <paramref name="s1"/> (4K, 48-bit VA, TTBR0_EL1, ASID 1) and, when given,
    /// <paramref name="s2"/> (4K, 40-bit IPA from level 0, VMID 1), through register writes as a trace makes them.
    /// </summary>
    public static void Enable(SimulatedCore core, PageTableBuilder s1, PageTableBuilder? s2)
    {
        void Reg(SysReg r, ulong v)
        {
            var rec = new TraceRecord { Op = TraceOp.Reg, Reg = r, Value = v };
            core.Execute(in rec, out _);
        }
        if (s2 is not null)
        {
            Reg(SysReg.VTCR_EL2, 0x8002_3598);
            Reg(SysReg.VTTBR_EL2, (1UL << 48) | s2.Root);
            Reg(SysReg.HCR_EL2, 0x8000_0001);
        }
        Reg(SysReg.MAIR_EL1, 0xff);
        Reg(SysReg.TCR_EL1, 0x0000_0002_8080_3510);
        Reg(SysReg.TTBR0_EL1, (1UL << 48) | s1.Root);
        Reg(SysReg.SCTLR_EL1, 1);
    }

    public static TraceRecord[] Accesses(int count, Func<int, ulong> va)
    {
        var recs = new TraceRecord[count];
        for (int i = 0; i < count; i++)
        {
            recs[i] = new TraceRecord { Op = i % 5 == 0 ? TraceOp.Write : TraceOp.Read, Address = va(i), Size = 8, Line = i + 1 };
        }
        return recs;
    }

    /// <summary>Executes every record; returns a checksum so the work cannot be skipped.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static ulong Run(SimulatedCore core, TraceRecord[] recs)
    {
        ulong sum = 0;
        for (int i = 0; i < recs.Length; i++)
        {
            core.Execute(in recs[i], out var o);
            sum += o.Pa + (ulong)o.Cycles;
        }
        return sum;
    }
}

/// <summary>
/// The TLB-hit path: accesses that hit the first TLB level, through SimulatedCore.Execute (key, lookup,
/// permission check, outcome, statistics), and as a run of accesses. One operation = one access.
/// </summary>
[MemoryDiagnoser]
public class TlbHitBenchmarks
{
    private const int Batch = 4096;
    private SimulatedCore _core = null!;
    private TraceRecord[] _recs = null!;

    [Params("bench", "neoverse-n1")]
    public string Preset { get; set; } = "bench";

    [Params(false, true)]
    public bool TwoStage { get; set; }

    [GlobalSetup]
    public void GlobalSetup()
    {
        _core = Setup.Core(Presets.All[Preset], TwoStage, pages: 16);
        // 16 pages, 8-byte steps: every access after the first 16 hits the L1 TLB.
        _recs = Setup.Accesses(Batch, i => 0x1000_0000 + (ulong)(i / 256 % 16) * 0x1000 + (ulong)(i % 256) * 8);
        _run = _recs.Select(r => new PlainAccess { Va = r.Address, Op = r.Op, Size = r.Size }).ToArray();
        Setup.Run(_core, _recs);
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public ulong TlbHit() => Setup.Run(_core, _recs);

    /// <summary>
    /// The same accesses as one run (<see cref="SimulatedCore.ExecuteAccessRun"/>, what a replay without results
    /// does with the parser's runs): every access but the first on each page is a hit counted in the run loop.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public ulong TlbHitRun()
    {
        long line = 0;
        _core.ExecuteAccessRun(_run, 1, ref line);
        return (ulong)_core.Stats.TlbHits + (ulong)line;
    }

    private PlainAccess[] _run = null!;
}

/// <summary>
/// Cold walks: no TLB, no walk cache, no walker cache (preset "uncached"), so every access walks from the root:
/// 4 descriptor reads with one stage, 24 nested. One operation = one access = one walk.
/// </summary>
[MemoryDiagnoser]
public class ColdWalkBenchmarks
{
    private const int Batch = 1024;
    private SimulatedCore _core = null!;
    private TraceRecord[] _recs = null!;

    [Params(false, true)]
    public bool TwoStage { get; set; }

    [GlobalSetup]
    public void GlobalSetup()
    {
        _core = Setup.Core(Presets.Uncached, TwoStage, pages: 1024);
        _recs = Setup.Accesses(Batch, i => 0x1000_0000 + (ulong)(i * 613 % 1024) * 0x1000);
        Setup.Run(_core, _recs);
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public ulong ColdWalk() => Setup.Run(_core, _recs);
}
