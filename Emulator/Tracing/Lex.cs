using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MmuSim.Tracing;

/// <summary>
/// The token decoders of the line formats, one per token kind: the access letter, runs of hexadecimal and decimal
/// digits, the access size, the text format's number and the foreign formats' hexadecimal and decimal numbers. The
/// text format's batched access decoder, its `mem` word loop and its tokenizer, and the lackey and QEMU mem parsers
/// all decode through these: nothing else in Tracing tells a digit's value. Errors name the column.
/// </summary>
internal static class Lex
{
    // ---------------------------------------------------------------- access letters and sizes

    /// <summary>
    /// The operation of an access letter (R, W or X, in either case), 0 for any other byte, and the access size a
    /// line without one has (8 bytes for R and W, 4 for X: one instruction; only R and W take a size).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TraceOp AccessLetter(uint letter, out uint defaultSize)
    {
        // One load from a table of every byte, without a branch on the letter (the mix in a trace is unpredictable)
        // and without a range check: the access decoder runs this on every line.
        uint v = AccessLetters[(byte)letter];
        defaultSize = v >> 2;
        return (TraceOp)(v & 3);
    }

    /// <summary>
    /// Per byte: the access operation of that letter (bits [1:0]: <see cref="TraceOp.Read"/>, <see cref="TraceOp.Write"/>,
    /// <see cref="TraceOp.Fetch"/>; 0 for any other byte) and its default size (bits [7:2]: 8 for R/W, 4 for X).
    /// </summary>
    private static ReadOnlySpan<byte> AccessLetters =>
    [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x00, 0x22, 0x13, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x00, 0x22, 0x13, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    /// <summary>The size of a data access whose line gives none: 8 bytes.</summary>
    public const byte DataSize = 8;

    /// <summary>Whether <paramref name="size"/> is an access size a text line may give: 1 to 64 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsAccessSize(ulong size) => size - 1 < 64;

    /// <summary>
    /// The access size at <paramref name="c"/> in its plain spelling (3 bytes readable): one or two decimal digits,
    /// 1..64. Returns its digits, or 0 for anything else (the tokenizer's to take: `_`, leading zeros, `0x`, errors).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int AccessSize(ref byte c, out uint size)
    {
        // Both digits are loaded at once rather than in a loop: two independent loads, no loop-carried branch.
        uint d1 = DecValue(c);
        uint d2 = DecValue(Unsafe.Add(ref c, 1));
        if (d1 > 9)
        {
            size = 0;
            return 0;
        }
        if (d2 <= 9)
        {
            size = d1 * 10 + d2;
            return IsAccessSize(size) ? 2 : 0;
        }
        size = d1;
        return IsAccessSize(size) ? 1 : 0;
    }

    // ---------------------------------------------------------------- digits

    /// <summary>The value of a hexadecimal digit, above 15 for any other byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint HexValue(byte c) => HexDigit[c];

    /// <summary>The value of a decimal digit, above 9 for any other byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint DecValue(byte c) => c - (uint)'0';

    /// <summary>Whether <paramref name="tok"/> starts with `0x` or `0X`.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool HasHexPrefix(ReadOnlySpan<byte> tok) => HasHexPrefix(ref MemoryMarshal.GetReference(tok), tok.Length);

    /// <summary>Whether the <paramref name="length"/> bytes at <paramref name="c"/> start with `0x` or `0X`.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool HasHexPrefix(ref byte c, int length) =>
        length >= 2 && c == (byte)'0' && (Unsafe.Add(ref c, 1) | 0x20) == 'x';

    /// <summary>
    /// Decodes the run of hexadecimal digits at the start of <paramref name="s"/>: its length (0..16, 16 also when
    /// more digits follow) and, when non-zero, its value.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int HexDigits(ReadOnlySpan<byte> s, out ulong value) =>
        HexDigits(ref MemoryMarshal.GetReference(s), s.Length, out value);

    /// <summary>
    /// Decodes the run of hexadecimal digits at <paramref name="c"/>, of which <paramref name="readable"/> bytes may be
    /// read: its length (0..16, 16 also when more digits follow) and, when non-zero, its value. With 16 readable bytes
    /// all 16 are decoded at once (SSSE3), otherwise digit by digit; both give the same run.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int HexDigits(ref byte c, int readable, out ulong value)
    {
        if (Ssse3.IsSupported && readable >= 16)
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
        int end = Math.Min(readable, 16);
        ulong va = 0;
        int i = 0;
        for (; i < end; i++)
        {
            uint d = HexValue(Unsafe.Add(ref c, i));
            if (d > 15)
            {
                break;
            }
            va = (va << 4) | d;
        }
        value = va;
        return i;
    }

    /// <summary>
    /// Decodes the run of decimal digits at the start of <paramref name="s"/>, at most <paramref name="max"/> of them
    /// (19 cannot overflow): its length and value.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int DecDigits(ReadOnlySpan<byte> s, int max, out ulong value) =>
        DecDigits(ref MemoryMarshal.GetReference(s), Math.Min(s.Length, max), out value);

    /// <summary>
    /// Decodes the run of decimal digits at <paramref name="c"/>, at most <paramref name="max"/> of them, all readable:
    /// its length and value.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int DecDigits(ref byte c, int max, out ulong value)
    {
        ulong v = 0;
        int i = 0;
        for (; i < max; i++)
        {
            uint d = DecValue(Unsafe.Add(ref c, i));
            if (d > 9)
            {
                break;
            }
            v = v * 10 + d;
        }
        value = v;
        return i;
    }

    /// <summary>
    /// Digit values of hexadecimal characters, 0xFF for anything else: one table load per digit.
    /// </summary>
    private static ReadOnlySpan<byte> HexDigit =>
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

    // ---------------------------------------------------------------- the text format's numbers

    /// <summary>
    /// The common spelling of a text number at the start of <paramref name="s"/>: `0x` and 1..16 hexadecimal digits, or
    /// 1..19 decimal digits (neither can overflow), no `_`. Returns its length (0 when <paramref name="s"/> starts with
    /// none); what follows is the caller's to check: the whole token, or a separator.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CommonNumber(ReadOnlySpan<byte> s, out ulong value) =>
        CommonNumber(ref MemoryMarshal.GetReference(s), s.Length, out value);

    /// <summary>As <see cref="CommonNumber(ReadOnlySpan{byte}, out ulong)"/>, over the <paramref name="length"/> bytes at <paramref name="c"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CommonNumber(ref byte c, int length, out ulong value)
    {
        if (length > 2 && HasHexPrefix(ref c, length))
        {
            int n = HexDigits(ref Unsafe.Add(ref c, 2), length - 2, out value);
            return n == 0 ? 0 : 2 + n;
        }
        return DecDigits(ref c, Math.Min(length, 19), out value);
    }

    /// <summary>A text number: `0x` hexadecimal or decimal, unsigned, at most 64 bits, `_` allowed between digits.</summary>
    public static ulong Number(ReadOnlySpan<byte> tok, string source, long line, int column, string what)
    {
        int n = CommonNumber(tok, out ulong value);
        if (n == tok.Length && n != 0)
        {
            return value;
        }
        return NumberSlow(tok, source, line, column, what);
    }

    /// <summary>Every other spelling of a text number (`_`, leading zeros past the limits), and every error.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong NumberSlow(ReadOnlySpan<byte> tok, string source, long line, int column, string what)
    {
        ulong value = 0;
        bool hex = HasHexPrefix(tok);
        int i = hex ? 2 : 0;
        int digits = 0;
        for (; i < tok.Length; i++)
        {
            byte c = tok[i];
            if (c == (byte)'_')
            {
                continue;
            }
            uint d = hex ? HexValue(c) : DecValue(c);
            if (d >= (hex ? 16u : 10u))
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

    // ---------------------------------------------------------------- the foreign formats' numbers

    /// <summary>Hexadecimal digits, with or without a 0x prefix, at most 16 of them (64 bits), no `_`.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Hex(ReadOnlySpan<byte> tok, string source, long line, int column, string what)
    {
        int i = tok.Length > 2 && HasHexPrefix(tok) ? 2 : 0;
        int n = HexDigits(tok[i..], out ulong v);
        if (n == 0 || i + n != tok.Length)
        {
            HexError(tok, source, line, column, what);
        }
        return v;
    }

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    private static void HexError(ReadOnlySpan<byte> tok, string source, long line, int column, string what)
    {
        int i = tok.Length > 2 && HasHexPrefix(tok) ? 2 : 0;
        if (i == tok.Length)
        {
            throw new TraceFormatException(source, line, column, $"missing {what}");
        }
        if (tok.Length - i > 16)
        {
            throw new TraceFormatException(source, line, column, $"{what} '{Fail.Show(tok)}' does not fit in 64 bits");
        }
        for (; i < tok.Length; i++)
        {
            if (HexValue(tok[i]) > 15)
            {
                throw new TraceFormatException(source, line, column + i, $"bad {what} '{Fail.Show(tok)}': '{Fail.Show(tok.Slice(i, 1))}' is not a hexadecimal digit");
            }
        }
        throw new InvalidOperationException("HexError called on a valid number");
    }

    /// <summary>Decimal digits, at most 9 of them (sizes and counts).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Dec(ReadOnlySpan<byte> tok, string source, long line, int column, string what)
    {
        int n = DecDigits(tok, 9, out ulong v);
        if (n == 0 || n != tok.Length)
        {
            DecError(tok, source, line, column, what);
        }
        return (uint)v;
    }

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    private static void DecError(ReadOnlySpan<byte> tok, string source, long line, int column, string what)
    {
        if (tok.IsEmpty)
        {
            throw new TraceFormatException(source, line, column, $"missing {what}");
        }
        if (tok.Length > 9)
        {
            throw new TraceFormatException(source, line, column, $"{what} '{Fail.Show(tok)}' is too large");
        }
        for (int i = 0; i < tok.Length; i++)
        {
            if (DecValue(tok[i]) > 9)
            {
                throw new TraceFormatException(source, line, column + i, $"bad {what} '{Fail.Show(tok)}': '{Fail.Show(tok.Slice(i, 1))}' is not a decimal digit");
            }
        }
        throw new InvalidOperationException("DecError called on a valid number");
    }

    /// <summary>An access size as a record holds it: 1..64 bytes (larger accesses, e.g. FXSAVE's 512, are clamped to 64).</summary>
    public static byte Size(uint bytes, string source, long line, int column)
    {
        if (bytes == 0)
        {
            Fail.Bad(source, line, column, "access size 0");
        }
        return (byte)Math.Min(bytes, 64u);
    }
}
