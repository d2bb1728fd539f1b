using System.Runtime.CompilerServices;
using MmuSim.Caching;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Translation;

namespace MmuSim.Tracing;

/// <summary>The commands of the trace format (docs/trace-format.md).</summary>
/// <remarks>
/// The values are the binary format's record tags (docs/binary-format.md): never renumber. Read, Write and Fetch are
/// consecutive (the core indexes its access types by <c>Op - Read</c>).
/// </remarks>
public enum TraceOp : byte
{
    /// <summary>`reg NAME VALUE`</summary>
    Reg = 0x10,
    /// <summary>`mem PA V1 [V2 ...]`: one record per 64-bit word, Address advancing by 8.</summary>
    Mem = 0x11,
    /// <summary>`ram BASE SIZE`</summary>
    Ram = 0x12,
    /// <summary>`el N`</summary>
    El = 0x13,
    /// <summary>`R VA [SIZE]`</summary>
    Read = 0x01,
    /// <summary>`W VA [SIZE]`</summary>
    Write = 0x02,
    /// <summary>`X VA`</summary>
    Fetch = 0x03,
    /// <summary>`at OP VA`</summary>
    At = 0x14,
    /// <summary>`dump PA`</summary>
    Dump = 0x15,
    /// <summary>`tlbi OP [XT]`</summary>
    Tlbi = 0x16,
    /// <summary>`ldtr VA [SIZE]`: unprivileged load (LDTR).</summary>
    Ldtr = 0x04,
    /// <summary>`sttr VA [SIZE]`: unprivileged store (STTR).</summary>
    Sttr = 0x05,
    /// <summary>`pstate PAN 0|1` (Value = the bit).</summary>
    Pstate = 0x17,
    /// <summary>`cpu N`: the lines below run on PE N (Value = N).</summary>
    Cpu = 0x18,
    /// <summary>`dsb OPT` (Dsb = the option).</summary>
    Dsb = 0x19,
    /// <summary>`isb`</summary>
    Isb = 0x1A,
    /// <summary>`load PA FILE [OFFSET [SIZE]]` (Address = PA, Image = the operands).</summary>
    Load = 0x1B,
    /// <summary>`inst N`: N instructions that access no memory run before the next line (Value = N); timing only.</summary>
    Inst = 0x20,
    /// <summary>`paging demand`: the accesses below are meant for demand paging, as a foreign trace's (docs/trace-format.md).</summary>
    Paging = 0x21,
}

/// <summary>
/// One parsed trace command, fixed-size and allocation-free. Field use by <see cref="Op"/>:
/// Reg (Reg, Value); Mem (Address = PA, Value = word); Ram (Address = base, Value = size); El (Value = level);
/// Read/Write/Ldtr/Sttr (Address = VA, Size); Fetch (Address = VA, Size = 4); At (At, Address = VA); Dump (Address = PA);
/// Tlbi (Tlbi, Value = Xt, HasOperand); Pstate (Value = PSTATE.PAN); Cpu (Value = the PE's number); Dsb (Dsb); Isb;
/// Load (Address = PA, Image); Inst (Value = instructions); Paging (no field).
/// </summary>
public struct TraceRecord
{
    public TraceOp Op;
    /// <summary>1-based line number in its source (every line counts).</summary>
    public long Line;
    public ulong Address;
    public ulong Value;
    public SysReg Reg;
    public AtOp At;
    public TlbiOp Tlbi;
    public byte Size;
    public bool HasOperand;
    public DsbOption Dsb;
    /// <summary>The operands of a `load` (null for every other command).</summary>
    public ImageLoad? Image;
}

/// <summary>
/// A plain access of an access run (<see cref="ITraceHandler.OnAccessRun"/>): `R|W|X VA [SIZE]`, the fields of its
/// <see cref="TraceRecord"/> (a fetch is 4 bytes whatever its size says, as there). 16 bytes, so a run is a dense
/// array a replay loop streams through.
/// </summary>
public struct PlainAccess : IPlainAccess
{
    public ulong Va;
    /// <summary><see cref="TraceOp.Read"/>, <see cref="TraceOp.Write"/> or <see cref="TraceOp.Fetch"/>.</summary>
    public TraceOp Op;
    public byte Size;

    readonly ulong IPlainAccess.Va => Va;

    readonly byte IPlainAccess.Size => Size;

    /// <summary>The access type of <see cref="Op"/>; out of the <see cref="AccessType"/> range for any other operation.</summary>
    public readonly AccessType Type
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (AccessType)(Op - TraceOp.Read);
    }

    /// <summary>The record of this access, on <paramref name="line"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly TraceRecord ToRecord(long line) => new() { Op = Op, Line = line, Address = Va, Size = Size };

    /// <summary>
    /// Delivers the first <paramref name="count"/> accesses of a parser's batch as a run on the lines after
    /// <paramref name="lastLine"/>, which it advances past them; <paramref name="count"/> is then 0. Nothing for an
    /// empty batch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Deliver<THandler>(ref THandler handler, Span<PlainAccess> batch, ref int count, ref long lastLine)
        where THandler : ITraceHandler
    {
        if (count != 0)
        {
            handler.OnAccessRun(batch[..count], lastLine + 1);
            lastLine += count;
            count = 0;
        }
    }

    /// <summary>Hands each access of a run to <paramref name="handler"/>'s <see cref="ITraceHandler.OnRecord"/>, in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void EachRecord<THandler>(ref THandler handler, ReadOnlySpan<PlainAccess> run, long firstLine)
        where THandler : ITraceHandler
    {
        for (int i = 0; i < run.Length; i++)
        {
            var rec = run[i].ToRecord(firstLine + i);
            handler.OnRecord(in rec);
        }
    }
}

/// <summary>Receives parsed records; implemented by structs so the parser is specialised per handler (no virtual calls).</summary>
public interface ITraceHandler
{
    void OnRecord(in TraceRecord record);

    /// <summary>
    /// A run of plain accesses on consecutive lines, the first on <paramref name="firstLine"/>: what most of a trace
    /// is. The same as one <see cref="OnRecord"/> per access, in order (<see cref="PlainAccess.EachRecord"/>); a
    /// handler that can do better with the whole run (a replay loop that keeps its state in registers) does.
    /// Parsers deliver a run after decoding it, before they read the line that ends it.
    /// </summary>
    void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine);

    /// <summary>
    /// Words of a <c>mem</c> line on <paramref name="line"/>, stored from <paramref name="pa"/> up, 8 bytes each:
    /// the same as one <see cref="OnRecord"/> (<see cref="TraceOp.Mem"/>) per word, in order
    /// (<see cref="MemWords.EachRecord"/>). A parser may hand over one line's words in several calls, in order, and
    /// hands over every word it has decoded before it reports an error later on the line.
    /// </summary>
    void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line);
}

/// <summary>The records a <see cref="ITraceHandler.OnMemWords"/> call stands for.</summary>
public static class MemWords
{
    /// <summary>One <see cref="ITraceHandler.OnRecord"/> per word, in order: for handlers with nothing better to do.</summary>
    public static void EachRecord<THandler>(ref THandler handler, ulong pa, ReadOnlySpan<ulong> words, long line)
        where THandler : ITraceHandler
    {
        var rec = new TraceRecord { Op = TraceOp.Mem, Line = line };
        for (int i = 0; i < words.Length; i++)
        {
            rec.Address = pa + ((ulong)i << 3);
            rec.Value = words[i];
            handler.OnRecord(in rec);
        }
    }
}

/// <summary>
/// Malformed input: names the source and the position (line and column, 1-based, for text; the byte offset of the
/// record for binary formats) and says what is wrong.
/// </summary>
public sealed class TraceFormatException : Exception
{
    public TraceFormatException(string source, long line, int column, string reason)
        : base($"{source}:{line}:{column}: {reason}")
    {
        Source2 = source;
        Line = line;
        Column = column;
        Reason = reason;
        ByteOffset = -1;
    }

    private TraceFormatException(string source, long byteOffset, string reason)
        : base($"{source}:byte {byteOffset}: {reason}")
    {
        Source2 = source;
        Reason = reason;
        ByteOffset = byteOffset;
    }

    /// <summary>An error in a binary input, at the byte offset where the offending record starts.</summary>
    public static TraceFormatException AtByte(string source, long byteOffset, string reason) => new(source, byteOffset, reason);

    public string Source2 { get; }
    /// <summary>1-based line (text formats), 0 for binary inputs.</summary>
    public long Line { get; }
    /// <summary>1-based column (text formats), 0 for binary inputs.</summary>
    public int Column { get; }
    public string Reason { get; }
    /// <summary>Byte offset of the bad record (binary formats), −1 for text.</summary>
    public long ByteOffset { get; }
}

/// <summary>How a parser treats malformed input.</summary>
public sealed class ParseOptions
{
    /// <summary>Count a malformed line (or record) and go on instead of stopping.</summary>
    public bool SkipBadLines { get; init; }

    /// <summary>Told about each skipped line (for example to print the first few).</summary>
    public Action<TraceFormatException>? OnBadLine { get; init; }

    /// <summary>Malformed lines or records skipped so far.</summary>
    public long BadLines { get; set; }

    public static ParseOptions Strict { get; } = new();

    internal void Skipped(TraceFormatException e)
    {
        BadLines++;
        OnBadLine?.Invoke(e);
    }
}
