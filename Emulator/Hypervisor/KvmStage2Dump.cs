using System.Globalization;
using MmuSim.Tracing;

namespace MmuSim.Hypervisor;

/// <summary>
/// One line of KVM's stage-2 dump: the IPA range [Start, End) of consecutive leaf entries at one level with the same
/// attributes. <see cref="HasAttributes"/> is false for empty entries (the kernel prints no attributes when the masked
/// descriptor bits are all zero); otherwise <see cref="Valid"/> is descriptor bit [0] ("F" when clear), Read/Write are
/// S2AP[0]/S2AP[1] (bits [6], [7]), <see cref="Xn"/> is XN[1:0] (bits [54:53]), <see cref="Af"/> is bit [10] and
/// <see cref="Block"/> says bits [1:0] = 0b01.
/// </summary>
public readonly record struct KvmStage2Range(
    ulong Start, ulong End, int Level, bool HasAttributes, bool Valid, bool Read, bool Write, int Xn, bool Af, bool Block, long Line)
{
    public ulong Size => End - Start;

    /// <summary>S2AP as the descriptor holds it: [0] read, [1] write.</summary>
    public int S2Ap => (Read ? 1 : 0) | (Write ? 2 : 0);
}

/// <summary>
/// KVM's arm64 stage-2 page-table dump, `/sys/kernel/debug/kvm/PID-FD/stage2_page_tables` (Linux 6.11 and later,
/// CONFIG_PTDUMP_STAGE2_DEBUGFS), read back into ranges. The kernel's ptdump `note_page` writes a marker line
/// `---[ Guest IPA ]---`, then one line per run of leaf entries that share level and masked attributes:
/// `0x%016lx-0x%016lx   %9lu%c %s` (start, end, size in the largest of K/M/G/T/P/E that divides it, the level number
/// as KVM names levels), followed, when the masked bits are not all zero, by one field per attribute, each after a
/// space: valid " " or "F", "R" or " ", "W" or " ", the execute-never field ("px ux ", "PXNux ", "PXNUXN", "px UXN"
/// for XN[1:0] = 00, 01, 10, 11 since FEAT_XNX support; "NX" or "x " for XN before it), "AF" or "  ", "BLK" or "   ".
/// The order of the fields has changed between kernels, so any order is accepted. The dump carries no output address
/// and no memory type: its mask holds only the bits above.
/// </summary>
public sealed class KvmStage2Dump
{
    public required string Source { get; init; }
    public required List<KvmStage2Range> Ranges { get; init; }

    /// <summary>Reads a dump; a line that is not in the kernel's format is a <see cref="TraceFormatException"/> naming line and column.</summary>
    public static KvmStage2Dump Read(string path)
    {
        using var reader = new StreamReader(path);
        return Parse(reader, path);
    }

    public static KvmStage2Dump Parse(TextReader reader, string source)
    {
        var ranges = new List<KvmStage2Range>();
        long lineNo = 0;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNo++;
            if (line.Length > 4096)
            {
                throw new TraceFormatException(source, lineNo, 1, $"a line of {line.Length} characters: not KVM's stage-2 dump");
            }
            string t = line.TrimEnd('\r', ' ', '\t');
            if (t.Length == 0 || (t.StartsWith("---[", StringComparison.Ordinal) && t.EndsWith("]---", StringComparison.Ordinal)))
            {
                continue; // the address marker ("---[ Guest IPA ]---")
            }
            var r = ParseLine(t, source, lineNo);
            if (ranges.Count > 0 && ranges[^1].End != r.Start)
            {
                throw new TraceFormatException(source, lineNo, 1,
                    $"range starts at 0x{r.Start:x} but the line before ended at 0x{ranges[^1].End:x}: the dump walks the IPA space in order, without gaps");
            }
            ranges.Add(r);
        }
        if (ranges.Count == 0)
        {
            throw new TraceFormatException(source, lineNo == 0 ? 1 : lineNo, 1, "no range line: not KVM's stage-2 dump (0xSTART-0xEND SIZE LEVEL ATTRIBUTES)");
        }
        return new KvmStage2Dump { Source = source, Ranges = ranges };
    }

    private static KvmStage2Range ParseLine(string t, string source, long lineNo)
    {
        int i = 0;
        ulong start = Hex(t, ref i, source, lineNo);
        if (i >= t.Length || t[i] != '-')
        {
            throw new TraceFormatException(source, lineNo, i + 1, "expected '-' between the range's start and end (0xSTART-0xEND)");
        }
        i++;
        int endColumn = i + 1;
        ulong end = Hex(t, ref i, source, lineNo);
        if (end <= start)
        {
            throw new TraceFormatException(source, lineNo, endColumn, $"the range's end 0x{end:x} is not above its start 0x{start:x}");
        }
        Spaces(t, ref i, source, lineNo, "the size");
        int sizeColumn = i + 1;
        int d = i;
        while (i < t.Length && char.IsAsciiDigit(t[i]))
        {
            i++;
        }
        if (i == d || i >= t.Length || !ulong.TryParse(t.AsSpan(d, i - d), NumberStyles.None, CultureInfo.InvariantCulture, out ulong count))
        {
            throw new TraceFormatException(source, lineNo, sizeColumn, "expected the size: a number and a unit K, M, G, T, P or E");
        }
        int unit = "KMGTPE".IndexOf(t[i], StringComparison.Ordinal);
        if (unit < 0)
        {
            throw new TraceFormatException(source, lineNo, i + 1, $"unknown size unit '{t[i]}' (K, M, G, T, P or E)");
        }
        i++;
        // The size is (end - start) in the unit the kernel chose: exact, so a mistyped line does not slip through.
        int shift = 10 * (unit + 1);
        if (count == 0 || count > ulong.MaxValue >> shift || count << shift != end - start)
        {
            throw new TraceFormatException(source, lineNo, sizeColumn, $"size {count}{"KMGTPE"[unit]} is not the range's 0x{end - start:x} bytes");
        }
        Spaces(t, ref i, source, lineNo, "the level");
        int levelColumn = i + 1;
        int levelStart = i;
        while (i < t.Length && t[i] != ' ')
        {
            i++;
        }
        string levelText = t[levelStart..i];
        if (levelText.Length != 1 || levelText[0] is < '0' or > '3')
        {
            throw new TraceFormatException(source, lineNo, levelColumn, $"level '{levelText}' is not 0, 1, 2 or 3");
        }
        int level = levelText[0] - '0';

        bool any = false, invalid = false, read = false, write = false, af = false, block = false;
        int xn = -1;
        while (i < t.Length)
        {
            while (i < t.Length && t[i] == ' ')
            {
                i++;
            }
            if (i >= t.Length)
            {
                break;
            }
            int column = i + 1;
            int s = i;
            while (i < t.Length && t[i] != ' ')
            {
                i++;
            }
            string token = t[s..i];
            any = true;
            bool repeated;
            switch (token)
            {
                case "F": repeated = invalid; invalid = true; break;
                case "R": repeated = read; read = true; break;
                case "W": repeated = write; write = true; break;
                case "AF": repeated = af; af = true; break;
                case "BLK": repeated = block; block = true; break;
                case "px":
                    {
                        // "px ux " (XN 00) or "px UXN" (XN 11): the second word belongs to the same field.
                        while (i < t.Length && t[i] == ' ')
                        {
                            i++;
                        }
                        int s2 = i;
                        while (i < t.Length && t[i] != ' ')
                        {
                            i++;
                        }
                        string second = t[s2..i];
                        if (second is not ("ux" or "UXN"))
                        {
                            throw new TraceFormatException(source, lineNo, column, "'px' without 'ux' or 'UXN' after it: not an execute-never field of the dump");
                        }
                        repeated = xn >= 0;
                        xn = second == "ux" ? 0b00 : 0b11;
                        break;
                    }
                case "PXNux": repeated = xn >= 0; xn = 0b01; break;
                case "PXNUXN": repeated = xn >= 0; xn = 0b10; break;
                case "NX": repeated = xn >= 0; xn = 0b10; break; // before FEAT_XNX: KVM's XN was bit [54] alone, XN[1]
                case "x": repeated = xn >= 0; xn = 0b00; break;
                default:
                    throw new TraceFormatException(source, lineNo, column,
                        $"unknown attribute '{token}' (KVM's stage-2 dump prints F, R, W, px ux, PXNux, PXNUXN, px UXN, NX, x, AF and BLK)");
            }
            if (repeated)
            {
                throw new TraceFormatException(source, lineNo, column, $"attribute '{token}' given twice on one line");
            }
        }
        if (any && xn < 0)
        {
            throw new TraceFormatException(source, lineNo, t.Length + 1, "no execute-never field: the dump prints one on every line with attributes");
        }
        return new KvmStage2Range(start, end, level, any, any && !invalid, read, write, Math.Max(xn, 0), af, block, lineNo);
    }

    private static ulong Hex(string t, ref int i, string source, long lineNo)
    {
        int column = i + 1;
        if (i + 2 > t.Length || t[i] != '0' || t[i + 1] != 'x')
        {
            throw new TraceFormatException(source, lineNo, column, "expected a range 0xSTART-0xEND (as the kernel prints it: 0x and 16 hex digits)");
        }
        i += 2;
        int s = i;
        while (i < t.Length && char.IsAsciiHexDigit(t[i]))
        {
            i++;
        }
        if (i == s || i - s > 16)
        {
            throw new TraceFormatException(source, lineNo, column, $"'{t[(s - 2)..i]}' is not a 64-bit hex address");
        }
        return ulong.Parse(t.AsSpan(s, i - s), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
    }

    private static void Spaces(string t, ref int i, string source, long lineNo, string what)
    {
        int s = i;
        while (i < t.Length && t[i] == ' ')
        {
            i++;
        }
        if (i == s || i >= t.Length)
        {
            throw new TraceFormatException(source, lineNo, i + 1, $"expected spaces, then {what}");
        }
    }
}
