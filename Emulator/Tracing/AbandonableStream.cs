namespace MmuSim.Tracing;

/// <summary>
/// Standard input whose pending read a cancellation abandons: a read from a pipe or terminal cannot itself be
/// cancelled, so a replay waiting for more input would not see SIGINT/SIGTERM until the writer sent more or closed
/// the pipe. The abandoned read is left to the operating system; the process is about to end.
/// </summary>
internal sealed class AbandonableStream(Stream inner) : ReadOnlyStream(inner, ownsInner: true)
{
    private byte[]? _own;

    public override int Read(Span<byte> buffer) => Inner.Read(buffer);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (!ct.CanBeCanceled)
        {
            return await Inner.ReadAsync(buffer, CancellationToken.None).ConfigureAwait(false);
        }
        // Read into a buffer of its own, so an abandoned read can never write into memory the caller reuses.
        if (_own is null || _own.Length < buffer.Length)
        {
            _own = new byte[buffer.Length];
        }
        byte[] own = _own;
        _own = null; // until the read completes: an abandoned one keeps it
        int n = await Inner.ReadAsync(own.AsMemory(0, buffer.Length), CancellationToken.None).AsTask().WaitAsync(ct).ConfigureAwait(false);
        own.AsSpan(0, n).CopyTo(buffer.Span);
        _own = own;
        return n;
    }
}
