using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using MmuSim.Caching;
using MmuSim.Registers;
using MmuSim.Tests.Support;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Tests.Tracing;

/// <summary>
/// The text trace parser (docs/trace-format.md): every command, comments, blank lines, CRLF, case-insensitivity, `_` in
/// numbers, 64-bit limits, errors with exact line and column, and the same records whatever way the bytes are split.
/// </summary>
public class TextTraceParserTests
{
    private struct ListHandler : ITraceHandler
    {
        public List<TraceRecord> Records;

        public void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine)
        {
            PlainAccess.EachRecord(ref this, run, firstLine);
        }

        public void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line)
        {
            MemWords.EachRecord(ref this, pa, words, line);
        }

        public readonly void OnRecord(in TraceRecord record) => Records.Add(record);
    }

    /// <summary>Parses <paramref name="text"/> as one buffer, all lines final (a character up to U+00FF is that byte).</summary>
    private static List<TraceRecord> Parse(string text, string source = "t.trace")
    {
        var seq = new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(text));
        return ParseSequence(seq, source, out _);
    }

    private static List<TraceRecord> ParseSequence(ReadOnlySequence<byte> seq, string source, out long lines)
    {
        var h = new ListHandler { Records = new List<TraceRecord>() };
        var state = new LineState(source, ParseOptions.Strict);
        var format = default(TextTraceParser.TextLineFormat);
        var pos = LineReader.ParseLines(ref seq, ref state, ref format, ref h, final: true);
        lines = state.Line;
        state.Dispose();
        Assert.Equal(seq.End, pos);
        return h.Records;
    }

    private static TraceFormatException Error(string text, string source = "t.trace") =>
        Assert.Throws<TraceFormatException>(() => Parse(text, source));

    // ---------------------------------------------------------------- commands

    [Fact]
    public void EveryCommand()
    {
        var r = Parse(string.Join("\n",
            "reg TCR_EL1 0x0000000280803510",
            "mem 0x40000000 0x40001003 7 0xff",
            "ram 0x40000000 0x100000",
            "el 0",
            "R 0x1008",
            "R 0x1009 2",
            "W 0x2000 64",
            "X 0x3000",
            "at S12E1W 0xffff000000001000",
            "dump 0x40001000",
            "tlbi VMALLE1",
            "tlbi VAE1 0x0005000000000123"));
        Assert.Equal(14, r.Count);
        Assert.Equal(new TraceRecord { Op = TraceOp.Reg, Line = 1, Reg = SysReg.TCR_EL1, Value = 0x0000000280803510 }, r[0]);
        Assert.Equal(new TraceRecord { Op = TraceOp.Mem, Line = 2, Address = 0x40000000, Value = 0x40001003 }, r[1]);
        Assert.Equal(new TraceRecord { Op = TraceOp.Mem, Line = 2, Address = 0x40000008, Value = 7 }, r[2]);
        Assert.Equal(new TraceRecord { Op = TraceOp.Mem, Line = 2, Address = 0x40000010, Value = 0xff }, r[3]);
        Assert.Equal(new TraceRecord { Op = TraceOp.Ram, Line = 3, Address = 0x40000000, Value = 0x100000 }, r[4]);
        Assert.Equal(new TraceRecord { Op = TraceOp.El, Line = 4, Value = 0 }, r[5]);
        Assert.Equal(new TraceRecord { Op = TraceOp.Read, Line = 5, Address = 0x1008, Size = 8 }, r[6]);
        Assert.Equal(new TraceRecord { Op = TraceOp.Read, Line = 6, Address = 0x1009, Size = 2 }, r[7]);
        Assert.Equal(new TraceRecord { Op = TraceOp.Write, Line = 7, Address = 0x2000, Size = 64 }, r[8]);
        Assert.Equal(new TraceRecord { Op = TraceOp.Fetch, Line = 8, Address = 0x3000, Size = 4 }, r[9]);
        Assert.Equal(new TraceRecord { Op = TraceOp.At, Line = 9, At = AtOp.S12E1W, Address = 0xffff000000001000 }, r[10]);
        Assert.Equal(new TraceRecord { Op = TraceOp.Dump, Line = 10, Address = 0x40001000 }, r[11]);
        Assert.Equal(new TraceRecord { Op = TraceOp.Tlbi, Line = 11, Tlbi = TlbiOp.VMALLE1 }, r[12]);
        Assert.Equal(new TraceRecord { Op = TraceOp.Tlbi, Line = 12, Tlbi = TlbiOp.VAE1, Value = 0x0005000000000123, HasOperand = true }, r[13]);
    }

    public static TheoryData<string> RegisterNames() => new(Enum.GetNames<SysReg>());

    [Theory]
    [MemberData(nameof(RegisterNames))]
    public void EveryRegisterNameInAnyCase(string name)
    {
        var expected = Enum.Parse<SysReg>(name);
        Assert.Equal(expected, Parse($"reg {name} 1")[0].Reg);
        Assert.Equal(expected, Parse($"REG {name.ToLowerInvariant()} 1")[0].Reg);
        Assert.Equal(expected, Parse($"Reg {char.ToLowerInvariant(name[0])}{name[1..]} 1")[0].Reg);
    }

    public static TheoryData<string> AtNames() => new(Enum.GetNames<AtOp>());

    [Theory]
    [MemberData(nameof(AtNames))]
    public void EveryAtOperation(string name)
    {
        var r = Parse($"at {name.ToLowerInvariant()} 0x10\nAT {name} 16");
        Assert.All(r, x => Assert.Equal(Enum.Parse<AtOp>(name), x.At));
        Assert.All(r, x => Assert.Equal(0x10UL, x.Address));
    }

    public static TheoryData<string> TlbiNames() => new(Enum.GetNames<TlbiOp>());

    [Theory]
    [MemberData(nameof(TlbiNames))]
    public void EveryTlbiOperation(string name)
    {
        var r = Parse($"tlbi {name.ToLowerInvariant()}\nTLBI {name} 0x1234");
        Assert.Equal(Enum.Parse<TlbiOp>(name), r[0].Tlbi);
        Assert.False(r[0].HasOperand);
        Assert.Equal(Enum.Parse<TlbiOp>(name), r[1].Tlbi);
        Assert.True(r[1].HasOperand);
        Assert.Equal(0x1234UL, r[1].Value);
    }

    [Fact]
    public void KeywordsAreCaseInsensitive()
    {
        var r = Parse("r 0x10\nw 0x20\nx 0x30\nEL 1\nRAM 0 1\nMEM 8 1\nDump 8\nReG mair_el1 0xff\nTlBi AlLe1");
        Assert.Equal(new[] { TraceOp.Read, TraceOp.Write, TraceOp.Fetch, TraceOp.El, TraceOp.Ram, TraceOp.Mem, TraceOp.Dump, TraceOp.Reg, TraceOp.Tlbi },
            r.Select(x => x.Op).ToArray());
    }

    [Fact]
    public void CommentsBlankLinesAndLineNumbers()
    {
        var r = Parse("# a comment\n\n   \t \nR 0x10 # trailing comment\n#R 0x20\nW 0x30#no space\n\n  X   0x40  \t\n");
        Assert.Equal(new[] { (TraceOp.Read, 4L, 0x10UL), (TraceOp.Write, 6L, 0x30UL), (TraceOp.Fetch, 8L, 0x40UL) },
            r.Select(x => (x.Op, x.Line, x.Address)).ToArray());
    }

    [Fact]
    public void CrLfLineEnds()
    {
        var lf = Parse("reg SCTLR_EL1 1\nR 0x10 4\n\n# c\nW 0x20\n");
        var crlf = Parse("reg SCTLR_EL1 1\r\nR 0x10 4\r\n\r\n# c\r\nW 0x20\r\n");
        Assert.Equal(lf, crlf);
        Assert.Equal(5L, crlf[^1].Line);
        // A bare final line with CR and no LF.
        Assert.Equal(0x20UL, Parse("W 0x20\r")[0].Address);
    }

    [Theory]
    [InlineData("0xffff_0000_0000_1000", 0xffff_0000_0000_1000UL)]
    [InlineData("0XABCdef", 0xABCDEFUL)]
    [InlineData("1_000_000", 1_000_000UL)]
    [InlineData("0", 0UL)]
    [InlineData("007", 7UL)]
    [InlineData("0x0000_0000_0000_0000_0001", 1UL)]           // leading zeros are not overflow
    [InlineData("0xffffffffffffffff", ulong.MaxValue)]
    [InlineData("18446744073709551615", ulong.MaxValue)]
    public void Numbers(string text, ulong value)
    {
        Assert.Equal(value, Parse($"R {text}")[0].Address);
        Assert.Equal(value, TextTraceParser.ParseNumber(Encoding.ASCII.GetBytes(text), "s", 1, 1, "n"));
    }

    /// <summary>
    /// Numbers against a plain oracle (BigInteger over the digits left after the `0x` prefix and the `_`s): random
    /// tokens of digits, letters on both sides of the hexadecimal range, punctuation next to '0'-'9' and 'a'-'f' in
    /// ASCII, and underscores, of every length around the 16- and 19-digit limits. A token the oracle accepts gives
    /// its value; any other is a trace error at a column inside the token.
    /// </summary>
    [Fact]
    public void NumbersAgreeWithAPlainOracle()
    {
        const string alphabet = "0123456789abcdefABCDEFgGxX_!/:@`[{ \u0001\u007f";
        var r = new Random(11);
        for (int n = 0; n < 20000; n++)
        {
            var sb = new StringBuilder();
            if (r.Next(2) == 0)
            {
                sb.Append(r.Next(2) == 0 ? "0x" : "0X");
            }
            int length = r.Next(0, 22);
            for (int i = 0; i < length; i++)
            {
                // Mostly digits, so that long valid numbers come up too.
                sb.Append(r.Next(4) == 0 ? alphabet[r.Next(alphabet.Length)] : "0123456789abcdef"[r.Next(r.Next(2) == 0 ? 10 : 16)]);
            }
            string tok = sb.ToString();
            if (tok.Length == 0 || tok.Contains(' '))
            {
                continue; // the tokenizer never hands these over
            }
            ulong? expected = NumberOracle.Text(tok);
            byte[] bytes = Encoding.Latin1.GetBytes(tok);
            if (expected is { } value)
            {
                Assert.Equal(value, TextTraceParser.ParseNumber(bytes, "s", 1, 5, "n"));
            }
            else
            {
                var e = Assert.Throws<TraceFormatException>(() => TextTraceParser.ParseNumber(bytes, "s", 1, 5, "n"));
                Assert.InRange(e.Column, 5, 5 + tok.Length - 1);
            }
        }
    }

    [Fact]
    public void RegisterAliasesNameOneRegisterEach()
    {
        // QEMU's gdb spelling of SCTLR_EL1 and the FEAT_VHE _EL12 encodings of the EL1 registers (docs/trace-format.md,
        // "Register name aliases"), any case; the records are the registers themselves.
        var r = Parse(string.Join("\n",
            "reg SCTLR 0x30d0199d", "reg sctlr_el12 1", "reg TCR_EL12 2", "reg ttbr0_el12 3", "reg TTBR1_EL12 4", "reg MAIR_EL12 5"));
        Assert.Equal(
            new[] { (SysReg.SCTLR_EL1, 0x30d0199dUL), (SysReg.SCTLR_EL1, 1UL), (SysReg.TCR_EL1, 2UL), (SysReg.TTBR0_EL1, 3UL), (SysReg.TTBR1_EL1, 4UL), (SysReg.MAIR_EL1, 5UL) },
            r.Select(x => (x.Reg, x.Value)).ToArray());
        // Names that are not aliases stay unknown: no _EL12 form of an EL2 register, no prefix matches.
        Assert.Equal("unknown register 'VTCR_EL12'", Error("reg VTCR_EL12 1").Reason);
        Assert.Equal("unknown register 'SCTL'", Error("reg SCTL 1").Reason);
    }

    // ---------------------------------------------------------------- errors: file:line:col: reason

    [Theory]
    [InlineData("foo 1", 1, 1, "unknown command 'foo'")]
    [InlineData("R 0x10\n\n  read 0x10", 3, 3, "unknown command 'read'")]
    [InlineData("reg TCR_EL3 1", 1, 5, "unknown register 'TCR_EL3'")]
    [InlineData("reg 1 1", 1, 5, "unknown register '1'")]
    [InlineData("at S1E3R 0x10", 1, 4, "unknown AT operation 'S1E3R'")]
    [InlineData("tlbi  VMALLE3", 1, 7, "unknown TLBI operation 'VMALLE3'")]
    [InlineData("R 0x12g4", 1, 7, "bad virtual address '0x12g4': 'g' is not a hexadecimal digit")]
    [InlineData("R 12a", 1, 5, "bad virtual address '12a': 'a' is not a decimal digit")]
    // Characters below 'a' once passed for hexadecimal digits (an int minus a uint compared as a long): each is one.
    [InlineData("R 0x1!", 1, 6, "bad virtual address '0x1!': '!' is not a hexadecimal digit")]
    [InlineData("W 0x1_0:", 1, 8, "bad virtual address '0x1_0:': ':' is not a hexadecimal digit")]
    [InlineData("reg TTBR0_EL1 0x4000@", 1, 21, "bad register value '0x4000@': '@' is not a hexadecimal digit")]
    [InlineData("mem 0x1000 0x1 0x2[", 1, 19, "bad value '0x2[': '[' is not a hexadecimal digit")]
    [InlineData("R 0x10\u0001", 1, 7, "bad virtual address '0x10\\x01': '\\x01' is not a hexadecimal digit")]
    [InlineData("R 0x10\u00ff", 1, 7, "bad virtual address '0x10\\xff': '\\xff' is not a hexadecimal digit")]
    [InlineData("R\u0001 0x10", 1, 1, "unknown command 'R\\x01'")]
    [InlineData("R 0x", 1, 3, "bad virtual address '0x': no digits")]
    [InlineData("R 0x_", 1, 3, "bad virtual address '0x_': no digits")]
    [InlineData("reg SCTLR_EL1 -1", 1, 15, "bad register value '-1': '-' is not a decimal digit")]
    [InlineData("R 0x1_0000_0000_0000_0000", 1, 3, "virtual address '0x1_0000_0000_0000_0000' does not fit in 64 bits")]
    [InlineData("mem 0x10 18446744073709551616", 1, 10, "value '18446744073709551616' does not fit in 64 bits")]
    [InlineData("R", 1, 2, "missing virtual address")]
    [InlineData("reg TCR_EL1", 1, 12, "missing register value")]
    [InlineData("reg", 1, 4, "missing register")]
    [InlineData("at", 1, 3, "missing AT operation")]
    [InlineData("at S1E1R   # no address", 1, 12, "missing virtual address")]
    [InlineData("ram 0x1000", 1, 11, "missing RAM size")]
    [InlineData("tlbi", 1, 5, "missing TLBI operation")]
    [InlineData("mem 0x1000", 1, 11, "mem needs at least one value")]
    [InlineData("X 0x10 4", 1, 8, "unexpected extra operand")]
    [InlineData("dump 0x10 5", 1, 11, "unexpected extra operand")]
    [InlineData("el 1 2", 1, 6, "unexpected extra operand")]
    [InlineData("tlbi VAE1 1 2", 1, 13, "unexpected extra operand")]
    [InlineData("R 0x10 8 9", 1, 10, "unexpected extra operand")]
    [InlineData("el 3", 1, 4, "exception level 3 is not 0, 1 or 2")]
    [InlineData("R 0x10 0", 1, 8, "access size 0 is not between 1 and 64 bytes")]
    [InlineData("W 0x10 65", 1, 8, "access size 65 is not between 1 and 64 bytes")]
    [InlineData("mem 0x1004 1", 1, 5, "mem address 0x1004 is not 8-byte aligned")]
    [InlineData("# x\r\ndump 0x41", 2, 6, "dump address 0x41 is not 8-byte aligned")]
    public void ErrorsNameLineAndColumn(string text, long line, int column, string reason)
    {
        var e = Error(text, "dir/x.trace");
        Assert.Equal((line, column), (e.Line, e.Column));
        Assert.StartsWith(reason, e.Reason);
        Assert.Equal($"dir/x.trace:{line}:{column}: {e.Reason}", e.Message);
    }

    [Fact]
    public void RecordsBeforeAnErrorAreDelivered()
    {
        var h = new ListHandler { Records = new List<TraceRecord>() };
        var seq = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("R 0x10\nmem 0x100 1 2 zz\nR 0x20\n"));
        var state = new LineState("s", ParseOptions.Strict);
        var format = default(TextTraceParser.TextLineFormat);
        var e = Assert.Throws<TraceFormatException>(() => LineReader.ParseLines(ref seq, ref state, ref format, ref h, true));
        Assert.Equal((2L, 15), (e.Line, e.Column));
        // The read, and the mem words before the bad one, were handed over; nothing after.
        Assert.Equal(new[] { (TraceOp.Read, 0x10UL), (TraceOp.Mem, 0x100UL), (TraceOp.Mem, 0x108UL) }, h.Records.Select(r => (r.Op, r.Address)).ToArray());
    }

    // ---------------------------------------------------------------- fused access run

    /// <summary>Access lines in the spellings the fused segment parser takes, and near misses it must leave alone.</summary>
    private static readonly string[] AccessShapes =
    [
        "R 0x1", "r 0X1f 2", "W 0xffffffffffffffff 64", "w 0x0000000000000001 1", "X 0xabcdef", "x 0xABCDEF\r",
        "R 0x10 9\r", "R 0x10 10", "R 0x10 064", "R 0x10 1_0", "R  0x10", "R 0x1_0", "R 0x00000000000000001",
        "R 16", "R 0x10 8 # c", "R 0x10\t8", "X 0x10 # fetch", "#R 0x10", "", "W 0x1 64\r", "R 0x10 8 ", "\tW 0x20",
        "R 0x123456789abcdef0 7", "W 0x9 63", "x 0x0",
    ];

    /// <summary>
    /// The fused run over a whole segment gives the records (with line numbers) of the per-line parser, for every
    /// spelling, at every alignment of the lines in the buffer.
    /// </summary>
    [Fact]
    public void FusedRunMatchesLineByLine()
    {
        for (int rotate = 0; rotate < AccessShapes.Length; rotate++)
        {
            var lines = Enumerable.Range(0, AccessShapes.Length * 3).Select(i => AccessShapes[(i * 7 + rotate) % AccessShapes.Length]).ToArray();
            string text = string.Join("\n", lines) + "\n";
            var expected = new ListHandler { Records = new List<TraceRecord>() };
            for (int i = 0; i < lines.Length; i++)
            {
                TextTraceParser.ParseLine(Encoding.ASCII.GetBytes(lines[i]), "t.trace", i + 1, ref expected);
            }
            var fused = Parse(text);
            Assert.True(expected.Records.Count > 40);
            Assert.Equal(expected.Records, fused);
        }
    }

    /// <summary>
    /// Access lines against a plain oracle: random spellings (case, separators, address tokens that may not be
    /// numbers, sizes in and out of range, extra operands, comments, CR) between valid lines, so that the in-place run,
    /// the per-line fast path and the tokenizer all see them. Each line gives the oracle's record, or an error on
    /// that line.
    /// </summary>
    [Fact]
    public void AccessLinesAgreeWithAPlainOracle()
    {
        var r = new Random(12);
        string[] seps = [" ", "  ", "\t", " \t"];
        string Token()
        {
            const string odd = "0123456789abcdefABCDEFgx_!:@`{";
            var sb = new StringBuilder(r.Next(3) == 0 ? "" : "0x");
            int n = r.Next(1, 19);
            for (int i = 0; i < n; i++)
            {
                sb.Append(r.Next(12) == 0 ? odd[r.Next(odd.Length)] : "0123456789abcdef"[r.Next(16)]);
            }
            return sb.ToString();
        }
        for (int n = 0; n < 5000; n++)
        {
            var parts = new List<string> { "RWXrwx"[r.Next(6)].ToString(), Token() };
            if (r.Next(2) == 0)
            {
                parts.Add(r.Next(5) == 0 ? Token() : r.Next(0, 70).ToString());
            }
            if (r.Next(10) == 0)
            {
                parts.Add("8");
            }
            string line = parts[0];
            for (int i = 1; i < parts.Count; i++)
            {
                line += (i == 1 && r.Next(4) != 0 ? " " : seps[r.Next(seps.Length)]) + parts[i];
            }
            if (r.Next(8) == 0)
            {
                line += " # note";
            }
            if (r.Next(6) == 0)
            {
                line += "\r";
            }
            string text = "R 0x1000\nW 0x2000 4\nX 0x3000\n" + line + "\nR 0x4000\nR 0x5000\nR 0x6000\nR 0x7000\n";
            TraceRecord? expected = Oracle(parts);
            if (expected is { } rec)
            {
                var got = Parse(text);
                Assert.Equal(8, got.Count);
                Assert.Equal((rec.Op, rec.Address, rec.Size, 4L), (got[3].Op, got[3].Address, got[3].Size, got[3].Line));
            }
            else
            {
                var e = Assert.Throws<TraceFormatException>(() => Parse(text));
                Assert.True(e.Line == 4, $"{line.Replace("\t", "\\t")}: {e.Message}");
            }
        }

        static TraceRecord? Oracle(List<string> parts)
        {
            var op = char.ToUpperInvariant(parts[0][0]) switch { 'R' => TraceOp.Read, 'W' => TraceOp.Write, _ => TraceOp.Fetch };
            if (NumberOracle.Text(parts[1]) is not { } va || parts.Count > (op == TraceOp.Fetch ? 2 : 3))
            {
                return null;
            }
            ulong size = op == TraceOp.Fetch ? 4UL : 8UL;
            if (parts.Count == 3)
            {
                if (NumberOracle.Text(parts[2]) is not { } s || s is 0 or > 64)
                {
                    return null;
                }
                size = s;
            }
            return new TraceRecord { Op = op, Address = va, Size = (byte)size };
        }

    }

    /// <summary>
    /// `mem` lines against the same oracle: random words (up to 24 digits, odd characters, `_`), single spaces (the
    /// batched fast path, whose vector decoder reads 16 bytes when the line has them) or tabs and double spaces (the
    /// tokenizer), aligned and misaligned addresses. Each line gives the oracle's words at PA, PA+8, ..., or an error
    /// on that line with none of its words after the bad one.
    /// </summary>
    [Fact]
    public void MemLinesAgreeWithAPlainOracle()
    {
        var r = new Random(13);
        string Token()
        {
            const string odd = "0123456789abcdefABCDEFgx_!:@`{";
            var sb = new StringBuilder(r.Next(4) == 0 ? "" : "0x");
            int n = r.Next(1, r.Next(4) == 0 ? 25 : 17);
            for (int i = 0; i < n; i++)
            {
                sb.Append(r.Next(150) == 0 ? odd[r.Next(odd.Length)] : "0123456789abcdef"[r.Next(16)]);
            }
            return sb.ToString();
        }
        int good = 0;
        for (int n = 0; n < 3000; n++)
        {
            ulong pa = 0x4000_0000 + (ulong)r.Next(1 << 16) * (r.Next(6) == 0 ? 4UL : 8UL);
            var words = Enumerable.Range(0, r.Next(1, 12)).Select(_ => Token()).ToList();
            string sep = r.Next(5) == 0 ? "\t" : r.Next(5) == 0 ? "  " : " ";
            string line = $"mem 0x{pa:x} " + string.Join(sep, words);
            string text = "R 0x1000\n" + line + "\nR 0x2000\n";
            var values = words.Select(NumberOracle.Text).ToList();
            int firstBad = values.FindIndex(v => v is null);
            if (pa % 8 == 0 && firstBad < 0)
            {
                good++;
                var got = Parse(text);
                Assert.Equal(words.Count + 2, got.Count);
                for (int i = 0; i < words.Count; i++)
                {
                    var rec = got[1 + i];
                    Assert.Equal((TraceOp.Mem, pa + (ulong)i * 8, values[i]!.Value, 2L), (rec.Op, rec.Address, rec.Value, rec.Line));
                }
            }
            else
            {
                var h = new ListHandler { Records = new List<TraceRecord>() };
                var e = Assert.Throws<TraceFormatException>(() =>
                {
                    var seq = new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(text));
                    var state = new LineState("t.trace", ParseOptions.Strict);
                    var format = default(TextTraceParser.TextLineFormat);
                    LineReader.ParseLines(ref seq, ref state, ref format, ref h, final: true);
                });
                Assert.True(e.Line == 2, $"{line}: {e.Message}");
                // A misaligned address stops the line before any word; otherwise the words before the bad one arrive.
                int delivered = pa % 8 != 0 ? 0 : firstBad;
                Assert.Equal(delivered, h.Records.Count(x => x.Op == TraceOp.Mem));
            }
        }
        Assert.InRange(good, 300, 2700); // both outcomes, often
    }

    /// <summary>Records every run as delivered, and every record in delivery order.</summary>
    private sealed class RunLog : ITraceHandler
    {
        public readonly List<(long FirstLine, int Count)> Runs = [];
        public readonly List<(ulong Pa, int Count, long Line)> MemBatches = [];
        public readonly List<TraceRecord> Records = [];

        public void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine)
        {
            Runs.Add((firstLine, run.Length));
            var self = this;
            PlainAccess.EachRecord(ref self, run, firstLine);
        }

        public void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line)
        {
            MemBatches.Add((pa, words.Length, line));
            var self = this;
            MemWords.EachRecord(ref self, pa, words, line);
        }

        public void OnRecord(in TraceRecord record) => Records.Add(record);
    }

    /// <summary>
    /// Accesses arrive as runs of at most <see cref="TextTraceParser.RunBatch"/> consecutive lines, in order with the
    /// other records (a run ends before the line that ends it is delivered), with the per-line parser's records.
    /// </summary>
    [Fact]
    public void AccessRunsAreDeliveredInOrderAndWhole()
    {
        var lines = new List<string>();
        for (int i = 0; i < 5000; i++)
        {
            // Only spellings the fast path takes, so that every access line is in a run.
            lines.Add(i == 1500 ? "el 1" : i == 3100 ? "reg MAIR_EL1 0xff" : (i % 4) switch
            {
                0 => $"R 0x{i * 0x1234:x}",
                1 => $"w 0X{i * 0x777:X} {1 + i % 64}",
                2 => $"X 0x{0xffff_0000_0000_0000UL + (ulong)i:x}\r",
                _ => $"r 0x{i:x} 8",
            });
        }
        var expected = new ListHandler { Records = new List<TraceRecord>() };
        for (int i = 0; i < lines.Count; i++)
        {
            TextTraceParser.ParseLine(Encoding.ASCII.GetBytes(lines[i]), "t.trace", i + 1, ref expected);
        }
        var log = new RunLog();
        var state = new LineState("t.trace", ParseOptions.Strict);
        var format = default(TextTraceParser.TextLineFormat);
        var seq = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(string.Join("\n", lines) + "\n"));
        LineReader.ParseLines(ref seq, ref state, ref format, ref log, final: true);
        state.Dispose();

        Assert.Equal(expected.Records, log.Records);
        Assert.All(log.Runs, r => Assert.InRange(r.Count, 1, TextTraceParser.RunBatch));
        Assert.True(log.Runs.Count >= 5000 / TextTraceParser.RunBatch + 2, $"{log.Runs.Count} runs");
        // Runs cover the access lines in order, each a stretch of consecutive lines, none across the two other
        // lines; only the last line or two, within the fast path's read margin of the buffer's end, go line by line.
        var covered = log.Runs.SelectMany(r => Enumerable.Range(0, r.Count).Select(k => r.FirstLine + k)).ToList();
        var accessLines = Enumerable.Range(1, 5000).Select(i => (long)i).Where(l => l != 1501 && l != 3101).ToList();
        Assert.InRange(covered.Count, accessLines.Count - 2, accessLines.Count);
        Assert.Equal(accessLines.Take(covered.Count), covered);
    }

    private static RunLog ParseLogged(string text)
    {
        var log = new RunLog();
        var state = new LineState("t.trace", ParseOptions.Strict);
        var format = default(TextTraceParser.TextLineFormat);
        var seq = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(text));
        try
        {
            LineReader.ParseLines(ref seq, ref state, ref format, ref log, final: true);
        }
        finally
        {
            state.Dispose();
        }
        return log;
    }

    /// <summary>
    /// A table dump's words arrive in batches of at most <see cref="TextTraceParser.MemBatch"/>, in order and at the
    /// right addresses, between the records of the lines around it; a word in another spelling (the tokenizer's)
    /// keeps its place.
    /// </summary>
    [Fact]
    public void MemWordsAreDeliveredInOrderInBatches()
    {
        var words = Enumerable.Range(0, 1300).Select(i => i == 700 ? "0x2_bc" : i == 900 ? "42" : $"0x{i * 0x1001:x}").ToList();
        string text = "R 0x1000\nmem 0x8000 " + string.Join(" ", words) + "\nR 0x2000\n";
        var log = ParseLogged(text);
        Assert.Equal(1302, log.Records.Count);
        Assert.Equal(TraceOp.Read, log.Records[0].Op);
        Assert.Equal(TraceOp.Read, log.Records[^1].Op);
        for (int i = 0; i < 1300; i++)
        {
            var r = log.Records[i + 1];
            ulong expected = i == 700 ? 0x2bcUL : i == 900 ? 42UL : (ulong)i * 0x1001;
            Assert.Equal((TraceOp.Mem, 0x8000UL + (ulong)i * 8, expected, 2L), (r.Op, r.Address, r.Value, r.Line));
        }
        Assert.All(log.MemBatches, b => Assert.InRange(b.Count, 1, TextTraceParser.MemBatch));
        Assert.Equal(1300, log.MemBatches.Sum(b => b.Count));
        ulong next = 0x8000;
        foreach (var b in log.MemBatches)
        {
            Assert.Equal(next, b.Pa);
            next += (ulong)b.Count * 8;
        }
    }

    /// <summary>A bad word in a table dump is reported where it is, and every word before it has been handed over.</summary>
    [Fact]
    public void ABadMemWordComesAfterTheWordsBeforeIt()
    {
        var words = Enumerable.Range(0, 800).Select(i => i == 600 ? "0xfg" : $"0x{i:x}").ToList();
        string text = "mem 0x8000 " + string.Join(" ", words) + "\n";
        var log = new RunLog();
        var state = new LineState("t.trace", ParseOptions.Strict);
        var format = default(TextTraceParser.TextLineFormat);
        var seq = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(text));
        var e = Assert.Throws<TraceFormatException>(() => LineReader.ParseLines(ref seq, ref state, ref format, ref log, final: true));
        state.Dispose();
        Assert.Equal((1L, text.IndexOf("0xfg", StringComparison.Ordinal) + 4), (e.Line, e.Column)); // at the 'g'
        Assert.Contains("'g' is not a hexadecimal digit", e.Reason);
        Assert.Equal(600, log.Records.Count);
        Assert.Equal(0x8000UL + 599 * 8, log.Records[^1].Address);
    }

    /// <summary>A bad access line inside a run of good ones stops the run and reports the per-line parser's error.</summary>
    [Theory]
    [InlineData("R 0x10 65", 1, 8, "access size 65 is not between 1 and 64 bytes")]
    [InlineData("W 0x10 0", 1, 8, "access size 0 is not between 1 and 64 bytes")]
    [InlineData("X 0x10 4", 1, 8, "unexpected extra operand")]
    [InlineData("R 0x1g", 1, 6, "bad virtual address '0x1g': 'g' is not a hexadecimal digit")]
    [InlineData("R 0x11111111111111111", 1, 3, "virtual address '0x11111111111111111' does not fit in 64 bits")]
    [InlineData("Q 0x10", 1, 1, "unknown command 'Q'")]
    public void BadLineInsideARun(string bad, long lineOffset, int column, string reason)
    {
        string good = string.Concat(Enumerable.Repeat("R 0x1000 8\nX 0x2000\nW 0x3000\n", 20));
        var e = Error(good + bad + "\n" + good);
        Assert.Equal((60 + lineOffset, column), (e.Line, e.Column));
        Assert.StartsWith(reason, e.Reason);
    }

    // ---------------------------------------------------------------- splits

    private static readonly string SplitTrace = string.Join("\n",
        "# split test: every command, comments, CRLF, tabs, a long line",
        "reg TCR_EL1 0x0000_0002_8080_3510\r",
        "",
        "\treg\tMAIR_EL1\t0xff   # trailing",
        "mem 0x40000000 " + string.Join(" ", Enumerable.Range(0, 60).Select(i => $"0x{0x4000_1003 + i * 0x1000:x}")),
        "ram 0x40000000 0x100000\r",
        "el 1",
        "R 0x1008",
        "W 0x2000 4\r",
        "X 0x3000",
        "at s1e1r 0xffff_0000_0000_1000",
        "dump 0x40001000",
        "tlbi VAE1 0x5_0000_0000_0123",
        "tlbi alle1",
        "R 18446744073709551615") + "   ";   // last line unterminated

    private static List<TraceRecord> Baseline(out long lines) =>
        ParseSequence(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(SplitTrace)), "s", out lines);

    [Fact]
    public void TwoSegmentsSplitAtEveryByte()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(SplitTrace);
        var expected = Baseline(out long expectedLines);
        Assert.Equal(72, expected.Count);
        Assert.Equal(15L, expectedLines);
        for (int i = 0; i <= bytes.Length; i++)
        {
            var seq = Segments.Create(bytes[..i], bytes[i..]);
            var got = ParseSequence(seq, "s", out long lines);
            Assert.True(expected.SequenceEqual(got), $"split at {i}");
            Assert.Equal(expectedLines, lines);
        }
    }

    [Fact]
    public void OneByteSegments()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(SplitTrace);
        var seq = Segments.Create(bytes.Select(b => new[] { b }).ToArray());
        Assert.Equal(Baseline(out _), ParseSequence(seq, "s", out _));
    }

    /// <summary>
    /// Incremental parsing exactly as <see cref="TextTraceParser.ParseAsync"/> drives it, but deterministic: a pipe built
    /// from one-byte segments, one byte written and flushed at a time, the parser called after every byte with
    /// final=false (so it must leave a partial line unconsumed at every position), then completed.
    /// </summary>
    [Fact]
    public async Task PipeFedOneByteAtATime()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(SplitTrace);
        var pipe = new Pipe(new PipeOptions(pool: new TinyPool(), minimumSegmentSize: 1, pauseWriterThreshold: 0, useSynchronizationContext: false));
        var h = new ListHandler { Records = new List<TraceRecord>() };
        var state = new LineState("s", ParseOptions.Strict);
        var format = default(TextTraceParser.TextLineFormat);
        for (int i = 0; i <= bytes.Length; i++)
        {
            if (i < bytes.Length)
            {
                pipe.Writer.GetSpan(1)[0] = bytes[i];
                pipe.Writer.Advance(1);
                await pipe.Writer.FlushAsync();
            }
            else
            {
                await pipe.Writer.CompleteAsync();
            }
            Assert.True(pipe.Reader.TryRead(out var read));
            var buffer = read.Buffer;
            var consumed = LineReader.ParseLines(ref buffer, ref state, ref format, ref h, read.IsCompleted);
            pipe.Reader.AdvanceTo(consumed, buffer.End);
        }
        await pipe.Reader.CompleteAsync();
        Assert.Equal(Baseline(out long expectedLines), h.Records);
        Assert.Equal(expectedLines, state.Line);
        state.Dispose();
    }

    [Fact]
    public async Task ParseAsyncWithAWriterThatFlushesEveryByte()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(SplitTrace);
        var pipe = new Pipe(new PipeOptions(pool: new TinyPool(), minimumSegmentSize: 1, useSynchronizationContext: false));
        var h = new ListHandler { Records = new List<TraceRecord>() };
        var parse = TextTraceParser.ParseAsync(pipe.Reader, "s", h).AsTask();
        foreach (byte b in bytes)
        {
            await pipe.Writer.WriteAsync(new[] { b });
        }
        await pipe.Writer.CompleteAsync();
        long lines = await parse;
        Assert.Equal(Baseline(out long expectedLines), h.Records);
        Assert.Equal(expectedLines, lines);
    }

    [Fact]
    public void ErrorPositionDoesNotDependOnTheSplit()
    {
        byte[] bytes = Encoding.ASCII.GetBytes("R 0x10\r\n# x\n\nmem 0x40 1 2 0x3_q\nR 0x20\n");
        for (int i = 0; i <= bytes.Length; i++)
        {
            var seq = Segments.Create(bytes[..i], bytes[i..]);
            var e = Assert.Throws<TraceFormatException>(() => ParseSequence(seq, "f", out _));
            Assert.Equal((4L, 18), (e.Line, e.Column));
        }
    }

    /// <summary>Builds multi-segment sequences.</summary>
    private sealed class Segments : ReadOnlySequenceSegment<byte>
    {
        private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public static ReadOnlySequence<byte> Create(params byte[][] parts)
        {
            var first = new Segments(parts[0], 0);
            var last = first;
            for (int i = 1; i < parts.Length; i++)
            {
                var next = new Segments(parts[i], last.RunningIndex + last.Memory.Length);
                last.Next = next;
                last = next;
            }
            return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
        }
    }

    /// <summary>A memory pool that hands out exactly the size asked for, so a pipe's segments can be one byte long.</summary>
    private sealed class TinyPool : MemoryPool<byte>
    {
        public override int MaxBufferSize => int.MaxValue;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1) => new Owner(Math.Max(1, minBufferSize));

        protected override void Dispose(bool disposing)
        {
        }

        private sealed class Owner(int size) : IMemoryOwner<byte>
        {
            public Memory<byte> Memory { get; } = new byte[size];

            public void Dispose()
            {
            }
        }
    }
}
