using System.IO.Pipelines;

namespace MmuSim.Tracing;

/// <summary>Runs the parser of an input's format.</summary>
public static class TraceReaders
{
    /// <summary>
    /// Parses <paramref name="input"/> with the reader of its format. Returns its lines (or records). An uncompressed
    /// text or binary file is read directly (<see cref="FileTraceReader"/>, synchronously on this thread) unless
    /// <paramref name="direct"/> is false; everything else streams through a pipe.
    /// </summary>
    public static async ValueTask<long> ParseAsync<THandler>(TraceInput input, THandler handler, ParseOptions? parse = null,
        int bufferSize = 1 << 16, CancellationToken ct = default, bool direct = true)
        where THandler : ITraceHandler
    {
        if (direct && input.CanReadDirect)
        {
            switch (input.Format)
            {
                case TraceFormat.Text:
                    return FileTraceReader.ParseLines(input, default(TextTraceParser.TextLineFormat), handler, parse, ct: ct);
                case TraceFormat.Binary:
                    return FileTraceReader.ParseBinary(input, handler, parse, ct: ct);
            }
        }
        var reader = PipeReader.Create(input.Stream, new StreamPipeReaderOptions(bufferSize: bufferSize, leaveOpen: true));
        return input.Format switch
        {
            TraceFormat.Binary => await BinaryTraceReader.ParseAsync(reader, input.Source, handler, parse, ct).ConfigureAwait(false),
            TraceFormat.Lackey => await LineReader.ParseAsync(reader, input.Source, default(LackeyFormat), handler, parse, ct).ConfigureAwait(false),
            TraceFormat.QemuMem => await LineReader.ParseAsync(reader, input.Source, default(QemuMemFormat), handler, parse, ct).ConfigureAwait(false),
            TraceFormat.ChampSim => await ChampSimReader.ParseAsync(reader, input.Source, handler, ct).ConfigureAwait(false),
            _ => await LineReader.ParseAsync(reader, input.Source, default(TextTraceParser.TextLineFormat), handler, parse, ct).ConfigureAwait(false),
        };
    }
}

/// <summary>Lets a caller keep ownership of a stream handed to <see cref="TraceInput"/>: reads pass through, disposal does not.</summary>
internal sealed class NonClosingStream(Stream source) : ReadOnlyStream(source, ownsInner: false)
{
    public override int Read(Span<byte> buffer) => Inner.Read(buffer);
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => Inner.ReadAsync(buffer, ct);
}
