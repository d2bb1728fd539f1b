using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Reporting;

/// <summary>
/// Writes results as JSON Lines in the spec's Results schema (docs/trace-format.md): one object per
/// R/W/X/at/dump line, 64-bit values as lower-case hex strings, keys in a fixed order. Every key and string value
/// is one of a fixed set of ASCII names or a hex number, so nothing ever needs escaping: each line is formatted
/// straight into an in-memory buffer that goes to the stream in 64 KiB blocks (no allocation per result). A general
/// JSON writer validated and escaped every token and cost about 0.7 µs a line; the tests keep it as the oracle
/// these bytes must equal.
/// </summary>
public sealed class ResultWriter : IOutcomeSink, IDisposable
{
    private const int BlockBytes = 1 << 16;
    /// <summary>More than the longest line (a faulting access with every field at its widest is under 300 bytes).</summary>
    private const int MaxLineBytes = 512;

    private readonly Stream _stream;
    private readonly byte[] _buffer = new byte[BlockBytes + MaxLineBytes];
    private int _used;
    private readonly bool _ownsStream;

    public ResultWriter(Stream stream, bool ownsStream = true)
    {
        _stream = stream;
        _ownsStream = ownsStream;
    }

    public long Count { get; private set; }

    public void OnOutcome(in AccessOutcome o)
    {
        var line = new LineBuilder(_buffer.AsSpan(_used, MaxLineBytes));
        line.Raw("{\"line\":"u8);
        line.Decimal(o.Line);
        line.Raw(",\"op\":\""u8);
        line.Raw(OpName(o.Op));
        line.Raw("\""u8);
        if (o.Op == ResultOp.Dump)
        {
            line.Hex(",\"pa\":\"0x"u8, o.Pa);
            line.Hex(",\"value\":\"0x"u8, o.Value);
        }
        else
        {
            line.Hex(",\"va\":\"0x"u8, o.Va);
            line.Raw(",\"el\":"u8);
            line.Decimal(o.El);
            if (o.HasCpu)
            {
                line.Raw(",\"cpu\":"u8);
                line.Decimal(o.Cpu);
            }
            if (o.Unpriv)
            {
                line.Raw(",\"unpriv\":true"u8);
            }
            if (o.Op == ResultOp.At)
            {
                line.Raw(",\"at\":\""u8);
                line.Raw(AtName(o.At));
                line.Raw("\""u8);
                line.Hex(",\"par\":\"0x"u8, o.Par);
            }
            else
            {
                if (!o.IsFault)
                {
                    line.Hex(",\"pa\":\"0x"u8, o.Pa);
                }
                if (o.HasIpa)
                {
                    line.Hex(",\"ipa\":\"0x"u8, o.Ipa);
                }
                line.Raw(",\"cycles\":"u8);
                line.Decimal(o.Cycles);
                if (o.Timed)
                {
                    line.Raw(",\"issue\":"u8);
                    line.Decimal(o.Issue);
                    line.Raw(",\"complete\":"u8);
                    line.Decimal(o.Complete);
                }
                if (o.IsFault)
                {
                    WriteFault(ref line, in o);
                }
            }
        }
        line.Raw("}\n"u8);
        _used += line.Length;
        if (_used >= BlockBytes)
        {
            Drain();
        }
        Count++;
    }

    private static void WriteFault(ref LineBuilder line, in AccessOutcome o)
    {
        line.Raw(",\"fault\":{\"type\":\""u8);
        line.Raw(FaultTypeName(o.Fault.Type));
        line.Raw("\",\"stage\":"u8);
        line.Decimal(o.Fault.Stage);
        line.Raw(",\"level\":"u8);
        if (o.Fault.HasLevel)
        {
            line.Decimal(o.Fault.Level);
        }
        else
        {
            line.Raw("null"u8);
        }
        line.Raw(o.Fault.S1Ptw ? ",\"s1ptw\":true"u8 : ",\"s1ptw\":false"u8);
        line.Raw(",\"target_el\":"u8);
        line.Decimal(o.TargetEl);
        line.Hex(",\"esr\":\"0x"u8, o.Esr);
        line.Hex(",\"far\":\"0x"u8, o.Far);
        if (o.HasHpfar)
        {
            line.Hex(",\"hpfar\":\"0x"u8, o.Hpfar);
        }
        line.Raw("}"u8);
    }

    /// <summary>Appends to one line's span; the span is sized for the longest line, so nothing is checked twice.</summary>
    private ref struct LineBuilder(Span<byte> span)
    {
        private readonly Span<byte> _span = span;

        public int Length { get; private set; }

        public void Raw(ReadOnlySpan<byte> text)
        {
            text.CopyTo(_span[Length..]);
            Length += text.Length;
        }

        public void Decimal(long value)
        {
            value.TryFormat(_span[Length..], out int n, default, System.Globalization.CultureInfo.InvariantCulture);
            Length += n;
        }

        /// <summary><paramref name="prefix"/> (which opens the string with "0x"), lower-case hex digits, the closing quote.</summary>
        public void Hex(ReadOnlySpan<byte> prefix, ulong value)
        {
            Raw(prefix);
            value.TryFormat(_span[Length..], out int n, "x", System.Globalization.CultureInfo.InvariantCulture);
            Length += n;
            _span[Length++] = (byte)'"';
        }
    }

    public static ReadOnlySpan<byte> OpName(ResultOp op) => op switch
    {
        ResultOp.Read => "R"u8,
        ResultOp.Write => "W"u8,
        ResultOp.Fetch => "X"u8,
        ResultOp.At => "at"u8,
        _ => "dump"u8,
    };

    public static ReadOnlySpan<byte> FaultTypeName(FaultType t) => t switch
    {
        FaultType.Translation => "translation"u8,
        FaultType.AddressSize => "address_size"u8,
        FaultType.AccessFlag => "access_flag"u8,
        FaultType.Permission => "permission"u8,
        FaultType.Alignment => "alignment"u8,
        _ => "external_walk"u8,
    };

    private static readonly byte[][] AtNames = Enum.GetNames<AtOp>().Select(System.Text.Encoding.ASCII.GetBytes).ToArray();

    public static ReadOnlySpan<byte> AtName(AtOp op) => AtNames[(int)op];

    private void Drain()
    {
        _stream.Write(_buffer, 0, _used);
        _used = 0;
    }

    public void Flush()
    {
        Drain();
        _stream.Flush();
    }

    public void Dispose()
    {
        Flush();
        if (_ownsStream)
        {
            _stream.Dispose();
        }
    }
}
