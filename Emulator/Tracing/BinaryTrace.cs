using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MmuSim.Caching;
using MmuSim.Registers;
using MmuSim.Translation;

namespace MmuSim.Tracing;

/// <summary>
/// The compact binary trace format (docs/binary-format.md): a 16-byte header (magic, version, header size, flags)
/// then records of 16 + 8·n bytes, little-endian. An access (R/W/X) is exactly 16 bytes: tag, size, six zero bytes,
/// the VA. Every command of the text format has a record, so text → binary → text keeps the meaning of a trace.
/// </summary>
public static class BinaryTrace
{
    /// <summary>0x89 'M' 'M' 'U' 'T' '\r' '\n' 0x1A: a high-bit byte and a CR-LF catch text-mode transfers (as PNG's does).</summary>
    public static ReadOnlySpan<byte> Magic => [0x89, (byte)'M', (byte)'M', (byte)'U', (byte)'T', (byte)'\r', (byte)'\n', 0x1A];

    public const ushort Version = 1;
    public const int HeaderSize = 16;
    public const int RecordSize = 16;

    /// <summary>Largest header a reader accepts (later versions may append fields a v1 reader skips).</summary>
    public const int MaxHeaderSize = 4096;

    /// <summary>Record tags (byte 0 of a record): the values of <see cref="TraceOp"/>.</summary>
    public const byte TagRead = (byte)TraceOp.Read, TagWrite = (byte)TraceOp.Write, TagFetch = (byte)TraceOp.Fetch;
    public const byte TagReg = (byte)TraceOp.Reg, TagMem = (byte)TraceOp.Mem, TagRam = (byte)TraceOp.Ram, TagEl = (byte)TraceOp.El,
        TagAt = (byte)TraceOp.At, TagDump = (byte)TraceOp.Dump, TagTlbi = (byte)TraceOp.Tlbi;
    public const byte TagLdtr = (byte)TraceOp.Ldtr, TagSttr = (byte)TraceOp.Sttr, TagPstate = (byte)TraceOp.Pstate;
    public const byte TagCpu = (byte)TraceOp.Cpu, TagDsb = (byte)TraceOp.Dsb, TagIsb = (byte)TraceOp.Isb, TagInst = (byte)TraceOp.Inst, TagPaging = (byte)TraceOp.Paging;
    public const byte TagLoad = (byte)TraceOp.Load;

    /// <summary>Longest FILE a `load` record carries, in UTF-8 bytes.</summary>
    public const int MaxLoadPathBytes = 4096;

    /// <summary>True when <paramref name="head"/> starts with the magic number.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> head) => head.StartsWith(Magic);

    /// <summary>Writes the v1 header.</summary>
    public static void WriteHeader(Span<byte> dest)
    {
        Magic.CopyTo(dest);
        BinaryPrimitives.WriteUInt16LittleEndian(dest[8..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(dest[10..], HeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(dest[12..], 0);
    }
}

/// <summary>
/// Decodes the binary format from buffered bytes: fixed-size records decoded straight from the current
/// segment (a 16-byte copy only when a record straddles segments); the words of a `mem` record are emitted as they
/// arrive, so a record of any length needs no buffering. Record numbers (1-based) stand in for line numbers; errors
/// give the byte offset of the record.
/// </summary>
public static class BinaryTraceReader
{
    /// <summary>Reader state carried across buffers.</summary>
    public struct State(string source, ParseOptions options)
    {
        public readonly string Source = source;
        public readonly ParseOptions Options = options;
        /// <summary>Absolute offset of the first unconsumed byte.</summary>
        public long Offset;
        /// <summary>Records read (the number of the current one).</summary>
        public long Record;
        public bool HeaderDone;
        /// <summary>Header bytes past the v1 fields still to skip, or the payload of a skipped bad record.</summary>
        public long SkipBytes;
        public long MemRemaining;
        public ulong MemAddress;
        /// <summary>Offset of the record whose payload is being read (for truncation errors).</summary>
        public long RecordOffset;
        /// <summary>A ram record waiting for its size word (MemRemaining is then 1).</summary>
        public bool RamPending;
        public ulong RamBase;
        /// <summary>The extra words of a load record being gathered (null otherwise); MemRemaining counts what is left.</summary>
        public ulong[]? LoadWords;
        public bool LoadHasSize;
    }

    /// <summary>The binary format's <see cref="ITraceDecoder"/>: <see cref="ParseRecords"/> with its state.</summary>
    public struct Decoder(string source, ParseOptions options) : ITraceDecoder
    {
        private State _state = new(source, options);

        public readonly long Count => _state.Record;

        public readonly int MinimumBlock => 2 * BinaryTrace.RecordSize;

        /// <summary>At most a partial header or record (&lt; 16 bytes) is left unconsumed: the buffer never grows.</summary>
        public readonly int MaximumBlock => 0;

        public SequencePosition Decode<THandler>(ref ReadOnlySequence<byte> buffer, ref THandler handler, bool final)
            where THandler : ITraceHandler =>
            ParseRecords(ref buffer, ref _state, ref handler, final);

        public readonly void Dispose()
        {
        }
    }

    /// <summary>Parses a whole binary trace. Returns the number of records.</summary>
    public static ValueTask<long> ParseAsync<THandler>(PipeReader reader, string source, THandler handler,
        ParseOptions? options = null, CancellationToken ct = default)
        where THandler : ITraceHandler =>
        TracePipe.ReadAsync(reader, new Decoder(source, options ?? ParseOptions.Strict), handler, ct);

    /// <summary>Decodes every complete record of <paramref name="buffer"/>; at the end of input a partial record is an error.</summary>
    public static SequencePosition ParseRecords<THandler>(ref ReadOnlySequence<byte> buffer, ref State state, ref THandler handler, bool final)
        where THandler : ITraceHandler
    {
        var r = new SequenceReader<byte>(buffer);
        try
        {
            if (!state.HeaderDone && !ReadHeader(ref r, ref state, final))
            {
                return r.Position;
            }
            Span<byte> copy = stackalloc byte[BinaryTrace.RecordSize];
            while (true)
            {
                if (state.SkipBytes > 0)
                {
                    long n = Math.Min(state.SkipBytes, r.Remaining);
                    r.Advance(n);
                    state.SkipBytes -= n;
                    if (state.SkipBytes > 0)
                    {
                        break;
                    }
                }
                if (state.MemRemaining > 0)
                {
                    if (!MemWords(ref r, ref state, ref handler))
                    {
                        break;
                    }
                    continue;
                }
                scoped ReadOnlySpan<byte> rec;
                ReadOnlySpan<byte> span = r.UnreadSpan;
                if (span.Length >= BinaryTrace.RecordSize)
                {
                    // Fast path: the run of plain access records in this segment, one Advance for all of them.
                    int done = Accesses(span, ref state, ref handler);
                    if (done > 0)
                    {
                        r.Advance(done);
                        continue;
                    }
                }
                if (span.Length >= BinaryTrace.RecordSize)
                {
                    rec = span;
                }
                else if (r.Remaining >= BinaryTrace.RecordSize)
                {
                    r.UnreadSequence.Slice(0, BinaryTrace.RecordSize).CopyTo(copy);
                    rec = copy;
                }
                else
                {
                    break;
                }
                state.Record++;
                state.RecordOffset = state.Offset + r.Consumed;
                ulong head = BinaryPrimitives.ReadUInt64LittleEndian(rec);
                ulong x = BinaryPrimitives.ReadUInt64LittleEndian(rec[8..]);
                r.Advance(BinaryTrace.RecordSize);
                // Fast path: an access record (tag 1..3, size 1..64, bytes 2..7 zero).
                uint tag = (uint)head & 0xFF;
                uint size = (uint)(head >> 8) & 0xFF;
                if (tag - BinaryTrace.TagRead < 3 && (head >> 16) == 0 && size - 1 < 64 && (tag != BinaryTrace.TagFetch || size == 4))
                {
                    var a = new TraceRecord
                    {
                        Op = (TraceOp)tag, // an access's tag is its TraceOp value
                        Line = state.Record,
                        Address = x,
                        Size = (byte)size,
                    };
                    handler.OnRecord(in a);
                    continue;
                }
                if (state.Options.SkipBadLines)
                {
                    DecodeSkipping(head, x, ref state, ref handler);
                }
                else
                {
                    Decode(head, x, ref state, ref handler);
                }
            }
            if (final && (r.Remaining > 0 || state.MemRemaining > 0 || state.SkipBytes > 0))
            {
                long at = state.MemRemaining > 0 || state.SkipBytes > 0 ? state.RecordOffset : state.Offset + r.Consumed;
                throw TraceFormatException.AtByte(state.Source, at,
                    $"truncated input: the record starting here is incomplete ({state.Offset + r.Consumed + r.Remaining} bytes in all)");
            }
            return r.Position;
        }
        finally
        {
            state.Offset += r.Consumed;
        }
    }

    /// <summary>
    /// Decodes consecutive access records (tag 1..3, size 1..64, bytes 2..7 zero) from the start of
    /// <paramref name="span"/> and delivers them as runs (<see cref="ITraceHandler.OnAccessRun"/>, record numbers as
    /// lines); stops at the first other record or partial record. Returns the bytes consumed.
    /// </summary>
    [SkipLocalsInit]
    private static int Accesses<THandler>(ReadOnlySpan<byte> span, ref State state, ref THandler handler)
        where THandler : ITraceHandler
    {
        int pos = 0;
        long number = state.Record;
        ref byte start = ref MemoryMarshal.GetReference(span);
        Span<PlainAccess> batch = stackalloc PlainAccess[TextTraceParser.RunBatch];
        ref PlainAccess a0 = ref MemoryMarshal.GetReference(batch);
        int count = 0;
        while (span.Length - pos >= BinaryTrace.RecordSize)
        {
            ulong head = Load(ref start, pos);
            uint tag = (uint)head & 0xFF;
            uint size = (uint)(head >> 8) & 0xFF;
            if (tag - BinaryTrace.TagRead >= 3 || (head >> 16) != 0 || size - 1 >= 64 || (tag == BinaryTrace.TagFetch && size != 4))
            {
                break;
            }
            ref PlainAccess a = ref Unsafe.Add(ref a0, count);
            a.Op = (TraceOp)tag;
            a.Va = Load(ref start, pos + 8);
            a.Size = (byte)size;
            pos += BinaryTrace.RecordSize;
            if (++count == batch.Length)
            {
                PlainAccess.Deliver(ref handler, batch, ref count, ref number);
            }
        }
        PlainAccess.Deliver(ref handler, batch, ref count, ref number);
        state.Record = number;
        return pos;
    }

    /// <summary>A little-endian 64-bit load at <paramref name="offset"/> (the caller has checked the length).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Load(ref byte start, int offset)
    {
        ulong v = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, offset));
        return BitConverter.IsLittleEndian ? v : BinaryPrimitives.ReverseEndianness(v);
    }

    private static bool ReadHeader(ref SequenceReader<byte> r, ref State state, bool final)
    {
        if (r.Remaining < BinaryTrace.HeaderSize)
        {
            if (final)
            {
                throw TraceFormatException.AtByte(state.Source, 0, r.Remaining == 0 ? "empty input: no binary trace header"
                    : $"truncated input: {r.Remaining} bytes, shorter than the {BinaryTrace.HeaderSize}-byte header");
            }
            return false;
        }
        Span<byte> h = stackalloc byte[BinaryTrace.HeaderSize];
        r.UnreadSequence.Slice(0, BinaryTrace.HeaderSize).CopyTo(h);
        if (!BinaryTrace.HasMagic(h))
        {
            throw TraceFormatException.AtByte(state.Source, 0, "not a binary MmuSim trace (bad magic number)");
        }
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(h[8..]);
        ushort headerSize = BinaryPrimitives.ReadUInt16LittleEndian(h[10..]);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(h[12..]);
        if (version != BinaryTrace.Version)
        {
            throw TraceFormatException.AtByte(state.Source, 8, $"binary trace version {version} is not supported (this reader knows version {BinaryTrace.Version})");
        }
        if (headerSize < BinaryTrace.HeaderSize || headerSize > BinaryTrace.MaxHeaderSize || headerSize % 8 != 0)
        {
            throw TraceFormatException.AtByte(state.Source, 10, $"bad header size {headerSize}");
        }
        if (flags != 0)
        {
            throw TraceFormatException.AtByte(state.Source, 12, $"unknown header flags 0x{flags:x}");
        }
        r.Advance(BinaryTrace.HeaderSize);
        state.SkipBytes = headerSize - BinaryTrace.HeaderSize;
        state.RecordOffset = 0;
        state.HeaderDone = true;
        return true;
    }

    private static bool MemWords<THandler>(ref SequenceReader<byte> r, ref State state, ref THandler handler)
        where THandler : ITraceHandler
    {
        var rec = new TraceRecord { Op = TraceOp.Mem, Line = state.Record };
        if (state.LoadWords is { } load)
        {
            while (state.MemRemaining > 0)
            {
                if (!r.TryReadLittleEndian(out long word))
                {
                    return false;
                }
                load[load.Length - state.MemRemaining] = (ulong)word;
                state.MemRemaining--;
            }
            state.LoadWords = null;
            rec.Op = TraceOp.Load;
            rec.Address = state.RamBase;
            rec.Image = LoadOperands(ref state, load);
            handler.OnRecord(in rec);
            return true;
        }
        if (state.RamPending)
        {
            if (!r.TryReadLittleEndian(out long size))
            {
                return false;
            }
            state.RamPending = false;
            state.MemRemaining = 0;
            if (size == 0 || state.RamBase + ((ulong)size - 1) < state.RamBase)
            {
                var e = Bad(ref state, size == 0 ? "a RAM region cannot be empty (size 0)"
                    : $"the RAM region at 0x{state.RamBase:x} of 0x{(ulong)size:x} bytes runs past the top of the 64-bit address space");
                if (!state.Options.SkipBadLines)
                {
                    throw e;
                }
                state.Options.Skipped(e);
                return true;
            }
            rec.Op = TraceOp.Ram;
            rec.Address = state.RamBase;
            rec.Value = (ulong)size;
            handler.OnRecord(in rec);
            return true;
        }
        while (state.MemRemaining > 0)
        {
            if (!r.TryReadLittleEndian(out long word))
            {
                return false;
            }
            rec.Address = state.MemAddress;
            rec.Value = (ulong)word;
            state.MemAddress += 8;
            state.MemRemaining--;
            handler.OnRecord(in rec);
        }
        return true;
    }

    /// <summary>The operands of a load record from its extra words: OFFSET, SIZE, then FILE in UTF-8, zero-padded.</summary>
    private static ImageLoad LoadOperands(ref State state, ulong[] words)
    {
        var bytes = new byte[(words.Length - 2) * 8];
        for (int i = 2; i < words.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((i - 2) * 8), words[i]);
        }
        int length = bytes.AsSpan().IndexOf((byte)0);
        if (length < 0)
        {
            length = bytes.Length;
        }
        Expect(ref state, length > 0 && length > bytes.Length - 8, "the file name of a load record fills its words, zero-padded to the last");
        Expect(ref state, bytes.AsSpan(length).IndexOfAnyExcept((byte)0) < 0, "the padding of a load record's file name must be zero");
        ulong offset = words[0], size = words[1];
        Expect(ref state, (size & 7) == 0, $"load size {size} is not a multiple of 8");
        Expect(ref state, state.LoadHasSize || size == 0, "a load record without SIZE (byte 1 = 0) has a zero size word");
        Expect(ref state, size <= Memory.PhysicalMemory.PhysicalAddressLimit - state.RamBase,
            $"a load of {size} bytes at 0x{state.RamBase:x} ends past the 52-bit physical address space");
        string file;
        try
        {
            file = new System.Text.UTF8Encoding(false, true).GetString(bytes, 0, length);
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw Bad(ref state, "the file name of a load record is not UTF-8");
        }
        return new ImageLoad
        {
            Address = state.RamBase, File = file, Offset = offset, Size = state.LoadHasSize ? size : null, Source = state.Source,
            Line = state.Record, ByteOffset = state.RecordOffset,
        };
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void DecodeSkipping<THandler>(ulong head, ulong x, ref State state, ref THandler handler)
        where THandler : ITraceHandler
    {
        try
        {
            Decode(head, x, ref state, ref handler);
        }
        catch (TraceFormatException e)
        {
            state.Options.Skipped(e);
            // Skip the bad record's payload too; its word count is the best guess of where the next record starts.
            state.SkipBytes = 8L * (uint)(head >> 32);
        }
    }

    /// <summary>Every record but the plain access (and bad accesses, to say what is wrong with them).</summary>
    private static void Decode<THandler>(ulong head, ulong x, ref State state, ref THandler handler)
        where THandler : ITraceHandler
    {
        uint tag = (uint)head & 0xFF;
        uint b1 = (uint)(head >> 8) & 0xFF;
        uint b2 = (uint)(head >> 16) & 0xFF;
        uint b3 = (uint)(head >> 24) & 0xFF;
        uint n = (uint)(head >> 32);
        var rec = new TraceRecord { Line = state.Record };
        switch (tag)
        {
            case BinaryTrace.TagRead or BinaryTrace.TagWrite or BinaryTrace.TagFetch:
                Expect(ref state, b2 == 0 && b3 == 0 && n == 0, "reserved bytes 2..7 of an access record must be zero");
                // docs/binary-format.md: an X record's size byte is always 4 (an A64 instruction).
                Expect(ref state, tag != BinaryTrace.TagFetch || b1 == 4, $"fetch size {b1} is not 4 (an X record fetches one 4-byte instruction)");
                throw Bad(ref state, $"access size {b1} is not between 1 and 64 bytes");
            case BinaryTrace.TagLdtr or BinaryTrace.TagSttr:
                Expect(ref state, b2 == 0 && b3 == 0 && n == 0, "reserved bytes of an ldtr/sttr record must be zero");
                Expect(ref state, b1 is >= 1 and <= 64, $"access size {b1} is not between 1 and 64 bytes");
                rec.Op = (TraceOp)tag;
                rec.Size = (byte)b1;
                rec.Address = x;
                break;
            case BinaryTrace.TagPstate:
                Expect(ref state, b3 == 0 && n == 0 && x == 0, "reserved fields of a pstate record must be zero");
                Expect(ref state, b1 == 0, $"unknown PSTATE field code {b1}");
                Expect(ref state, b2 <= 1, $"PSTATE.PAN {b2} is not 0 or 1");
                rec.Op = TraceOp.Pstate;
                rec.Value = b2;
                break;
            case BinaryTrace.TagCpu:
                Expect(ref state, b2 == 0 && b3 == 0 && n == 0 && x == 0, "reserved fields of a cpu record must be zero");
                rec.Op = TraceOp.Cpu;
                rec.Value = b1;
                break;
            case BinaryTrace.TagDsb:
                Expect(ref state, b2 == 0 && b3 == 0 && n == 0 && x == 0, "reserved fields of a dsb record must be zero");
                Expect(ref state, WireCodes<DsbOption>.IsDefined(b1), $"unknown DSB option code {b1}");
                rec.Op = TraceOp.Dsb;
                rec.Dsb = WireCodes<DsbOption>.FromCode(b1);
                break;
            case BinaryTrace.TagIsb:
                Expect(ref state, b1 == 0 && b2 == 0 && b3 == 0 && n == 0 && x == 0, "reserved fields of an isb record must be zero");
                rec.Op = TraceOp.Isb;
                break;
            case BinaryTrace.TagInst:
                Expect(ref state, b1 == 0 && b2 == 0 && b3 == 0 && n == 0, "reserved fields of an inst record must be zero");
                rec.Op = TraceOp.Inst;
                rec.Value = x;
                break;
            case BinaryTrace.TagPaging:
                Expect(ref state, b1 == 0 && b2 == 0 && b3 == 0 && n == 0 && x == 0, "reserved fields of a paging record must be zero");
                rec.Op = TraceOp.Paging;
                break;
            case BinaryTrace.TagReg:
                Expect(ref state, b2 == 0 && b3 == 0 && n == 0, "reserved bytes of a reg record must be zero");
                Expect(ref state, WireCodes<SysReg>.IsDefined(b1), $"unknown register code {b1}");
                rec.Op = TraceOp.Reg;
                rec.Reg = WireCodes<SysReg>.FromCode(b1);
                rec.Value = x;
                break;
            case BinaryTrace.TagMem:
                Expect(ref state, b1 == 0 && b2 == 0 && b3 == 0, "reserved bytes of a mem record must be zero");
                Expect(ref state, n > 0, "mem needs at least one value");
                Expect(ref state, (x & 7) == 0, $"mem address 0x{x:x} is not 8-byte aligned");
                Expect(ref state, (ulong)(n - 1) <= (ulong.MaxValue - x) >> 3, $"{n} mem words from 0x{x:x} would run past the top of the 64-bit address space");
                state.MemAddress = x;
                state.MemRemaining = n;
                return;
            case BinaryTrace.TagRam:
                Expect(ref state, b1 == 0 && b2 == 0 && b3 == 0 && n == 1, "a ram record has zero reserved bytes and one extra word (the size)");
                // The size follows as the record's one extra word, read (and the record emitted) by MemWords.
                state.RamBase = x;
                state.RamPending = true;
                state.MemRemaining = 1;
                return;
            case BinaryTrace.TagLoad:
                Expect(ref state, b1 <= 1 && b2 == 0 && b3 == 0, "reserved bytes of a load record must be zero (byte 1 is 0 or 1)");
                Expect(ref state, n >= 3 && n <= 2 + BinaryTrace.MaxLoadPathBytes / 8,
                    $"a load record has 3 to {2 + BinaryTrace.MaxLoadPathBytes / 8} extra words (offset, size, file name), not {n}");
                Expect(ref state, (x & 7) == 0, $"load address 0x{x:x} is not 8-byte aligned");
                Expect(ref state, x < Memory.PhysicalMemory.PhysicalAddressLimit, $"load address 0x{x:x} is outside the 52-bit physical address space");
                // The words follow; MemWords gathers them and emits the record.
                state.RamBase = x;
                state.LoadHasSize = b1 == 1;
                state.LoadWords = new ulong[n];
                state.MemRemaining = n;
                return;
            case BinaryTrace.TagEl:
                Expect(ref state, b2 == 0 && b3 == 0 && n == 0 && x == 0, "reserved fields of an el record must be zero");
                Expect(ref state, b1 <= 2, $"exception level {b1} is not 0, 1 or 2");
                rec.Op = TraceOp.El;
                rec.Value = b1;
                break;
            case BinaryTrace.TagAt:
                Expect(ref state, b2 == 0 && b3 == 0 && n == 0, "reserved bytes of an at record must be zero");
                Expect(ref state, WireCodes<AtOp>.IsDefined(b1), $"unknown AT operation code {b1}");
                rec.Op = TraceOp.At;
                rec.At = WireCodes<AtOp>.FromCode(b1);
                rec.Address = x;
                break;
            case BinaryTrace.TagDump:
                Expect(ref state, b1 == 0 && b2 == 0 && b3 == 0 && n == 0, "reserved bytes of a dump record must be zero");
                Expect(ref state, (x & 7) == 0, $"dump address 0x{x:x} is not 8-byte aligned");
                rec.Op = TraceOp.Dump;
                rec.Address = x;
                break;
            case BinaryTrace.TagTlbi:
                Expect(ref state, b3 == 0 && n == 0 && b2 <= 1, "reserved bytes of a tlbi record must be zero (byte 2 is 0 or 1)");
                Expect(ref state, WireCodes<TlbiOp>.IsDefined(b1), $"unknown TLBI operation code {b1}");
                Expect(ref state, b2 == 1 || x == 0, "a tlbi record without operand has a zero operand field");
                rec.Op = TraceOp.Tlbi;
                rec.Tlbi = WireCodes<TlbiOp>.FromCode(b1);
                rec.HasOperand = b2 == 1;
                rec.Value = x;
                break;
            default:
                throw Bad(ref state, $"unknown record tag 0x{tag:x2}");
        }
        handler.OnRecord(in rec);
    }

    private static void Expect(ref State state, bool ok, string reason)
    {
        if (!ok)
        {
            throw Bad(ref state, reason);
        }
    }

    private static TraceFormatException Bad(ref State state, string reason) =>
        TraceFormatException.AtByte(state.Source, state.RecordOffset, $"record {state.Record}: {reason}");
}

/// <summary>The binary format (docs/binary-format.md), recognised by its magic number.</summary>
internal sealed class BinaryInputFormat : InputFormat
{
    public override TraceFormat Id => TraceFormat.Binary;

    public override string Name => "binary";

    public override IReadOnlyList<string> Aliases => ["bin"];

    public override string Description => "the MmuSim binary format (docs/binary-format.md)";

    public override string Recognition => "its magic number, 89 4D 4D 55 54 0D 0A 1A";

    public override bool HasMagic(ReadOnlySpan<byte> head) => BinaryTrace.HasMagic(head);

    public override bool CanWrite => true;

    public override TraceWriter CreateWriter(Stream stream) => new BinaryTraceWriter(stream);

    public override IReadOnlyList<string> Extensions => [".mbt"];

    public override ValueTask<long> ReadAsync<THandler>(TraceInput input, THandler handler, ParseOptions parse, int bufferSize, bool direct,
        CancellationToken ct) =>
        Read(input, new BinaryTraceReader.Decoder(input.Source, parse), handler, bufferSize, direct, ct);
}
