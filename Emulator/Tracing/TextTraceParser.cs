using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using MmuSim.Caching;
using MmuSim.Registers;
using MmuSim.Translation;

namespace MmuSim.Tracing;

/// <summary>Cold throws of the parser: kept out of the line parser so its frame stays small (no string building inline).</summary>
internal static class Fail
{
    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void Bad(string source, long line, int column, string reason) =>
        throw new TraceFormatException(source, line, column, reason);

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void Bad(string source, long line, int column, string before, ulong value, string after, bool hex = false) =>
        throw new TraceFormatException(source, line, column, before + (hex ? value.ToString("x") : value.ToString()) + after);

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void Missing(string source, long line, int column, string what) =>
        throw new TraceFormatException(source, line, column, $"missing {what}");

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void Unknown(string source, long line, int column, string what, ReadOnlySpan<byte> token) =>
        throw new TraceFormatException(source, line, column, $"unknown {what} '{Show(token)}'");

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void UnknownCommand(string source, long line, int column, ReadOnlySpan<byte> keyword) =>
        throw new TraceFormatException(source, line, column,
            $"unknown command '{Show(keyword)}' (expected reg, mem, ram, el, R, W, X, at, dump or tlbi)");

    /// <summary>Input bytes as a message shows them: printable ASCII as is, anything else (a control byte, a NUL, UTF-8) as \xNN.</summary>
    public static string Show(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length);
        foreach (byte b in bytes)
        {
            if (b is >= 0x20 and < 0x7F)
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append("\\x").Append(b.ToString("x2"));
            }
        }
        return sb.ToString();
    }
}

/// <summary>
/// The text trace format (docs/trace-format.md): a synchronous line parser over bytes that never allocates, driven
/// by <see cref="LineReader"/> over a <see cref="PipeReader"/>.
/// </summary>
public static class TextTraceParser
{
    /// <summary>Parses a whole trace from a pipe, calling <paramref name="handler"/> for each record in order.</summary>
    /// <returns>The number of lines read.</returns>
    public static ValueTask<long> ParseAsync<THandler>(PipeReader reader, string source, THandler handler, CancellationToken ct = default)
        where THandler : ITraceHandler =>
        LineReader.ParseAsync(reader, source, default(TextLineFormat), handler, null, ct);

    /// <summary>As <see cref="ParseAsync{THandler}(PipeReader, string, THandler, CancellationToken)"/>, with options (--skip-bad-lines).</summary>
    public static ValueTask<long> ParseAsync<THandler>(PipeReader reader, string source, THandler handler, ParseOptions? options, CancellationToken ct = default)
        where THandler : ITraceHandler =>
        LineReader.ParseAsync(reader, source, default(TextLineFormat), handler, options, ct);

    /// <summary>The text format as an <see cref="ILineFormat"/> for <see cref="LineReader"/>.</summary>
    public readonly struct TextLineFormat : ILineFormat
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void ParseLine<THandler>(ReadOnlySpan<byte> text, string source, long line, ref THandler handler)
            where THandler : ITraceHandler
        {
            // The access fast path inline here; the general parser (a large frame) only for the other lines.
            if (!TryParseAccess(text, line, ref handler))
            {
                ParseGeneral(text, source, line, ref handler);
            }
        }

        public int ParseRun<THandler>(ReadOnlySpan<byte> span, ref long line, ref THandler handler)
            where THandler : ITraceHandler =>
            ParseAccessRun(span, ref line, ref handler);
    }

    /// <summary>Accesses decoded before a run is delivered: 16 KiB of stack, enough to amortise the delivery.</summary>
    internal const int RunBatch = 1024;

    /// <summary>Words of a <c>mem</c> line handed over at once (a 4 KiB stack batch: a whole 4K table).</summary>
    internal const int MemBatch = 512;

    /// <summary>
    /// The fast path over a whole segment: `R|W|X 0xHEX` with an optional ` SIZE` (R/W), single spaces, '\n' or
    /// "\r\n" ends: exactly the lines <see cref="TryParseAccess"/> accepts, recognised in place, so the line end
    /// falls out of the parse instead of a separate search per line. Up to 16 hexadecimal digits are decoded at once
    /// with SSSE3 when available. The accesses are decoded into a batch and delivered as runs
    /// (<see cref="ITraceHandler.OnAccessRun"/>): a replay loop then streams through them with its state in
    /// registers, and this loop stays small. Stops (without consuming) at the first line of any other shape, and 32
    /// bytes before the end of the span so that every read stays in bounds; those lines take the per-line path.
    /// </summary>
    [SkipLocalsInit]
    internal static int ParseAccessRun<THandler>(ReadOnlySpan<byte> span, ref long line, ref THandler handler)
        where THandler : ITraceHandler
    {
        // Longest accepted line: "R 0x" + 16 digits + " 64" + "\r\n" = 25 bytes; the vector load reads [p+4, p+20).
        const int Margin = 32;
        int n = span.Length - Margin;
        int p = 0;
        ref byte b0 = ref MemoryMarshal.GetReference(span);
        long ln = line;
        Span<PlainAccess> batch = stackalloc PlainAccess[RunBatch];
        ref PlainAccess a0 = ref MemoryMarshal.GetReference(batch);
        int count = 0;
        while (p <= n)
        {
            ref byte c = ref Unsafe.Add(ref b0, p);
            // "R 0x" with R/W/X and x in either case: bit 5 of bytes 0 and 3 is the case bit (only 'r'/'R', 'w'/'W',
            // 'x'/'X' map to 'R', 'W', 'X' under that mask).
            uint head = Unsafe.ReadUnaligned<uint>(ref c) & 0xDFFF_FFDFu;
            if ((head & 0xFFFF_FF00u) != 0x5830_2000u)
            {
                break;
            }
            // R/W/X by table (the mix is unpredictable: no branch on it); 0 marks anything else.
            uint k = (byte)head - (uint)'R';
            if (k > 6 || AccessOps[(int)k] == 0)
            {
                break;
            }
            var op = (TraceOp)AccessOps[(int)k];
            int digits = HexRun(ref Unsafe.Add(ref c, 4), out ulong va);
            if (digits == 0)
            {
                break;
            }
            int q = 4 + digits;
            uint size = AccessSizes[(int)k];
            byte after = Unsafe.Add(ref c, q);
            if (after == (byte)' ' && op != TraceOp.Fetch)
            {
                // ` SIZE`: one or two decimal digits, 1..64.
                uint d1 = Unsafe.Add(ref c, q + 1) - (uint)'0';
                uint d2 = Unsafe.Add(ref c, q + 2) - (uint)'0';
                if (d1 > 9)
                {
                    break;
                }
                if (d2 <= 9)
                {
                    size = d1 * 10 + d2;
                    q += 3;
                }
                else
                {
                    size = d1;
                    q += 2;
                }
                if (size - 1 >= 64)
                {
                    break;
                }
                after = Unsafe.Add(ref c, q);
            }
            if (after == (byte)'\r')
            {
                q++;
                after = Unsafe.Add(ref c, q);
            }
            if (after != (byte)'\n')
            {
                break;
            }
            ref PlainAccess a = ref Unsafe.Add(ref a0, count);
            a.Va = va;
            a.Op = op;
            a.Size = (byte)size;
            p += q + 1;
            if (++count == RunBatch)
            {
                PlainAccess.Deliver(ref handler, batch, ref count, ref ln);
            }
        }
        PlainAccess.Deliver(ref handler, batch, ref count, ref ln);
        line = ln;
        return p;
    }

    /// <summary>The access operation of 'R' + k (R, W, X), 0 for the letters between.</summary>
    private static ReadOnlySpan<byte> AccessOps => [(byte)TraceOp.Read, 0, 0, 0, 0, (byte)TraceOp.Write, (byte)TraceOp.Fetch];

    /// <summary>The default access size of 'R' + k: 8 bytes for R and W, 4 for X (one instruction).</summary>
    private static ReadOnlySpan<byte> AccessSizes => [8, 0, 0, 0, 0, 8, 4];

    /// <summary>
    /// Decodes the run of hexadecimal digits at <paramref name="c"/> (16 readable bytes): its length (0..16, 16 also
    /// when more digits follow: the caller then finds no line end) and, when non-zero, its value.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int HexRun(ref byte c, out ulong value)
    {
        if (Ssse3.IsSupported)
        {
            Vector128<byte> v = Vector128.LoadUnsafe(ref c);
            Vector128<byte> dec = v - Vector128.Create((byte)'0');
            Vector128<byte> alpha = (v | Vector128.Create((byte)0x20)) - Vector128.Create((byte)'a');
            Vector128<byte> isDec = Vector128.LessThan(dec, Vector128.Create((byte)10));
            Vector128<byte> isAlpha = Vector128.LessThan(alpha, Vector128.Create((byte)6));
            uint valid = (isDec | isAlpha).ExtractMostSignificantBits();
            int count = BitOperations.TrailingZeroCount(~valid); // the run from lane 0 (≤ 16: bits 16.. of ~valid are 1)
            if (count == 0)
            {
                value = 0;
                return 0;
            }
            // Nibble values (garbage beyond the run is shifted out below), paired into bytes high nibble first, then
            // the 8 bytes read big-endian: lane 0 is the most significant digit.
            Vector128<byte> nib = Vector128.ConditionalSelect(isDec, dec, alpha + Vector128.Create((byte)10)) & Vector128.Create((byte)0x0F);
            Vector128<short> pairs = Ssse3.MultiplyAddAdjacent(nib, Vector128.Create((ushort)0x0110).AsSByte());
            Vector128<byte> packed = Sse2.PackUnsignedSaturate(pairs, pairs);
            ulong all = BinaryPrimitives.ReverseEndianness(packed.AsUInt64().ToScalar());
            value = all >> (4 * (16 - count)); // count ≥ 1: a shift of 0..60
            return count;
        }
        ReadOnlySpan<byte> table = HexDigit;
        ulong va = 0;
        int i = 0;
        for (; i < 16; i++)
        {
            uint d = table[Unsafe.Add(ref c, i)];
            if (d > 15)
            {
                break;
            }
            va = (va << 4) | d;
        }
        value = va;
        return i;
    }

    /// <summary>A cursor over the tokens of one line.</summary>
    private ref struct Tokens
    {
        private readonly ReadOnlySpan<byte> _line;
        private int _pos;

        public Tokens(ReadOnlySpan<byte> line)
        {
            int hash = line.IndexOf((byte)'#');
            _line = hash >= 0 ? line[..hash] : line;
            _pos = 0;
        }

        /// <summary>1-based column of the token last returned, or of the end of the line.</summary>
        public int Column;

        public bool Next(out ReadOnlySpan<byte> token)
        {
            while (_pos < _line.Length && IsSpace(_line[_pos]))
            {
                _pos++;
            }
            Column = _pos + 1;
            if (_pos >= _line.Length)
            {
                token = default;
                return false;
            }
            var rest = _line[_pos..];
            int len = rest.IndexOfAny(Separators);
            if (len < 0)
            {
                len = rest.Length;
            }
            token = rest[..len];
            _pos += len;
            return true;
        }

        /// <summary>
        /// The common spelling of the next number in one step: one space, then `0x` and 1..16 hexadecimal digits or
        /// 1..19 decimal digits, then a space or the end of the line. Anything else returns false with the cursor
        /// unmoved, for <see cref="Next"/> and the number parser to take (and report) it.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool NextNumberFast(out ulong value)
        {
            value = 0;
            int p = _pos;
            ReadOnlySpan<byte> line = _line;
            if ((uint)(p + 1) >= (uint)line.Length || line[p] != (byte)' ')
            {
                return false;
            }
            int start = p + 1;
            int i = start;
            ulong v = 0;
            if (line[i] == (byte)'0' && i + 2 < line.Length && (line[i + 1] | 0x20) == 'x')
            {
                i += 2;
                if (i + 16 <= line.Length)
                {
                    // All 16 bytes the vector decoder reads are in the line: table dumps, every word but the last
                    // few of a line. A run of 16 digits followed by another is left to the tokenizer (more than 64
                    // bits, or leading zeros).
                    int n = HexRun(ref Unsafe.Add(ref MemoryMarshal.GetReference(line), i), out v);
                    i += n;
                    if (n == 0 || (i < line.Length && line[i] != (byte)' '))
                    {
                        return false;
                    }
                    Column = start + 1;
                    _pos = i;
                    value = v;
                    return true;
                }
                ReadOnlySpan<byte> table = HexDigit;
                int end = Math.Min(line.Length, i + 16);
                int first = i;
                for (; i < end; i++)
                {
                    uint d = table[line[i]];
                    if (d > 15)
                    {
                        break;
                    }
                    v = (v << 4) | d;
                }
                if (i == first)
                {
                    return false;
                }
            }
            else
            {
                int end = Math.Min(line.Length, i + 19);
                for (; i < end; i++)
                {
                    uint d = line[i] - (uint)'0';
                    if (d > 9)
                    {
                        break;
                    }
                    v = v * 10 + d;
                }
                if (i == start)
                {
                    return false;
                }
            }
            if (i < line.Length && line[i] != (byte)' ')
            {
                return false;
            }
            Column = start + 1;
            _pos = i;
            value = v;
            return true;
        }

        private static readonly SearchValues<byte> Separators = SearchValues.Create(" \t\r"u8);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool IsSpace(byte b) => b == (byte)' ' || b == (byte)'\t' || b == (byte)'\r';
    }

    /// <summary>Parses one line (without its '\n') and emits its records.</summary>
    public static void ParseLine<THandler>(ReadOnlySpan<byte> text, string source, long line, ref THandler handler)
        where THandler : ITraceHandler
    {
        if (!TryParseAccess(text, line, ref handler))
        {
            ParseGeneral(text, source, line, ref handler);
        }
    }

    /// <summary>Every spelling of every command, with its errors.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    [SkipLocalsInit]
    private static void ParseGeneral<THandler>(ReadOnlySpan<byte> text, string source, long line, ref THandler handler)
        where THandler : ITraceHandler
    {
        var t = new Tokens(text);
        if (!t.Next(out var keyword))
        {
            return; // blank or comment
        }
        var rec = new TraceRecord { Line = line };
        int keywordColumn = t.Column;
        switch (keyword.Length)
        {
            case 1 when (keyword[0] | 0x20) == 'r':
                rec.Op = TraceOp.Read;
                rec.Address = Number(ref t, source, line, "virtual address");
                rec.Size = OptionalSize(ref t, source, line);
                break;
            case 1 when (keyword[0] | 0x20) == 'w':
                rec.Op = TraceOp.Write;
                rec.Address = Number(ref t, source, line, "virtual address");
                rec.Size = OptionalSize(ref t, source, line);
                break;
            case 1 when (keyword[0] | 0x20) == 'x':
                rec.Op = TraceOp.Fetch;
                rec.Address = Number(ref t, source, line, "virtual address");
                rec.Size = 4;
                break;
            case 2 when Is(keyword, "at"u8):
                rec.Op = TraceOp.At;
                rec.At = Name<AtOp>(ref t, source, line, "AT operation");
                rec.Address = Number(ref t, source, line, "virtual address");
                break;
            case 2 when Is(keyword, "el"u8):
                rec.Op = TraceOp.El;
                rec.Value = Number(ref t, source, line, "exception level");
                if (rec.Value > 2)
                {
                    Fail.Bad(source, line, t.Column, "exception level ", rec.Value, " is not 0, 1 or 2");
                }
                break;
            case 3 when Is(keyword, "reg"u8):
                rec.Op = TraceOp.Reg;
                rec.Reg = Name<SysReg>(ref t, source, line, "register");
                rec.Value = Number(ref t, source, line, "register value");
                break;
            case 3 when Is(keyword, "ram"u8):
                rec.Op = TraceOp.Ram;
                rec.Address = Number(ref t, source, line, "RAM base");
                rec.Value = Number(ref t, source, line, "RAM size");
                break;
            case 3 when Is(keyword, "mem"u8):
            {
                ulong pa = Number(ref t, source, line, "physical address");
                if ((pa & 7) != 0)
                {
                    Fail.Bad(source, line, t.Column, "mem address 0x", pa, " is not 8-byte aligned", hex: true);
                }
                // Table dumps are hundreds of words a line: decoded into a stack batch (the common spelling without
                // the tokenizer) and handed over together. Words decoded are handed over before anything that may
                // report an error, so a bad word leaves the ones before it stored, as word-by-word parsing would.
                Span<ulong> words = stackalloc ulong[MemBatch];
                long count = 0;
                int n = 0;
                while (true)
                {
                    if (!t.NextNumberFast(out ulong value))
                    {
                        if (n != 0)
                        {
                            handler.OnMemWords(pa + (ulong)(count - n) * 8, words[..n], line);
                            n = 0;
                        }
                        if (!t.Next(out var tok))
                        {
                            break;
                        }
                        value = ParseNumber(tok, source, line, t.Column, "value");
                    }
                    words[n++] = value;
                    count++;
                    if (n == MemBatch)
                    {
                        handler.OnMemWords(pa + (ulong)(count - n) * 8, words, line);
                        n = 0;
                    }
                }
                if (count == 0)
                {
                    Fail.Bad(source, line, t.Column, "mem needs at least one value");
                }
                return;
            }
            case 4 when Is(keyword, "dump"u8):
                rec.Op = TraceOp.Dump;
                rec.Address = Number(ref t, source, line, "physical address");
                if ((rec.Address & 7) != 0)
                {
                    Fail.Bad(source, line, t.Column, "dump address 0x", rec.Address, " is not 8-byte aligned", hex: true);
                }
                break;
            case 4 when Is(keyword, "ldtr"u8) || Is(keyword, "sttr"u8):
                rec.Op = (keyword[0] | 0x20) == 'l' ? TraceOp.Ldtr : TraceOp.Sttr;
                rec.Address = Number(ref t, source, line, "virtual address");
                rec.Size = OptionalSize(ref t, source, line);
                break;
            case 6 when Is(keyword, "pstate"u8):
            {
                rec.Op = TraceOp.Pstate;
                if (!t.Next(out var field) || !Is(field, "pan"u8))
                {
                    Fail.Bad(source, line, t.Column, "pstate needs the field PAN");
                }
                rec.Value = Number(ref t, source, line, "PSTATE.PAN value");
                if (rec.Value > 1)
                {
                    Fail.Bad(source, line, t.Column, "PSTATE.PAN ", rec.Value, " is not 0 or 1");
                }
                break;
            }
            case 4 when Is(keyword, "tlbi"u8):
                rec.Op = TraceOp.Tlbi;
                rec.Tlbi = Name<TlbiOp>(ref t, source, line, "TLBI operation");
                if (t.Next(out var xt))
                {
                    rec.Value = ParseNumber(xt, source, line, t.Column, "TLBI operand");
                    rec.HasOperand = true;
                }
                break;
            default:
                Fail.UnknownCommand(source, line, keywordColumn, keyword);
                return;
        }
        if (t.Next(out _))
        {
            Fail.Bad(source, line, t.Column, "unexpected extra operand");
        }
        handler.OnRecord(in rec);
    }

    /// <summary>
    /// Fast path for the lines that make up almost all of a trace, in their plain spelling: `R|W|X 0xHEX` with an
    /// optional ` SIZE` (R/W), single spaces, nothing else on the line. Anything else, errors included, returns false
    /// and goes through the general tokenizer, which accepts every spelling and reports every error.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool TryParseAccess<THandler>(ReadOnlySpan<byte> text, long line, ref THandler handler)
        where THandler : ITraceHandler
    {
        if (text.Length < 5 || text[1] != (byte)' ' || text[2] != (byte)'0' || (text[3] | 0x20) != 'x')
        {
            return false;
        }
        TraceOp op;
        switch (text[0] | 0x20)
        {
            case 'r': op = TraceOp.Read; break;
            case 'w': op = TraceOp.Write; break;
            case 'x': op = TraceOp.Fetch; break;
            default: return false;
        }
        ReadOnlySpan<byte> hex = HexDigit;
        ulong va = 0;
        int i = 4;
        int end = Math.Min(text.Length, 20); // at most 16 digits
        for (; i < end; i++)
        {
            uint d = hex[text[i]];
            if (d > 15)
            {
                break;
            }
            va = (va << 4) | d;
        }
        if (i == 4)
        {
            return false;
        }
        uint size = op == TraceOp.Fetch ? 4u : 8u;
        if (i < text.Length && text[i] == (byte)' ' && op != TraceOp.Fetch)
        {
            // ` SIZE`: one or two decimal digits, 1..64.
            int start = ++i;
            size = 0;
            for (; i < text.Length && i - start < 2; i++)
            {
                uint d = text[i] - (uint)'0';
                if (d > 9)
                {
                    break;
                }
                size = size * 10 + d;
            }
            if (i == start || size - 1 >= 64)
            {
                return false;
            }
        }
        if (i != text.Length && !(i == text.Length - 1 && text[i] == (byte)'\r'))
        {
            return false;
        }
        var rec = new TraceRecord { Op = op, Line = line, Address = va, Size = (byte)size };
        handler.OnRecord(in rec);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Is(ReadOnlySpan<byte> token, ReadOnlySpan<byte> lowerKeyword) =>
        System.Text.Ascii.EqualsIgnoreCase(token, lowerKeyword);

    private static byte OptionalSize(ref Tokens t, string source, long line)
    {
        if (!t.Next(out var tok))
        {
            return 8;
        }
        ulong size = ParseNumber(tok, source, line, t.Column, "access size");
        if (size is 0 or > 64)
        {
            Fail.Bad(source, line, t.Column, "access size ", size, " is not between 1 and 64 bytes");
        }
        return (byte)size;
    }

    /// <summary>A register, AT or TLBI name: the token decoder of every name the format has (<see cref="WireCodes{T}"/>).</summary>
    private static T Name<T>(ref Tokens t, string source, long line, string what)
        where T : struct, Enum
    {
        if (!t.Next(out var tok))
        {
            Fail.Missing(source, line, t.Column, what);
        }
        if (!WireCodes<T>.TryParse(tok, out T value))
        {
            Fail.Unknown(source, line, t.Column, what, tok);
        }
        return value;
    }

    private static ulong Number(ref Tokens t, string source, long line, string what)
    {
        if (!t.Next(out var tok))
        {
            Fail.Missing(source, line, t.Column, what);
        }
        return ParseNumber(tok, source, line, t.Column, what);
    }

    /// <summary>`0x` hexadecimal or decimal, unsigned, at most 64 bits, `_` allowed between digits.</summary>
    public static ulong ParseNumber(ReadOnlySpan<byte> tok, string source, long line, int column, string what)
    {
        if (TryParseFast(tok, out ulong fast))
        {
            return fast;
        }
        return ParseNumberSlow(tok, source, line, column, what);
    }

    /// <summary>
    /// Digit values of hexadecimal characters, 0xFF for anything else: one table load per digit on the fast path.
    /// </summary>
    internal static ReadOnlySpan<byte> HexDigit =>
    [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 10, 11, 12, 13, 14, 15, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 10, 11, 12, 13, 14, 15, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ];

    /// <summary>
    /// The common case: `0x` and 1..16 hexadecimal digits, or 1..19 decimal digits (cannot overflow), no `_`.
    /// Anything else (and every error) goes to the slow path, which reports it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryParseFast(ReadOnlySpan<byte> tok, out ulong value)
    {
        value = 0;
        if (tok.Length > 2 && tok.Length <= 18 && tok[0] == (byte)'0' && (tok[1] | 0x20) == 'x')
        {
            ReadOnlySpan<byte> table = HexDigit;
            for (int i = 2; i < tok.Length; i++)
            {
                uint d = table[tok[i]];
                if (d > 15)
                {
                    return false;
                }
                value = (value << 4) | d;
            }
            return true;
        }
        if (tok.Length is 0 or > 19)
        {
            return false;
        }
        for (int i = 0; i < tok.Length; i++)
        {
            uint d = tok[i] - (uint)'0';
            if (d > 9)
            {
                return false;
            }
            value = value * 10 + d;
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong ParseNumberSlow(ReadOnlySpan<byte> tok, string source, long line, int column, string what)
    {
        ulong value = 0;
        bool hex = tok.Length >= 2 && tok[0] == (byte)'0' && (tok[1] | 0x20) == 'x';
        int i = hex ? 2 : 0;
        int digits = 0;
        for (; i < tok.Length; i++)
        {
            byte c = tok[i];
            if (c == (byte)'_')
            {
                continue;
            }
            uint d;
            if (c - (uint)'0' <= 9)
            {
                d = c - (uint)'0';
            }
            else if (hex && (uint)((c | 0x20) - 'a') <= 5)
            {
                // Unsigned, so that a character below 'a' is no digit ((c | 0x20) is an int: int − uint is a long).
                d = (uint)((c | 0x20) - 'a' + 10);
            }
            else
            {
                throw new TraceFormatException(source, line, column + i,
                    $"bad {what} '{Fail.Show(tok)}': '{Fail.Show([c])}' is not a {(hex ? "hexadecimal" : "decimal")} digit");
            }
            if (hex)
            {
                if ((value >> 60) != 0)
                {
                    throw new TraceFormatException(source, line, column, $"{what} '{Fail.Show(tok)}' does not fit in 64 bits");
                }
                value = (value << 4) | d;
            }
            else
            {
                ulong next = value * 10 + d;
                if (value > ulong.MaxValue / 10 || next < value * 10)
                {
                    throw new TraceFormatException(source, line, column, $"{what} '{Fail.Show(tok)}' does not fit in 64 bits");
                }
                value = next;
            }
            digits++;
        }
        if (digits == 0)
        {
            throw new TraceFormatException(source, line, column, $"bad {what} '{Fail.Show(tok)}': no digits");
        }
        return value;
    }
}

/// <summary>The text format (docs/trace-format.md): what detection falls back to.</summary>
internal sealed class TextInputFormat : InputFormat
{
    public override TraceFormat Id => TraceFormat.Text;

    public override string Name => "text";

    public override string Description => "the MmuSim text format (docs/trace-format.md)";

    public override string Recognition => "anything no other format claims";

    public override bool IsText => true;

    public override bool CanWrite => true;

    public override TraceWriter CreateWriter(Stream stream) => new TextTraceWriter(stream);

    public override IReadOnlyList<string> Extensions => [".trace", ".txt"];

    public override ValueTask<long> ReadAsync<THandler>(TraceInput input, THandler handler, ParseOptions parse, int bufferSize, bool direct,
        CancellationToken ct) =>
        Read(input, new LineDecoder<TextTraceParser.TextLineFormat>(input.Source, parse, default), handler, bufferSize, direct, ct);
}
