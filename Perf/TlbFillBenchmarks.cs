using BenchmarkDotNet.Attributes;
using MmuSim.Caching;

namespace MmuSim.Perf;

/// <summary>
/// What a walk's fill costs on its own: one 4K entry into a TLB like the bench preset's (64 × 4 and 1024 × 8, LRU),
/// at random pages so that every fill evicts. MemoryDiagnoser must show 0 B.
/// </summary>
[MemoryDiagnoser]
public class TlbFillBenchmarks
{
    private const int Pages = 1 << 16;
    private Tlb _tlb = null!;
    private ulong[] _vas = null!;
    private int _next;
    private TlbEntry _entry;

    [Params(4, 8)]
    public int Ways { get; set; }

    [Params(64, 1024)]
    public int Entries { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _tlb = new Tlb(new TlbConfig("L2", TlbServes.Unified, Entries, Ways, 6));
        var rng = new Random(1);
        _vas = new ulong[Pages];
        for (int i = 0; i < Pages; i++)
        {
            _vas[i] = (ulong)rng.NextInt64(0, 1L << 36) & ~0xFFFUL;
        }
        _entry = new TlbEntry { PaBase = 0x8000_0000, Shift = 12, S1Permissions = 0x1FF, S2Permissions = 0x3F };
        _entry.Seal();
    }

    [Benchmark]
    public int Fill()
    {
        ulong va = _vas[_next++ & (Pages - 1)];
        _entry.PaBase = va;
        _tlb.Fill(va, 1, in _entry);
        return _tlb.Count;
    }
}
