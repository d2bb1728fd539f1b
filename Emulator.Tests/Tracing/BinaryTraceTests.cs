using System.Buffers.Binary;
using System.Text;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Reporting;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Tracing;

/// <summary>The binary format: writer, reader (split at every byte), round trips and errors with byte offsets.</summary>
[Collection("Isolated")]
public class BinaryTraceTests
{
    private const string Sample =
        "ram 0x40000000 0x100000\n" +
        "reg TCR_EL1 0x280803510\n" +
        "reg ID_AA64MMFR2_EL1 0x1\n" +
        "mem 0x40000000 0x40001003 0x40002003 0x0 0xffffffffffffffff\n" +
        "mem 0x40003008 0x50000403\n" +
        "el 0\n" +
        "R 0x1008\n" +
        "W 0x2000 4\n" +
        "R 0xffffffffffffffff 64\n" +
        "X 0x400000\n" +
        "inst 12\n" +
        "at S1E2W 0x1000\n" +
        "dump 0x40003008\n" +
        "tlbi VALE2 0x1234\n" +
        "tlbi ALLE1\n";

    private static List<TraceRecord> ParseText(string text) => Splits.Once(new SegmentedPipeReader(Encoding.ASCII.GetBytes(text)), Splits.Text()).Records;

    private static byte[] ToBinary(IEnumerable<TraceRecord> records)
    {
        var ms = new MemoryStream();
        using (var w = new BinaryTraceWriter(ms, ownsStream: false))
        {
            foreach (var r in records)
            {
                w.OnRecord(r);
            }
        }
        return ms.ToArray();
    }

    private static string ToText(IEnumerable<TraceRecord> records)
    {
        var ms = new MemoryStream();
        using (var w = new TextTraceWriter(ms, ownsStream: false))
        {
            foreach (var r in records)
            {
                w.OnRecord(r);
            }
        }
        return Encoding.ASCII.GetString(ms.ToArray());
    }

    private static TraceRecord[] WithoutLines(IEnumerable<TraceRecord> rs) => rs.Select(r => r with { Line = 0 }).ToArray();

    [Fact]
    public void TextToBinaryToTextIsTheSameTrace()
    {
        var text = ParseText(Sample);
        byte[] bin = ToBinary(text);
        var run = Splits.Check(bin, Splits.Binary());
        Assert.Null(run.Error);
        Assert.Equal(WithoutLines(text), WithoutLines(run.Records));
        // Canonical text survives byte for byte, and binary record numbers are the canonical text's line numbers.
        Assert.Equal(Sample, ToText(run.Records));
        Assert.Equal(text.Select(r => r.Line), run.Records.Select(r => r.Line));
    }

    [Fact]
    public void AccessRecordsAreSixteenBytesLittleEndian()
    {
        byte[] bin = ToBinary(ParseText("W 0x0123456789abcdef 2\n"));
        Assert.Equal(BinaryTrace.HeaderSize + 16, bin.Length);
        Assert.Equal(BinaryTrace.Magic.ToArray(), bin[..8]);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(bin.AsSpan(8)));
        Assert.Equal(new byte[] { 0x02, 2, 0, 0, 0, 0, 0, 0, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01 }, bin[16..]);
    }

    [Fact]
    public void QemuCorpusSurvivesTheRoundTripWithIdenticalResults()
    {
        foreach (var path in Directory.GetFiles(TestPaths.Qemu, "*.trace").Order())
        {
            var text = ParseText(File.ReadAllText(path));
            byte[] bin = ToBinary(text);
            var back = Splits.Once(new SegmentedPipeReader(bin), Splits.Binary());
            Assert.Null(back.Error);
            Assert.Equal(WithoutLines(text), WithoutLines(back.Records));
            Assert.Equal(ToText(text), ToText(back.Records));
            // Same results through the replayer, line numbers aside.
            Assert.Equal(Results(File.ReadAllBytes(path), path), Results(bin, path + ".mbt"));
        }
    }

    private static List<string> Results(byte[] trace, string name)
    {
        var core = new SimulatedCore();
        var ms = new MemoryStream();
        using (var w = new ResultWriter(ms, ownsStream: false))
        {
            new Replayer(core, w).ReplayAsync(new MemoryStream(trace), name).AsTask().GetAwaiter().GetResult();
        }
        return Encoding.ASCII.GetString(ms.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l[l.IndexOf(',')..]).ToList();
    }

    [Fact]
    public void TruncatedRecordIsReportedAtItsOffset()
    {
        byte[] bin = ToBinary(ParseText("R 0x1000\nW 0x2000\n"));
        var run = Splits.Check(bin[..^3], Splits.Binary());
        Assert.Equal("t.mbt:byte 32: truncated input: the record starting here is incomplete (45 bytes in all)", run.Error);
        Assert.Single(run.Records); // the first access was read
    }

    [Fact]
    public void TruncatedMemPayloadIsReported()
    {
        byte[] bin = ToBinary(ParseText("mem 0x1000 1 2 3\n"));
        var run = Splits.Check(bin[..^4], Splits.Binary());
        Assert.Equal("t.mbt:byte 16: truncated input: the record starting here is incomplete (52 bytes in all)", run.Error);
        Assert.Equal(2, run.Records.Count);
    }

    [Theory]
    [InlineData(0, 0x00, "t.mbt:byte 0: not a binary MmuSim trace (bad magic number)")]
    [InlineData(8, 0x02, "t.mbt:byte 8: binary trace version 2 is not supported (this reader knows version 1)")]
    [InlineData(12, 0x01, "t.mbt:byte 12: unknown header flags 0x1")]
    [InlineData(16, 0x7f, "t.mbt:byte 16: record 1: unknown record tag 0x7f")]
    [InlineData(17, 0x00, "t.mbt:byte 16: record 1: access size 0 is not between 1 and 64 bytes")]
    [InlineData(19, 0x01, "t.mbt:byte 16: record 1: reserved bytes 2..7 of an access record must be zero")]
    [InlineData(33, 0x20, "t.mbt:byte 32: record 2: unknown register code 32")]
    public void BadBytesAreReportedWithTheirOffset(int at, byte value, string error)
    {
        byte[] bin = ToBinary(ParseText("R 0x1000\nreg SCTLR_EL1 1\n"));
        bin[at] = value;
        Assert.Equal(error, Splits.Check(bin, Splits.Binary()).Error);
    }

    [Fact]
    public void ShortInputIsNotAHeader()
    {
        Assert.Equal("t.mbt:byte 0: truncated input: 5 bytes, shorter than the 16-byte header",
            Splits.Check(BinaryTrace.Magic[..5].ToArray(), Splits.Binary()).Error);
    }

    [Fact]
    public void SkipBadLinesSkipsABadRecordAndItsPayload()
    {
        byte[] bin = ToBinary(ParseText("R 0x1000\nmem 0x2000 5 6\nW 0x3000\n"));
        bin[32] = 0x55; // the mem record's tag: unknown now, its two words must be skipped too
        var options = new ParseOptions { SkipBadLines = true };
        var run = Splits.Once(new SegmentedPipeReader(bin), Splits.Binary(options));
        Assert.Null(run.Error);
        Assert.Equal(new[] { TraceOp.Read, TraceOp.Write }, run.Records.Select(r => r.Op));
        Assert.Equal(1, options.BadLines);
        Splits.Check(bin, Splits.Binary(new ParseOptions { SkipBadLines = true }));
    }

    [Fact]
    public void LongMemRecordsAreSplitByTheWriterAndReadBack()
    {
        var words = Enumerable.Range(0, TraceWriter.MaxMemWords + 10).Select(i => (ulong)i * 3 + 1).ToArray();
        var text = "mem 0x80000 " + string.Join(' ', words.Select(w => "0x" + w.ToString("x"))) + "\n";
        var records = ParseText(text);
        var back = Splits.Once(new SegmentedPipeReader(ToBinary(records)), Splits.Binary()).Records;
        Assert.Equal(words, back.Select(r => r.Value));
        Assert.Equal(Enumerable.Range(0, words.Length).Select(i => 0x80000UL + (ulong)i * 8), back.Select(r => r.Address));
    }

    [Fact]
    public void BinaryParsingAllocatesNothingPerRecord()
    {
        static long Allocated(int n)
        {
            var records = Enumerable.Range(0, n).Select(i => new TraceRecord { Op = (TraceOp)((int)TraceOp.Read + i % 3), Address = (ulong)i * 4096, Size = 4 });
            byte[] bin = ToBinary(records);
            Parse(bin);
            long before = GC.GetAllocatedBytesForCurrentThread();
            Parse(bin);
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }

        static void Parse(byte[] bin) =>
            BinaryTraceReader.ParseAsync(System.IO.Pipelines.PipeReader.Create(new MemoryStream(bin)), "b", default(Nothing)).AsTask().GetAwaiter().GetResult();

        long small = Allocated(1_000);
        long large = Allocated(100_000);
        Assert.True(large - small < 16 * 1024, $"1,000 records allocated {small} B, 100,000 records {large} B");
    }

    private struct Nothing : ITraceHandler
    {
        public void OnAccessRun(ReadOnlySpan<PlainAccess> run, long firstLine)
        {
            PlainAccess.EachRecord(ref this, run, firstLine);
        }

        public void OnMemWords(ulong pa, ReadOnlySpan<ulong> words, long line)
        {
            MemWords.EachRecord(ref this, pa, words, line);
        }

        public void OnRecord(in TraceRecord record)
        {
        }
    }
}
