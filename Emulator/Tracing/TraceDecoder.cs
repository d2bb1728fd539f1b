using System.Buffers;
using System.IO.Pipelines;

namespace MmuSim.Tracing;

/// <summary>
/// One format's decoder over buffered bytes, Kestrel-style: synchronous, it decodes every complete line or record of
/// the bytes it is handed and leaves a partial one unconsumed until more arrive. Implemented by structs (one per
/// format: <see cref="LineDecoder{TFormat}"/>, <see cref="BinaryTraceReader.Decoder"/>, <see cref="ChampSimReader.Decoder"/>)
/// so that the one read loop of each kind (<see cref="TracePipe"/> for streams, <see cref="FileTraceReader"/> for files
/// read by path) is specialised per format and per handler: no virtual call, no allocation per line or record.
/// </summary>
public interface ITraceDecoder : IDisposable
{
    /// <summary>
    /// Decodes every complete line or record of <paramref name="buffer"/>; when <paramref name="final"/> (no more bytes
    /// will come) also the last unterminated line, or reports a partial record as truncated.
    /// </summary>
    /// <returns>The position after the last byte consumed.</returns>
    SequencePosition Decode<THandler>(ref ReadOnlySequence<byte> buffer, ref THandler handler, bool final)
        where THandler : ITraceHandler;

    /// <summary>Lines (or records) read so far.</summary>
    long Count { get; }

    /// <summary>Smallest read buffer the direct file reader may use (two of the format's fixed-size records; 1 for lines).</summary>
    int MinimumBlock { get; }

    /// <summary>
    /// Largest buffer the direct file reader may grow to for one line (<see cref="LineReader.MaxLineLength"/> + 1), or 0
    /// when nothing left unconsumed is ever longer than a record (the buffer then never grows).
    /// </summary>
    int MaximumBlock { get; }
}

/// <summary>The read loop of every format over a stream: a <see cref="PipeReader"/> and a <see cref="ITraceDecoder"/>.</summary>
public static class TracePipe
{
    /// <summary>
    /// Reads <paramref name="reader"/> to its end through <paramref name="decoder"/>: the loop only reads, hands the
    /// buffered bytes to the decoder and calls AdvanceTo once per read, in finally. Returns the lines (or records) read.
    /// </summary>
    public static async ValueTask<long> ReadAsync<TDecoder, THandler>(PipeReader reader, TDecoder decoder, THandler handler,
        CancellationToken ct = default)
        where TDecoder : ITraceDecoder
        where THandler : ITraceHandler
    {
        try
        {
            while (true)
            {
                ReadResult read = await reader.ReadAsync(ct).ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = read.Buffer;
                SequencePosition consumed = buffer.Start;
                try
                {
                    consumed = decoder.Decode(ref buffer, ref handler, read.IsCompleted);
                }
                finally
                {
                    reader.AdvanceTo(consumed, buffer.End);
                }
                if (read.IsCompleted)
                {
                    break;
                }
            }
        }
        finally
        {
            decoder.Dispose();
            await reader.CompleteAsync().ConfigureAwait(false);
        }
        return decoder.Count;
    }
}

/// <summary>The decoder of a line-oriented format: <see cref="LineReader"/> over one <see cref="ILineFormat"/>.</summary>
public struct LineDecoder<TFormat>(string source, ParseOptions options, TFormat format) : ITraceDecoder
    where TFormat : ILineFormat
{
    private LineState _state = new(source, options);
    private TFormat _format = format;

    public readonly long Count => _state.Line;

    public readonly int MinimumBlock => 1;

    public readonly int MaximumBlock => LineReader.MaxLineLength + 1;

    public SequencePosition Decode<THandler>(ref ReadOnlySequence<byte> buffer, ref THandler handler, bool final)
        where THandler : ITraceHandler =>
        LineReader.ParseLines(ref buffer, ref _state, ref _format, ref handler, final);

    public void Dispose() => _state.Dispose();
}
