using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace MmuSim.Tracing;

/// <summary>
/// A line-oriented trace format: parses one line (without its '\n') and emits its records. Implemented by structs so
/// that <see cref="LineReader"/> is specialised per format and per handler (no virtual calls, no allocation).
/// </summary>
public interface ILineFormat
{
    void ParseLine<THandler>(ReadOnlySpan<byte> text, string source, long line, ref THandler handler)
        where THandler : ITraceHandler;

    /// <summary>
    /// Parses the run of lines at the start of <paramref name="span"/> that the format's fast path accepts (each
    /// one complete, with its '\n'), without looking for the line ends first; stops at the first other line, which
    /// the reader then hands to <see cref="ParseLine"/>. Never throws: errors are the general path's to report.
    /// </summary>
    /// <returns>The bytes consumed; <paramref name="line"/> is advanced by the lines parsed.</returns>
    int ParseRun<THandler>(ReadOnlySpan<byte> span, ref long line, ref THandler handler)
        where THandler : ITraceHandler;
}

/// <summary>
/// Splits buffered bytes into lines, Kestrel-style (the decoding step of <see cref="LineDecoder{TFormat}"/>): a
/// synchronous loop hands every complete line to the format (the current segment's span when the line lies in one
/// segment, a copy into a pooled scratch buffer when it straddles segments) and leaves a partial line unconsumed until
/// more bytes arrive. Nothing is allocated per line.
/// </summary>
public static class LineReader
{
    /// <summary>
    /// A line longer than this is malformed: a file without '\n' must not make the pipe buffer grow without bound.
    /// (16 MiB holds a `mem` line of about 900,000 words; table dumps write one line per table, 512 to 8192 words.)
    /// </summary>
    public const int MaxLineLength = 16 << 20;

    /// <summary>Parses a whole stream of lines, calling <paramref name="handler"/> for each record in order.</summary>
    /// <returns>The number of lines read.</returns>
    public static ValueTask<long> ParseAsync<TFormat, THandler>(PipeReader reader, string source, TFormat format, THandler handler,
        ParseOptions? options = null, CancellationToken ct = default)
        where TFormat : ILineFormat
        where THandler : ITraceHandler =>
        TracePipe.ReadAsync(reader, new LineDecoder<TFormat>(source, options ?? ParseOptions.Strict, format), handler, ct);

    /// <summary>Parses every complete line of <paramref name="buffer"/>, and the final unterminated one when <paramref name="final"/>.</summary>
    /// <returns>The position after the last line consumed.</returns>
    public static SequencePosition ParseLines<TFormat, THandler>(ref ReadOnlySequence<byte> buffer, ref LineState state,
        ref TFormat format, ref THandler handler, bool final)
        where TFormat : ILineFormat
        where THandler : ITraceHandler
    {
        var reader = new SequenceReader<byte>(buffer);
        while (true)
        {
            // Fast path: every line that lies within the current segment, with one Advance for all of them.
            int done = CompleteLines(reader.UnreadSpan, ref state, ref format, ref handler);
            if (done > 0)
            {
                reader.Advance(done);
                continue;
            }
            if (reader.TryReadTo(out ReadOnlySequence<byte> straddling, (byte)'\n'))
            {
                state.Line++;
                Dispatch(state.Flatten(straddling), ref state, ref format, ref handler);
                continue;
            }
            if (reader.Remaining > MaxLineLength)
            {
                throw new TraceFormatException(state.Source, state.Line + 1, 1, $"line is longer than {MaxLineLength} bytes");
            }
            if (final && !reader.End)
            {
                state.Line++;
                var rest = reader.UnreadSequence;
                Dispatch(rest.IsSingleSegment ? rest.FirstSpan : state.Flatten(rest), ref state, ref format, ref handler);
                reader.AdvanceToEnd();
            }
            return reader.Position;
        }
    }

    /// <summary>
    /// Parses every complete line of one contiguous span (the format's run first, then line by line), leaving the
    /// partial line at its end.
    /// </summary>
    /// <returns>The bytes consumed: up to and including the last '\n' of <paramref name="span"/>.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int CompleteLines<TFormat, THandler>(ReadOnlySpan<byte> span, ref LineState state, ref TFormat format, ref THandler handler)
        where TFormat : ILineFormat
        where THandler : ITraceHandler
    {
        int done = 0;
        while (true)
        {
            done += format.ParseRun(span[done..], ref state.Line, ref handler);
            int i = span[done..].IndexOf((byte)'\n');
            if (i < 0)
            {
                return done;
            }
            state.Line++;
            Dispatch(span.Slice(done, i), ref state, ref format, ref handler);
            done += i + 1;
        }
    }

    /// <summary>
    /// Parses the lines of a contiguous span: every complete line, then (when <paramref name="final"/>) the last
    /// one without its '\n'. A partial line longer than <see cref="MaxLineLength"/> is an error, as in
    /// <see cref="ParseLines"/>. (For a parse of memory that is not a sequence: Perf's memory-mapped file.)
    /// </summary>
    /// <returns>The bytes consumed (all of them when <paramref name="final"/>).</returns>
    internal static int ParseSpan<TFormat, THandler>(ReadOnlySpan<byte> span, ref LineState state, ref TFormat format, ref THandler handler, bool final)
        where TFormat : ILineFormat
        where THandler : ITraceHandler
    {
        int done = CompleteLines(span, ref state, ref format, ref handler);
        int rest = span.Length - done;
        if (rest > MaxLineLength)
        {
            throw new TraceFormatException(state.Source, state.Line + 1, 1, $"line is longer than {MaxLineLength} bytes");
        }
        if (final && rest > 0)
        {
            state.Line++;
            Dispatch(span[done..], ref state, ref format, ref handler);
            done = span.Length;
        }
        return done;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dispatch<TFormat, THandler>(ReadOnlySpan<byte> line, ref LineState state, ref TFormat format, ref THandler handler)
        where TFormat : ILineFormat
        where THandler : ITraceHandler
    {
        if (state.Options.SkipBadLines)
        {
            DispatchSkipping(line, ref state, ref format, ref handler);
        }
        else
        {
            format.ParseLine(line, state.Source, state.Line, ref handler);
        }
    }

    /// <summary>The --skip-bad-lines path: kept out of line so the strict path has no exception frame.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void DispatchSkipping<TFormat, THandler>(ReadOnlySpan<byte> line, ref LineState state, ref TFormat format, ref THandler handler)
        where TFormat : ILineFormat
        where THandler : ITraceHandler
    {
        try
        {
            format.ParseLine(line, state.Source, state.Line, ref handler);
        }
        catch (TraceFormatException e)
        {
            state.Options.Skipped(e);
        }
    }
}

/// <summary>What a line reader carries from one buffer to the next: position, options and the straddling-line scratch.</summary>
public struct LineState : IDisposable
{
    private byte[] _scratch;

    public LineState(string source, ParseOptions options)
    {
        Source = source;
        Options = options;
        _scratch = ArrayPool<byte>.Shared.Rent(256);
    }

    public string Source { get; }
    public ParseOptions Options { get; }

    /// <summary>Lines read so far (the 1-based number of the last one).</summary>
    public long Line;

    /// <summary>A contiguous view of a line that straddles segments (copied into a reused buffer).</summary>
    public ReadOnlySpan<byte> Flatten(in ReadOnlySequence<byte> seq)
    {
        if (seq.IsSingleSegment)
        {
            return seq.FirstSpan;
        }
        if (seq.Length > _scratch.Length)
        {
            ArrayPool<byte>.Shared.Return(_scratch);
            _scratch = ArrayPool<byte>.Shared.Rent((int)seq.Length);
        }
        seq.CopyTo(_scratch);
        return _scratch.AsSpan(0, (int)seq.Length);
    }

    public void Dispose()
    {
        if (_scratch is not null)
        {
            ArrayPool<byte>.Shared.Return(_scratch);
            _scratch = null!;
        }
    }
}
