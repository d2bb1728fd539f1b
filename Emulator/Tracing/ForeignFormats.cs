using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;

namespace MmuSim.Tracing;

/// <summary>
/// Valgrind lackey `--trace-mem=yes` output (docs/foreign-traces.md): `I  ADDR,SIZE` (instruction fetch),
/// ` L ADDR,SIZE` (load), ` S ADDR,SIZE` (store), ` M ADDR,SIZE` (modify: a load then a store), addresses in
/// hexadecimal without 0x, sizes in decimal bytes. Valgrind's own `==PID==` and `--PID--` lines and blank lines are
/// skipped, so a log with the tool's commentary reads as is.
/// </summary>
public readonly struct LackeyFormat : ILineFormat
{
    /// <summary>No fused fast path: every line goes through <see cref="ParseLine"/>.</summary>
    public int ParseRun<THandler>(ReadOnlySpan<byte> span, ref long line, ref THandler handler)
        where THandler : ITraceHandler => 0;

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    private static void LackeyError(string source, long line, int column, string reason) =>
        throw new TraceFormatException(source, line, column, reason);

    public void ParseLine<THandler>(ReadOnlySpan<byte> text, string source, long line, ref THandler handler)
        where THandler : ITraceHandler
    {
        if (!text.IsEmpty && text[^1] == (byte)'\r')
        {
            text = text[..^1];
        }
        if (text.IsEmpty || (text.Length >= 2 && ((text[0] == (byte)'=' && text[1] == (byte)'=') || (text[0] == (byte)'-' && text[1] == (byte)'-'))))
        {
            return;
        }
        TraceOp op;
        bool modify = false;
        if (text[0] == (byte)'I')
        {
            op = TraceOp.Fetch;
            // Each `I` line is one instruction: the timeline's front end advances by it (`inst 1`), then fetches it.
            var inst = new TraceRecord { Op = TraceOp.Inst, Line = line, Value = 1 };
            handler.OnRecord(in inst);
        }
        else if (text[0] == (byte)' ' && text.Length > 1)
        {
            switch (text[1])
            {
                case (byte)'L': op = TraceOp.Read; break;
                case (byte)'S': op = TraceOp.Write; break;
                case (byte)'M': op = TraceOp.Read; modify = true; break;
                default:
                    LackeyError(source, line, 2, "unknown lackey record '" + (char)text[1] + "' (expected L, S or M)");
                    return;
            }
        }
        else
        {
            LackeyError(source, line, 1, "not a lackey record (expected 'I  ', ' L ', ' S ' or ' M ')");
            return;
        }
        int start = 2;
        while (start < text.Length && text[start] == (byte)' ')
        {
            start++;
        }
        if (start == 2)
        {
            LackeyError(source, line, 3, "expected a space before the address");
        }
        var rest = text[start..];
        int comma = rest.IndexOf((byte)',');
        if (comma < 0)
        {
            LackeyError(source, line, start + 1 + rest.Length, "missing ',SIZE' after the address");
        }
        ulong addr = Lex.Hex(rest[..comma], source, line, start + 1, "address");
        int sizeCol = start + comma + 2;
        byte size = Lex.Size(Lex.Dec(rest[(comma + 1)..], source, line, sizeCol, "access size"), source, line, sizeCol);
        var rec = new TraceRecord
        {
            Op = op,
            Line = line,
            Address = addr,
            // An instruction record becomes the trace format's X, which fetches one 4-byte instruction whatever
            // lackey's instruction length (docs/foreign-traces.md): a lackey trace replays as its conversion does.
            Size = op == TraceOp.Fetch ? (byte)4 : size,
        };
        handler.OnRecord(in rec);
        if (modify)
        {
            rec.Op = TraceOp.Write;
            handler.OnRecord(in rec);
        }
    }
}

/// <summary>
/// The CSV of QEMU's TCG `mem` plugin with `print-accesses=true` (docs/foreign-traces.md): the header
/// `insn_vaddr,insn_symbol,mem_vaddr,mem_hwaddr,access_size,access_type,mem_value`, then one line per access:
/// `0xPC,SYMBOL,0xVADDR,0xHWADDR,BITS,load|store,0xVALUE`. The size is in bits. The symbol may be empty (and may hold
/// commas: the fixed fields are taken from the right). The plugin's closing `mem accesses: N` / `io accesses: N`
/// lines and blank lines are skipped. Only mem_vaddr, the size and the direction are used.
/// </summary>
public readonly struct QemuMemFormat : ILineFormat
{
    /// <summary>No fused fast path: every line goes through <see cref="ParseLine"/>.</summary>
    public int ParseRun<THandler>(ReadOnlySpan<byte> span, ref long line, ref THandler handler)
        where THandler : ITraceHandler => 0;

    public void ParseLine<THandler>(ReadOnlySpan<byte> text, string source, long line, ref THandler handler)
        where THandler : ITraceHandler
    {
        if (!text.IsEmpty && text[^1] == (byte)'\r')
        {
            text = text[..^1];
        }
        if (text.IsEmpty || text.StartsWith("insn_vaddr,"u8) || text.StartsWith("mem accesses:"u8) || text.StartsWith("io accesses:"u8)
            || text.StartsWith("Warning:"u8))
        {
            return;
        }
        // Fields from the right: value, type, size, hwaddr, vaddr; then the instruction address from the left.
        Span<int> comma = stackalloc int[5];
        int end = text.Length;
        for (int k = 0; k < 5; k++)
        {
            int c = text[..end].LastIndexOf((byte)',');
            if (c < 0)
            {
                throw new TraceFormatException(source, line, 1, "expected 7 comma-separated fields (insn_vaddr,insn_symbol,mem_vaddr,mem_hwaddr,access_size,access_type,mem_value)");
            }
            comma[k] = c;
            end = c;
        }
        int first = text.IndexOf((byte)',');
        if (first == comma[4])
        {
            throw new TraceFormatException(source, line, first + 1, "expected 7 comma-separated fields (insn_vaddr,insn_symbol,mem_vaddr,mem_hwaddr,access_size,access_type,mem_value)");
        }
        Lex.Hex(text[..first], source, line, 1, "instruction address");
        ulong vaddr = Lex.Hex(Field(text, comma[4], comma[3]), source, line, comma[4] + 2, "mem_vaddr");
        Lex.Hex(Field(text, comma[3], comma[2]), source, line, comma[3] + 2, "mem_hwaddr");
        int sizeCol = comma[2] + 2;
        uint bits = Lex.Dec(Field(text, comma[2], comma[1]), source, line, sizeCol, "access size");
        if (bits is not (8 or 16 or 32 or 64 or 128))
        {
            throw new TraceFormatException(source, line, sizeCol, $"access size {bits} is not 8, 16, 32, 64 or 128 bits");
        }
        var type = Field(text, comma[1], comma[0]);
        TraceOp op = type.SequenceEqual("load"u8) ? TraceOp.Read
            : type.SequenceEqual("store"u8) ? TraceOp.Write
            : throw new TraceFormatException(source, line, comma[1] + 2, $"access type '{Fail.Show(type)}' is not load or store");
        var rec = new TraceRecord { Op = op, Line = line, Address = vaddr, Size = (byte)(bits / 8) };
        handler.OnRecord(in rec);
    }

    private static ReadOnlySpan<byte> Field(ReadOnlySpan<byte> text, int leftComma, int rightComma) => text[(leftComma + 1)..rightComma];
}

/// <summary>
/// ChampSim binary traces: a stream of 64-byte `input_instr` records, little-endian: ip (8), is_branch (1),
/// branch_taken (1), destination_registers (2 × 1), source_registers (4 × 1), destination_memory (2 × 8),
/// source_memory (4 × 8). Each record becomes an instruction fetch at ip, a read per non-zero source_memory and a
/// write per non-zero destination_memory, in that order. Record numbers (1-based) stand in for line numbers.
/// </summary>
public static class ChampSimReader
{
    public const int RecordSize = 64;

    /// <summary>ChampSim's <see cref="ITraceDecoder"/>: whole records; at the end of input a partial one is an error.</summary>
    public struct Decoder(string source) : ITraceDecoder
    {
        private long _records;
        private long _offset;

        public readonly long Count => _records;

        public readonly int MinimumBlock => 2 * RecordSize;

        public readonly int MaximumBlock => 0;

        public SequencePosition Decode<THandler>(ref ReadOnlySequence<byte> buffer, ref THandler handler, bool final)
            where THandler : ITraceHandler
        {
            SequencePosition consumed = ParseRecords(ref buffer, ref _records, ref _offset, ref handler);
            if (final && buffer.Slice(consumed).Length is > 0 and var rest)
            {
                throw TraceFormatException.AtByte(source, _offset, $"truncated input: the last record has {rest} of its {RecordSize} bytes");
            }
            return consumed;
        }

        public readonly void Dispose()
        {
        }
    }

    /// <summary>Reads a whole ChampSim trace. Returns the number of instructions.</summary>
    public static ValueTask<long> ParseAsync<THandler>(PipeReader reader, string source, THandler handler, CancellationToken ct = default)
        where THandler : ITraceHandler =>
        TracePipe.ReadAsync(reader, new Decoder(source), handler, ct);

    /// <summary>Decodes every complete record of <paramref name="buffer"/>.</summary>
    public static SequencePosition ParseRecords<THandler>(ref ReadOnlySequence<byte> buffer, ref long records, ref long offset, ref THandler handler)
        where THandler : ITraceHandler
    {
        var r = new SequenceReader<byte>(buffer);
        Span<byte> copy = stackalloc byte[RecordSize];
        while (r.Remaining >= RecordSize)
        {
            scoped ReadOnlySpan<byte> rec = r.UnreadSpan;
            if (rec.Length < RecordSize)
            {
                r.UnreadSequence.Slice(0, RecordSize).CopyTo(copy);
                rec = copy;
            }
            records++;
            Emit(rec, records, ref handler);
            r.Advance(RecordSize);
        }
        offset += r.Consumed;
        return r.Position;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Emit<THandler>(ReadOnlySpan<byte> rec, long number, ref THandler handler)
        where THandler : ITraceHandler
    {
        // Each record is one instruction: the timeline's front end advances by it (`inst 1`), then fetches it.
        var a = new TraceRecord { Op = TraceOp.Inst, Line = number, Value = 1 };
        handler.OnRecord(in a);
        a = new TraceRecord { Op = TraceOp.Fetch, Line = number, Address = BinaryPrimitives.ReadUInt64LittleEndian(rec), Size = 4 };
        handler.OnRecord(in a);
        a.Size = 8;
        a.Op = TraceOp.Read;
        for (int i = 0; i < 4; i++)
        {
            ulong src = BinaryPrimitives.ReadUInt64LittleEndian(rec[(32 + 8 * i)..]);
            if (src != 0)
            {
                a.Address = src;
                handler.OnRecord(in a);
            }
        }
        a.Op = TraceOp.Write;
        for (int i = 0; i < 2; i++)
        {
            ulong dst = BinaryPrimitives.ReadUInt64LittleEndian(rec[(16 + 8 * i)..]);
            if (dst != 0)
            {
                a.Address = dst;
                handler.OnRecord(in a);
            }
        }
    }
}

/// <summary>Valgrind lackey output (<see cref="LackeyFormat"/>).</summary>
internal sealed class LackeyInputFormat : InputFormat
{
    public override TraceFormat Id => TraceFormat.Lackey;

    public override string Name => "lackey";

    public override string Description => "valgrind lackey --trace-mem=yes output";

    public override string Recognition => "a first line that is valgrind's ==PID== or --PID-- commentary or a lackey record";

    public override bool IsForeign => true;

    public override bool IsText => true;

    public override bool ClaimsFirstLine(ReadOnlySpan<byte> line) =>
        line.StartsWith("=="u8) || line.StartsWith("--"u8)
        || (line.Length > 4 && (line.StartsWith("I  "u8) || (line[0] == (byte)' ' && line[1] is (byte)'L' or (byte)'S' or (byte)'M' && line[2] == (byte)' '))
            && line.IndexOf((byte)',') > 0);

    public override ValueTask<long> ReadAsync<THandler>(TraceInput input, THandler handler, ParseOptions parse, int bufferSize, bool direct,
        CancellationToken ct) =>
        Read(input, new LineDecoder<LackeyFormat>(input.Source, parse, default), handler, bufferSize, direct, ct);
}

/// <summary>ChampSim records (<see cref="ChampSimReader"/>): no magic number, recognised by name or by binary content.</summary>
internal sealed class ChampSimInputFormat : InputFormat
{
    public override TraceFormat Id => TraceFormat.ChampSim;

    public override string Name => "champsim";

    public override string Description => "ChampSim input_instr records, 64 bytes each";

    public override string Recognition => "a name containing .champsim, or first bytes of which one in eight or more is not text";

    public override bool IsForeign => true;

    public override bool ClaimsName(string name) => name.Contains(".champsim", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Binary content without our magic number: ChampSim records are mostly zero bytes. A text trace with a few stray
    /// control bytes (a damaged file) stays text, so that its parser names the line and column of each.
    /// </summary>
    public override bool ClaimsBinaryContent(ReadOnlySpan<byte> head)
    {
        int binary = 0;
        foreach (byte b in head)
        {
            if (b == 0 || (b < 0x20 && b is not ((byte)'\n' or (byte)'\r' or (byte)'\t')))
            {
                binary++;
            }
        }
        return binary > 0 && binary * 8 >= head.Length;
    }

    public override ValueTask<long> ReadAsync<THandler>(TraceInput input, THandler handler, ParseOptions parse, int bufferSize, bool direct,
        CancellationToken ct) =>
        Read(input, new ChampSimReader.Decoder(input.Source), handler, bufferSize, direct, ct);
}

/// <summary>The QEMU mem plugin's CSV (<see cref="QemuMemFormat"/>).</summary>
internal sealed class QemuMemInputFormat : InputFormat
{
    public override TraceFormat Id => TraceFormat.QemuMem;

    public override string Name => "qemu-mem";

    public override IReadOnlyList<string> Aliases => ["qemu"];

    public override string Description => "QEMU TCG mem plugin CSV (print-accesses=true)";

    public override string Recognition => "a first line that is the plugin's insn_vaddr,... header or one of its records";

    public override bool IsForeign => true;

    public override bool IsText => true;

    public override bool ClaimsFirstLine(ReadOnlySpan<byte> line) =>
        line.StartsWith("insn_vaddr,"u8)
        || (line.StartsWith("0x"u8) && line.Count((byte)',') >= 6 && (line.IndexOf(",load,"u8) > 0 || line.IndexOf(",store,"u8) > 0));

    public override ValueTask<long> ReadAsync<THandler>(TraceInput input, THandler handler, ParseOptions parse, int bufferSize, bool direct,
        CancellationToken ct) =>
        Read(input, new LineDecoder<QemuMemFormat>(input.Source, parse, default), handler, bufferSize, direct, ct);
}
