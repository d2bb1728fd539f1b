using System.Text;
using MmuSim.Replay;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Replay;

/// <summary>
/// <see cref="RecordedTrace"/> replayed while it is being recorded (a sweep's first runs follow the parser): each
/// replay sees exactly the calls of a replay of the finished recording, however the input trickles in; a parse that
/// fails stops the replays waiting for more.
/// </summary>
public sealed class RecordedTraceTests
{
    /// <summary>A stream that hands out a few bytes at a time and yields the thread between reads, so replays catch up with the parser.</summary>
    private sealed class TrickleStream(byte[] data, int chunk) : ReadOnlyStream(Null, ownsInner: false)
    {
        private int _pos;

        protected override long BytesRead => _pos;

        public override int Read(Span<byte> buffer)
        {
            Thread.Yield();
            int n = Math.Min(Math.Min(buffer.Length, chunk), data.Length - _pos);
            data.AsSpan(_pos, n).CopyTo(buffer);
            _pos += n;
            return n;
        }
    }

    /// <summary>Writes down every call, with its data, as one line of text.</summary>
    private struct Transcript(StringBuilder sb) : ITraceHandler
    {
        public readonly void OnRecord(in TraceRecord record) => sb.Append($"rec {record.Line} {record.Op} {record.Address:x} {record.Value:x}\n");

        public readonly void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine)
        {
            sb.Append($"run {firstLine} {run.Length}:");
            foreach (var a in run)
            {
                sb.Append($" {a.Op}{a.Va:x}/{a.Size}");
            }
            sb.Append('\n');
        }

        public readonly void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line)
        {
            sb.Append($"mem {line} {pa:x}:");
            foreach (ulong w in words)
            {
                sb.Append($" {w:x}");
            }
            sb.Append('\n');
        }
    }

    /// <summary>
    /// <see cref="Transcript"/> with one line per access: where a recording's chunks end, one run of the input may
    /// reach its handler as two, which replays the same; this transcript reads the same either way.
    /// </summary>
    private struct AccessTranscript(StringBuilder sb) : ITraceHandler
    {
        public readonly void OnRecord(in TraceRecord record) => new Transcript(sb).OnRecord(record);

        public readonly void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine)
        {
            foreach (var a in run)
            {
                sb.Append($"{firstLine++} {a.Op}{a.Va:x}/{a.Size}\n");
            }
        }

        public readonly void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line) => new Transcript(sb).OnMemWords(pa, words, line);
    }

    private static string ReplayAccesses(RecordedTrace trace)
    {
        var sb = new StringBuilder();
        var t = new AccessTranscript(sb);
        trace.Replay(ref t);
        return sb.ToString();
    }

    private static string Replay(RecordedTrace trace)
    {
        var sb = new StringBuilder();
        var t = new Transcript(sb);
        trace.Replay(ref t);
        return sb.ToString();
    }

    [Theory]
    [InlineData("traces/bench/mixed-2stage.trace", 7)]
    [InlineData("traces/bench/mixed-2stage.trace", 4096)]
    [InlineData("traces/sample/two-pes.trace", 3)]
    public async Task ReplaysDuringTheRecordingSeeTheCallsOfTheFinishedOne(string name, int chunk)
    {
        byte[] data = File.ReadAllBytes(Path.Combine(TestPaths.RepositoryRoot, name));
        // The parser ends a run where its buffer ends, so the reference is recorded from the same trickle, alone.
        await using var whole = TraceInput.Open(new TrickleStream(data, chunk), name);
        var finished = await RecordedTrace.RecordAsync(whole, new ParseOptions());
        string expected = Replay(finished);

        await using var input = TraceInput.Open(new TrickleStream(data, chunk), name);
        var live = RecordedTrace.Begin(input);
        // Three replays start before the parser does; each waits for it whenever it catches up.
        var replays = Enumerable.Range(0, 3).Select(_ => Task.Run(() => Replay(live))).ToArray();
        await Task.Run(async () => await live.FillAsync(input, new ParseOptions()));
        foreach (var r in replays)
        {
            Assert.Equal(expected, await r);
        }
        Assert.True(live.IsComplete);
        Assert.Equal((finished.Lines, finished.Accesses), (live.Lines, live.Accesses));
        // And after it, from memory.
        Assert.Equal(expected, Replay(live));
    }

    [Fact]
    public async Task AFailedParseStopsTheReplaysWaitingForMore()
    {
        byte[] data = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 2000).Select(i => $"R 0x{0x1000 + 8 * i:x}\n")) + "R zz\n");
        await using var input = TraceInput.Open(new TrickleStream(data, 64), "bad.trace");
        var live = RecordedTrace.Begin(input);
        var replay = Task.Run(() => Replay(live));
        var parse = await Assert.ThrowsAsync<TraceFormatException>(async () => await Task.Run(async () => await live.FillAsync(input, new ParseOptions())));
        var stopped = await Assert.ThrowsAsync<RecordingFailedException>(() => replay);
        Assert.Same(parse, stopped.InnerException);
        Assert.StartsWith("bad.trace:2001:", parse.Message);
    }

    /// <summary>
    /// Reads a bounded recording as reader <paramref name="reader"/>, in parts of about <paramref name="budget"/>
    /// accesses, yielding whenever it has caught up with the parser; returns its transcript.
    /// </summary>
    private static string ReadInParts(RecordedTrace trace, int reader, long budget)
    {
        var sb = new StringBuilder();
        var t = new AccessTranscript(sb);
        while (!trace.ReplayPart(ref t, reader, budget))
        {
            Thread.Yield();
        }
        return sb.ToString();
    }

    /// <summary>Accesses on consecutive pages with a `mem` line and a register write among them: every kind of call.</summary>
    private static byte[] ManyAccesses(int n) => Encoding.ASCII.GetBytes(
        "reg SCTLR_EL1 0\nmem 0x1000 1 2 3\n" + string.Concat(Enumerable.Range(0, n).Select(i => i == n / 2 ? $"el 1\nR 0x{0x1000 + 8 * i:x}\n" : $"W 0x{0x1000 + 8 * i:x} 4\n")));

    [Theory]
    [InlineData(1, 100)]
    [InlineData(3, 1000)]
    [InlineData(4, 1 << 20)]
    public async Task BoundedReadersInPartsSeeTheCallsOfTheWholeRecordingWithinTheRing(int readers, long budget)
    {
        byte[] data = ManyAccesses(40_000);
        await using var whole = TraceInput.Open(new TrickleStream(data, 4096), "many.trace");
        string expected = ReplayAccesses(await RecordedTrace.RecordAsync(whole, new ParseOptions()));

        await using var input = TraceInput.Open(new TrickleStream(data, 4096), "many.trace");
        // Chunks of 1,000 accesses, three alive at most: the parser reuses chunks again and again (40 of input).
        var bounded = RecordedTrace.BeginBounded(input, readers, ringChunks: 3, chunkAccesses: 1000);
        var reads = Enumerable.Range(0, readers).Select(r => Task.Run(() => ReadInParts(bounded, r, budget))).ToArray();
        await Task.Run(async () => await bounded.FillAsync(input, new ParseOptions()));
        foreach (var r in reads)
        {
            Assert.Equal(expected, await r);
        }
        Assert.Equal(3, bounded.AccessChunksAllocated);
        Assert.Equal(40_000, bounded.Accesses);
        Assert.All(Enumerable.Range(0, readers), r => Assert.Equal(1.0, bounded.ReadFraction(r)));
        Assert.Throws<InvalidOperationException>(() => Replay(bounded));
    }

    [Fact]
    public async Task ABoundedRecordingOfManyRecordsAndFewAccessesHoldsOnlyARingOfThem()
    {
        // Lackey's shape at its extreme: instruction counts (`inst`, a record each) and hardly an access. The ring
        // counted accesses only, so every record stayed until 1,000 accesses came: here, all 40,000 (10 blocks).
        byte[] data = Encoding.ASCII.GetBytes("R 0x1000\n" + string.Concat(Enumerable.Repeat("inst 1\n", 40_000)) + "W 0x2000\n");
        await using var whole = TraceInput.Open(new TrickleStream(data, 4096), "inst.trace");
        string expected = ReplayAccesses(await RecordedTrace.RecordAsync(whole, new ParseOptions()));

        await using var input = TraceInput.Open(new TrickleStream(data, 4096), "inst.trace");
        var bounded = RecordedTrace.BeginBounded(input, readers: 1, ringChunks: 2, chunkAccesses: 1000);
        var read = Task.Run(() => ReadInParts(bounded, 0, 100));
        await Task.Run(async () => await bounded.FillAsync(input, new ParseOptions()));
        Assert.Equal(expected, await read);
        Assert.Equal(2, bounded.AccessChunksAllocated);
        Assert.InRange(bounded.CallBlocksHeld, 1, 2);
        // What the reader has left is used again, not allocated anew (it cost a collection of large objects every few
        // thousand calls): 40 chunks of records and 10 blocks of calls went through a few of each.
        Assert.InRange(bounded.RecordChunksAllocated, 1, 4);
        Assert.InRange(bounded.CallBlocksAllocated, 1, 3);
    }

    [Fact]
    public async Task AReaderThatLeavesNoLongerHoldsTheParserBack()
    {
        byte[] data = ManyAccesses(20_000);
        await using var input = TraceInput.Open(new TrickleStream(data, 4096), "many.trace");
        var bounded = RecordedTrace.BeginBounded(input, readers: 2, ringChunks: 2, chunkAccesses: 500);
        // Reader 1 reads a little, then stops for good (a run stopped on a fault); reader 0 reads everything.
        var sb = new StringBuilder();
        var t = new AccessTranscript(sb);
        var first = Task.Run(() => ReadInParts(bounded, 0, 700));
        var fill = Task.Run(async () => await bounded.FillAsync(input, new ParseOptions()));
        while (!bounded.CanRead(1))
        {
            await Task.Delay(1);
        }
        Assert.False(bounded.ReplayPart(ref t, 1, 10));
        Assert.StartsWith("rec 1 Reg", sb.ToString());
        bounded.Leave(1);
        Assert.False(bounded.CanRead(1));
        Assert.True(bounded.ReplayPart(ref t, 1, 10)); // a reader that has left has nothing more
        await fill;
        Assert.Equal(20_000, (await first).Split('\n').Count(l => l.Contains("Write", StringComparison.Ordinal) || l.Contains("Read", StringComparison.Ordinal)));
        Assert.Equal(2, bounded.AccessChunksAllocated);
    }

    [Fact]
    public async Task AFailedParseStopsABoundedReaderOnceItHasCaughtUp()
    {
        byte[] data = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 3000).Select(i => $"R 0x{0x1000 + 8 * i:x}\n")) + "R zz\n");
        await using var input = TraceInput.Open(new TrickleStream(data, 64), "bad.trace");
        var bounded = RecordedTrace.BeginBounded(input, readers: 1, ringChunks: 2, chunkAccesses: 256);
        var read = Task.Run(() => ReadInParts(bounded, 0, 100));
        var parse = await Assert.ThrowsAsync<TraceFormatException>(async () => await Task.Run(async () => await bounded.FillAsync(input, new ParseOptions())));
        var stopped = await Assert.ThrowsAsync<RecordingFailedException>(() => read);
        Assert.Same(parse, stopped.InnerException);
        Assert.StartsWith("bad.trace:3001:", parse.Message);
    }
}
