using System.Globalization;
using System.Text;
using MmuSim.Registers;

namespace MmuSim.Tracing;

/// <summary>
/// An ELF core (<see cref="ElfCore"/>) as a setup trace: its memory by `load` lines that point into the core file (no
/// word is copied), `ram` for each PT_LOAD, one `cpu` block per vCPU with the EL and PSTATE.PAN of its NT_PRSTATUS
/// note, and the translation registers from options, else inferred from a VMCOREINFO note; what is still missing is
/// listed, in the trace and to the caller.
/// </summary>
public static class CoreImport
{
    /// <summary>The registers a PE's stage 1 needs, by the EL it stopped at.</summary>
    private static readonly SysReg[] El1Regs = [SysReg.SCTLR_EL1, SysReg.TCR_EL1, SysReg.TTBR0_EL1, SysReg.TTBR1_EL1, SysReg.MAIR_EL1];
    private static readonly SysReg[] El2Regs = [SysReg.HCR_EL2, SysReg.SCTLR_EL2, SysReg.TCR_EL2, SysReg.TTBR0_EL2, SysReg.MAIR_EL2];

    /// <summary>
    /// Linux's arm64 MAIR_EL1 attribute indices (MT_NORMAL 0 = 0xff, MT_NORMAL_TAGGED 1, MT_NORMAL_NC 2 = 0x44,
    /// MT_DEVICE_nGnRnE 3 = 0x00, MT_DEVICE_nGnRE 4 = 0x04), for a kernel's core whose MAIR_EL1 is not given.
    /// MT_NORMAL_TAGGED is 0xff as the kernel boots (its MAIR_EL1_SET); only a CPU with MTE gets 0xf0 (Tagged Normal,
    /// FEAT_MTE2), which the core cannot tell. 0xff was what a real 6.1 guest under QEMU `-cpu max` had: with 0xf0
    /// its linear map, mapped MT_NORMAL_TAGGED, read as Inner Write-Through transient memory.
    /// </summary>
    public const ulong LinuxMair = 0x0000_0004_0044_FFFF;

    /// <summary>The result: the trace text and the registers nobody gave.</summary>
    public sealed record Result(string Text, List<string> Missing, List<string> Inferred);

    /// <summary>
    /// Writes the setup. <paramref name="fileInTrace"/> is how `load` lines name the core (relative to the output's
    /// folder where possible); <paramref name="given"/> are `--reg` values, which win over anything inferred: with a
    /// vCPU (`--reg cpu1:NAME=VALUE`) for that vCPU alone, without one for every vCPU (a vCPU's own value wins).
    /// </summary>
    public static Result Build(ElfCore core, string fileInTrace, IReadOnlyList<(int? Cpu, SysReg Reg, ulong Value)> given)
    {
        var sb = new StringBuilder();
        var missing = new List<string>();
        var inferred = new List<string>();
        sb.AppendLine($"# setup imported by `mmusim import core` from {Path.GetFileName(core.Source)} ({core.Length} bytes): "
            + $"{core.Segments.Count} PT_LOAD segment{(core.Segments.Count == 1 ? "" : "s")}, {core.Cpus.Count} vCPU note{(core.Cpus.Count == 1 ? "" : "s")}, "
            + (core.VmcoreInfo.Count > 0 ? "a VMCOREINFO note" : "no VMCOREINFO note"));
        if (core.Info("OSRELEASE") is { } release)
        {
            sb.AppendLine($"# OSRELEASE={release}");
        }
        if (core.Repaired is { } fix)
        {
            sb.AppendLine($"# repaired: {fix}");
        }
        foreach (var s in core.Segments)
        {
            if (s.MemorySize == 0)
            {
                continue;
            }
            // The file offset may be any byte (QEMU's dumps are unaligned); a `load` needs PA and size in words.
            if (((s.PhysicalAddress | s.FileSize) & 7) != 0)
            {
                throw TraceFormatException.AtByte(core.Source, s.HeaderOffset,
                    $"PT_LOAD at PA 0x{s.PhysicalAddress:x} ({s.FileSize} bytes) is not 8-byte aligned: a `load` line cannot map it");
            }
            sb.AppendLine($"ram  0x{s.PhysicalAddress:x} 0x{s.MemorySize:x}");
            if (s.FileSize != 0)
            {
                sb.AppendLine($"load 0x{s.PhysicalAddress:x} {fileInTrace} 0x{s.Offset:x} 0x{s.FileSize:x}");
            }
        }

        var regs = new Dictionary<SysReg, (ulong Value, string Why)>();
        Infer(core, regs, inferred);
        var cpus = core.Cpus.Count > 0 ? core.Cpus : [new CoreCpu(0, 0, 0, 0, 0b0101)];
        var own = cpus.ToDictionary(c => c.Index, _ => new Dictionary<SysReg, ulong>());
        foreach (var (cpu, reg, value) in given)
        {
            if (cpu is not { } n)
            {
                regs[reg] = (value, "--reg");
            }
            else if (!own.TryGetValue(n, out var mine))
            {
                throw new ArgumentException($"--reg cpu{n}:{reg}: the core has no vCPU {n} (its vCPUs: {string.Join(", ", own.Keys)})");
            }
            else
            {
                mine[reg] = value;
            }
        }
        int el = cpus[0].El;
        bool Has(SysReg reg, CoreCpu c) => regs.ContainsKey(reg) || own[c.Index].ContainsKey(reg);
        void Need(SysReg reg, Func<CoreCpu, bool> needs)
        {
            var lacking = cpus.Where(c => needs(c) && !Has(reg, c)).Select(c => c.Index).ToList();
            if (lacking.Count == cpus.Count)
            {
                missing.Add(reg.ToString());
            }
            else if (lacking.Count > 0)
            {
                missing.Add($"{reg} (vCPU {string.Join(", ", lacking)})");
            }
        }
        foreach (var reg in el == 2 ? El2Regs : El1Regs)
        {
            Need(reg, _ => true);
        }
        foreach (var reg in new[] { SysReg.VTCR_EL2, SysReg.VTTBR_EL2 })
        {
            // Stage 2 is needed where HCR_EL2.VM is set, or at EL2 when nobody said what HCR_EL2 holds.
            Need(reg, c => regs.TryGetValue(SysReg.HCR_EL2, out var hcr) || own[c.Index].ContainsKey(SysReg.HCR_EL2)
                ? ((own[c.Index].TryGetValue(SysReg.HCR_EL2, out ulong h) ? h : hcr.Value) & 1) != 0
                : el == 2);
        }
        if (missing.Count > 0)
        {
            sb.AppendLine($"# missing (an ELF core's notes hold no system registers; give them with --reg NAME=VALUE): {string.Join(", ", missing)}");
        }
        foreach (var cpu in cpus)
        {
            sb.AppendLine($"cpu  {cpu.Index}");
            if (core.Cpus.Count > 0)
            {
                sb.AppendLine($"# vCPU {cpu.Index} (pr_pid {cpu.Pid}): PC 0x{cpu.Pc:x}, SP 0x{cpu.Sp:x}, PSTATE 0x{cpu.Pstate:x}");
            }
            var mine = own[cpu.Index];
            foreach (var (reg, (value, why)) in regs.Where(kv => !mine.ContainsKey(kv.Key)).OrderBy(kv => WireCodes<SysReg>.Code(kv.Key)))
            {
                sb.AppendLine($"reg  {reg} 0x{value:x}{(why == "--reg" ? "" : $"   # inferred: {why}")}");
            }
            foreach (var (reg, value) in mine.OrderBy(kv => WireCodes<SysReg>.Code(kv.Key)))
            {
                sb.AppendLine($"reg  {reg} 0x{value:x}");
            }
            if (cpu.AArch32)
            {
                sb.AppendLine("# this vCPU was in AArch32: its accesses use the EL1 regime here");
                sb.AppendLine("el   1");
            }
            else if (cpu.El == 3)
            {
                sb.AppendLine("# this vCPU was at EL3, which the trace format does not model: EL2 here");
                sb.AppendLine("el   2");
            }
            else
            {
                sb.AppendLine($"el   {cpu.El}");
            }
            if (cpu.Pan)
            {
                sb.AppendLine("pstate PAN 1");
            }
        }
        return new Result(sb.ToString(), missing, inferred);
    }

    /// <summary>
    /// A Linux kernel's VMCOREINFO (arm64): the kernel's table root is swapper_pg_dir's VA less kimage_voffset (the
    /// kernel image's VA − PA); TCR_EL1.T1SZ and the page size give TTBR1_EL1's geometry. TTBR0_EL1 belongs to the
    /// process that ran and is not in VMCOREINFO: the lower range is left disabled (EPD0=1).
    /// </summary>
    private static void Infer(ElfCore core, Dictionary<SysReg, (ulong, string)> regs, List<string> inferred)
    {
        if (Number(core.Info("SYMBOL(swapper_pg_dir)"), hex: true) is not { } pgd || Number(core.Info("NUMBER(kimage_voffset)"), hex: true) is not { } voffset)
        {
            return;
        }
        ulong t1sz = Number(core.Info("NUMBER(TCR_EL1_T1SZ)"), hex: true)
            ?? (Number(core.Info("NUMBER(VA_BITS)"), hex: false) is { } vaBits ? 64 - vaBits : 16);
        ulong pageSize = Number(core.Info("PAGESIZE"), hex: false) ?? 4096;
        ulong tg1 = pageSize switch { 16384 => 0b01, 65536 => 0b11, _ => 0b10 };
        // TCR_EL1: T1SZ [21:16], IRGN1/ORGN1 [27:24] write-back, SH1 [29:28] inner shareable, TG1 [31:30],
        // EPD0 [7] (no TTBR0 walk), IPS [34:32] 0b101 (48 bits); T0SZ [5:0] = T1SZ (unused while EPD0=1).
        ulong tcr = t1sz | (1UL << 7) | ((t1sz & 0x3F) << 16) | (0b0101UL << 24) | (0b11UL << 28) | (tg1 << 30) | (0b101UL << 32);
        regs[SysReg.TTBR1_EL1] = (pgd - voffset, "swapper_pg_dir - kimage_voffset (VMCOREINFO)");
        regs[SysReg.TCR_EL1] = (tcr, $"T1SZ={t1sz}, {pageSize / 1024}K granule (VMCOREINFO), EPD0=1, IPS=48 bits");
        regs[SysReg.MAIR_EL1] = (LinuxMair, "Linux's arm64 MT_* attribute indices");
        regs[SysReg.SCTLR_EL1] = (0x1, "M=1: a running kernel has its MMU on");
        inferred.AddRange(["TTBR1_EL1", "TCR_EL1", "MAIR_EL1", "SCTLR_EL1"]);
    }

    private static ulong? Number(string? text, bool hex)
    {
        if (text is null)
        {
            return null;
        }
        text = text.Trim();
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            text = text[2..];
            hex = true;
        }
        return ulong.TryParse(text, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out ulong v) ? v : null;
    }
}
