using System.Text;
using MmuSim.Caching;
using MmuSim.Registers;
using MmuSim.Tests.Support;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Tests.Tracing;

/// <summary>The text format parser on the Pipelines line reader; every case also runs split at every byte.</summary>
[Collection("Isolated")]
public class TextParserTests
{
    private const string AllCommands =
        "# every command\r\n" +
        "ram 0x40000000 0x100000\n" +
        "reg TCR_EL1 0x0000_0002_8080_3510   # comment\n" +
        "REG mair_el1 255\n" +
        "mem 0x40000000 0x40001003 0x40002003\n" +
        "\n" +
        "el 0\n" +
        "R 0x1008\n" +
        "W 0x2000 4\r\n" +
        "X 0xffff000000001000\n" +
        "at S12E0W 0x1000\n" +
        "dump 0x40003008\n" +
        "tlbi VAE1 0x0001000000000001\n" +
        "tlbi VMALLE1\n" +
        "r 0x10 1"; // no final newline

    [Fact]
    public void ParsesEveryCommand()
    {
        var run = Splits.Check(Encoding.ASCII.GetBytes(AllCommands), Splits.Text());
        Assert.Null(run.Error);
        var r = run.Records;
        Assert.Equal(14, r.Count);
        Assert.Equal((TraceOp.Ram, 2L, 0x40000000UL, 0x100000UL), (r[0].Op, r[0].Line, r[0].Address, r[0].Value));
        Assert.Equal((TraceOp.Reg, SysReg.TCR_EL1, 0x280803510UL), (r[1].Op, r[1].Reg, r[1].Value));
        Assert.Equal((SysReg.MAIR_EL1, 255UL), (r[2].Reg, r[2].Value));
        Assert.Equal((TraceOp.Mem, 5L, 0x40000000UL, 0x40001003UL), (r[3].Op, r[3].Line, r[3].Address, r[3].Value));
        Assert.Equal((TraceOp.Mem, 5L, 0x40000008UL, 0x40002003UL), (r[4].Op, r[4].Line, r[4].Address, r[4].Value));
        Assert.Equal((TraceOp.El, 7L, 0UL), (r[5].Op, r[5].Line, r[5].Value));
        Assert.Equal((TraceOp.Read, 0x1008UL, (byte)8), (r[6].Op, r[6].Address, r[6].Size));
        Assert.Equal((TraceOp.Write, 0x2000UL, (byte)4), (r[7].Op, r[7].Address, r[7].Size));
        Assert.Equal((TraceOp.Fetch, 0xffff000000001000UL, (byte)4), (r[8].Op, r[8].Address, r[8].Size));
        Assert.Equal((TraceOp.At, AtOp.S12E0W, 0x1000UL), (r[9].Op, r[9].At, r[9].Address));
        Assert.Equal((TraceOp.Dump, 0x40003008UL), (r[10].Op, r[10].Address));
        Assert.Equal((TraceOp.Tlbi, TlbiOp.VAE1, true, 0x0001000000000001UL), (r[11].Op, r[11].Tlbi, r[11].HasOperand, r[11].Value));
        Assert.Equal((TraceOp.Tlbi, TlbiOp.VMALLE1, false), (r[12].Op, r[12].Tlbi, r[12].HasOperand));
        Assert.Equal((TraceOp.Read, 15L, 0x10UL, (byte)1), (r[13].Op, r[13].Line, r[13].Address, r[13].Size));
    }

    [Theory]
    [InlineData("R 0x1000\nbogus 1\nR 0x2000\n", "t.trace:2:1: unknown command 'bogus'", 1)]
    [InlineData("R 0x1000\nW 0x12g4\n", "t.trace:2:7: bad virtual address '0x12g4': 'g' is not a hexadecimal digit", 1)]
    [InlineData("\n\n  mem 0x1004 1\n", "t.trace:3:7: mem address 0x1004 is not 8-byte aligned", 0)]
    [InlineData("reg TCR_EL9 1\n", "t.trace:1:5: unknown register 'TCR_EL9'", 0)]
    [InlineData("R 0x1000 65\n", "t.trace:1:10: access size 65 is not between 1 and 64 bytes", 0)]
    [InlineData("el 3", "t.trace:1:4: exception level 3 is not 0, 1 or 2", 0)]
    [InlineData("R 0x1 8 9\n", "t.trace:1:9: unexpected extra operand", 0)]
    [InlineData("R 0x10000000000000000\n", "t.trace:1:3: virtual address '0x10000000000000000' does not fit in 64 bits", 0)]
    public void BadLinesNameLineAndColumn(string text, string error, int recordsBefore)
    {
        var run = Splits.Check(Encoding.ASCII.GetBytes(text), Splits.Text());
        Assert.NotNull(run.Error);
        Assert.StartsWith(error, run.Error);
        Assert.Equal(recordsBefore, run.Records.Count); // what came before is kept
    }

    [Fact]
    public void SkipBadLinesCountsAndGoesOn()
    {
        byte[] data = Encoding.ASCII.GetBytes("R 0x1000\nbogus\nW 0x2000 3\nR zz\nX 0x3000\n");
        var run = Splits.Check(data, (r, s) => LineReader.ParseAsync(r, "t", default(TextTraceParser.TextLineFormat), s, new ParseOptions { SkipBadLines = true }));
        Assert.Null(run.Error);
        Assert.Equal(new[] { 1L, 3L, 5L }, run.Records.Select(x => x.Line));
        var seen = new List<string>();
        var options = new ParseOptions { SkipBadLines = true, OnBadLine = e => seen.Add(e.Message) };
        Splits.Once(new SegmentedPipeReader(data), (r, s) => LineReader.ParseAsync(r, "t", default(TextTraceParser.TextLineFormat), s, options));
        Assert.Equal(2, options.BadLines);
        Assert.Equal(new[] { "t:2:1: unknown command 'bogus' (expected reg, mem, ram, el, R, W, X, at, dump or tlbi)", "t:4:3: bad virtual address 'zz': 'z' is not a decimal digit" }, seen);
    }

    [Fact]
    public void OverlongLineIsAnErrorNotAnEndlessBuffer()
    {
        var data = new byte[LineReader.MaxLineLength + 10];
        Array.Fill(data, (byte)'R');
        var run = Splits.Once(new SegmentedPipeReader(data[..1000], data[1000..]), Splits.Text());
        Assert.Equal($"t.trace:1:1: line is longer than {LineReader.MaxLineLength} bytes", run.Error);
    }

    [Fact]
    public void ParsingAllocatesNothingPerLine()
    {
        // Allocation of a whole parse must not grow with the number of lines (the pipe, pool and state are per parse).
        static long Allocated(int lines)
        {
            var sb = new StringBuilder();
            for (int i = 0; i < lines; i++)
            {
                sb.Append(i % 3 == 0 ? "R 0x" : i % 3 == 1 ? "W 0x" : "X 0x").Append((0x1000 + i * 64).ToString("x")).Append(i % 3 != 2 && i % 5 == 0 ? " 4\n" : "\n");
            }
            byte[] data = Encoding.ASCII.GetBytes(sb.ToString());
            var count = new CountingHandler();
            // Warm up (JIT, pools), then measure on this thread: a MemoryStream pipe completes synchronously.
            Parse(data, count);
            long before = GC.GetAllocatedBytesForCurrentThread();
            Parse(data, count);
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }

        static void Parse(byte[] data, CountingHandler h)
        {
            var reader = System.IO.Pipelines.PipeReader.Create(new MemoryStream(data));
            TextTraceParser.ParseAsync(reader, "a", h).AsTask().GetAwaiter().GetResult();
        }

        long small = Allocated(1_000);
        long large = Allocated(100_000);
        Assert.True(large - small < 16 * 1024, $"1,000 lines allocated {small} B, 100,000 lines {large} B");
    }

    private struct CountingHandler : ITraceHandler
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
