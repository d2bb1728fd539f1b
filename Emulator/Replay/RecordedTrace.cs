using System.Runtime.CompilerServices;
using MmuSim.Memory;
using MmuSim.Tracing;

namespace MmuSim.Replay;

/// <summary>
/// A trace parsed once and kept in memory, to be replayed many times (a sweep replays one input through many
/// configurations): runs of plain accesses in 16-byte <see cref="PlainAccess"/> form, `mem` words, and every other
/// record, in order, each with its line. A replay of it hands the same calls to the same handlers as a replay of
/// the file (a run may be split where a chunk ends, which replays the same), so its figures are those of the file's
/// replay.
/// </summary>
/// <remarks>
/// Replays may start while the input is still being parsed (<see cref="Begin"/>, then <see cref="FillAsync"/> on
/// another thread): a replay that catches up with the parser waits for the next call it records, so a sweep's
/// first runs overlap the parse instead of following it. One thread fills; any number replay. The parser publishes
/// each call only once its data is written (<see cref="Volatile"/>), and its chunks never move once published.
/// A bounded recording (<see cref="BeginBounded(TraceInput, int, int)"/>) keeps only a ring of chunks: a fixed set
/// of readers reads it once, in parts (<see cref="ReplayPart"/>), and the parser reuses a chunk once they have all
/// left it, so an input of any length holds a few chunks of memory (a streamed sweep, the MRC pass).
/// </remarks>
public sealed class RecordedTrace
{
    private const int DefaultChunkAccesses = 1 << 20;
    private readonly int _chunkAccesses = DefaultChunkAccesses;
    private const int ChunkWords = 1 << 18;
    private const int ChunkRecords = 1 << 10;
    private const int SegmentShift = 12;
    private const int ChunkSegments = 1 << SegmentShift;

    private enum Kind : byte
    {
        Run,
        Words,
        Record,
    }

    /// <summary>One handler call: a run or mem words (its chunk, start, count, first line, PA) or a record (its chunk and index).</summary>
    private struct Segment
    {
        public Kind Kind;
        public int Start;
        public int Count;
        public long Line;
        public ulong Pa;
        /// <summary>The chunk that holds the call's data: a FrameSlab of PlainAccess, a ulong[] or a TraceRecord[].</summary>
        public object Data;
    }

    // Segments in fixed chunks, so that what a replay has read never moves; the outer array is replaced (not
    // changed) when it grows, and published with the count.
    private Segment[][] _segments = new Segment[64][];
    private int _published;
    // Accesses live in native slabs advised for transparent huge pages, not in GC arrays: a sweep records the whole
    // input (320 MB for 20 M accesses), and faulting that in 4 KiB at a time cost more than a run of the sweep
    // (measured: the sweep of the bench `large` trace took 3.7 s with arrays, 2.8-3.3 s with slabs).
    private FrameSlab? _accessChunk;
    private int _accessUsed = int.MaxValue; // no chunk yet
    private ulong[]? _wordChunk;
    private int _wordUsed = ChunkWords;
    private TraceRecord[]? _recordChunk;
    private int _recordUsed = ChunkRecords;

    // A bounded recording (Begin with readers): each reader's position (the calls it has consumed; int.MaxValue once
    // it has left), the full access chunks some reader may still read (with the call count when each was complete),
    // and how many access chunks may be alive at once.
    private readonly int[]? _readers;
    private readonly Queue<(FrameSlab Slab, int End)> _fullChunks = new();
    private readonly int _ringChunks;
    // The call count when the current access chunk was started: a chunk also ends after a quarter of its accesses'
    // number of calls, so that records and one-access runs (lackey: an `inst` record and a run of one per access)
    // count against the ring too; they were held until 2^20 accesses had come (a streamed sort under lackey: 1.1 GB).
    private int _chunkStartCall;
    private int _fillerWaiting;
    private int _freedBlocks;

    private readonly object _gate = new();
    private int _waiting;

    // Waiting replays are woken in batches, not at every call: a lackey input is two calls per access, and waking the
    // replay for each cost a thread switch per call (an mrc of `sort` under lackey took 6.8 s instead of 0.6 s). A
    // waiting replay goes on once WakeCalls calls or WakeWeight accesses and words have come since the last wake,
    // once the parser is about to wait for the replays (a bounded ring full), or at the end of the input.
    private const int WakeCalls = 1024;

    /// <summary>Calls one recording holds at most (about a billion accesses of lackey, two calls each; runs of our formats hold many).</summary>
    internal const int MaxCalls = int.MaxValue - 1;
    private const long WakeWeight = 1 << 16;
    private int _signaledAt;
    private long _sinceSignal;
    private volatile bool _complete;
    private Exception? _failure;

    /// <param name="source">The input's name (as errors and summaries name it).</param>
    /// <param name="foreign">A foreign format (lackey, ChampSim, QEMU mem): a replay runs it at EL0 under demand paging.</param>
    private RecordedTrace(string source, bool foreign, int readers = 0, int ringChunks = 0, int chunkAccesses = DefaultChunkAccesses)
    {
        _chunkAccesses = chunkAccesses;
        Source = source;
        IsForeign = foreign;
        if (readers > 0)
        {
            _readers = new int[readers];
            _ringChunks = Math.Max(2, ringChunks);
        }
    }

    public string Source { get; }

    public bool IsForeign { get; }

    /// <summary>Lines the parser read (the summary's line count); set once the whole input is parsed.</summary>
    public long Lines { get; private set; }

    /// <summary>Malformed lines skipped so far under <see cref="ParseOptions.SkipBadLines"/> (counted across inputs, as a replay counts them).</summary>
    public long BadLines { get; private set; }

    /// <summary>Plain accesses held.</summary>
    public long Accesses { get; private set; }

    /// <summary>Whether the whole input has been parsed.</summary>
    public bool IsComplete => _complete;

    /// <summary>
    /// Parses <paramref name="input"/> whole into memory. Malformed input throws as a replay of it would
    /// (<see cref="TraceFormatException"/> with file, line and column), before any configuration runs.
    /// </summary>
    public static async ValueTask<RecordedTrace> RecordAsync(TraceInput input, ParseOptions parse, int bufferSize = 1 << 16, CancellationToken ct = default)
    {
        var trace = Begin(input);
        await trace.FillAsync(input, parse, bufferSize, ct).ConfigureAwait(false);
        return trace;
    }

    /// <summary>An empty recording of <paramref name="input"/>, to be filled by <see cref="FillAsync"/> while replays of it run.</summary>
    public static RecordedTrace Begin(TraceInput input) => new(input.Source, input.IsForeign);

    /// <summary>
    /// An empty <em>bounded</em> recording of <paramref name="input"/> for exactly <paramref name="readers"/> readers,
    /// each reading it once, in parts (<see cref="ReplayPart"/>): at most <paramref name="ringChunks"/> chunks of
    /// 2^20 accesses are alive at once, the parser waiting (in <see cref="FillAsync"/>) for the slowest reader to
    /// leave the oldest one, which it then reuses. Memory stays the same however long the input is, but every reader
    /// must make progress (or <see cref="Leave"/>) for the parse to end.
    /// </summary>
    public static RecordedTrace BeginBounded(TraceInput input, int readers, int ringChunks = 4) =>
        BeginBounded(input, readers, ringChunks, DefaultChunkAccesses);

    /// <summary><see cref="BeginBounded(TraceInput, int, int)"/> with chunks of <paramref name="chunkAccesses"/> accesses (tests make them small).</summary>
    internal static RecordedTrace BeginBounded(TraceInput input, int readers, int ringChunks, int chunkAccesses)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(readers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkAccesses, 1);
        return new(input.Source, input.IsForeign, readers, ringChunks, chunkAccesses) { _input = input };
    }

    /// <summary>Blocks of calls (4096 each) still held: a bounded recording drops those every reader is past.</summary>
    internal int CallBlocksHeld => Volatile.Read(ref _segments).Count(b => b is not null);

    /// <summary>Access chunks allocated so far (a bounded recording allocates at most its ring's).</summary>
    internal int AccessChunksAllocated { get; private set; }

    private unsafe FrameSlab NewSlab()
    {
        AccessChunksAllocated++;
        return new FrameSlab((nuint)_chunkAccesses * (nuint)sizeof(PlainAccess));
    }

    private TraceInput? _input;

    /// <summary>
    /// How far reader <paramref name="reader"/> of a bounded recording is through the input, 0 to 1 (for a progress
    /// display): the part of the input parsed (its bytes read of its size; 0 when the size is unknown) times the part
    /// of the parsed calls the reader has read.
    /// </summary>
    public double ReadFraction(int reader)
    {
        bool complete = _complete;
        int pos = Volatile.Read(ref _readers![reader]);
        int published = Volatile.Read(ref _published);
        if (pos == int.MaxValue || (complete && pos >= published))
        {
            return 1;
        }
        double parsed = complete ? 1 : _input is { Length: long length and > 0 } i ? Math.Min(1, (double)i.RawBytesRead / length) : 0;
        return published == 0 ? 0 : parsed * pos / published;
    }

    /// <summary>The calls reader <paramref name="reader"/> of a bounded recording has read (int.MaxValue once it has left).</summary>
    public int PositionOf(int reader) => Volatile.Read(ref _readers![reader]);

    /// <summary>Whether this recording keeps only a window of its input (<see cref="BeginBounded"/>).</summary>
    public bool IsBounded => _readers is not null;

    /// <summary>
    /// Parses <paramref name="input"/> into this recording, publishing each call as it is parsed. Malformed input
    /// throws as a replay of it would (<see cref="TraceFormatException"/> with file, line and column); a replay
    /// waiting for more then throws <see cref="RecordingFailedException"/>.
    /// </summary>
    public async ValueTask FillAsync(TraceInput input, ParseOptions parse, int bufferSize = 1 << 16, CancellationToken ct = default)
    {
        try
        {
            long lines = await TraceReaders.ParseAsync(input, new Recorder(this), parse, bufferSize, ct).ConfigureAwait(false);
            lock (_gate)
            {
                Lines = lines;
                BadLines = parse.BadLines;
                _complete = true;
                Monitor.PulseAll(_gate);
            }
        }
        catch (Exception e)
        {
            Fail(e);
            throw;
        }
    }

    /// <summary>
    /// Ends a recording that will not be filled (its parse, or an earlier input's, failed with <paramref name="cause"/>):
    /// a replay waiting for more throws <see cref="RecordingFailedException"/>. Nothing once it is complete.
    /// </summary>
    public void Fail(Exception cause)
    {
        lock (_gate)
        {
            if (!_complete)
            {
                _failure = cause;
                _complete = true;
                Monitor.PulseAll(_gate);
            }
        }
    }

    private readonly struct Recorder(RecordedTrace owner) : ITraceHandler
    {
        public void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine) => owner.AddRun(run, firstLine);

        public void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line) => owner.AddWords(pa, words, line);

        public void OnRecord(in TraceRecord record) => owner.AddRecord(record);
    }

    /// <summary>Whether a bounded recording's current chunk has had its share of calls (see <see cref="_chunkStartCall"/>): the next call starts a chunk.</summary>
    private bool ChunkCallsFull => _readers is not null && _published - _chunkStartCall >= Math.Max(1, _chunkAccesses / 4);

    /// <summary>Ends the current chunk of a bounded recording early (its calls are many, its accesses few).</summary>
    private void RotateChunk()
    {
        _accessChunk = NextAccessChunk();
        _accessUsed = 0;
    }

    private unsafe void AddRun(ReadOnlySpan<PlainAccess> run, long firstLine)
    {
        while (run.Length != 0)
        {
            if (_accessUsed >= _chunkAccesses || ChunkCallsFull)
            {
                _accessChunk = NextAccessChunk();
                _accessUsed = 0;
            }
            int n = Math.Min(run.Length, _chunkAccesses - _accessUsed);
            run[..n].CopyTo(new Span<PlainAccess>((PlainAccess*)_accessChunk!.Frames + _accessUsed, n));
            Publish(new Segment { Kind = Kind.Run, Data = _accessChunk!, Start = _accessUsed, Count = n, Line = firstLine });
            _accessUsed += n;
            Accesses += n;
            firstLine += n;
            run = run[n..];
        }
    }

    /// <summary>
    /// A chunk for the next accesses: a new one, or in a bounded recording with its ring full, the oldest once every
    /// reader has left it (waiting for them).
    /// </summary>
    private unsafe FrameSlab NextAccessChunk()
    {
        if (_readers is null)
        {
            return NewSlab();
        }
        _chunkStartCall = _published;
        if (_accessChunk is not null)
        {
            _fullChunks.Enqueue((_accessChunk, _published));
        }
        if (_fullChunks.Count < _ringChunks) // the full chunks are all that is alive: room for one more
        {
            return NewSlab();
        }
        var (slab, end) = _fullChunks.Dequeue();
        WaitForReaders(end);
        // Every reader is past the calls before `end`: the blocks of calls wholly before it are not read again.
        var outer = _segments;
        for (; _freedBlocks < (end >> SegmentShift); _freedBlocks++)
        {
            // Readers only ever index calls at or after their own position: a block wholly before all of them is
            // free to hold later calls.
            if (outer[_freedBlocks] is { } block)
            {
                _spareBlocks.Push(block);
            }
            outer[_freedBlocks] = null!;
        }
        return slab;
    }

    /// <summary>Waits until every reader of a bounded recording has consumed the first <paramref name="end"/> calls (or left).</summary>
    private void WaitForReaders(int end)
    {
        lock (_gate)
        {
            while (true)
            {
                // A full fence: a reader moving on reads _fillerWaiting after writing its position, so one of the two
                // sees the other and no wake-up is lost.
                Interlocked.Exchange(ref _fillerWaiting, 1);
                if (SlowestReader() >= end)
                {
                    Interlocked.Exchange(ref _fillerWaiting, 0);
                    return;
                }
                if (Volatile.Read(ref _signaledAt) != _published)
                {
                    Signal(_published); // the readers must see all there is before the parser waits for them
                }
                Monitor.Wait(_gate);
            }
        }
    }

    /// <summary>Moves reader <paramref name="reader"/> of a bounded recording to <paramref name="position"/>, waking the parser if it waits for readers.</summary>
    private void MoveReader(int reader, int position)
    {
        Interlocked.Exchange(ref _readers![reader], position);
        if (Volatile.Read(ref _fillerWaiting) != 0)
        {
            lock (_gate)
            {
                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>Waits until reader <paramref name="reader"/> of a bounded recording <see cref="CanRead"/> (or has left).</summary>
    public void WaitToRead(int reader)
    {
        if (CanRead(reader))
        {
            return;
        }
        lock (_gate)
        {
            while (true)
            {
                // Counted in _waiting before looking again, as WaitForMore does, so that Publish wakes it.
                Interlocked.Increment(ref _waiting);
                if (CanRead(reader) || Volatile.Read(ref _readers![reader]) == int.MaxValue)
                {
                    Interlocked.Decrement(ref _waiting);
                    return;
                }
                Monitor.Wait(_gate);
                Interlocked.Decrement(ref _waiting);
            }
        }
    }

    /// <summary>Reader <paramref name="reader"/> of a bounded recording reads no further (it ended, or stopped early): the parser no longer waits for it.</summary>
    public void Leave(int reader) => MoveReader(reader, int.MaxValue);

    /// <summary>Whether reader <paramref name="reader"/> of a bounded recording has something to do: calls it has not read, or the end of the input to reach.</summary>
    public bool CanRead(int reader)
    {
        int pos = Volatile.Read(ref _readers![reader]);
        return pos != int.MaxValue && (_complete || pos < Volatile.Read(ref _signaledAt));
    }

    /// <summary>
    /// Hands reader <paramref name="reader"/> of a bounded recording the calls published after those it has read, in
    /// order, until about <paramref name="budget"/> accesses are handed (never splitting a call) or it catches up with
    /// the parser. Returns true once it has read the whole input (then it has left); false when there is more to come.
    /// Never waits. A parse that failed throws <see cref="RecordingFailedException"/> once the reader has caught up.
    /// </summary>
    public unsafe bool ReplayPart<THandler>(ref THandler handler, int reader, long budget) where THandler : ITraceHandler
    {
        int pos = Volatile.Read(ref _readers![reader]);
        if (pos == int.MaxValue)
        {
            return true;
        }
        bool complete = _complete; // read before the count: once complete, the count read after it is the last
        int end = Volatile.Read(ref _published);
        if (pos == end)
        {
            if (!complete)
            {
                return false;
            }
            if (_failure is not null)
            {
                throw new RecordingFailedException(Source, _failure);
            }
            Leave(reader);
            return true;
        }
        var outer = Volatile.Read(ref _segments);
        long handed = 0;
        for (; pos < end && handed < budget; pos++)
        {
            ref readonly Segment s = ref outer[pos >> SegmentShift][pos & (ChunkSegments - 1)];
            switch (s.Kind)
            {
                case Kind.Run:
                    handler.OnAccessRun(new ReadOnlySpan<PlainAccess>((PlainAccess*)Unsafe.As<FrameSlab>(s.Data).Frames + s.Start, s.Count), s.Line);
                    handed += s.Count;
                    break;
                case Kind.Words:
                    handler.OnMemWords(s.Pa, Unsafe.As<ulong[]>(s.Data).AsSpan(s.Start, s.Count), s.Line);
                    handed += s.Count;
                    break;
                default:
                    handler.OnRecord(in Unsafe.As<TraceRecord[]>(s.Data)[s.Start]);
                    handed++;
                    break;
            }
        }
        MoveReader(reader, pos);
        return false;
    }

    private void AddWords(ulong pa, ReadOnlySpan<ulong> words, long line)
    {
        while (words.Length != 0)
        {
            if (ChunkCallsFull)
            {
                RotateChunk();
            }
            if (_wordUsed == ChunkWords)
            {
                _wordChunk = Reuse(_fullWordChunks, _wordChunk) ?? GC.AllocateUninitializedArray<ulong>(ChunkWords);
                _wordUsed = 0;
            }
            int n = Math.Min(words.Length, ChunkWords - _wordUsed);
            words[..n].CopyTo(_wordChunk.AsSpan(_wordUsed));
            Publish(new Segment { Kind = Kind.Words, Data = _wordChunk!, Start = _wordUsed, Count = n, Line = line, Pa = pa });
            _wordUsed += n;
            pa += (ulong)n * 8;
            words = words[n..];
        }
    }

    private void AddRecord(in TraceRecord record)
    {
        if (ChunkCallsFull)
        {
            RotateChunk();
        }
        if (_recordUsed == ChunkRecords)
        {
            _recordChunk = Reuse(_fullRecordChunks, _recordChunk) ?? NewRecordChunk();
            _recordUsed = 0;
        }
        _recordChunk![_recordUsed] = record;
        Publish(new Segment { Kind = Kind.Record, Data = _recordChunk, Start = _recordUsed, Line = record.Line });
        _recordUsed++;
    }

    // A bounded recording reuses what its readers have left: blocks of calls, and chunks of words and records (new
    // arrays for each cost a collection of large objects every few thousand calls on a lackey input, which is two
    // calls per access: most of an mrc pass's time).
    private readonly Stack<Segment[]> _spareBlocks = new();
    private readonly Queue<(ulong[] Chunk, int End)> _fullWordChunks = new();
    private readonly Queue<(TraceRecord[] Chunk, int End)> _fullRecordChunks = new();

    /// <summary>
    /// In a bounded recording, queues the chunk just filled (<paramref name="full"/>, read by the calls before the
    /// current count) and hands back the oldest queued one if every reader has left it; never waits. Null otherwise.
    /// </summary>
    private T[]? Reuse<T>(Queue<(T[] Chunk, int End)> queue, T[]? full)
    {
        if (_readers is null)
        {
            return null;
        }
        if (full is not null)
        {
            queue.Enqueue((full, _published));
        }
        if (queue.TryPeek(out var oldest) && SlowestReader() >= oldest.End)
        {
            return queue.Dequeue().Chunk;
        }
        return null;
    }

    /// <summary>Record chunks (1,024 records each) allocated so far: a bounded recording reuses those its readers left.</summary>
    internal int RecordChunksAllocated { get; private set; }

    /// <summary>Blocks of calls allocated so far: a bounded recording reuses those its readers left.</summary>
    internal int CallBlocksAllocated { get; private set; }

    private TraceRecord[] NewRecordChunk()
    {
        RecordChunksAllocated++;
        return new TraceRecord[ChunkRecords];
    }

    private Segment[] NewBlock()
    {
        CallBlocksAllocated++;
        return new Segment[ChunkSegments];
    }

    private int SlowestReader()
    {
        int slowest = int.MaxValue;
        foreach (ref int r in _readers.AsSpan())
        {
            slowest = Math.Min(slowest, Volatile.Read(ref r));
        }
        return slowest;
    }

    /// <summary>Appends <paramref name="s"/> (its data already written) and lets replays see it.</summary>
    private void Publish(in Segment s)
    {
        int n = _published;
        if (n == MaxCalls)
        {
            // Positions are ints, and int.MaxValue marks a reader that has left: a clear stop, never a wrap-around.
            throw new TraceFormatException(Source, s.Line, 1,
                $"the input is more than {MaxCalls} records and runs long, more than one recording holds (split it, or replay it with mmusim replay)");
        }
        int c = n >> SegmentShift;
        var outer = _segments;
        if (c == outer.Length)
        {
            Array.Resize(ref outer, outer.Length * 2);
            Volatile.Write(ref _segments, outer);
        }
        (outer[c] ??= _spareBlocks.Count != 0 ? _spareBlocks.Pop() : NewBlock())[n & (ChunkSegments - 1)] = s;
        Volatile.Write(ref _published, n + 1);
        _sinceSignal += s.Kind == Kind.Record ? 1 : s.Count;
        if (n + 1 - _signaledAt >= WakeCalls || _sinceSignal >= WakeWeight)
        {
            Signal(n + 1);
        }
    }

    /// <summary>Lets waiting replays read the first <paramref name="count"/> calls (all published), waking them.</summary>
    private void Signal(int count)
    {
        _sinceSignal = 0;
        // A full fence (not only a release): a replay that is about to wait counts itself in _waiting before it
        // reads _signaledAt again, so one of the two always sees the other and no wake-up is lost.
        Interlocked.Exchange(ref _signaledAt, count);
        if (Volatile.Read(ref _waiting) != 0)
        {
            lock (_gate)
            {
                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>
    /// Waits until more than <paramref name="seen"/> calls are published (returns how many) or the input is
    /// parsed to its end (returns <paramref name="seen"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int WaitForMore(int seen)
    {
        lock (_gate)
        {
            while (true)
            {
                Interlocked.Increment(ref _waiting);
                if (Volatile.Read(ref _signaledAt) > seen || _complete)
                {
                    Interlocked.Decrement(ref _waiting);
                    if (_failure is not null)
                    {
                        throw new RecordingFailedException(Source, _failure);
                    }
                    return Volatile.Read(ref _published);
                }
                Monitor.Wait(_gate);
                Interlocked.Decrement(ref _waiting);
            }
        }
    }

    /// <summary>Hands every recorded call to <paramref name="handler"/>, in order (waiting for the parser when it catches up with it).</summary>
    public unsafe void Replay<THandler>(ref THandler handler) where THandler : ITraceHandler
    {
        if (_readers is not null)
        {
            throw new InvalidOperationException("a bounded recording is read in parts (ReplayPart), by its readers");
        }
        int pos = 0;
        while (true)
        {
            int end = Volatile.Read(ref _published);
            if (end == pos)
            {
                end = WaitForMore(pos);
                if (end == pos)
                {
                    return;
                }
            }
            var outer = Volatile.Read(ref _segments);
            for (; pos < end; pos++)
            {
                ref readonly Segment s = ref outer[pos >> SegmentShift][pos & (ChunkSegments - 1)];
                switch (s.Kind)
                {
                    case Kind.Run:
                        handler.OnAccessRun(new ReadOnlySpan<PlainAccess>((PlainAccess*)Unsafe.As<FrameSlab>(s.Data).Frames + s.Start, s.Count), s.Line);
                        break;
                    case Kind.Words:
                        handler.OnMemWords(s.Pa, Unsafe.As<ulong[]>(s.Data).AsSpan(s.Start, s.Count), s.Line);
                        break;
                    default:
                        handler.OnRecord(in Unsafe.As<TraceRecord[]>(s.Data)[s.Start]);
                        break;
                }
            }
        }
    }
}

/// <summary>A replay of a <see cref="RecordedTrace"/> that was waiting for more input found that its parse failed.</summary>
public sealed class RecordingFailedException(string source, Exception inner)
    : Exception($"{source}: the recording this replay was reading stopped: {inner.Message}", inner);
