using System.Runtime.ExceptionServices;

namespace MmuSim.Tracing;

/// <summary>
/// Reads a stream on a thread of its own, a few buffers ahead of the reader: a compressed trace file is decompressed
/// while the replay consumes what came before, so decompression (about as much work as the replay itself for a
/// gzip text trace) overlaps it instead of adding to it. The bytes, the end and an error arrive in the order the
/// wrapped stream gave them: the bytes decompressed before a corruption are read before its error. Used only over
/// regular files, whose reads always return, so that <see cref="Dispose(bool)"/> can wait for the thread.
/// Nothing is allocated per read: the buffers are allocated once and reused.
/// </summary>
internal sealed class ReadAheadStream : ReadOnlyStream
{
    private const int BufferSize = 1 << 18;
    private const int Buffers = 4;

    private readonly byte[][] _buffers = new byte[Buffers][];
    private readonly int[] _lengths = new int[Buffers];
    private readonly ExceptionDispatchInfo?[] _errors = new ExceptionDispatchInfo?[Buffers];
    private readonly object _lock = new(); // Monitor.Wait/PulseAll need a monitor, not a System.Threading.Lock
    private readonly Thread _thread;
    private int _head;
    private int _tail;
    private int _filled;
    private int _offset;
    private bool _stop;

    public ReadAheadStream(Stream source)
        : base(source)
    {
        for (int i = 0; i < Buffers; i++)
        {
            _buffers[i] = new byte[BufferSize];
        }
        _thread = new Thread(Produce) { IsBackground = true, Name = "mmusim read-ahead" };
        _thread.Start();
    }

    private void Produce()
    {
        while (true)
        {
            int slot;
            lock (_lock)
            {
                while (_filled == Buffers && !_stop)
                {
                    Monitor.Wait(_lock);
                }
                if (_stop)
                {
                    return;
                }
                slot = _tail;
            }
            byte[] buffer = _buffers[slot];
            int n = 0;
            ExceptionDispatchInfo? error = null;
            try
            {
                while (n < buffer.Length)
                {
                    int k = Inner.Read(buffer, n, buffer.Length - n);
                    if (k == 0)
                    {
                        break;
                    }
                    n += k;
                }
            }
            catch (Exception e)
            {
                error = ExceptionDispatchInfo.Capture(e);
            }
            lock (_lock)
            {
                _lengths[slot] = n;
                _errors[slot] = error;
                _tail = (slot + 1) % Buffers;
                _filled++;
                Monitor.PulseAll(_lock);
            }
            // A short buffer is the end of the input (or an error): nothing more to read.
            if (n < buffer.Length || error is not null)
            {
                return;
            }
        }
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }
        while (true)
        {
            int slot;
            lock (_lock)
            {
                while (_filled == 0)
                {
                    Monitor.Wait(_lock);
                }
                slot = _head;
            }
            int left = _lengths[slot] - _offset;
            if (left > 0)
            {
                int n = Math.Min(left, buffer.Length);
                _buffers[slot].AsSpan(_offset, n).CopyTo(buffer);
                _offset += n;
                return n;
            }
            // This buffer is used up: its error, the end (a short buffer stays at the head, so every later read
            // sees the same), or the next buffer.
            _errors[slot]?.Throw();
            if (_lengths[slot] < BufferSize)
            {
                return 0;
            }
            lock (_lock)
            {
                _head = (slot + 1) % Buffers;
                _filled--;
                _offset = 0;
                Monitor.PulseAll(_lock);
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            // The thread is stopped before the stream it reads is disposed (a native decoder must not be freed under it).
            lock (_lock)
            {
                _stop = true;
                Monitor.PulseAll(_lock);
            }
            _thread.Join();
        }
        base.Dispose(disposing);
    }
}
