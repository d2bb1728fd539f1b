using System.Globalization;
using System.Text;
using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Tracing;

namespace MmuSim.Hypervisor;

/// <summary>How a KVM stage-2 dump becomes a stage 2 (<see cref="KvmStage2Import"/>).</summary>
public sealed record KvmStage2Options
{
    /// <summary>The host's page size, which KVM's stage 2 uses: the dump does not say it.</summary>
    public Granule Granule { get; init; } = Granule.K4;

    /// <summary>KVM's `ipa_range` (the IPA size in bits); null: the smallest of at least 32 bits that holds the dump.</summary>
    public int? IpaBits { get; init; }

    /// <summary>KVM's `stage2_levels`; null: what KVM derives from the IPA size.</summary>
    public int? Levels { get; init; }

    /// <summary>Output address = IPA + this (0: each IPA maps to itself).</summary>
    public ulong PaOffset { get; init; }

    /// <summary>VTCR_EL2.HA: hardware sets AF, so AF=0 entries do not fault.</summary>
    public bool HardwareAf { get; init; }

    /// <summary>Cap on the tables built (a hostile dump can name 2^36 pages): beyond it, a <see cref="MemoryLimitException"/>.</summary>
    public long MaxTableBytes { get; init; } = 1L << 30;
}

/// <summary>A PE of the guest setup the stage 2 is added to: its index and the HCR_EL2 it had.</summary>
public readonly record struct KvmSetupPe(int Index, ulong Hcr);

/// <summary>
/// A KVM stage-2 dump (<see cref="KvmStage2Dump"/>) as a stage 2 of a setup trace. The dump lists IPA ranges, levels
/// and permissions but no output addresses, so each IPA maps to PA = IPA + <see cref="KvmStage2Options.PaOffset"/>
/// (0 by default: a guest's memory images, from `import core` or `import qemu-gdb`, are indexed by IPA). Every leaf is
/// rebuilt at the level the dump gives it, with its S2AP, XN[1:0] and AF, and the tables above every listed entry
/// exist, so a stage-2 translation, permission or access-flag fault replays with the level the host's tables give.
/// The memory type is not in the dump: leaves are Normal write-back, inner shareable (MemAttr 0b1111, SH 0b11, what
/// KVM maps guest memory with under FEAT_S2FWB or not). Invalid entries KVM annotated ("F") are written as zero: a
/// translation fault, as on the host. The tables go above the IPA space (+ offset), where no guest memory can be.
/// </summary>
public static class KvmStage2Import
{
    public sealed record Result(string Text, int Ranges, int Mapped, long Leaves, ulong TablesBytes, int IpaBits, int StartLevel);

    /// <param name="dump">The dump.</param>
    /// <param name="options">Geometry and address options.</param>
    /// <param name="pes">The setup's PEs (null: a standalone setup with one PE at EL1).</param>
    /// <param name="ramDeclared">Whether the setup declares `ram` (then the tables need a `ram` line too).</param>
    /// <param name="paBits">The PA size of the setup's ID_AA64MMFR0_EL1.PARange.</param>
    public static Result Build(KvmStage2Dump dump, KvmStage2Options options, IReadOnlyList<KvmSetupPe>? pes, bool ramDeclared, int paBits)
    {
        var g = options.Granule;
        int stride = TranslationGeometry.Stride(g);
        ulong lastEnd = dump.Ranges[^1].End;
        int needed = lastEnd <= 1UL << 32 ? 32 : 64 - System.Numerics.BitOperations.LeadingZeroCount(lastEnd - 1);
        int maxIpa = g == Granule.K64 ? 52 : 48;
        int ipaBits = options.IpaBits ?? needed;
        var first = dump.Ranges[0];
        if (ipaBits < 25 || ipaBits > maxIpa)
        {
            throw new TraceFormatException(dump.Source, first.Line, 1, $"an IPA size of {ipaBits} bits is outside 25..{maxIpa} for the {TranslationGeometry.Name(g)} granule");
        }
        if (ipaBits < needed && lastEnd > 1UL << ipaBits)
        {
            throw new TraceFormatException(dump.Source, dump.Ranges[^1].Line, 1, $"the dump reaches IPA 0x{lastEnd:x}, beyond a {ipaBits}-bit IPA space");
        }
        // KVM: stage2_pgtable_levels(ipa) = ARM64_HW_PGTABLE_LEVELS(ipa - 4), i.e. up to 16 concatenated root tables.
        int levels = options.Levels ?? (ipaBits - 4 - 4) / stride;
        int start = 4 - levels;
        int firstBits = ipaBits - TranslationGeometry.LevelShift(g, start);
        if (levels is < 1 or > 4 || firstBits < 1 || firstBits > stride + 4 || (g == Granule.K4 ? start < 0 : start < 1))
        {
            throw new TraceFormatException(dump.Source, first.Line, 1,
                $"{levels} levels cannot translate a {ipaBits}-bit IPA with the {TranslationGeometry.Name(g)} granule (at most 16 concatenated root tables)");
        }

        ulong tableBase = (1UL << ipaBits) + options.PaOffset;
        if (tableBase < options.PaOffset)
        {
            throw new TraceFormatException(dump.Source, first.Line, 1, $"--pa-offset 0x{options.PaOffset:x} puts the IPA space past 2^64");
        }
        var memory = new PhysicalMemory { MaxBytes = options.MaxTableBytes };
        var frames = new FrameAllocator(tableBase, 1UL << 40);
        var builder = new PageTableBuilder(memory, g, ipaBits, start, frames);

        // The last-level tables the ranges need, counted before any is built: a hostile dump (one line of 2^36 pages)
        // is refused at once instead of after filling the cap.
        // The ranges come in address order, so a table shared with the range before is the last one counted at its level.
        ulong granuleBytes = 1UL << (int)g;
        ulong limit = (ulong)options.MaxTableBytes / granuleBytes;
        ulong estimate = 0;
        var lastCounted = new ulong?[4];
        foreach (var r in dump.Ranges)
        {
            if (r.Level > start && r.Level <= 3)
            {
                int shift = TranslationGeometry.LevelShift(g, r.Level - 1);
                ulong firstTable = r.Start >> shift, lastTable = (r.End - 1) >> shift;
                ulong tables = lastTable - firstTable + (lastCounted[r.Level] == firstTable ? 0UL : 1UL);
                lastCounted[r.Level] = lastTable;
                estimate = tables > limit || estimate + tables > limit ? limit + 1 : estimate + tables;
            }
        }
        if (estimate > limit)
        {
            throw new MemoryLimitException($"the stage-2 tables would take more than {options.MaxTableBytes} bytes");
        }

        int mapped = 0;
        long leaves = 0;
        ulong maxOa = 0;
        foreach (var r in dump.Ranges)
        {
            if (r.Level < start)
            {
                throw new TraceFormatException(dump.Source, r.Line, 1,
                    $"level {r.Level} is above the start level {start} of {levels} levels (give KVM's stage2_levels with --levels)");
            }
            ulong size = builder.LevelSize(r.Level);
            if (r.Start % size != 0 || r.End % size != 0)
            {
                throw new TraceFormatException(dump.Source, r.Line, 1,
                    $"0x{r.Start:x}-0x{r.End:x} is not a whole number of level-{r.Level} entries ({Size(size)} with the {TranslationGeometry.Name(g)} granule; is --granule right?)");
            }
            if (r.End > 1UL << ipaBits)
            {
                throw new TraceFormatException(dump.Source, r.Line, 1, $"0x{r.Start:x}-0x{r.End:x} reaches beyond the {ipaBits}-bit IPA space");
            }
            if (!r.Valid)
            {
                // Empty or annotated-invalid entries: make the table that holds them exist, so a walk faults at their level.
                if (r.Level > start)
                {
                    ulong table = builder.LevelSize(r.Level - 1);
                    for (ulong a = r.Start; a < r.End; a = (a & ~(table - 1)) + table)
                    {
                        builder.DescriptorAddress(a, r.Level);
                        if ((a & ~(table - 1)) + table < a)
                        {
                            break;
                        }
                    }
                }
                continue;
            }
            if (r.Level == 3 ? r.Block : !r.Block)
            {
                throw new TraceFormatException(dump.Source, r.Line, 1, r.Level == 3
                    ? "a level-3 entry marked BLK: level-3 descriptors are pages (bits [1:0] = 0b11)"
                    : $"a valid level-{r.Level} entry without BLK: a valid leaf above level 3 is a block");
            }
            if (r.Level < 3 && !TranslationGeometry.BlockAllowed(g, r.Level, ds: false, lpaImplemented: paBits >= 52))
            {
                throw new TraceFormatException(dump.Source, r.Line, 1, $"a level-{r.Level} block is not allowed with the {TranslationGeometry.Name(g)} granule");
            }
            mapped++;
            for (ulong a = r.Start; a < r.End && a >= r.Start; a += size)
            {
                ulong oa = a + options.PaOffset;
                builder.Set(a, r.Level, Descriptors.Stage2Leaf(oa, r.Level, g, memAttr: 0xF, s2ap: r.S2Ap, sh: 3, af: r.Af, xn: r.Xn));
                leaves++;
                maxOa = Math.Max(maxOa, oa + size - 1);
            }
        }
        ulong tablesEnd = tableBase + frames.Used - 1;
        ulong top = Math.Max(maxOa, tablesEnd);
        int oaBits = 64 - System.Numerics.BitOperations.LeadingZeroCount(top);
        int maxOaBits = g == Granule.K64 && paBits >= 52 ? 52 : 48;
        int ps = new[] { 32, 36, 40, 42, 44, 48, 52 }.First(b => b >= Math.Min(oaBits, 52));
        if (oaBits > Math.Min(paBits, maxOaBits))
        {
            throw new TraceFormatException(dump.Source, first.Line, 1,
                $"output addresses and tables reach 0x{top:x} ({oaBits} bits), beyond the {Math.Min(paBits, maxOaBits)}-bit PA space (ID_AA64MMFR0_EL1.PARange, the granule's 48-bit descriptors): the tables go above the {ipaBits}-bit IPA space");
        }

        ulong vtcr = (ulong)(uint)(64 - ipaBits) | ((ulong)(uint)Stage2Geometry.EncodeSl0(g, start) << 6) | (1UL << 8) | (1UL << 10) | (3UL << 12)
            | ((ulong)(uint)Stage2Geometry.Tg0(g) << 14) | ((ulong)(uint)Stage2Geometry.EncodePs(ps) << 16) | (options.HardwareAf ? 1UL << 21 : 0) | (1UL << 31);
        int concat = firstBits > stride ? 1 << (firstBits - stride) : 1;

        var sb = new StringBuilder();
        sb.AppendLine();
        sb.AppendLine($"# Stage 2 imported by `mmusim import kvm-stage2` from {Path.GetFileName(dump.Source)}: {dump.Ranges.Count} range{(dump.Ranges.Count == 1 ? "" : "s")}, {mapped} mapped ({leaves} leaf entr{(leaves == 1 ? "y" : "ies")}).");
        sb.AppendLine($"# {ipaBits}-bit IPA (T0SZ={64 - ipaBits}), {TranslationGeometry.Name(g)} granule, start level {start}"
            + (concat > 1 ? $" ({concat} concatenated tables)" : "") + $", PS {ps} bits, HA={(options.HardwareAf ? 1 : 0)}.");
        sb.AppendLine(options.PaOffset == 0
            ? "# The dump has no output addresses: each IPA maps to the same PA, where the guest's memory images are."
            : $"# The dump has no output addresses: each IPA maps to PA = IPA + 0x{options.PaOffset:x} (--pa-offset), where the guest's memory was moved.");
        sb.AppendLine("# Nor memory types: every leaf is Normal write-back, inner shareable. Permissions, XN, AF and levels are the dump's.");
        if (ramDeclared)
        {
            sb.AppendLine($"ram  0x{tableBase:x} 0x{(frames.Used + 0xFFF) & ~0xFFFUL:x}   # the stage-2 tables");
        }
        WriteRuns(sb, memory, tableBase, frames.Used);
        var list = pes is { Count: > 0 } ? pes : [new KvmSetupPe(0, 1UL << 31)];
        foreach (var pe in list)
        {
            sb.AppendLine($"cpu  {pe.Index}");
            sb.AppendLine($"reg  VTCR_EL2 0x{vtcr:x}");
            sb.AppendLine($"reg  VTTBR_EL2 0x{builder.Root:x}");
            // HCR_EL2.VM [0] turns stage 2 on for EL1&0; RW [31] keeps EL1 in AArch64.
            sb.AppendLine($"reg  HCR_EL2 0x{pe.Hcr | 1UL | (1UL << 31):x}");
            if (pes is not { Count: > 0 })
            {
                sb.AppendLine("el   1");
            }
        }
        return new Result(sb.ToString(), dump.Ranges.Count, mapped, leaves, frames.Used, ipaBits, start);
    }

    /// <summary>`mem` lines for the tables, one per run of up to 8 consecutive non-zero words (zero is what unwritten memory holds).</summary>
    private static void WriteRuns(StringBuilder sb, PhysicalMemory memory, ulong from, ulong bytes)
    {
        int inLine = 0;
        for (ulong pa = from; pa < from + bytes; pa += 8)
        {
            ulong v = memory.Peek64(new PhysicalAddress(pa));
            if (v == 0 || inLine == 8)
            {
                if (inLine > 0)
                {
                    sb.AppendLine();
                    inLine = 0;
                }
                if (v == 0)
                {
                    continue;
                }
            }
            if (inLine == 0)
            {
                sb.Append(CultureInfo.InvariantCulture, $"mem  0x{pa:x}");
            }
            sb.Append(CultureInfo.InvariantCulture, $" 0x{v:x}");
            inLine++;
        }
        if (inLine > 0)
        {
            sb.AppendLine();
        }
    }

    private static string Size(ulong bytes) => bytes >= 1UL << 30 ? $"{bytes >> 30} GiB" : bytes >= 1UL << 20 ? $"{bytes >> 20} MiB" : $"{bytes >> 10} KiB";

    /// <summary>
    /// A text setup moved for <see cref="KvmStage2Options.PaOffset"/> and for its new folder: the physical address of
    /// every `mem`, `load` and `ram` line plus <paramref name="offset"/>, and each relative `load` file re-based by
    /// <paramref name="rebase"/> (the format finds it from the folder of the trace that names it). Comments and every
    /// other line are kept as they are.
    /// </summary>
    public static string Relocate(string text, ulong offset, Func<string, string> rebase)
    {
        var sb = new StringBuilder(text.Length + 64);
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            int hash = line.IndexOf('#');
            string code = hash >= 0 ? line[..hash] : line;
            string comment = hash >= 0 ? line[hash..] : "";
            var tokens = code.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length >= 2 && tokens[0].ToLowerInvariant() is "mem" or "load" or "ram" && (offset != 0 || tokens[0].Equals("load", StringComparison.OrdinalIgnoreCase)))
            {
                if (offset != 0)
                {
                    if (!TryNumber(tokens[1], out ulong pa))
                    {
                        throw new ArgumentException($"'{tokens[1]}' in \"{line.Trim()}\" is not an address");
                    }
                    tokens[1] = $"0x{pa + offset:x}";
                }
                if (tokens[0].Equals("load", StringComparison.OrdinalIgnoreCase) && tokens.Length >= 3)
                {
                    tokens[2] = rebase(tokens[2]);
                }
                sb.Append(string.Join(' ', tokens));
                if (comment.Length > 0)
                {
                    sb.Append("   ").Append(comment);
                }
            }
            else
            {
                sb.Append(line);
            }
            sb.Append('\n');
        }
        // Split leaves one empty piece after a final newline: drop the newline it added.
        if (text.EndsWith('\n'))
        {
            sb.Length--;
        }
        return sb.ToString();
    }

    private static bool TryNumber(string text, out ulong value)
    {
        text = text.Replace("_", "", StringComparison.Ordinal);
        bool hex = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        return ulong.TryParse(hex ? text[2..] : text, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }
}
