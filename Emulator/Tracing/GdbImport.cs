using System.Text;
using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Translation;

namespace MmuSim.Tracing;

/// <summary>
/// `import qemu-gdb`: a stopped QEMU's translation state through its gdbstub. Every vCPU's translation registers by
/// the names QEMU's target description gives them (its system-register feature: `SCTLR` for SCTLR_EL1, `TCR_EL1`,
/// `TTBR0_EL1`, `HCR_EL2`, `VTTBR_EL2`, the ID registers...) and PSTATE (`cpsr`: EL in [3:2], PAN in [22]); then, in
/// QEMU's physical-memory mode (`Qqemu.PhyMemMode:1`), every table reachable from those registers (stage 2 first, so
/// that stage-1 tables at IPAs are found through it). The setup holds the tables as `mem` lines and one `cpu` block
/// per vCPU.
/// </summary>
public static class GdbImport
{
    /// <summary>Trace-format registers and the names a gdb target description may give them (QEMU spells SCTLR_EL1 `SCTLR`).</summary>
    public static readonly (SysReg Reg, string[] Names)[] Spellings =
    [
        (SysReg.SCTLR_EL1, ["SCTLR_EL1", "SCTLR"]),
        (SysReg.TCR_EL1, ["TCR_EL1"]),
        (SysReg.TTBR0_EL1, ["TTBR0_EL1"]),
        (SysReg.TTBR1_EL1, ["TTBR1_EL1"]),
        (SysReg.MAIR_EL1, ["MAIR_EL1"]),
        (SysReg.HCR_EL2, ["HCR_EL2"]),
        (SysReg.VTCR_EL2, ["VTCR_EL2"]),
        (SysReg.VTTBR_EL2, ["VTTBR_EL2"]),
        (SysReg.SCTLR_EL2, ["SCTLR_EL2"]),
        (SysReg.TCR_EL2, ["TCR_EL2"]),
        (SysReg.TTBR0_EL2, ["TTBR0_EL2"]),
        (SysReg.TTBR1_EL2, ["TTBR1_EL2"]),
        (SysReg.MAIR_EL2, ["MAIR_EL2"]),
        (SysReg.ID_AA64MMFR0_EL1, ["ID_AA64MMFR0_EL1"]),
        (SysReg.ID_AA64MMFR1_EL1, ["ID_AA64MMFR1_EL1"]),
        (SysReg.ID_AA64MMFR2_EL1, ["ID_AA64MMFR2_EL1"]),
        (SysReg.ID_AA64MMFR3_EL1, ["ID_AA64MMFR3_EL1", "ID_AA64MMFR3_EL1_RESERVED"]),
        // QEMU 7.2's system-registers.xml has no ID_AA64PFR0_EL1 (the import then lists it as not described).
        (SysReg.ID_AA64PFR0_EL1, ["ID_AA64PFR0_EL1"]),
        (SysReg.ID_AA64PFR1_EL1, ["ID_AA64PFR1_EL1"]),
        (SysReg.ID_AA64ISAR0_EL1, ["ID_AA64ISAR0_EL1"]),
        (SysReg.ID_AA64ISAR1_EL1, ["ID_AA64ISAR1_EL1"]),
    ];

    /// <summary>What was imported: the trace text, the registers the target did not describe, and counts.</summary>
    public sealed record Result(string Text, List<string> Missing, int Cpus, int Tables, long Bytes);

    private sealed class Cpu
    {
        public required string Thread;
        public readonly SystemRegisters Regs = new();
        public readonly List<SysReg> Read = new();
        public ulong? Cpsr;
    }

    /// <summary>Reads the target and builds the setup; <paramref name="maxTables"/> bounds the tables fetched.</summary>
    public static Result Import(GdbRemote gdb, string source, int maxTables = 16384)
    {
        var described = gdb.Registers();
        var missing = new List<string>();
        var numbers = new List<(SysReg Reg, int Number)>();
        foreach (var (reg, names) in Spellings)
        {
            var name = names.FirstOrDefault(described.ContainsKey);
            if (name is null)
            {
                missing.Add(reg.ToString());
            }
            else
            {
                numbers.Add((reg, described[name].Number));
            }
        }
        int? cpsr = described.TryGetValue("cpsr", out var c) ? c.Number : null;
        var threads = gdb.Threads();
        if (threads.Count == 0)
        {
            threads.Add("0"); // a stub without thread support: its one CPU
        }
        var cpus = new List<Cpu>();
        foreach (string t in threads)
        {
            gdb.Command($"Hg{t}");
            var cpu = new Cpu { Thread = t };
            foreach (var (reg, number) in numbers)
            {
                if (gdb.ReadRegister(number) is { } v)
                {
                    cpu.Regs[reg] = v;
                    cpu.Read.Add(reg);
                }
            }
            cpu.Cpsr = cpsr is { } n ? gdb.ReadRegister(n) : null;
            cpus.Add(cpu);
        }
        if (gdb.Command("Qqemu.PhyMemMode:1") != "OK")
        {
            throw new GdbProtocolException("the stub has no physical-memory mode (QEMU's Qqemu.PhyMemMode): table addresses cannot be read");
        }
        var memory = new PhysicalMemory();
        var fetched = new SortedDictionary<ulong, ulong[]>();
        foreach (var cpu in cpus)
        {
            Fetch(gdb, cpu.Regs, memory, fetched, maxTables);
        }
        gdb.Command("Qqemu.PhyMemMode:0");

        var sb = new StringBuilder();
        sb.AppendLine($"# setup imported by `mmusim import qemu-gdb` from {source}: {cpus.Count} vCPU{(cpus.Count == 1 ? "" : "s")}, {fetched.Count} translation table{(fetched.Count == 1 ? "" : "s")} read in physical-memory mode");
        if (missing.Count > 0)
        {
            sb.AppendLine($"# not in the target description (left at reset values): {string.Join(", ", missing)}");
        }
        foreach (var (pa, words) in fetched)
        {
            WriteWords(sb, pa, words);
        }
        long bytes = 0;
        foreach (var (pa, words) in fetched)
        {
            bytes += words.Length * 8L;
        }
        for (int i = 0; i < cpus.Count; i++)
        {
            var cpu = cpus[i];
            sb.AppendLine($"cpu  {i}");
            sb.AppendLine($"# gdb thread {cpu.Thread}{(cpu.Cpsr is { } p ? $", PSTATE 0x{p:x}" : "")}");
            foreach (var reg in cpu.Read.Where(r => r is not (SysReg.SCTLR_EL1 or SysReg.SCTLR_EL2)))
            {
                sb.AppendLine($"reg  {reg} 0x{cpu.Regs[reg]:x}");
            }
            // The SCTLRs last: the MMUs turn on with every other register in place.
            foreach (var reg in cpu.Read.Where(r => r is SysReg.SCTLR_EL1 or SysReg.SCTLR_EL2))
            {
                sb.AppendLine($"reg  {reg} 0x{cpu.Regs[reg]:x}");
            }
            if (cpu.Cpsr is { } ps)
            {
                int el = (int)((ps >> 2) & 3);
                sb.AppendLine(el == 3 ? "# the vCPU was at EL3, which the trace format does not model\nel   2" : $"el   {el}");
                if (((ps >> 22) & 1) != 0)
                {
                    sb.AppendLine("pstate PAN 1");
                }
            }
        }
        return new Result(sb.ToString(), missing, cpus.Count, fetched.Count, bytes);
    }

    /// <summary>`mem` lines for the non-zero runs of a table (zero words are what unwritten memory holds).</summary>
    private static void WriteWords(StringBuilder sb, ulong pa, ulong[] words)
    {
        int i = 0;
        while (i < words.Length)
        {
            if (words[i] == 0)
            {
                i++;
                continue;
            }
            int start = i;
            while (i < words.Length && words[i] != 0)
            {
                i++;
            }
            sb.Append($"mem  0x{pa + (ulong)start * 8:x}");
            for (int j = start; j < i; j++)
            {
                sb.Append($" 0x{words[j]:x}");
            }
            sb.AppendLine();
        }
    }

    /// <summary>
    /// Every table reachable from one vCPU's registers: stage 2 when HCR_EL2.VM, then each enabled stage-1 range of
    /// EL1&amp;0 (its table addresses translated through the stage-2 tables already read) and of the EL2 regime.
    /// </summary>
    private static void Fetch(GdbRemote gdb, SystemRegisters regs, PhysicalMemory memory, SortedDictionary<ulong, ulong[]> fetched, int maxTables)
    {
        var mmu = new Mmu(regs, memory) { DryRun = true };
        bool s2 = TranslationRegime.El10.Stage2Enabled(regs);
        if (s2)
        {
            var p = WalkParamsBuilder.Stage2(regs);
            Tree(gdb, in p, p.TableBase, p.StartLevel, 1L << p.FirstLevelBits, null, memory, fetched, maxTables);
        }
        foreach (var regime in new[] { TranslationRegime.El10, regs.Hcr.E2H ? TranslationRegime.El20 : TranslationRegime.El2 })
        {
            if (!regime.Stage1Enabled(regs))
            {
                continue;
            }
            foreach (bool upper in regime.HasTwoVaRanges() ? new[] { false, true } : new[] { false })
            {
                var p = WalkParamsBuilder.Stage1(regs, regime, upper);
                if (p.Epd || p.ConfigFault || p.BaseAddressSizeFault)
                {
                    continue;
                }
                Func<ulong, ulong?>? toPa = regime == TranslationRegime.El10 && s2
                    ? ipa => mmu.TranslateIpa(new IntermediatePhysicalAddress(ipa), AccessType.Read, el0: false, out var r) ? r.Pa : null
                    : null;
                Tree(gdb, in p, p.TableBase, p.StartLevel, 1L << p.FirstLevelBits, toPa, memory, fetched, maxTables);
            }
        }
    }

    private static void Tree(GdbRemote gdb, in WalkParams p, ulong table, int level, long entries, Func<ulong, ulong?>? toPa,
        PhysicalMemory memory, SortedDictionary<ulong, ulong[]> fetched, int maxTables)
    {
        ulong? mapped = toPa is null ? table : toPa(table);
        if (mapped is not { } pa || fetched.ContainsKey(pa))
        {
            return; // a table whose IPA stage 2 does not map, or one already read (shared, or a loop)
        }
        if (fetched.Count >= maxTables)
        {
            throw new GdbProtocolException($"more than {maxTables} translation tables reachable (raise --max-tables)");
        }
        byte[] bytes = gdb.ReadMemory(pa, (int)(entries * 8));
        var words = new ulong[entries];
        for (int i = 0; i < entries; i++)
        {
            words[i] = BitConverter.ToUInt64(bytes, i * 8);
            memory.Write64(new PhysicalAddress(pa + (ulong)i * 8), words[i]);
        }
        fetched[pa] = words;
        if (level == 3)
        {
            return;
        }
        var copy = p;
        foreach (ulong raw in words)
        {
            ulong d = p.BigEndian ? System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(raw) : raw;
            if ((d & 3) == 3)
            {
                ulong next = Mmu.DescriptorAddress(d, in copy) & ~BitOps.Mask((int)p.Granule);
                Tree(gdb, in p, next, level + 1, 1L << TranslationGeometry.Stride(p.Granule), toPa, memory, fetched, maxTables);
            }
        }
    }
}
