using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Tracing;

/// <summary>Valgrind lackey, QEMU mem plugin CSV and ChampSim readers on samples built here; every case split at every byte.</summary>
public class ForeignFormatTests
{
    private const string Lackey =
        "==4242== Lackey, an example Valgrind tool\n" +
        "==4242== \n" +
        "I  004014f0,2\n" +
        " L 1fff000620,8\n" +
        " S 1fff000618,4\r\n" +
        " M 0421fcc8,1\n" +
        "--4242-- some valgrind note\n" +
        "\n" +
        "I  ffffffffff600000,15\n" +
        " S 1fff000600,512";

    [Fact]
    public void LackeyRecordsBecomeAccesses()
    {
        var run = Splits.Check(Encoding.ASCII.GetBytes(Lackey), Splits.Lackey());
        Assert.Null(run.Error);
        var r = run.Records;
        Assert.Equal(
            new (TraceOp, ulong, byte, long)[]
            {
                (TraceOp.Inst, 0, 0, 3), // each I line is one instruction, for the timeline
                (TraceOp.Fetch, 0x4014f0, 4, 3), // an X fetches 4 bytes, whatever lackey's instruction length
                (TraceOp.Read, 0x1fff000620, 8, 4),
                (TraceOp.Write, 0x1fff000618, 4, 5),
                (TraceOp.Read, 0x421fcc8, 1, 6), // M: a read, then a write, same line
                (TraceOp.Write, 0x421fcc8, 1, 6),
                (TraceOp.Inst, 0, 0, 9),
                (TraceOp.Fetch, 0xffffffffff600000, 4, 9),
                (TraceOp.Write, 0x1fff000600, 64, 10), // 512-byte accesses are clamped to 64
            },
            r.Select(x => (x.Op, x.Address, x.Size, x.Line)));
    }

    [Theory]
    [InlineData("I  004014f0,2\n X 1000,8\n", "t.lackey:2:2: unknown lackey record 'X' (expected L, S or M)")]
    [InlineData("I  004014f0\n", "t.lackey:1:12: missing ',SIZE' after the address")]
    [InlineData(" L 12zz,8\n", "t.lackey:1:6: bad address '12zz': 'z' is not a hexadecimal digit")]
    [InlineData(" L 1234,\n", "t.lackey:1:9: missing access size")]
    [InlineData(" L 1234,0\n", "t.lackey:1:9: access size 0")]
    [InlineData("L 1234,4\n", "t.lackey:1:1: not a lackey record (expected 'I  ', ' L ', ' S ' or ' M ')")]
    [InlineData(" L 11112222333344445,4\n", "t.lackey:1:4: address '11112222333344445' does not fit in 64 bits")]
    public void BadLackeyLines(string text, string error) =>
        Assert.Equal(error, Splits.Check(Encoding.ASCII.GetBytes(text), Splits.Lackey()).Error);

    private const string QemuMem =
        "insn_vaddr,insn_symbol,mem_vaddr,mem_hwaddr,access_size,access_type,mem_value\n" +
        "0x400580,main,0x7fffe000,0x4a3f000,64,store,0x0000000000000001\n" +
        "0x400584,,0x420010,0x4a1c010,8,load,0x2a\n" +
        "0x400588,std::map<int, int>::find,0x420018,0x4a1c018,32,load,0x00000002\n" +
        "0x40058c,memcpy,0x420020,0x4a1c020,128,store,0x0000000000000000ffffffffffffffff\r\n" +
        "mem accesses: 4\n";

    [Fact]
    public void QemuMemCsvRecordsBecomeAccesses()
    {
        var run = Splits.Check(Encoding.ASCII.GetBytes(QemuMem), Splits.QemuMem());
        Assert.Null(run.Error);
        Assert.Equal(
            new (TraceOp, ulong, byte, long)[]
            {
                (TraceOp.Write, 0x7fffe000, 8, 2),
                (TraceOp.Read, 0x420010, 1, 3),
                (TraceOp.Read, 0x420018, 4, 4), // a symbol with a comma in it
                (TraceOp.Write, 0x420020, 16, 5),
            },
            run.Records.Select(x => (x.Op, x.Address, x.Size, x.Line)));
    }

    [Theory]
    [InlineData("0x400580,main,0x7fffe000,0x4a3f000,64,fetch,0x1\n", "t.csv:1:39: access type 'fetch' is not load or store")]
    [InlineData("0x400580,main,0x7fffe000,0x4a3f000,12,load,0x1\n", "t.csv:1:36: access size 12 is not 8, 16, 32, 64 or 128 bits")]
    [InlineData("0x400580,main,0x7fffe000,64,load,0x1\n", "t.csv:1:9: expected 7 comma-separated fields (insn_vaddr,insn_symbol,mem_vaddr,mem_hwaddr,access_size,access_type,mem_value)")]
    [InlineData("0x400580,main,0x7fffq000,0x4a3f000,64,load,0x1\n", "t.csv:1:21: bad mem_vaddr '0x7fffq000': 'q' is not a hexadecimal digit")]
    public void BadQemuMemLines(string text, string error) =>
        Assert.Equal(error, Splits.Check(Encoding.ASCII.GetBytes(text), Splits.QemuMem()).Error);

    /// <summary>The sequence traces/champsim/make_sample.py writes (sample.champsim.xz holds its xz).</summary>
    public static byte[] ChampSimSample(int n = 200)
    {
        var bytes = new byte[n * ChampSimReader.RecordSize];
        for (int i = 0; i < n; i++)
        {
            var rec = bytes.AsSpan(i * 64, 64);
            BinaryPrimitives.WriteUInt64LittleEndian(rec, 0x400000UL + 4UL * (ulong)i);
            rec[8] = (byte)(i % 2);
            rec[12] = 1; rec[13] = 2; rec[14] = 3; rec[15] = 4;
            BinaryPrimitives.WriteUInt64LittleEndian(rec[16..], i % 5 == 0 ? 0x600000UL + 16UL * (ulong)i : 0);
            BinaryPrimitives.WriteUInt64LittleEndian(rec[32..], i % 3 == 0 ? 0x7FFD0000UL + 8UL * (ulong)i : 0);
            BinaryPrimitives.WriteUInt64LittleEndian(rec[40..], i % 7 == 0 ? 0x10000000UL + (ulong)i : 0);
        }
        return bytes;
    }

    private static IEnumerable<(TraceOp, ulong, long)> ChampSimExpected(int n)
    {
        for (int i = 0; i < n; i++)
        {
            yield return (TraceOp.Inst, 0UL, i + 1); // each record is one instruction, for the timeline
            yield return (TraceOp.Fetch, 0x400000UL + 4UL * (ulong)i, i + 1);
            if (i % 3 == 0)
            {
                yield return (TraceOp.Read, 0x7FFD0000UL + 8UL * (ulong)i, i + 1);
            }
            if (i % 7 == 0)
            {
                yield return (TraceOp.Read, 0x10000000UL + (ulong)i, i + 1);
            }
            if (i % 5 == 0)
            {
                yield return (TraceOp.Write, 0x600000UL + 16UL * (ulong)i, i + 1);
            }
        }
    }

    [Fact]
    public void ChampSimRecordsBecomeFetchThenReadsThenWrites()
    {
        var run = Splits.Check(ChampSimSample(6), Splits.ChampSim());
        Assert.Null(run.Error);
        Assert.Equal(ChampSimExpected(6), run.Records.Select(r => (r.Op, r.Address, r.Line)));
    }

    [Fact]
    public void TruncatedChampSimRecordIsReported()
    {
        var run = Splits.Check(ChampSimSample(3)[..^10], Splits.ChampSim());
        Assert.Equal("t.champsim:byte 128: truncated input: the last record has 54 of its 64 bytes", run.Error);
        Assert.Equal(ChampSimExpected(2), run.Records.Select(r => (r.Op, r.Address, r.Line)));
    }

    [Fact]
    public void ChampSimXzAndGzAreDecompressedAndDetected()
    {
        var expected = ChampSimExpected(200).ToList();
        using (var xz = TraceInput.Open(Path.Combine(TestPaths.Traces, "champsim", "sample.champsim.xz")))
        {
            Assert.Equal((TraceFormat.ChampSim, TraceCompression.Xz), (xz.Format, xz.Compression));
            Assert.Equal(expected, ReadAll(xz).Select(r => (r.Op, r.Address, r.Line)));
        }
        var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(ChampSimSample());
        }
        // No name hint: binary content without our magic number is taken for ChampSim.
        using var input = TraceInput.Open(new MemoryStream(gz.ToArray()), "-");
        Assert.Equal((TraceFormat.ChampSim, TraceCompression.Gzip), (input.Format, input.Compression));
        Assert.Equal(expected, ReadAll(input).Select(r => (r.Op, r.Address, r.Line)));
    }

    [Fact]
    public void TruncatedXzIsReported()
    {
        byte[] xz = File.ReadAllBytes(Path.Combine(TestPaths.Traces, "champsim", "sample.champsim.xz"));
        var e = Assert.Throws<TraceFormatException>(() =>
        {
            using var input = TraceInput.Open(new MemoryStream(xz[..^20]), "cut.champsim.xz");
            ReadAll(input);
        });
        Assert.StartsWith("cut.champsim.xz:byte ", e.Message);
        Assert.Contains("truncated xz input", e.Message);
    }

    [Fact]
    public void TruncatedGzipIsReportedAfterWhatArrived()
    {
        var text = string.Concat(Enumerable.Range(0, 2000).Select(i => $"R 0x{i * 4096:x}\n"));
        var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(Encoding.ASCII.GetBytes(text));
        }
        byte[] all = gz.ToArray();
        using (var whole = TraceInput.Open(new MemoryStream(all), "ok.trace.gz"))
        {
            Assert.Equal(2000, ReadAll(whole).Count);
        }
        foreach (int cut in new[] { all.Length - 1, all.Length - 8, all.Length / 2, 12 })
        {
            var sink = new RecordList();
            var e = Assert.Throws<TraceFormatException>(() =>
            {
                using var input = TraceInput.Open(new MemoryStream(all[..cut]), "cut.trace.gz", TraceFormat.Text);
                TraceReaders.ParseAsync(input, sink).AsTask().GetAwaiter().GetResult();
            });
            Assert.Equal($"cut.trace.gz:byte {cut}: truncated gzip input", e.Message[..(e.Message.IndexOf("input") + 5)]);
            // Whatever was decompressed before the cut was replayed (all of it when only the trailer is missing).
            Assert.True(cut >= all.Length - 8 ? sink.Records.Count == 2000 : sink.Records.Count < 2000, $"cut at {cut}: {sink.Records.Count} records");
        }
    }

    [Fact]
    public void StandardInputIsReadLikeAFileCompressedOrNot()
    {
        var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(Encoding.ASCII.GetBytes(Lackey));
        }
        using var input = TraceInput.Open("-", stdin: new NonSeekable(gz.ToArray()));
        Assert.Equal(("-", TraceFormat.Lackey, TraceCompression.Gzip, (long?)null), (input.Source, input.Format, input.Compression, input.Length));
        Assert.Equal(9, ReadAll(input).Count); // 7 accesses and an `inst` before each of the two fetches
        Assert.True(input.RawBytesRead == gz.Length);
    }

    /// <summary>A pipe: no length, no seeking.</summary>
    private sealed class NonSeekable(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
    }

    private static List<TraceRecord> ReadAll(TraceInput input)
    {
        var sink = new RecordList();
        TraceReaders.ParseAsync(input, sink).AsTask().GetAwaiter().GetResult();
        return sink.Records;
    }

    [Theory]
    [InlineData("# a trace\nreg SCTLR_EL1 1\nR 0x1000\n", "x.trace", TraceFormat.Text)]
    [InlineData("", "x", TraceFormat.Text)]
    [InlineData("==123== Lackey, an example Valgrind tool\nI  00401000,4\n", "-", TraceFormat.Lackey)]
    [InlineData("I  00401000,4\n L 7ff000,8\n", "trace.out", TraceFormat.Lackey)]
    [InlineData("insn_vaddr,insn_symbol,mem_vaddr,mem_hwaddr,access_size,access_type,mem_value\n", "mem.csv", TraceFormat.QemuMem)]
    [InlineData("0x400580,main,0x7fffe000,0x4a3f000,64,store,0x1\n", "-", TraceFormat.QemuMem)]
    [InlineData("R 0x1000\n", "prog.champsimtrace", TraceFormat.ChampSim)]
    public void FormatIsDetected(string head, string name, TraceFormat expected) =>
        Assert.Equal(expected, TraceInput.Detect(Encoding.ASCII.GetBytes(head), name));

    /// <summary>
    /// Content that is mostly not text is ChampSim, whatever the name (its 64-byte records are mostly zero bytes);
    /// a text trace with a stray control byte stays text, so that the error names its line and column.
    /// </summary>
    [Fact]
    public void ChampSimIsDetectedByContentAndADamagedTextTraceIsNot()
    {
        var record = new byte[64];
        BitConverter.GetBytes(0x401000UL).CopyTo(record, 0); // ip
        record[8] = 1; // is_branch
        var records = Enumerable.Repeat(record, 8).SelectMany(b => b).ToArray();
        Assert.Equal(TraceFormat.ChampSim, TraceInput.Detect(records, "prog.trace"));
        var text = Encoding.ASCII.GetBytes("reg SCTLR_EL1 1\nR 0x1000\nR 0x10\u000100\nW 0x2000\n");
        Assert.Equal(TraceFormat.Text, TraceInput.Detect(text, "prog.trace"));
        using var input = TraceInput.Open(new MemoryStream(text), "prog.trace");
        var e = Assert.Throws<TraceFormatException>(() => ReadAll(input));
        Assert.StartsWith("prog.trace:3:", e.Message);
    }

    [Fact]
    public void BinaryIsDetectedByMagic()
    {
        var ms = new MemoryStream();
        using (var w = new BinaryTraceWriter(ms, ownsStream: false))
        {
            w.OnRecord(new TraceRecord { Op = TraceOp.Read, Address = 0x1000, Size = 8 });
        }
        using var input = TraceInput.Open(new MemoryStream(ms.ToArray()), "whatever.trace");
        Assert.Equal(TraceFormat.Binary, input.Format);
        Assert.Equal(0x1000UL, Assert.Single(ReadAll(input)).Address);
    }
}
