using MmuSim.Tracing;

namespace MmuSim.Replay;

/// <summary>
/// A trace parsed once and kept in memory, to be replayed many times (a sweep replays one input through many
/// configurations): runs of plain accesses in 16-byte <see cref="PlainAccess"/> form, `mem` words, and every other
/// record, in order, each with its line. A replay of it hands the same calls to the same handlers as a replay of
/// the file (runs stay runs), so its figures are those of the file's replay.
/// </summary>
public sealed class RecordedTrace
{
    private const int ChunkAccesses = 1 << 20;
    private const int ChunkWords = 1 << 18;

    private enum Kind : byte
    {
        Run,
        Words,
        Record,
    }

    /// <summary>One handler call: a run (chunk, start, count, first line), mem words (chunk, start, count, PA, line) or a record.</summary>
    private struct Segment
    {
        public Kind Kind;
        public int Chunk;
        public int Start;
        public int Count;
        public long Line;
        public ulong Pa;
    }

    private readonly List<Segment> _segments = new();
    private readonly List<PlainAccess[]> _accessChunks = new();
    private readonly List<ulong[]> _wordChunks = new();
    private readonly List<TraceRecord> _records = new();
    private int _accessUsed = ChunkAccesses;
    private int _wordUsed = ChunkWords;

    /// <param name="source">The input's name (as errors and summaries name it).</param>
    /// <param name="foreign">A foreign format (lackey, ChampSim, QEMU mem): a replay runs it at EL0 under demand paging.</param>
    private RecordedTrace(string source, bool foreign)
    {
        Source = source;
        IsForeign = foreign;
    }

    public string Source { get; }

    public bool IsForeign { get; }

    /// <summary>Lines the parser read (the summary's line count).</summary>
    public long Lines { get; private set; }

    /// <summary>Malformed lines skipped so far under <see cref="ParseOptions.SkipBadLines"/> (counted across inputs, as a replay counts them).</summary>
    public long BadLines { get; private set; }

    /// <summary>Plain accesses held.</summary>
    public long Accesses { get; private set; }

    /// <summary>
    /// Parses <paramref name="input"/> whole into memory. Malformed input throws as a replay of it would
    /// (<see cref="TraceFormatException"/> with file, line and column), before any configuration runs.
    /// </summary>
    public static async ValueTask<RecordedTrace> RecordAsync(TraceInput input, ParseOptions parse, int bufferSize = 1 << 16, CancellationToken ct = default)
    {
        var trace = new RecordedTrace(input.Source, input.IsForeign);
        trace.Lines = await TraceReaders.ParseAsync(input, new Recorder(trace), parse, bufferSize, ct).ConfigureAwait(false);
        trace.BadLines = parse.BadLines;
        return trace;
    }

    private readonly struct Recorder(RecordedTrace owner) : ITraceHandler
    {
        public void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine) => owner.AddRun(run, firstLine);

        public void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line) => owner.AddWords(pa, words, line);

        public void OnRecord(in TraceRecord record)
        {
            owner._segments.Add(new Segment { Kind = Kind.Record, Start = owner._records.Count, Line = record.Line });
            owner._records.Add(record);
        }
    }

    private void AddRun(ReadOnlySpan<PlainAccess> run, long firstLine)
    {
        while (run.Length != 0)
        {
            if (_accessUsed == ChunkAccesses)
            {
                _accessChunks.Add(new PlainAccess[ChunkAccesses]);
                _accessUsed = 0;
            }
            int n = Math.Min(run.Length, ChunkAccesses - _accessUsed);
            run[..n].CopyTo(_accessChunks[^1].AsSpan(_accessUsed));
            _segments.Add(new Segment { Kind = Kind.Run, Chunk = _accessChunks.Count - 1, Start = _accessUsed, Count = n, Line = firstLine });
            _accessUsed += n;
            Accesses += n;
            firstLine += n;
            run = run[n..];
        }
    }

    private void AddWords(ulong pa, ReadOnlySpan<ulong> words, long line)
    {
        while (words.Length != 0)
        {
            if (_wordUsed == ChunkWords)
            {
                _wordChunks.Add(new ulong[ChunkWords]);
                _wordUsed = 0;
            }
            int n = Math.Min(words.Length, ChunkWords - _wordUsed);
            words[..n].CopyTo(_wordChunks[^1].AsSpan(_wordUsed));
            _segments.Add(new Segment { Kind = Kind.Words, Chunk = _wordChunks.Count - 1, Start = _wordUsed, Count = n, Line = line, Pa = pa });
            _wordUsed += n;
            pa += (ulong)n * 8;
            words = words[n..];
        }
    }

    /// <summary>Hands every recorded call to <paramref name="handler"/>, in order.</summary>
    public void Replay<THandler>(ref THandler handler) where THandler : ITraceHandler
    {
        foreach (var s in System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_segments))
        {
            switch (s.Kind)
            {
                case Kind.Run:
                    handler.OnAccessRun(_accessChunks[s.Chunk].AsSpan(s.Start, s.Count), s.Line);
                    break;
                case Kind.Words:
                    handler.OnMemWords(s.Pa, _wordChunks[s.Chunk].AsSpan(s.Start, s.Count), s.Line);
                    break;
                default:
                    var rec = _records[s.Start];
                    handler.OnRecord(in rec);
                    break;
            }
        }
    }
}
