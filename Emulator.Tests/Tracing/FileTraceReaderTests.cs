using System.IO.Compression;
using System.Text;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Tracing;

/// <summary>
/// The direct file path (<see cref="FileTraceReader"/>): an uncompressed file read by path gives exactly the records,
/// line numbers and errors of the streaming path (Stream + PipeReader), whatever the read size, so that lines and
/// records straddle every block boundary; empty files, files without a final newline, bad lines near the end, over-long
/// lines and binary traces included.
/// </summary>
public sealed class FileTraceReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmusim-direct-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>The outcome of one parse: records, the count it returned, and the error message if it failed.</summary>
    private sealed record Run(List<TraceRecord> Records, long Count, string? Error);

    private static Run Capture(Func<RecordList, long> parse)
    {
        var sink = new RecordList();
        try
        {
            long n = parse(sink);
            return new Run(sink.Records, n, null);
        }
        catch (TraceFormatException e)
        {
            return new Run(sink.Records, -1, e.Message);
        }
    }

    /// <summary>The reference: the same bytes through TraceInput over a (non-file) stream, so through the pipe.</summary>
    private static Run Streaming(byte[] bytes, string source, TraceFormat format, ParseOptions? options = null) =>
        Capture(sink =>
        {
            using var input = TraceInput.Open(new MemoryStream(bytes), source, format);
            Assert.False(input.CanReadDirect);
            return TraceReaders.ParseAsync(input, sink, options).AsTask().GetAwaiter().GetResult();
        });

    private static Run DirectText(string path, int blockSize, ParseOptions? options = null) =>
        Capture(sink =>
        {
            using var input = TraceInput.Open(path, TraceFormat.Text);
            Assert.True(input.CanReadDirect);
            return FileTraceReader.ParseLines(input, default(TextTraceParser.TextLineFormat), sink, options, blockSize);
        });

    private static Run DirectBinary(string path, int blockSize) =>
        Capture(sink =>
        {
            using var input = TraceInput.Open(path, TraceFormat.Binary);
            Assert.True(input.CanReadDirect);
            return FileTraceReader.ParseBinary(input, sink, null, blockSize);
        });

    /// <summary>As `replay` reads a path: TraceInput.Open(path) and TraceReaders, which take the direct path.</summary>
    private static Run ByPath(string path, ParseOptions? options = null) =>
        Capture(sink =>
        {
            using var input = TraceInput.Open(path);
            return TraceReaders.ParseAsync(input, sink, options).AsTask().GetAwaiter().GetResult();
        });

    private static void Same(Run expected, Run actual, string what)
    {
        Assert.True(expected.Error == actual.Error, $"{what}: error '{actual.Error}' instead of '{expected.Error}'");
        Assert.True(expected.Count == actual.Count, $"{what}: count {actual.Count} instead of {expected.Count}");
        Assert.True(expected.Records.SequenceEqual(actual.Records),
            $"{what}: {actual.Records.Count} records differ from the {expected.Records.Count} of the streaming path");
    }

    /// <summary>
    /// A text trace that begins with a UTF-8 byte order mark (as Windows editors write) reads as without it, by path,
    /// through the pipe and compressed: the same records, and errors on line 1 count columns after the mark. A
    /// binary trace is never stripped.
    /// </summary>
    [Theory]
    [InlineData("R 0x1000\nW 0x2000 4\n", null)]
    [InlineData("reg SCTLR_EL1 1\nR 0x1000\n", null)]
    [InlineData("foo 1\n", "t.trace:1:1: unknown command 'foo' (expected reg, mem, ram, el, R, W, X, at, dump or tlbi)")]
    [InlineData("R 0x1!\n", "t.trace:1:6: bad virtual address '0x1!': '!' is not a hexadecimal digit")]
    public void AByteOrderMarkIsNotPartOfTheFirstLine(string text, string? error)
    {
        byte[] plain = Encoding.ASCII.GetBytes(text);
        byte[] marked = [0xEF, 0xBB, 0xBF, .. plain];
        string path = Write("t.trace", marked);
        var expected = Streaming(plain, "t.trace", TraceFormat.Auto);
        Assert.Equal(error, expected.Error?.Replace(_dir + "/", "", StringComparison.Ordinal));
        foreach (var format in new[] { TraceFormat.Auto, TraceFormat.Text })
        {
            Same(expected, Streaming(marked, "t.trace", format), $"piped, {format}");
            Same(Streaming(plain, path, format), ByPathAs(path, format), $"by path, {format}");
        }
        var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(marked);
        }
        Same(expected, Streaming(gz.ToArray(), "t.trace", TraceFormat.Auto), "gzip");
    }

    [Fact]
    public void ALackeyTraceMayBeginWithAByteOrderMark()
    {
        byte[] plain = Encoding.ASCII.GetBytes("==12== Lackey\nI  00401000,4\n L 7ff000,8\n");
        var expected = Streaming(plain, "t.lackey", TraceFormat.Auto);
        Assert.Null(expected.Error);
        Assert.Equal(2, expected.Records.Count(r => r.Op is TraceOp.Read or TraceOp.Fetch));
        Same(expected, Streaming([0xEF, 0xBB, 0xBF, .. plain], "t.lackey", TraceFormat.Auto), "lackey with a mark");
    }

    [Fact]
    public void ABinaryTraceIsNeverStripped()
    {
        // Bytes EF BB BF at the start of an input forced to binary are its first header bytes: a bad magic number.
        byte[] bytes = [0xEF, 0xBB, 0xBF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        Assert.Equal("t.mbt:byte 0: not a binary MmuSim trace (bad magic number)", Streaming(bytes, "t.mbt", TraceFormat.Binary).Error);
    }

    private static Run ByPathAs(string path, TraceFormat format) =>
        Capture(sink =>
        {
            using var input = TraceInput.Open(path, format);
            Assert.True(input.CanReadDirect);
            return TraceReaders.ParseAsync(input, sink).AsTask().GetAwaiter().GetResult();
        });

    /// <summary>A trace with every kind of line: comments, blanks, CRLF ends, tabs, long mem lines, sized accesses, every command.</summary>
    private static string Trace(int accesses)
    {
        var sb = new StringBuilder();
        sb.Append("# header comment\n\nram 0x40000000 0x100000\r\nreg TCR_EL1 0x0000000280803510   # trailing comment\n");
        sb.Append("mem 0x40000000");
        for (int i = 0; i < 70; i++)
        {
            sb.Append(i % 3 == 0 ? " 0" : $" 0x{0x40001003UL + (ulong)i * 0x1000:x}");
        }
        sb.Append('\n');
        sb.Append("mem 0x40002000 0x1_0000 18446744073709551615 0XFFFFFFFFFFFFFFFF\tdead_beef_0\n".Replace("dead_beef_0", "0xdead_beef"));
        sb.Append("el 1\nat S1E1R 0x1000\ndump 0x40000000\ntlbi VMALLE1\ntlbi VAE1 0x1\n");
        var rng = new Random(7);
        for (int i = 0; i < accesses; i++)
        {
            string op = (i % 7) switch { 0 => "X", 1 => "w", 2 => "W", 3 => "r", _ => "R" };
            ulong va = op == "X" ? 0x400000UL + (ulong)rng.Next(1 << 20) * 4 : (ulong)rng.NextInt64(1L << 48);
            string addr = i % 11 == 0 ? $"0X{va:X}" : $"0x{va:x}";
            string size = op is "X" or "x" ? "" : (i % 5) switch { 0 => " 4", 1 => " 64", 2 => " 08", _ => "" };
            sb.Append(op).Append(' ').Append(addr).Append(size).Append(i % 9 == 0 ? "\r\n" : "\n");
            if (i % 13 == 0)
            {
                sb.Append(i % 2 == 0 ? "\n" : "   # a comment line\n");
            }
            if (i % 29 == 0)
            {
                sb.Append("R  0x10\t8\nX 0x00000000000000001000\nR 0x0000000000000010 2\n"); // general-path spellings
            }
        }
        return sb.ToString();
    }

    [Fact]
    public void SameRecordsAsStreaming_AtEveryBlockSize()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(Trace(120));
        string path = Write("t.trace", bytes);
        var expected = Streaming(bytes, path, TraceFormat.Text);
        Assert.Null(expected.Error);
        Assert.True(expected.Records.Count > 200);
        // Every read size from 16 bytes (smaller than most lines: the buffer grows) to past the longest line, so
        // that the block boundaries fall at every position of the short lines.
        for (int block = 16; block <= 160; block++)
        {
            Same(expected, DirectText(path, block), $"block {block}");
        }
        Same(expected, DirectText(path, 4096), "block 4096");
        Same(expected, ByPath(path), "default block");
    }

    [Fact]
    public void NoTrailingNewline_LastLineParsed()
    {
        string text = Trace(40) + "W 0x1234 2";
        byte[] bytes = Encoding.ASCII.GetBytes(text);
        string path = Write("nonl.trace", bytes);
        var expected = Streaming(bytes, path, TraceFormat.Text);
        long lastLine = text.Count(c => c == '\n') + 1;
        var last = expected.Records[^1];
        Assert.Equal((TraceOp.Write, 0x1234UL, (byte)2, lastLine), (last.Op, last.Address, last.Size, last.Line));
        for (int block = 16; block <= 64; block++)
        {
            Same(expected, DirectText(path, block), $"block {block}");
        }
        Same(expected, ByPath(path), "default block");
        Assert.Equal(lastLine, ByPath(path).Count);
    }

    [Fact]
    public void EmptyFile()
    {
        string path = Write("empty.trace", []);
        var run = ByPath(path);
        Assert.Null(run.Error);
        Assert.Empty(run.Records);
        Assert.Equal(0, run.Count);
        Same(Streaming([], path, TraceFormat.Text), DirectText(path, 16), "empty, text");
        // An empty binary trace is an error, the same one both ways.
        Same(Streaming([], path, TraceFormat.Binary), DirectBinary(path, 32), "empty, binary");
        Assert.Contains("empty input", DirectBinary(path, 32).Error);
    }

    [Fact]
    public void BadLineNearEnd_SameErrorAndEarlierRecordsDelivered()
    {
        string good = Trace(60);
        long badLine = good.Count(c => c == '\n') + 2;
        string text = good + "R 0x1000\nW 0x12g4 8\nR 0x2000\n";
        byte[] bytes = Encoding.ASCII.GetBytes(text);
        string path = Write("bad.trace", bytes);
        var expected = Streaming(bytes, path, TraceFormat.Text);
        Assert.Equal($"{path}:{badLine}:7: bad virtual address '0x12g4': 'g' is not a hexadecimal digit", expected.Error);
        Assert.Equal(badLine - 1, expected.Records[^1].Line);
        for (int block = 16; block <= 96; block++)
        {
            Same(expected, DirectText(path, block), $"block {block}");
        }
        Same(expected, ByPath(path), "default block");

        // --skip-bad-lines: the bad line counted, every other line delivered, the same both ways.
        var skipStream = new ParseOptions { SkipBadLines = true };
        var skipDirect = new ParseOptions { SkipBadLines = true };
        var s = Streaming(bytes, path, TraceFormat.Text, skipStream);
        Same(s, ByPath(path, skipDirect), "skip bad lines");
        Assert.Equal(1, skipStream.BadLines);
        Assert.Equal(1, skipDirect.BadLines);
        Assert.Equal(0x2000UL, s.Records[^1].Address);
    }

    [Fact]
    public void LineLongerThanTheLimit_SameError()
    {
        var data = new byte[LineReader.MaxLineLength + 10];
        Array.Fill(data, (byte)'#');
        string path = Write("long.trace", data);
        var run = ByPath(path);
        Assert.Equal($"{path}:1:1: line is longer than {LineReader.MaxLineLength} bytes", run.Error);
        Assert.Equal(Streaming(data, path, TraceFormat.Text).Error, run.Error);
    }

    [Fact]
    public void Binary_SameRecordsAsStreaming_AtEveryBlockSize()
    {
        var records = Parse(Trace(80));
        var ms = new MemoryStream();
        using (var w = new BinaryTraceWriter(ms, ownsStream: false))
        {
            foreach (var r in records)
            {
                w.OnRecord(r);
            }
        }
        byte[] bytes = ms.ToArray();
        string path = Write("t.mbt", bytes);
        var expected = Streaming(bytes, path, TraceFormat.Binary);
        Assert.Null(expected.Error);
        for (int block = 32; block <= 96; block++)
        {
            Same(expected, DirectBinary(path, block), $"block {block}");
        }
        Same(expected, ByPath(path), "default block");

        // Truncated in the middle of a record: the same error, after the same records.
        byte[] cut = bytes[..^5];
        string cutPath = Write("cut.mbt", cut);
        var cutExpected = Streaming(cut, cutPath, TraceFormat.Binary);
        Assert.Contains("truncated input", cutExpected.Error);
        for (int block = 32; block <= 64; block++)
        {
            Same(cutExpected, DirectBinary(cutPath, block), $"cut, block {block}");
        }
        Same(cutExpected, ByPath(cutPath), "cut, default block");
    }

    private static List<TraceRecord> Parse(string text)
    {
        using var input = TraceInput.Open(new MemoryStream(Encoding.ASCII.GetBytes(text)), "t.trace", TraceFormat.Text);
        var sink = new RecordList();
        TraceReaders.ParseAsync(input, sink).AsTask().GetAwaiter().GetResult();
        return sink.Records;
    }

    [Fact]
    public async Task Progress_CountsTheFileBytes()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(Trace(50));
        string path = Write("p.trace", bytes);
        await using var input = TraceInput.Open(path);
        Assert.True(input.CanReadDirect);
        await TraceReaders.ParseAsync(input, new RecordList());
        Assert.Equal(bytes.Length, input.RawBytesRead);
        Assert.Equal(bytes.Length, input.Length);
    }

    [Fact]
    public async Task CompressedFiles_KeepTheStreamingPath()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(Trace(30));
        var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(bytes);
        }
        string path = Write("t.trace.gz", gz.ToArray());
        await using var input = TraceInput.Open(path);
        Assert.Equal(TraceCompression.Gzip, input.Compression);
        Assert.False(input.CanReadDirect);
        var sink = new RecordList();
        await TraceReaders.ParseAsync(input, sink);
        Assert.True(Streaming(bytes, path, TraceFormat.Text).Records.SequenceEqual(sink.Records));
    }

    [Fact]
    public async Task Replay_DirectAndStreamingGiveTheSameOutcomes()
    {
        string trace = string.Join("\n",
            "ram 0x40000000 0x100000",
            "reg MAIR_EL1 0xff",
            "reg TCR_EL1 0x0000000280803510",
            "reg TTBR0_EL1 0x40000000",
            "mem 0x40000000 0x40001003",
            "mem 0x40001000 0x40002003",
            "mem 0x40002000 0x40003003",
            "mem 0x40003008 0x0000000050000403",
            "reg SCTLR_EL1 0x1",
            "el 1",
            "R 0x1008",
            "W 0x1010 4",
            "X 0x1000",
            "W 0x2000",
            "R 0x1ff8 8") + "\n";
        string path = Write("r.trace", Encoding.ASCII.GetBytes(trace));
        var direct = await Replay(path, direct: true);
        var streaming = await Replay(path, direct: false);
        Assert.Equal(5, direct.Outcomes.Count);
        Assert.Equal(streaming.Outcomes.Count, direct.Outcomes.Count);
        for (int i = 0; i < direct.Outcomes.Count; i++)
        {
            Assert.Equal(streaming.Outcomes[i].Line, direct.Outcomes[i].Line);
            Assert.Equal(streaming.Outcomes[i].Pa, direct.Outcomes[i].Pa);
            Assert.Equal(streaming.Outcomes[i].IsFault, direct.Outcomes[i].IsFault);
        }
        Assert.Equal(0x50000008UL, direct.Outcomes[0].Pa);
        Assert.True(direct.Outcomes[3].IsFault);

        static async Task<Collector> Replay(string path, bool direct)
        {
            var sink = new Collector();
            var core = new SimulatedCore();
            await new Replayer(core, sink, new ReplayOptions { DirectFileReads = direct }).ReplayFilesAsync([path]);
            Assert.Equal(15, core.Stats.Lines);
            return sink;
        }
    }
}
