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
}
