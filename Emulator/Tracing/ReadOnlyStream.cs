namespace MmuSim.Tracing;

/// <summary>
/// The plumbing every read-only, forward-only wrapper stream of the input stack shares (counting, sniffed prefix,
/// gzip trailer check, xz errors, non-closing): no seeking, no writing, reads by span, and the wrapped stream
/// disposed with the wrapper when it is owned.
/// </summary>
internal abstract class ReadOnlyStream(Stream inner, bool ownsInner = true) : Stream
{
    /// <summary>The wrapped stream.</summary>
    protected Stream Inner { get; } = inner;

    public abstract override int Read(Span<byte> buffer);

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <summary>Synchronous by default; wrappers over an asynchronous source override it.</summary>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => new(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    /// <summary>Bytes read so far, for wrappers that count them (the xz decoder asks for Position).</summary>
    protected virtual long BytesRead => throw new NotSupportedException();

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && ownsInner)
        {
            Inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
