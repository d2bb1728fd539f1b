using System.IO.Pipelines;
using MmuSim.Tracing;

namespace MmuSim.Tests.Support;

/// <summary>Keeps every parsed record (a class handler: tests only).</summary>
public sealed class RecordList : ITraceHandler
{
    public List<TraceRecord> Records { get; } = new();

    public void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine)
    {
        var self = this;
        PlainAccess.EachRecord(ref self, run, firstLine);
    }

    public void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line)
    {
        var self = this;
        MemWords.EachRecord(ref self, pa, words, line);
    }

    public void OnRecord(in TraceRecord record) => Records.Add(record);
}

/// <summary>
/// Runs a parser on an input whole and split at every byte position across two pipe segments, and checks that every
/// run gives the same records (or the same error).
/// </summary>
public static class Splits
{
    public delegate ValueTask<long> Parser(PipeReader reader, RecordList sink);

    /// <summary>The outcome of one run: the records, and the error message if it failed.</summary>
    public sealed record Run(List<TraceRecord> Records, string? Error);

    public static Run Once(PipeReader reader, Parser parse)
    {
        var sink = new RecordList();
        try
        {
            parse(reader, sink).AsTask().GetAwaiter().GetResult();
            return new Run(sink.Records, null);
        }
        catch (TraceFormatException e)
        {
            return new Run(sink.Records, e.Message);
        }
    }

    /// <summary>Parses <paramref name="data"/> whole, then split at every position; asserts all runs agree and returns the whole run.</summary>
    public static Run Check(byte[] data, Parser parse)
    {
        var whole = Once(new SegmentedPipeReader(data), parse);
        for (int at = 0; at <= data.Length; at++)
        {
            var split = Once(SegmentedPipeReader.SplitAt(data, at), parse);
            Assert.True(whole.Error == split.Error, $"split at {at}: error '{split.Error}' instead of '{whole.Error}'");
            Assert.True(whole.Records.SequenceEqual(split.Records), $"split at {at}: {split.Records.Count} records differ from the {whole.Records.Count} of the whole input");
        }
        // And one byte per segment.
        var bytes = Once(new SegmentedPipeReader(data.Select(b => new[] { b }).ToArray()), parse);
        Assert.Equal(whole.Error, bytes.Error);
        Assert.True(whole.Records.SequenceEqual(bytes.Records), "byte-per-segment run differs");
        return whole;
    }

    public static Parser Text(ParseOptions? o = null) => (r, s) => LineReader.ParseAsync(r, "t.trace", default(TextTraceParser.TextLineFormat), s, o);
    public static Parser Binary(ParseOptions? o = null) => (r, s) => BinaryTraceReader.ParseAsync(r, "t.mbt", s, o);
    public static Parser Lackey(ParseOptions? o = null) => (r, s) => LineReader.ParseAsync(r, "t.lackey", default(LackeyFormat), s, o);
    public static Parser QemuMem(ParseOptions? o = null) => (r, s) => LineReader.ParseAsync(r, "t.csv", default(QemuMemFormat), s, o);
    public static Parser ChampSim() => (r, s) => ChampSimReader.ParseAsync(r, "t.champsim", s);
}
