using System.Buffers;
using System.Text.Json;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Tracing;

namespace MmuSim.Reporting;

/// <summary>
/// Writes results as JSON Lines in the spec's Results schema (docs/trace-format.md): one object per
/// R/W/X/at/dump line, 64-bit values as lower-case hex strings. Reuses one writer over an in-memory buffer that
/// goes to the stream in 64 KiB blocks; no allocation per result.
/// </summary>
public sealed class ResultWriter : IOutcomeSink, IDisposable
{
    private const int BlockBytes = 1 << 16;

    private readonly Stream _stream;
    private readonly ArrayBufferWriter<byte> _buffer = new(BlockBytes + 1024);
    private readonly Utf8JsonWriter _json;
    private readonly bool _ownsStream;

    public ResultWriter(Stream stream, bool ownsStream = true)
    {
        _stream = stream;
        _ownsStream = ownsStream;
        _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = true, Indented = false });
    }

    public long Count { get; private set; }

    public void OnOutcome(in AccessOutcome o)
    {
        var j = _json;
        j.WriteStartObject();
        j.WriteNumber("line"u8, o.Line);
        j.WriteString("op"u8, OpName(o.Op));
        if (o.Op == TraceOp.Dump)
        {
            WriteHex("pa"u8, o.Pa);
            WriteHex("value"u8, o.Value);
        }
        else
        {
            WriteHex("va"u8, o.Va);
            j.WriteNumber("el"u8, o.El);
            if (o.Op == TraceOp.At)
            {
                j.WriteString("at"u8, AtName(o.At));
                WriteHex("par"u8, o.Par);
            }
            else
            {
                if (!o.IsFault)
                {
                    WriteHex("pa"u8, o.Pa);
                }
                if (o.HasIpa)
                {
                    WriteHex("ipa"u8, o.Ipa);
                }
                j.WriteNumber("cycles"u8, o.Cycles);
                if (o.IsFault)
                {
                    WriteFault(in o);
                }
            }
        }
        j.WriteEndObject();
        j.Flush();
        j.Reset(); // one JSON document per line: no separator between objects
        _buffer.GetSpan(1)[0] = (byte)'\n';
        _buffer.Advance(1);
        if (_buffer.WrittenCount >= BlockBytes)
        {
            Drain();
        }
        Count++;
    }

    private void WriteFault(in AccessOutcome o)
    {
        var j = _json;
        j.WriteStartObject("fault"u8);
        j.WriteString("type"u8, FaultTypeName(o.Fault.Type));
        j.WriteNumber("stage"u8, o.Fault.Stage);
        j.WriteNumber("level"u8, o.Fault.Level);
        j.WriteBoolean("s1ptw"u8, o.Fault.S1Ptw);
        j.WriteNumber("target_el"u8, o.TargetEl);
        WriteHex("esr"u8, o.Esr);
        WriteHex("far"u8, o.Far);
        if (o.HasHpfar)
        {
            WriteHex("hpfar"u8, o.Hpfar);
        }
        j.WriteEndObject();
    }

    private void WriteHex(ReadOnlySpan<byte> name, ulong value)
    {
        Span<byte> buf = stackalloc byte[18];
        buf[0] = (byte)'0';
        buf[1] = (byte)'x';
        value.TryFormat(buf[2..], out int n, "x");
        _json.WriteString(name, buf[..(n + 2)]);
    }

    public static ReadOnlySpan<byte> OpName(TraceOp op) => op switch
    {
        TraceOp.Read => "R"u8,
        TraceOp.Write => "W"u8,
        TraceOp.Fetch => "X"u8,
        TraceOp.At => "at"u8,
        _ => "dump"u8,
    };

    public static ReadOnlySpan<byte> FaultTypeName(FaultType t) => t switch
    {
        FaultType.Translation => "translation"u8,
        FaultType.AddressSize => "address_size"u8,
        FaultType.AccessFlag => "access_flag"u8,
        FaultType.Permission => "permission"u8,
        _ => "external_walk"u8,
    };

    private static readonly byte[][] AtNames = Enum.GetNames<AtOp>().Select(System.Text.Encoding.ASCII.GetBytes).ToArray();

    public static ReadOnlySpan<byte> AtName(AtOp op) => AtNames[(int)op];

    private void Drain()
    {
        _stream.Write(_buffer.WrittenSpan);
        _buffer.ResetWrittenCount();
    }

    public void Flush()
    {
        _json.Flush();
        Drain();
        _stream.Flush();
    }

    public void Dispose()
    {
        Flush();
        _json.Dispose();
        if (_ownsStream)
        {
            _stream.Dispose();
        }
    }
}
