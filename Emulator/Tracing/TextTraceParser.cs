using System.Buffers;
using System.Runtime.InteropServices;
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
            TextTraceParser.ParseLine(text, source, line, ref handler);
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
    /// Bytes the access decoder may read from a line's start (<see cref="ParseAccessRun"/>): the longest line it
    /// takes, "R 0x" + 16 digits + " 64" + "\r\n", is 25 bytes, and the vector load reads [4, 20).
    /// </summary>
    private const int AccessReadable = 32;

    /// <summary>The longest line the access decoder takes, without its '\n'.</summary>
    private const int MaxAccessLine = 24;

    /// <summary>
    /// The access line decoder, over a whole segment: the lines almost all of a trace is made of, in their plain
    /// spelling, `R|W|X 0xHEX` with an optional ` SIZE` (R/W), single spaces, ended by '\n' or "\r\n", recognised in
    /// place, so that the line end falls out of the parse instead of a separate search per line. The accesses are
    /// decoded into a batch and delivered as runs (<see cref="ITraceHandler.OnAccessRun"/>): a replay loop then streams
    /// through them with its state in registers, and this loop stays small. Stops (without consuming) at the first
    /// line of any other shape, which the tokenizer takes (and reports), and <see cref="AccessReadable"/> bytes before
    /// the end of the span so that every read stays in bounds: an access line there is decoded here too, from a
    /// padded copy (<see cref="TryAccessLine"/>).
    /// </summary>
    [SkipLocalsInit]
    internal static int ParseAccessRun<THandler>(ReadOnlySpan<byte> span, ref long line, ref THandler handler)
        where THandler : ITraceHandler
    {
        int n = span.Length - AccessReadable;
        int p = 0;
        ref byte b0 = ref MemoryMarshal.GetReference(span);
        long ln = line;
        Span<PlainAccess> batch = stackalloc PlainAccess[RunBatch];
        ref PlainAccess a0 = ref MemoryMarshal.GetReference(batch);
        int count = 0;
        while (p <= n)
        {
            ref byte c = ref Unsafe.Add(ref b0, p);
            // "R 0x" with R/W/X and x in either case: bit 5 of bytes 0 and 3 is the case bit.
            uint head = Unsafe.ReadUnaligned<uint>(ref c) & 0xDFFF_FFDFu;
            if ((head & 0xFFFF_FF00u) != 0x5830_2000u)
            {
                break;
            }
            TraceOp op = Lex.AccessLetter(head & 0xFF, out uint size);
            if (op == 0)
            {
                break;
            }
            int digits = Lex.HexDigits(ref Unsafe.Add(ref c, 4), 16, out ulong va);
            if (digits == 0)
            {
                break;
            }
            int q = 4 + digits;
            byte after = Unsafe.Add(ref c, q);
            if (after == (byte)' ' && op != TraceOp.Fetch)
            {
                int sizeDigits = Lex.AccessSize(ref Unsafe.Add(ref c, q + 1), out size);
                if (sizeDigits == 0)
                {
                    break;
                }
                q += 1 + sizeDigits;
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
        /// The common spelling of the next number in one step: one space, then a number in its common spelling
        /// (<see cref="Lex.CommonNumber"/>), then a space or the end of the line. Anything else returns false with the
        /// cursor unmoved, for <see cref="Next"/> and the number parser to take (and report) it.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool NextNumberFast(out ulong value)
        {
            int p = _pos;
            ReadOnlySpan<byte> line = _line;
            if ((uint)(p + 1) >= (uint)line.Length || line[p] != (byte)' ')
            {
                value = 0;
                return false;
            }
            // A table dump's words have 16 more bytes after them but for the last few of a line: decoded 16 digits at
            // once. A run of 16 digits followed by another is left to the tokenizer (more than 64 bits, or leading zeros).
            int n = Lex.CommonNumber(ref Unsafe.Add(ref MemoryMarshal.GetReference(line), p + 1), line.Length - (p + 1), out value);
            int end = p + 1 + n;
            if (n == 0 || ((uint)end < (uint)line.Length && line[end] != (byte)' '))
            {
                return false;
            }
            Column = p + 2;
            _pos = end;
            return true;
        }

        private static readonly SearchValues<byte> Separators = SearchValues.Create(" \t\r"u8);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool IsSpace(byte b) => b == (byte)' ' || b == (byte)'\t' || b == (byte)'\r';
    }

    /// <summary>Parses one line (without its '\n') and emits its records.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ParseLine<THandler>(ReadOnlySpan<byte> text, string source, long line, ref THandler handler)
        where THandler : ITraceHandler
    {
        if (text.Length > MaxAccessLine || !TryAccessLine(text, line, ref handler))
        {
            ParseGeneral(text, source, line, ref handler);
        }
    }

    /// <summary>
    /// An access line the run did not reach (near a buffer's end, across segments, the final line): copied with a '\n'
    /// into a zeroed buffer that <see cref="ParseAccessRun"/> may read, and decoded there, so that every access line
    /// goes through the one access decoder (a run of one). False, with nothing delivered, for any other line.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool TryAccessLine<THandler>(ReadOnlySpan<byte> text, long line, ref THandler handler)
        where THandler : ITraceHandler
    {
        Span<byte> padded = stackalloc byte[MaxAccessLine + 1 + AccessReadable];
        padded.Clear();
        text.CopyTo(padded);
        padded[text.Length] = (byte)'\n';
        long before = line - 1;
        // The zeros after the '\n' are no access line: the run ends there, with this line or before it.
        return ParseAccessRun(padded, ref before, ref handler) != 0;
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
            case 1:
            {
                rec.Op = Lex.AccessLetter(keyword[0], out uint size);
                if (rec.Op == 0)
                {
                    Fail.UnknownCommand(source, line, keywordColumn, keyword);
                }
                rec.Address = Number(ref t, source, line, "virtual address");
                rec.Size = rec.Op == TraceOp.Fetch ? (byte)size : OptionalSize(ref t, source, line);
                break;
            }
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
                rec.Reg = RegisterName(ref t, source, line);
                rec.Value = Number(ref t, source, line, "register value");
                break;
            case 3 when Is(keyword, "ram"u8):
                rec.Op = TraceOp.Ram;
                rec.Address = Number(ref t, source, line, "RAM base");
                rec.Value = Number(ref t, source, line, "RAM size");
                if (rec.Value == 0 || rec.Address + (rec.Value - 1) < rec.Address)
                {
                    Fail.Bad(source, line, t.Column, rec.Value == 0 ? "a RAM region cannot be empty (size 0)"
                        : "the RAM region runs past the top of the 64-bit address space");
                }
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
                // Words past 2^64 would wrap to PA 0: the line may hold at most this many.
                ulong maxWords = ((ulong.MaxValue - pa) >> 3) + 1;
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
                    if ((ulong)count == maxWords)
                    {
                        if (n != 0)
                        {
                            handler.OnMemWords(pa + (ulong)(count - n) * 8, words[..n], line);
                        }
                        Fail.Bad(source, line, t.Column, "mem word ", (ulong)count + 1, " would lie past the top of the 64-bit address space");
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
            case 3 when Is(keyword, "cpu"u8):
                rec.Op = TraceOp.Cpu;
                rec.Value = Number(ref t, source, line, "PE number");
                if (rec.Value > MaxPe)
                {
                    Fail.Bad(source, line, t.Column, "PE number ", rec.Value, " is not between 0 and 255");
                }
                break;
            case 3 when Is(keyword, "dsb"u8):
                rec.Op = TraceOp.Dsb;
                rec.Dsb = Name<DsbOption>(ref t, source, line, "DSB option");
                break;
            case 3 when Is(keyword, "isb"u8):
                rec.Op = TraceOp.Isb;
                break;
            case 4 when Is(keyword, "inst"u8):
                rec.Op = TraceOp.Inst;
                rec.Value = Number(ref t, source, line, "instruction count");
                break;
            case 6 when Is(keyword, "paging"u8):
                // `paging demand` (docs/trace-format.md, "Demand paging carried by converted traces").
                rec.Op = TraceOp.Paging;
                if (!t.Next(out var mode))
                {
                    Fail.Missing(source, line, t.Column, "paging mode (demand)");
                }
                if (!Is(mode, "demand"u8))
                {
                    Fail.Unknown(source, line, t.Column, "paging mode (demand)", mode);
                }
                break;
            case 4 when Is(keyword, "dump"u8):
                rec.Op = TraceOp.Dump;
                rec.Address = Number(ref t, source, line, "physical address");
                if ((rec.Address & 7) != 0)
                {
                    Fail.Bad(source, line, t.Column, "dump address 0x", rec.Address, " is not 8-byte aligned", hex: true);
                }
                break;
            case 4 when Is(keyword, "load"u8):
                rec.Op = TraceOp.Load;
                rec.Image = ParseLoad(ref t, source, line);
                rec.Address = rec.Image.Address;
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

    /// <summary>`load PA FILE [OFFSET [SIZE]]`: PA and SIZE multiples of 8 (OFFSET any byte), the image inside 52 bits of PA.</summary>
    private static ImageLoad ParseLoad(ref Tokens t, string source, long line)
    {
        ulong pa = Number(ref t, source, line, "physical address");
        int paColumn = t.Column;
        if ((pa & 7) != 0)
        {
            Fail.Bad(source, line, paColumn, "load address 0x", pa, " is not 8-byte aligned", hex: true);
        }
        if (pa >= Memory.PhysicalMemory.PhysicalAddressLimit)
        {
            Fail.Bad(source, line, paColumn, "load address 0x", pa, " is outside the 52-bit physical address space", hex: true);
        }
        if (!t.Next(out var file))
        {
            Fail.Missing(source, line, t.Column, "file name");
        }
        int fileColumn = t.Column;
        string name = Encoding.UTF8.GetString(file);
        ulong offset = 0;
        ulong? size = null;
        if (t.Next(out var tok))
        {
            // Any byte: QEMU's dump-guest-memory ELF puts its PT_LOAD data right after the notes, unaligned.
            offset = ParseNumber(tok, source, line, t.Column, "file offset");
            if (t.Next(out tok))
            {
                ulong s = ParseNumber(tok, source, line, t.Column, "image size");
                if ((s & 7) != 0)
                {
                    Fail.Bad(source, line, t.Column, "load size ", s, " is not a multiple of 8");
                }
                if (s > Memory.PhysicalMemory.PhysicalAddressLimit - pa)
                {
                    Fail.Bad(source, line, t.Column, "a load of " + s + " bytes at 0x", pa, " ends past the 52-bit physical address space", hex: true);
                }
                size = s;
            }
        }
        return new ImageLoad { Address = pa, File = name, Offset = offset, Size = size, Source = source, Line = line, Column = fileColumn };
    }

    /// <summary>The highest PE number a `cpu` line may name.</summary>
    public const int MaxPe = 255;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Is(ReadOnlySpan<byte> token, ReadOnlySpan<byte> lowerKeyword) =>
        System.Text.Ascii.EqualsIgnoreCase(token, lowerKeyword);

    private static byte OptionalSize(ref Tokens t, string source, long line)
    {
        if (!t.Next(out var tok))
        {
            return Lex.DataSize;
        }
        ulong size = ParseNumber(tok, source, line, t.Column, "access size");
        if (!Lex.IsAccessSize(size))
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

    /// <summary>A `reg` line's register: the format's name or a debugger's spelling of it (<see cref="SysRegNames"/>).</summary>
    private static SysReg RegisterName(ref Tokens t, string source, long line)
    {
        if (!t.Next(out var tok))
        {
            Fail.Missing(source, line, t.Column, "register");
        }
        if (!SysRegNames.TryParse(tok, out SysReg reg))
        {
            Fail.Unknown(source, line, t.Column, "register", tok);
        }
        return reg;
    }

    private static ulong Number(ref Tokens t, string source, long line, string what)
    {
        if (!t.Next(out var tok))
        {
            Fail.Missing(source, line, t.Column, what);
        }
        return ParseNumber(tok, source, line, t.Column, what);
    }

    /// <summary>`0x` hexadecimal or decimal, unsigned, at most 64 bits, `_` allowed between digits (<see cref="Lex.Number"/>).</summary>
    public static ulong ParseNumber(ReadOnlySpan<byte> tok, string source, long line, int column, string what) =>
        Lex.Number(tok, source, line, column, what);
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
