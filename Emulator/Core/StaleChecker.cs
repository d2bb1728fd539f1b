using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Translation;

namespace MmuSim.Core;

/// <summary>One access whose cached translation disagrees with the tables now in memory.</summary>
/// <param name="Source">The structure that supplied the stale information, e.g. "TLB L1D" or "walk cache S1WC".</param>
/// <param name="WriteLine">Trace line of the write that made it stale (0 when none was found).</param>
/// <param name="WritePa">For a table write, the PA of the descriptor written.</param>
/// <param name="Register">For a register write, its name; null for a table write.</param>
/// <param name="Fix">The TLB maintenance that would have removed the stale information.</param>
public sealed record StaleTranslation(
    long Line, ResultOp Op, ulong Va, byte El, string Source,
    bool CachedOk, ulong CachedPa, FaultInfo CachedFault,
    bool TablesOk, ulong TablesPa, FaultInfo TablesFault,
    long WriteLine, ulong WritePa, string? Register, string Fix)
{
    public static string Describe(bool ok, ulong pa, FaultInfo f) =>
        ok ? $"PA 0x{pa:x}" : $"{FaultInfo.TypeName(f.Type)} fault, stage {f.Stage}, level {f.Level}{(f.S1Ptw ? ", s1ptw" : "")}";

    public override string ToString()
    {
        string cause = Register is not null
            ? $"register {Register} written at line {WriteLine}"
            : WriteLine > 0 ? $"table write at line {WriteLine} (descriptor PA 0x{WritePa:x})" : "no write found after the entry was filled";
        return $"line {Line}: {ResultNames.Op(Op)} 0x{Va:x} at EL{El}: {Source} gives {Describe(CachedOk, CachedPa, CachedFault)}, "
            + $"the tables give {Describe(TablesOk, TablesPa, TablesFault)}; stale since {cause}; fix: {Fix}";
    }
}

/// <summary>Names of trace operations as the results schema spells them.</summary>
public static class ResultNames
{
    public static string Op(ResultOp op) => op switch { ResultOp.Read => "R", ResultOp.Write => "W", ResultOp.Fetch => "X", ResultOp.At => "at", _ => "dump" };
}

/// <summary>
/// The missing-TLBI detector. For an access that a TLB, walk-cache or IPA-cache hit translated, it translates the
/// access again with a second MMU that has no caches and writes nothing (hardware updates are decided, not made),
/// over the tables now in memory; when the outcomes differ (PA, or fault type, stage, level, S1PTW) it reports the
/// access, the latest trace write to a descriptor that second walk read (or register write) since the cached entry
/// was filled, and the TLBI that would have fixed it.
/// </summary>
public sealed class StaleChecker
{
    private readonly Mmu _shadow;
    // Keyed by a PA from the trace: a seeded hash, since the default one of ulong folds the halves together and
    // `(x << 32) | x` would all share one bucket chain.
    private readonly Dictionary<ulong, long> _memLines = new(new SeededUInt64Comparer());
    private readonly long[] _regLines = new long[SystemRegisters.Count];
    private readonly PhysicalMemory _memory;

    /// <summary>Bytes one remembered word costs (key, value, hash and chain of a dictionary entry, and its bucket).</summary>
    public const int BytesPerWord = 28;

    public StaleChecker(SystemRegisters registers, PhysicalMemory memory)
    {
        _shadow = new Mmu(registers, memory) { DryRun = true };
        _memory = memory;
    }

    /// <summary>Words whose last writing line is remembered.</summary>
    public int WordsRemembered => _memLines.Count;

    /// <summary>
    /// The PE is one of several: a fix for a table write names the broadcast (IS) TLBI, which reaches this PE's TLBs
    /// whichever PE issues it. A fix for a register write stays local: the register is this PE's.
    /// </summary>
    public bool SeveralPes { get; set; }

    /// <summary>Reports kept (the first <see cref="MaxKept"/>).</summary>
    public List<StaleTranslation> Reports { get; } = new();

    /// <summary>Stale accesses found, kept or not.</summary>
    public long Count { get; private set; }

    public int MaxKept { get; set; } = 1000;

    /// <summary>
    /// A `mem` line changed the word at <paramref name="pa"/> (a store of the value already there cannot make a
    /// translation stale and is not reported to the checker). The words remembered count against the memory's cap
    /// (<see cref="PhysicalMemory.MaxBytes"/>, `--max-memory`) together with the memory itself.
    /// </summary>
    /// <exception cref="MemoryLimitException">Memory and the words remembered would exceed the cap.</exception>
    public void OnMemoryWrite(ulong pa, long line)
    {
        ref long slot = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_memLines, pa & ~7UL, out bool existed);
        slot = line;
        if (!existed && _memory.AllocatedBytes + (long)_memLines.Count * BytesPerWord > _memory.MaxBytes)
        {
            throw new MemoryLimitException(
                $"simulated memory and --check-stale's {_memLines.Count} remembered words would exceed the cap of {_memory.MaxBytes} bytes (raise it with --max-memory)");
        }
    }

    /// <summary>A `reg` line wrote <paramref name="reg"/>.</summary>
    public void OnRegisterWrite(SysReg reg, long line) => _regLines[(int)reg] = line;

    /// <summary>What the cached translation looked like, for the fix.</summary>
    public struct CachedShape
    {
        /// <summary>Which structure supplied it.</summary>
        public string Source;
        /// <summary>Earliest fill line among the cached entries used.</summary>
        public long FillLine;
        /// <summary>Stage-1 leaf level of a TLB entry (−1 when the stale part came from a walk cache).</summary>
        public int S1Level;
        public bool Global;
        public ushort Asid;
    }

    /// <summary>Compares a cached outcome with the tables; records a report when they differ.</summary>
    public void Check(in AccessRequest req, ResultOp op, long line, bool ok, ulong pa, in FaultInfo fault, in CachedShape shape)
    {
        bool tablesOk = _shadow.Translate(in req, out var t);
        bool same = ok == tablesOk && (ok ? pa == t.Pa
            : fault.Type == t.Fault.Type && fault.Stage == t.Fault.Stage && fault.Level == t.Fault.Level && fault.S1Ptw == t.Fault.S1Ptw);
        if (same)
        {
            return;
        }
        Count++;
        if (Reports.Count >= MaxKept)
        {
            return;
        }
        long bestLine = 0;
        WalkStep culprit = default;
        foreach (ref readonly var s in _shadow.Record.Steps)
        {
            if (s.Kind == StepKind.Read && !s.NotRead && _memLines.TryGetValue(s.DescriptorPa & ~7UL, out long l)
                && l > shape.FillLine && l > bestLine)
            {
                bestLine = l;
                culprit = s;
            }
        }
        string? register = null;
        string fix;
        ulong vpage = (req.Va.Value & BitOps.Mask(55, 0)) >> 12;
        var regime = _shadow.RegimeOf(req.El);
        if (bestLine > 0)
        {
            fix = FixFor(in culprit, regime, shape, vpage);
            if (SeveralPes)
            {
                // Memory is every PE's: the store's maintenance must reach this PE's TLBs from whichever PE runs it.
                fix = System.Text.RegularExpressions.Regex.Replace(fix, @"tlbi ([A-Z0-9]+)", "tlbi $1IS");
            }
        }
        else
        {
            var reg = SysReg.SCTLR_EL1;
            for (int r = 0; r < _regLines.Length; r++)
            {
                if (_regLines[r] > shape.FillLine && _regLines[r] > bestLine)
                {
                    bestLine = _regLines[r];
                    reg = (SysReg)r;
                }
            }
            if (bestLine > 0)
            {
                register = reg.ToString();
                fix = reg switch
                {
                    SysReg.VTTBR_EL2 or SysReg.VTCR_EL2 or SysReg.HCR_EL2 => "tlbi VMALLS12E1",
                    SysReg.TTBR0_EL2 or SysReg.TCR_EL2 or SysReg.SCTLR_EL2 or SysReg.MAIR_EL2 => "tlbi ALLE2",
                    _ when SystemRegisters.IsIdRegister(reg) => "tlbi ALLE1, then tlbi ALLE2",
                    _ => "tlbi VMALLE1",
                };
            }
            else
            {
                // Everything of the regime: with stage 2, the combined entries and the stage-2 ones too.
                fix = regime.HasStage2() ? "tlbi VMALLS12E1" : $"tlbi ALLE{regime.ControllingEl()}";
            }
        }
        Reports.Add(new StaleTranslation(line, op, req.Va.Value, req.El, shape.Source, ok, pa, fault, tablesOk, t.Pa, t.Fault,
            bestLine, register is null ? culprit.DescriptorPa : 0, register, fix));
    }

    /// <summary>
    /// The TLBI for a changed descriptor (arm-notes §8.2): a stage-2 descriptor needs IPAS2E1 for its IPA and then
    /// VMALLE1 (combined entries survive IPAS2E1); a stage-1 leaf the last-level form (VALE1, or VAALE1 for a
    /// global page); a stage-1 table descriptor the all-levels form, which also reaches the walk caches.
    /// </summary>
    private static string FixFor(in WalkStep culprit, TranslationRegime regime, in CachedShape shape, ulong vpage)
    {
        if (culprit.Stage == 2)
        {
            return $"tlbi IPAS2E1 0x{culprit.InputAddress >> 12:x}, then tlbi VMALLE1";
        }
        bool leaf = shape.S1Level >= 0 && culprit.Level >= shape.S1Level;
        int e = regime.ControllingEl(); // the TLBI forms for the regime's translations: ...E1 or ...E2
        if (!regime.HasAsid())
        {
            return leaf ? $"tlbi VALE{e} 0x{vpage:x}" : $"tlbi VAE{e} 0x{vpage:x}";
        }
        if (shape.Global)
        {
            return leaf ? $"tlbi VAALE{e} 0x{vpage:x}" : $"tlbi VAAE{e} 0x{vpage:x}";
        }
        ulong xt = ((ulong)shape.Asid << 48) | vpage;
        return leaf ? $"tlbi VALE{e} 0x{xt:x}" : $"tlbi VAE{e} 0x{xt:x}";
    }
}
