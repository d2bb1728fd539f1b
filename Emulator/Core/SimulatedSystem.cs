using MmuSim.Addressing;
using MmuSim.Caching;
using MmuSim.Memory;
using MmuSim.Registers;

namespace MmuSim.Core;

/// <summary>
/// What the PEs of one machine share: physical memory (and with it the translation tables every PE walks), the
/// model configuration each PE is built from, and the PEs themselves. A PE (<see cref="SimulatedCore"/>) holds
/// everything of its own: registers, EL, TLBs and walk caches, statistics, its access path. A second PE is one
/// more instance (<see cref="AddPe"/>); a store to memory is seen by every PE's walks at once, while what a PE
/// has cached stays its own until its own maintenance removes it (Arm ARM D8.13, "TLB maintenance").
/// </summary>
public sealed class SimulatedSystem
{
    private readonly List<SimulatedCore> _pes = new();

    /// <param name="memory">Physical memory shared by every PE (a new, empty one when null).</param>
    /// <param name="config">The model of each PE: TLBs, walk caches, cycle model (<see cref="ModelConfig.Default"/> when null).</param>
    public SimulatedSystem(PhysicalMemory? memory = null, ModelConfig? config = null)
    {
        Memory = memory ?? new PhysicalMemory();
        Config = config ?? ModelConfig.Default;
    }

    public PhysicalMemory Memory { get; }

    /// <summary>The model every PE of this system is built from (the configuration describes one PE).</summary>
    public ModelConfig Config { get; }

    /// <summary>The PEs, by number (PE n is <c>Pes[n]</c>).</summary>
    public IReadOnlyList<SimulatedCore> Pes => _pes;

    /// <summary>A new PE, numbered after the last one, with its own registers (at reset: EL1, MMUs off) and caches.</summary>
    public SimulatedCore AddPe() => new(this);

    /// <summary>Called by a PE's constructor: the PE's number.</summary>
    internal int Attach(SimulatedCore pe)
    {
        _pes.Add(pe);
        if (_pes.Count > 1)
        {
            foreach (var other in _pes)
            {
                if (other.Stale is { } stale)
                {
                    stale.SeveralPes = true;
                }
            }
        }
        return _pes.Count - 1;
    }

    /// <summary>
    /// A 64-bit store to physical memory (a trace's `mem` line): visible to every PE's next walk; every PE's stale
    /// checker notes which line last wrote the word.
    /// </summary>
    public void WriteMemory(ulong pa, ulong value, long line)
    {
        // A store of the value already there changes no translation: the checkers are told of changes only, which
        // also keeps what they remember within the words memory holds (zeros over zeros allocate nothing).
        bool changed = Memory.Peek64(new PhysicalAddress(pa)) != value;
        Memory.Write64(new PhysicalAddress(pa), value);
        if (!changed)
        {
            return;
        }
        foreach (var pe in _pes)
        {
            pe.Stale?.OnMemoryWrite(pa, line);
        }
    }

    /// <summary>Consecutive 64-bit stores from <paramref name="pa"/> up (the words of one `mem` line).</summary>
    public void WriteMemoryWords(ulong pa, ReadOnlySpan<ulong> words, long line)
    {
        var memory = Memory;
        if (_pes.Count == 1 && _pes[0].Stale is null)
        {
            // The common case, a single PE without the stale checker: nothing to tell anyone.
            for (int i = 0; i < words.Length; i++)
            {
                memory.Write64(new PhysicalAddress(pa + ((ulong)i << 3)), words[i]);
            }
            return;
        }
        for (int i = 0; i < words.Length; i++)
        {
            WriteMemory(pa + ((ulong)i << 3), words[i], line);
        }
    }

    /// <summary>
    /// A decoded TLBI broadcast by one PE (IS/OS forms, HCR_EL2.FB): applied to the TLBs and walk caches of every PE
    /// with the issuing PE's VMID and regimes, which <paramref name="t"/> was decoded against.
    /// </summary>
    public void InvalidateAll(in TlbiOperation t, ushort vmid, TranslationRegime e1Regime, TranslationRegime e2Regime)
    {
        foreach (var pe in _pes)
        {
            pe.Caches.Invalidate(in t, vmid, e1Regime, e2Regime);
        }
    }

    /// <summary>An ID register written by <paramref name="writer"/> (which has set its own): set on every other PE too.</summary>
    internal void WriteIdRegister(SimulatedCore writer, SysReg reg, ulong value, long line)
    {
        foreach (var pe in _pes)
        {
            if (pe != writer)
            {
                pe.SetIdRegister(reg, value, line);
            }
        }
    }

    /// <summary>Declares RAM (a trace's `ram` line): reads elsewhere are external aborts on every PE.</summary>
    public void DeclareRam(ulong baseAddress, ulong size) => Memory.DeclareRam(new PhysicalAddress(baseAddress), size);

    /// <summary>The 64-bit word at <paramref name="pa"/> (a trace's `dump` line), as memory holds it.</summary>
    public ulong Peek64(ulong pa) => Memory.Peek64(new PhysicalAddress(pa));
}
