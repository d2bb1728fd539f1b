using System.Buffers;
using System.IO.Pipelines;

namespace MmuSim.Tests.Support;

/// <summary>
/// A <see cref="PipeReader"/> that hands its input over in the chunks it was given, each chunk in a segment of its own:
/// every ReadAsync adds one chunk, and what was not consumed stays in the earlier segments, so a line or record that
/// crosses a chunk boundary reaches the parser split across segments.
/// </summary>
public sealed class SegmentedPipeReader : PipeReader
{
    private readonly byte[][] _chunks;
    private int _next;
    private Segment? _first;
    private Segment? _last;
    private SequencePosition _consumed;
    private bool _hasConsumed;

    public SegmentedPipeReader(params byte[][] chunks) => _chunks = chunks;

    /// <summary>Splits <paramref name="data"/> at <paramref name="at"/> into two chunks.</summary>
    public static SegmentedPipeReader SplitAt(byte[] data, int at) => new(data[..at], data[at..]);

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public void SetNext(Segment next) => Next = next;
    }

    private ReadOnlySequence<byte> Current()
    {
        if (_first is null)
        {
            return ReadOnlySequence<byte>.Empty;
        }
        var all = new ReadOnlySequence<byte>(_first, 0, _last!, _last!.Memory.Length);
        return _hasConsumed ? all.Slice(_consumed) : all;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        while (_next < _chunks.Length)
        {
            var chunk = _chunks[_next++];
            if (chunk.Length == 0)
            {
                continue;
            }
            var seg = new Segment(chunk, _last is null ? 0 : _last.RunningIndex + _last.Memory.Length);
            if (_last is null)
            {
                _first = seg;
            }
            else
            {
                _last.SetNext(seg);
            }
            _last = seg;
            break;
        }
        return new ValueTask<ReadResult>(new ReadResult(Current(), false, _next >= _chunks.Length));
    }

    public override bool TryRead(out ReadResult result)
    {
        result = new ReadResult(Current(), false, _next >= _chunks.Length);
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        _consumed = consumed;
        _hasConsumed = true;
    }

    public override void CancelPendingRead()
    {
    }

    public override void Complete(Exception? exception = null)
    {
    }
}
