using System.Buffers;
using System.Text.Json;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Reporting;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Tests.Reporting;

/// <summary>
/// The results writer as it was built on System.Text.Json's Utf8JsonWriter: the oracle for the hand-formatted
/// <see cref="ResultWriter"/>, which must write the same bytes for every kind of outcome.
/// </summary>
public sealed class ReferenceResultWriter : IOutcomeSink, IDisposable
{
    private const int BlockBytes = 1 << 16;

    private readonly Stream _stream;
    private readonly ArrayBufferWriter<byte> _buffer = new(BlockBytes + 1024);
    private readonly Utf8JsonWriter _json;
    private readonly bool _ownsStream;

    public ReferenceResultWriter(Stream stream, bool ownsStream = true)
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
        if (o.Op == ResultOp.Dump)
        {
            WriteHex("pa"u8, o.Pa);
            WriteHex("value"u8, o.Value);
        }
        else
        {
            WriteHex("va"u8, o.Va);
            j.WriteNumber("el"u8, o.El);
            if (o.Unpriv)
            {
                j.WriteBoolean("unpriv"u8, true);
            }
            if (o.Op == ResultOp.At)
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
        if (o.Fault.HasLevel)
        {
            j.WriteNumber("level"u8, o.Fault.Level);
        }
        else
        {
            j.WriteNull("level"u8);
        }
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

    private static ReadOnlySpan<byte> OpName(ResultOp op) => ResultWriter.OpName(op);

    private static ReadOnlySpan<byte> FaultTypeName(FaultType t) => ResultWriter.FaultTypeName(t);

    private static ReadOnlySpan<byte> AtName(AtOp op) => ResultWriter.AtName(op);

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
