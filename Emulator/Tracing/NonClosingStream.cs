namespace MmuSim.Tracing;

/// <summary>Lets a caller keep ownership of a stream handed to <see cref="TraceInput"/>: reads pass through, disposal does not.</summary>
internal sealed class NonClosingStream(Stream source) : ReadOnlyStream(source, ownsInner: false)
{
    public override int Read(Span<byte> buffer) => Inner.Read(buffer);
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => Inner.ReadAsync(buffer, ct);
}
