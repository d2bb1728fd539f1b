using System.IO.Pipelines;

namespace MmuSim.Tracing;

/// <summary>The trace formats `replay`, `explain`, `faults` and `convert` read: one member per <see cref="InputFormat"/>.</summary>
public enum TraceFormat : byte
{
    /// <summary>Decide from the magic number, the name and the first lines (<see cref="InputFormats.Detect"/>).</summary>
    Auto,
    /// <summary>The text format (docs/trace-format.md).</summary>
    Text,
    /// <summary>The binary format (docs/binary-format.md).</summary>
    Binary,
    /// <summary>Valgrind lackey `--trace-mem=yes` output.</summary>
    Lackey,
    /// <summary>ChampSim `input_instr` records.</summary>
    ChampSim,
    /// <summary>QEMU TCG `mem` plugin CSV (`print-accesses=true`).</summary>
    QemuMem,
}

/// <summary>
/// One input format: how `--format` names it, how auto-detection recognises it, how it is decoded, and what help and
/// docs/foreign-traces.md say of it. <see cref="InputFormats"/> lists them all; detection, the `--format` values,
/// `convert`, the help text and the docs table (checked by a test) come from that list.
/// </summary>
public abstract class InputFormat
{
    public abstract TraceFormat Id { get; }

    /// <summary>The `--format` value.</summary>
    public abstract string Name { get; }

    /// <summary>Other spellings `--format` accepts.</summary>
    public virtual IReadOnlyList<string> Aliases => [];

    /// <summary>What the format is, for `--help` and the docs table.</summary>
    public abstract string Description { get; }

    /// <summary>How `--format auto` recognises it, for the docs table.</summary>
    public abstract string Recognition { get; }

    /// <summary>Virtual addresses only, from a user-space program: replayed at EL0 of one guest, under demand paging by default.</summary>
    public virtual bool IsForeign => false;

    /// <summary>A text format: the input may begin with a UTF-8 byte order mark, which is not part of line 1.</summary>
    public virtual bool IsText => false;

    /// <summary>Detection, first: the (decompressed) input starts with the format's magic number.</summary>
    public virtual bool HasMagic(ReadOnlySpan<byte> head) => false;

    /// <summary>Detection, second: the input's name says the format.</summary>
    public virtual bool ClaimsName(string name) => false;

    /// <summary>Detection, third: the first bytes are binary content of this format (no magic number).</summary>
    public virtual bool ClaimsBinaryContent(ReadOnlySpan<byte> head) => false;

    /// <summary>Detection, last: the first line that is not blank or a `#` comment (without its line end) is of this format.</summary>
    public virtual bool ClaimsFirstLine(ReadOnlySpan<byte> line) => false;

    /// <summary>True when `convert` can write this format (<see cref="CreateWriter"/>).</summary>
    public virtual bool CanWrite => false;

    /// <summary>A writer of this format for `convert` (owning <paramref name="stream"/>), when <see cref="CanWrite"/>.</summary>
    public virtual TraceWriter CreateWriter(Stream stream) => throw new NotSupportedException($"MmuSim does not write the {Name} format");

    /// <summary>File name endings `convert` writes this format for (without a .gz suffix).</summary>
    public virtual IReadOnlyList<string> Extensions => [];

    /// <summary>
    /// Decodes <paramref name="input"/> to its end, calling <paramref name="handler"/> for each record in order.
    /// Returns the lines (or records) read.
    /// </summary>
    public abstract ValueTask<long> ReadAsync<THandler>(TraceInput input, THandler handler, ParseOptions parse, int bufferSize, bool direct,
        CancellationToken ct)
        where THandler : ITraceHandler;

    /// <summary>
    /// The one way in for every format: an uncompressed file opened by path is read directly
    /// (<see cref="FileTraceReader"/>, synchronously on this thread) unless <paramref name="direct"/> is false;
    /// everything else streams through a pipe (<see cref="TracePipe"/>). Both drive the same decoder.
    /// </summary>
    protected static ValueTask<long> Read<TDecoder, THandler>(TraceInput input, TDecoder decoder, THandler handler, int bufferSize, bool direct,
        CancellationToken ct)
        where TDecoder : ITraceDecoder
        where THandler : ITraceHandler
    {
        if (direct && input.CanReadDirect)
        {
            return new ValueTask<long>(FileTraceReader.Read(input, decoder, handler, ct: ct));
        }
        var reader = PipeReader.Create(input.Stream, new StreamPipeReaderOptions(bufferSize: bufferSize, leaveOpen: true));
        return TracePipe.ReadAsync(reader, decoder, handler, ct);
    }
}

/// <summary>The registry of input formats.</summary>
public static class InputFormats
{
    public static InputFormat Text { get; } = new TextInputFormat();

    public static InputFormat Binary { get; } = new BinaryInputFormat();

    /// <summary>Every format, in the order help and docs list them (detection asks them in this order too).</summary>
    public static IReadOnlyList<InputFormat> All { get; } =
        [Text, Binary, new LackeyInputFormat(), new ChampSimInputFormat(), new QemuMemInputFormat()];

    /// <summary>What detection decides when no format claims an input.</summary>
    public static InputFormat Fallback => Text;

    /// <summary>The format of <paramref name="id"/> (not <see cref="TraceFormat.Auto"/>).</summary>
    public static InputFormat Of(TraceFormat id)
    {
        foreach (var f in All)
        {
            if (f.Id == id)
            {
                return f;
            }
        }
        throw new ArgumentOutOfRangeException(nameof(id), id, "no input format");
    }

    /// <summary>Parses a `--format` value: `auto`, a format's name or one of its aliases, in any case.</summary>
    public static bool TryParse(string name, out TraceFormat id)
    {
        id = TraceFormat.Auto;
        if (name.Equals("auto", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        foreach (var f in All)
        {
            if (name.Equals(f.Name, StringComparison.OrdinalIgnoreCase) || f.Aliases.Any(a => name.Equals(a, StringComparison.OrdinalIgnoreCase)))
            {
                id = f.Id;
                return true;
            }
        }
        return false;
    }

    /// <summary>The `--format` values: `auto` and every format's name.</summary>
    public static IEnumerable<string> OptionValues => All.Select(f => f.Name).Prepend("auto");

    /// <summary>The `--format` option's help text.</summary>
    public static string OptionHelp =>
        "Input format: auto (decided per input from the magic number, the name and the first lines), or "
        + string.Join(", ", All.Select(f => $"{f.Name} ({f.Description})")) + ".";

    /// <summary>
    /// Decides the format of decompressed bytes (<paramref name="head"/>: the first <see cref="TraceInput.SniffBytes"/>
    /// or fewer, after a byte order mark): a magic number, then the name, then binary content, then the first line
    /// that carries something, each format asked in turn; <see cref="Fallback"/> when none claims it.
    /// </summary>
    public static InputFormat Detect(ReadOnlySpan<byte> head, string name)
    {
        foreach (var f in All)
        {
            if (f.HasMagic(head))
            {
                return f;
            }
        }
        foreach (var f in All)
        {
            if (f.ClaimsName(name))
            {
                return f;
            }
        }
        foreach (var f in All)
        {
            if (f.ClaimsBinaryContent(head))
            {
                return f;
            }
        }
        while (!head.IsEmpty)
        {
            int nl = head.IndexOf((byte)'\n');
            var line = (nl >= 0 ? head[..nl] : head).TrimEnd((byte)'\r');
            head = nl >= 0 ? head[(nl + 1)..] : default;
            if (line.IsEmpty || line[0] == (byte)'#')
            {
                continue;
            }
            foreach (var f in All)
            {
                if (f.ClaimsFirstLine(line))
                {
                    return f;
                }
            }
            break;
        }
        return Fallback;
    }
}

/// <summary>Runs the decoder of an input's format.</summary>
public static class TraceReaders
{
    /// <summary>
    /// Parses <paramref name="input"/> with the decoder of its format (<see cref="InputFormat.ReadAsync"/>). Returns its
    /// lines (or records). An uncompressed file opened by path is read directly (<see cref="FileTraceReader"/>,
    /// synchronously on this thread) unless <paramref name="direct"/> is false; everything else streams through a pipe.
    /// </summary>
    public static ValueTask<long> ParseAsync<THandler>(TraceInput input, THandler handler, ParseOptions? parse = null,
        int bufferSize = 1 << 16, CancellationToken ct = default, bool direct = true)
        where THandler : ITraceHandler =>
        input.InputFormat.ReadAsync(input, handler, parse ?? ParseOptions.Strict, bufferSize, direct, ct);
}
