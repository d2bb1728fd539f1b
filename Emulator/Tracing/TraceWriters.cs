using System.Buffers.Binary;
using System.Text;
using MmuSim.Caching;
using MmuSim.Registers;
using MmuSim.Translation;

namespace MmuSim.Tracing;

/// <summary>
/// Writes records back out as a trace (used by `mmusim convert`). Consecutive `mem` words of one line (or record) at
/// consecutive addresses are gathered back into one command, up to <see cref="MaxMemWords"/> a command.
/// </summary>
public abstract class TraceWriter : ITraceHandler, IDisposable
{
    /// <summary>Most words one `mem` command gets; longer runs are split (bounded memory whatever the input).</summary>
    public const int MaxMemWords = 4096;

    private readonly ulong[] _words = new ulong[MaxMemWords];
    private int _count;
    private ulong _memBase;
    private long _memLine;
    private bool _disposed;

    protected TraceWriter(Stream stream, bool ownsStream)
    {
        Stream = stream;
        OwnsStream = ownsStream;
    }

    protected Stream Stream { get; }
    private bool OwnsStream { get; }

    /// <summary>Records written (a gathered `mem` command counts once).</summary>
    public long Records { get; private set; }

    public void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine)
    {
        var self = this;
        PlainAccess.EachRecord(ref self, run, firstLine);
    }

    public void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line)
    {
        var self = this;
        MemWords.EachRecord(ref self, pa, words, line);
    }

    public void OnRecord(in TraceRecord record)
    {
        if (record.Op == TraceOp.Mem)
        {
            if (_count > 0 && (record.Line != _memLine || record.Address != _memBase + (ulong)_count * 8 || _count == MaxMemWords))
            {
                FlushMem();
            }
            if (_count == 0)
            {
                _memBase = record.Address;
                _memLine = record.Line;
            }
            _words[_count++] = record.Value;
            return;
        }
        FlushMem();
        Records++;
        Write(in record);
    }

    private void FlushMem()
    {
        if (_count > 0)
        {
            Records++;
            WriteMem(_memBase, _words.AsSpan(0, _count));
            _count = 0;
        }
    }

    protected abstract void Write(in TraceRecord record);

    protected abstract void WriteMem(ulong pa, ReadOnlySpan<ulong> words);

    /// <summary>Writes what is pending and flushes the stream.</summary>
    public void Flush()
    {
        FlushMem();
        Stream.Flush();
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        Flush();
        if (OwnsStream)
        {
            Stream.Dispose();
        }
        GC.SuppressFinalize(this);
    }
}

/// <summary>Writes the binary format (docs/binary-format.md).</summary>
public sealed class BinaryTraceWriter : TraceWriter
{
    public BinaryTraceWriter(Stream stream, bool ownsStream = true) : base(stream, ownsStream)
    {
        Span<byte> h = stackalloc byte[BinaryTrace.HeaderSize];
        BinaryTrace.WriteHeader(h);
        Stream.Write(h);
    }

    protected override void Write(in TraceRecord r)
    {
        switch (r.Op)
        {
            case TraceOp.Read: Put(BinaryTrace.TagRead, r.Size, 0, 0, r.Address); break;
            case TraceOp.Write: Put(BinaryTrace.TagWrite, r.Size, 0, 0, r.Address); break;
            case TraceOp.Fetch: Put(BinaryTrace.TagFetch, 4, 0, 0, r.Address); break; // the format fixes X at 4 bytes
            case TraceOp.Ldtr: Put(BinaryTrace.TagLdtr, r.Size, 0, 0, r.Address); break;
            case TraceOp.Sttr: Put(BinaryTrace.TagSttr, r.Size, 0, 0, r.Address); break;
            case TraceOp.Pstate: Put(BinaryTrace.TagPstate, 0, (byte)r.Value, 0, 0); break;
            case TraceOp.Cpu: Put(BinaryTrace.TagCpu, (byte)r.Value, 0, 0, 0); break;
            case TraceOp.Dsb: Put(BinaryTrace.TagDsb, WireCodes<DsbOption>.Code(r.Dsb), 0, 0, 0); break;
            case TraceOp.Isb: Put(BinaryTrace.TagIsb, 0, 0, 0, 0); break;
            case TraceOp.Inst: Put(BinaryTrace.TagInst, 0, 0, 0, r.Value); break;
            case TraceOp.Paging: Put(BinaryTrace.TagPaging, 0, 0, 0, 0); break;
            case TraceOp.Reg: Put(BinaryTrace.TagReg, WireCodes<SysReg>.Code(r.Reg), 0, 0, r.Value); break;
            case TraceOp.El: Put(BinaryTrace.TagEl, (byte)r.Value, 0, 0, 0); break;
            case TraceOp.At: Put(BinaryTrace.TagAt, WireCodes<AtOp>.Code(r.At), 0, 0, r.Address); break;
            case TraceOp.Dump: Put(BinaryTrace.TagDump, 0, 0, 0, r.Address); break;
            case TraceOp.Tlbi: Put(BinaryTrace.TagTlbi, WireCodes<TlbiOp>.Code(r.Tlbi), r.HasOperand ? (byte)1 : (byte)0, 0, r.HasOperand ? r.Value : 0); break;
            case TraceOp.Ram:
                Put(BinaryTrace.TagRam, 0, 0, 1, r.Address);
                Word(r.Value);
                break;
            case TraceOp.Load:
            {
                var image = r.Image!;
                byte[] file = Encoding.UTF8.GetBytes(image.File);
                if (file.Length == 0 || file.Length > BinaryTrace.MaxLoadPathBytes || Array.IndexOf(file, (byte)0) >= 0)
                {
                    throw new InvalidOperationException($"line {r.Line}: the file name of a load cannot be written to a binary trace");
                }
                int pathWords = (file.Length + 7) / 8;
                Put(BinaryTrace.TagLoad, image.Size.HasValue ? (byte)1 : (byte)0, 0, (uint)(2 + pathWords), r.Address);
                Word(image.Offset);
                Word(image.Size ?? 0);
                Span<byte> padded = new byte[pathWords * 8];
                file.CopyTo(padded);
                Stream.Write(padded);
                break;
            }
            default:
                throw new InvalidOperationException($"record {r.Op} cannot be written here");
        }
    }

    protected override void WriteMem(ulong pa, ReadOnlySpan<ulong> words)
    {
        Put(BinaryTrace.TagMem, 0, 0, (uint)words.Length, pa);
        foreach (ulong w in words)
        {
            Word(w);
        }
    }

    private void Put(byte tag, byte b1, byte b2, uint words, ulong x)
    {
        Span<byte> rec = stackalloc byte[BinaryTrace.RecordSize];
        rec[0] = tag;
        rec[1] = b1;
        rec[2] = b2;
        rec[3] = 0;
        BinaryPrimitives.WriteUInt32LittleEndian(rec[4..], words);
        BinaryPrimitives.WriteUInt64LittleEndian(rec[8..], x);
        Stream.Write(rec);
    }

    private void Word(ulong w)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, w);
        Stream.Write(b);
    }
}

/// <summary>Writes the text format in its canonical spelling: lower-case hex with 0x, the default size omitted.</summary>
public sealed class TextTraceWriter : TraceWriter
{
    private readonly byte[] _line = new byte[128];
    private int _n;

    public TextTraceWriter(Stream stream, bool ownsStream = true) : base(stream, ownsStream)
    {
    }

    protected override void Write(in TraceRecord r)
    {
        _n = 0;
        switch (r.Op)
        {
            case TraceOp.Read:
            case TraceOp.Write:
                Text(r.Op == TraceOp.Read ? "R "u8 : "W "u8);
                Hex(r.Address);
                if (r.Size != 8)
                {
                    Text(" "u8);
                    Dec(r.Size);
                }
                break;
            case TraceOp.Fetch:
                Text("X "u8);
                Hex(r.Address);
                break;
            case TraceOp.Ldtr:
            case TraceOp.Sttr:
                Text(r.Op == TraceOp.Ldtr ? "ldtr "u8 : "sttr "u8);
                Hex(r.Address);
                if (r.Size != 8)
                {
                    Text(" "u8);
                    Dec(r.Size);
                }
                break;
            case TraceOp.Pstate:
                Text("pstate PAN "u8);
                Dec(r.Value);
                break;
            case TraceOp.Cpu:
                Text("cpu "u8);
                Dec(r.Value);
                break;
            case TraceOp.Dsb:
                Text("dsb "u8);
                Text(WireCodes<DsbOption>.Name(r.Dsb));
                break;
            case TraceOp.Isb:
                Text("isb"u8);
                break;
            case TraceOp.Inst:
                Text("inst "u8);
                Dec(r.Value);
                break;
            case TraceOp.Paging:
                Text("paging demand"u8);
                break;
            case TraceOp.Reg:
                Text("reg "u8);
                Text(WireCodes<SysReg>.Name(r.Reg));
                Text(" "u8);
                Hex(r.Value);
                break;
            case TraceOp.Ram:
                Text("ram "u8);
                Hex(r.Address);
                Text(" "u8);
                Hex(r.Value);
                break;
            case TraceOp.El:
                Text("el "u8);
                Dec(r.Value);
                break;
            case TraceOp.Load:
            {
                var image = r.Image!;
                Text("load "u8);
                Hex(r.Address);
                Text(" "u8);
                // The file name may be longer than the line buffer: written straight after what the buffer holds.
                Stream.Write(_line, 0, _n);
                Stream.Write(Encoding.UTF8.GetBytes(image.File));
                _n = 0;
                if (image.Offset != 0 || image.Size.HasValue)
                {
                    Text(" "u8);
                    Hex(image.Offset);
                }
                if (image.Size is { } size)
                {
                    Text(" "u8);
                    Hex(size);
                }
                break;
            }
            case TraceOp.At:
                Text("at "u8);
                Text(WireCodes<AtOp>.Name(r.At));
                Text(" "u8);
                Hex(r.Address);
                break;
            case TraceOp.Dump:
                Text("dump "u8);
                Hex(r.Address);
                break;
            case TraceOp.Tlbi:
                Text("tlbi "u8);
                Text(WireCodes<TlbiOp>.Name(r.Tlbi));
                if (r.HasOperand)
                {
                    Text(" "u8);
                    Hex(r.Value);
                }
                break;
            default:
                throw new InvalidOperationException($"record {r.Op} cannot be written here");
        }
        Text("\n"u8);
        Stream.Write(_line, 0, _n);
    }

    protected override void WriteMem(ulong pa, ReadOnlySpan<ulong> words)
    {
        _n = 0;
        Text("mem "u8);
        Hex(pa);
        foreach (ulong w in words)
        {
            if (_n > _line.Length - 20)
            {
                Stream.Write(_line, 0, _n);
                _n = 0;
            }
            Text(" "u8);
            Hex(w);
        }
        Text("\n"u8);
        Stream.Write(_line, 0, _n);
    }

    private void Text(ReadOnlySpan<byte> s)
    {
        s.CopyTo(_line.AsSpan(_n));
        _n += s.Length;
    }

    private void Hex(ulong v)
    {
        _line[_n++] = (byte)'0';
        _line[_n++] = (byte)'x';
        v.TryFormat(_line.AsSpan(_n), out int w, "x");
        _n += w;
    }

    private void Dec(ulong v)
    {
        v.TryFormat(_line.AsSpan(_n), out int w);
        _n += w;
    }
}
