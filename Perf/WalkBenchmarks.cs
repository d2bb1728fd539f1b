using BenchmarkDotNet.Attributes;
using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Translation;

namespace MmuSim.Perf;

/// <summary>
/// Full table walks without any TLB: a 4-level stage-1 walk (1D, 4 descriptor reads) and the same under a
/// 4-level stage 2 (2D, 24 descriptor reads). Each operation translates one access; MemoryDiagnoser must show 0 B.
/// </summary>
[MemoryDiagnoser]
public class WalkBenchmarks
{
    private const int Pages = 4096;
    private Mmu _mmu = null!;
    private ulong[] _vas = null!;
    private int _next;

    [Params(false, true)]
    public bool TwoStages { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var regs = new SystemRegisters();
        var mem = new PhysicalMemory();
        // Stage 1: 4K, T0SZ=16 (48-bit VA, start level 0); tables at IPA 0x4000_0000.., pages scattered.
        var s1 = new PageTableBuilder(mem, Granule.K4, 48, 0, new FrameAllocator(0x4000_0000, 0x1000_0000));
        var rng = new Random(1);
        _vas = new ulong[Pages];
        for (int i = 0; i < Pages; i++)
        {
            ulong va = (ulong)rng.NextInt64(0, 1L << 36) & ~0xFFFUL;
            _vas[i] = va | 0x10;
            s1.Set(va, 3, Descriptors.Stage1Leaf(0x8_0000_0000UL + ((ulong)i << 12), 3, Granule.K4, attrIndx: 0));
        }
        regs[SysReg.MAIR_EL1] = 0xFF;
        regs[SysReg.TCR_EL1] = 16 | (1UL << 23) | (2UL << 30) | (5UL << 32); // T0SZ=16, EPD1, TG1=4K, IPS=48
        regs[SysReg.TTBR0_EL1] = s1.Root;
        regs[SysReg.SCTLR_EL1] = 1;
        if (TwoStages)
        {
            // Stage 2: 4K, T0SZ=16, SL0=2 (start level 0): identity map of the table pool and the pages, 4K pages
            // only so that every nested walk is 4 levels deep.
            var s2 = new PageTableBuilder(mem, Granule.K4, 48, 0, new FrameAllocator(0x2_0000_0000, 0x1000_0000));
            for (ulong a = 0x4000_0000; a < 0x4000_0000 + 0x80_0000; a += 0x1000)
            {
                s2.Set(a, 3, Descriptors.Stage2Leaf(a, 3, Granule.K4));
            }
            for (int i = 0; i < Pages; i++)
            {
                ulong ipa = 0x8_0000_0000UL + ((ulong)i << 12);
                s2.Set(ipa, 3, Descriptors.Stage2Leaf(ipa, 3, Granule.K4));
            }
            regs[SysReg.VTCR_EL2] = 16 | (2UL << 6) | (5UL << 16) | (1UL << 31);
            regs[SysReg.VTTBR_EL2] = s2.Root;
            regs[SysReg.HCR_EL2] = (1UL << 31) | 1;
        }
        _mmu = new Mmu(regs, mem);
        var check = new AccessRequest(new VirtualAddress(_vas[0]), 1, AccessType.Read);
        if (!_mmu.Translate(in check, out var r) || _mmu.Record.Reads != (TwoStages ? 24 : 4))
        {
            throw new InvalidOperationException($"benchmark set-up is wrong: {r.Fault} after {_mmu.Record.Reads} reads");
        }
    }

    [Benchmark(OperationsPerInvoke = 1)]
    public ulong ColdWalk()
    {
        int i = _next++ & (Pages - 1);
        var req = new AccessRequest(new VirtualAddress(_vas[i]), 1, AccessType.Read);
        _mmu.Translate(in req, out var r);
        return r.Pa;
    }
}
