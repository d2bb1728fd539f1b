using System.Buffers;
using System.Text;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Tracing;

/// <summary>
/// One number grammar: the same random tokens through every place a line format reads a number (text access lines
/// on the batched run, the per-line path and the tokenizer, access sizes, `mem` words in the batched word loop with
/// and without 16 readable bytes after them and through the tokenizer, register values, RAM, AT and TLBI operands,
/// exception levels, dump addresses; lackey and QEMU mem addresses and sizes), each against the oracle of its rule.
/// A second decoder that disagrees with the first on any token fails here.
/// </summary>
public class NumberGrammarTests
{
    /// <summary>Tokens of digits, letters on both sides of the hexadecimal range, punctuation next to the digit ranges in ASCII, `_`, control bytes; lengths around the 9-, 16- and 19-digit limits.</summary>
    private static List<string> Tokens(int seed, int count)
    {
        const string odd = "0123456789abcdefABCDEFgGxX_!/:@`[{\u0001\u007f\u00ff";
        var r = new Random(seed);
        var tokens = new List<string>();
        while (tokens.Count < count)
        {
            string tok;
            if (r.Next(5) == 0)
            {
                // Small decimals, with leading zeros at times: sizes, levels.
                tok = new string('0', r.Next(3) == 0 ? r.Next(1, 10) : 0) + r.Next(0, 140).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            else
            {
                var sb = new StringBuilder();
                if (r.Next(2) == 0)
                {
                    sb.Append(r.Next(2) == 0 ? "0x" : "0X");
                }
                int length = r.Next(0, 22);
                for (int i = 0; i < length; i++)
                {
                    sb.Append(r.Next(6) == 0 ? odd[r.Next(odd.Length)] : "0123456789abcdef"[r.Next(r.Next(2) == 0 ? 10 : 16)]);
                }
                tok = sb.ToString();
            }
            if (tok.Length != 0)
            {
                tokens.Add(tok);
            }
        }
        return tokens;
    }

    private static (List<TraceRecord> Records, TraceFormatException? Error) Run<TFormat>(string text)
        where TFormat : struct, ILineFormat
    {
        var sink = new RecordList();
        var seq = new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(text));
        var state = new LineState("t", ParseOptions.Strict);
        var format = default(TFormat);
        try
        {
            LineReader.ParseLines(ref seq, ref state, ref format, ref sink, final: true);
            return (sink.Records, null);
        }
        catch (TraceFormatException e)
        {
            return (sink.Records, e);
        }
        finally
        {
            state.Dispose();
        }
    }

    /// <summary>
    /// Parses <paramref name="text"/>, whose line <paramref name="line"/> holds <paramref name="tok"/> at
    /// <paramref name="column"/>: with an expected value, the records' <paramref name="index"/>-th is on that line and
    /// <paramref name="field"/> of it is the value; without, the error is on that line at a column inside the token.
    /// </summary>
    private static void Check<TFormat>(string text, string tok, long line, int column, ulong? expected, int index, Func<TraceRecord, ulong> field)
        where TFormat : struct, ILineFormat
    {
        var (records, error) = Run<TFormat>(text);
        string what = $"{text.Replace("\n", "\\n").Replace("\t", "\\t")}";
        if (expected is { } value)
        {
            Assert.True(error is null, $"{what}: {error?.Message}");
            Assert.True(records.Count > index, what);
            Assert.True((value, line) == (field(records[index]), records[index].Line), $"{what}: {field(records[index]):x} on line {records[index].Line}, expected {value:x}");
        }
        else
        {
            Assert.True(error is not null, $"{what}: no error");
            Assert.True(error.Line == line && error.Column >= column && error.Column < column + tok.Length, $"{what}: {error.Message}");
        }
    }

    private const string Accesses = "R 0x2000\nR 0x3000\nR 0x4000\nR 0x5000\n";

    [Fact]
    public void TextNumbersAgreeWithTheOracleEverywhere()
    {
        foreach (string tok in Tokens(21, 2500))
        {
            ulong? v = NumberOracle.Text(tok);
            ulong? Where(Func<ulong, bool> ok) => v is { } x && ok(x) ? x : null;

            // The direct entry point.
            if (v is { } value)
            {
                Assert.Equal(value, TextTraceParser.ParseNumber(Encoding.Latin1.GetBytes(tok), "t", 1, 5, "n"));
            }
            else
            {
                var e = Assert.Throws<TraceFormatException>(() => TextTraceParser.ParseNumber(Encoding.Latin1.GetBytes(tok), "t", 1, 5, "n"));
                Assert.InRange(e.Column, 5, 5 + tok.Length - 1);
            }

            // Access addresses: in a batched run, as the last line (the per-line path), through the tokenizer.
            Check<TextTraceParser.TextLineFormat>($"R 0x1000\nR {tok}\n{Accesses}", tok, 2, 3, v, 1, r => r.Address);
            Check<TextTraceParser.TextLineFormat>($"R 0x1000\nW {tok}", tok, 2, 3, v, 1, r => r.Address);
            Check<TextTraceParser.TextLineFormat>($"R 0x1000\nX {tok}\r\n", tok, 2, 3, v, 1, r => r.Address);
            Check<TextTraceParser.TextLineFormat>($"R 0x1000\nW  {tok}\t4\n{Accesses}", tok, 2, 4, v, 1, r => r.Address);

            // Access sizes: 1..64.
            ulong? size = Where(x => x is >= 1 and <= 64);
            Check<TextTraceParser.TextLineFormat>($"R 0x1000\nW 0x10 {tok}\n{Accesses}", tok, 2, 8, size, 1, r => r.Size);
            Check<TextTraceParser.TextLineFormat>($"R 0x1000\nR 0x10 {tok}", tok, 2, 8, size, 1, r => r.Size);
            Check<TextTraceParser.TextLineFormat>($"R 0x1000\nr\t0x10 {tok}\n{Accesses}", tok, 2, 8, size, 1, r => r.Size);

            // mem words: the batched word loop with 16 bytes after the word and without, and the tokenizer.
            Check<TextTraceParser.TextLineFormat>($"mem 0x1000 {tok} 0x1111222233334444\n", tok, 1, 12, v, 0, r => r.Value);
            Check<TextTraceParser.TextLineFormat>($"mem 0x1000 0x1 {tok}\n", tok, 1, 16, v, 1, r => r.Value);
            Check<TextTraceParser.TextLineFormat>($"mem 0x1000\t{tok}\n", tok, 1, 12, v, 0, r => r.Value);

            // The other commands' numbers.
            Check<TextTraceParser.TextLineFormat>($"reg TTBR0_EL1 {tok}\n", tok, 1, 15, v, 0, r => r.Value);
            // A ram region is not empty and does not run past 2^64 (a one-byte region never does).
            Check<TextTraceParser.TextLineFormat>($"ram {tok} 1\n", tok, 1, 5, v, 0, r => r.Address);
            Check<TextTraceParser.TextLineFormat>($"ram 0 {tok}", tok, 1, 7, Where(x => x != 0), 0, r => r.Value);
            Check<TextTraceParser.TextLineFormat>($"at S1E1R {tok}\n", tok, 1, 10, v, 0, r => r.Address);
            Check<TextTraceParser.TextLineFormat>($"tlbi VAE1 {tok}\n", tok, 1, 11, v, 0, r => r.Value);
            Check<TextTraceParser.TextLineFormat>($"el {tok}\n", tok, 1, 4, Where(x => x <= 2), 0, r => r.Value);
            Check<TextTraceParser.TextLineFormat>($"dump {tok}\n", tok, 1, 6, Where(x => x % 8 == 0), 0, r => r.Address);
        }
    }

    [Fact]
    public void ForeignNumbersAgreeWithTheOracleEverywhere()
    {
        foreach (string tok in Tokens(22, 2500))
        {
            ulong? hex = NumberOracle.ForeignHex(tok);
            ulong? dec = NumberOracle.ForeignDec(tok);

            // lackey: hexadecimal addresses, decimal sizes (0 refused, more than 64 clamped).
            Check<LackeyFormat>($" L {tok},8\n", tok, 1, 4, hex, 0, r => r.Address);
            Check<LackeyFormat>($"I  0x400000,4\n S   {tok},8\r\n", tok, 2, 6, hex, 2, r => r.Address); // after the I line's inst and fetch
            Check<LackeyFormat>($" M 1000,{tok}\n", tok, 1, 9, dec is null or 0 ? null : Math.Min(dec.Value, 64), 1, r => r.Size);

            // QEMU mem: the instruction address, mem_vaddr and mem_hwaddr in hexadecimal, the size in bits.
            Check<QemuMemFormat>($"0x400580,main,{tok},0x4a3f000,64,load,0x1\n", tok, 1, 15, hex, 0, r => r.Address);
            Check<QemuMemFormat>($"{tok},main,0x7000,0x4a3f000,64,load,0x1\n", tok, 1, 1, hex is null ? null : 0x7000, 0, r => r.Address);
            Check<QemuMemFormat>($"0x1,,0x7000,{tok},8,store,0x1\n", tok, 1, 13, hex is null ? null : 0x7000, 0, r => r.Address);
            Check<QemuMemFormat>($"0x1,f,0x7000,0x2,{tok},store,0x1\n", tok, 1, 18, dec is 8 or 16 or 32 or 64 or 128 ? dec : null, 0, r => r.Size * 8UL);
        }
    }

    /// <summary>
    /// The two versions behind <see cref="Lex.HexDigits(ReadOnlySpan{byte}, out ulong)"/> give the same run: with 16
    /// bytes readable (16 digits at once where the machine has SSSE3) and with 15 (digit by digit), on random bytes
    /// of and around the hexadecimal digits.
    /// </summary>
    [Fact]
    public void HexDigitsAreTheSameWholeAndDigitByDigit()
    {
        byte[] alphabet = Encoding.Latin1.GetBytes("0123456789abcdefABCDEF/:@G`g_x \u0000\u00ff");
        var r = new Random(23);
        var bytes = new byte[16];
        for (int n = 0; n < 20000; n++)
        {
            int run = r.Next(17);
            for (int i = 0; i < 16; i++)
            {
                bytes[i] = i < run ? "0123456789abcdefABCDEF"u8[r.Next(22)] : alphabet[r.Next(alphabet.Length)];
            }
            int whole = Lex.HexDigits(bytes, out ulong wholeValue);
            int part = Lex.HexDigits(bytes.AsSpan(0, 15), out ulong partValue);
            string what = Encoding.Latin1.GetString(bytes);
            if (whole < 16)
            {
                Assert.True((part, partValue) == (whole, wholeValue), what);
            }
            else
            {
                Assert.True((part, (partValue << 4) | Lex.HexValue(bytes[15])) == (15, wholeValue), what);
            }
            Assert.Equal(NumberOracle.ForeignHex(what[..whole]) ?? 0, whole == 0 ? 0 : wholeValue);
        }
    }

    /// <summary>
    /// The access letter's table (<see cref="Lex.AccessLetter"/>), over every byte: R, W and X in either case and
    /// nothing else are accesses (the grammar's access lines), with 8 bytes for a data access without a size and 4
    /// for a fetch (one instruction).
    /// </summary>
    [Fact]
    public void AccessLettersAreExactlyRWXInEitherCase()
    {
        for (int b = 0; b < 256; b++)
        {
            char c = char.ToUpperInvariant((char)b);
            (TraceOp, uint) expected = b < 128 && c == 'R' ? (TraceOp.Read, 8u)
                : b < 128 && c == 'W' ? (TraceOp.Write, 8u)
                : b < 128 && c == 'X' ? (TraceOp.Fetch, 4u)
                : (0, 0u);
            var op = Lex.AccessLetter((uint)b, out uint size);
            Assert.True(expected == (op, op == 0 ? 0u : size), $"byte 0x{b:X2}");
        }
    }
}
