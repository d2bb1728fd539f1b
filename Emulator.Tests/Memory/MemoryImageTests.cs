using System.Text.Json;
using MmuSim.Addressing;
using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Replay;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Memory;

/// <summary>
/// `load PA FILE [OFFSET [SIZE]]` (docs/trace-format.md, "Memory images"): the image's bytes are memory, mapped not
/// copied (a sparse 1 GiB image costs frames only for what is written), written pages stay private to the
/// simulation, relative names are found from the trace's folder, and every bad operand is an error at its line and
/// column.
/// </summary>
[Collection("Console")]
public sealed class MemoryImageTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-image-" + Guid.NewGuid().ToString("N"));

    public MemoryImageTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A file of <paramref name="length"/> bytes (sparse where the file system allows) with the given words at the given offsets.</summary>
    private string Image(string name, long length, params (long Offset, ulong Word)[] words)
    {
        string path = Path.Combine(_dir, name);
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write);
        f.SetLength(length);
        foreach (var (offset, word) in words)
        {
            f.Position = offset;
            f.Write(BitConverter.GetBytes(word));
        }
        return path;
    }

    private string Trace(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text.Replace("\r\n", "\n"));
        return path;
    }

    private static async Task<(SimulatedCore Core, List<AccessOutcome> Outcomes)> Replay(string tracePath)
    {
        var core = new SimulatedCore(config: Presets.NeoverseN1);
        var sink = new Collector();
        await using var s = File.OpenRead(tracePath);
        await new Replayer(core, sink).ReplayAsync(s, tracePath);
        return (core, sink.Outcomes);
    }

    [Fact]
    public void SparseImageReadsItsWordsAndZerosElsewhere()
    {
        string path = Image("sparse.img", 1 << 20, (0, 0x1111), (0x8_0008, 0x2222), ((1 << 20) - 8, 0x3333));
        var mem = new PhysicalMemory();
        mem.LoadImage(new PhysicalAddress(0x4000_0000), path, 0, 1 << 20);

        Assert.True(mem.TryRead64(new PhysicalAddress(0x4000_0000), out ulong a));
        Assert.True(mem.TryRead64(new PhysicalAddress(0x4008_0008), out ulong b));
        Assert.True(mem.TryRead64(new PhysicalAddress(0x400F_FFF8), out ulong c));
        Assert.True(mem.TryRead64(new PhysicalAddress(0x4004_0000), out ulong zero));
        Assert.Equal((0x1111UL, 0x2222UL, 0x3333UL, 0UL), (a, b, c, zero));
        Assert.Equal(0UL, mem.Peek64(new PhysicalAddress(0x4010_0000))); // the first word past the image
        Assert.Equal(0x2222UL, mem.Peek64(new PhysicalAddress(0x4008_0008)));
        Assert.Equal(0, mem.AllocatedBytes); // whole frames point into the mapping: nothing copied
    }

    [Fact]
    public async Task AnImageAtAnOddFileOffsetIsCopiedFrameByFrameWhenTouched()
    {
        // QEMU's dump-guest-memory ELF puts guest memory right after its notes (offset 1876 in a real dump): the words
        // are not 8-byte aligned in the mapping, so a touched frame gets its own copy instead of pointing into it.
        const long offset = 1876;
        var bytes = new byte[offset + 3 * 4096];
        for (int i = 0; i < 3 * 4096 / 8; i++)
        {
            BitConverter.GetBytes(0x1000_0000UL + (ulong)i).CopyTo(bytes, offset + i * 8);
        }
        string path = Path.Combine(_dir, "odd.img");
        File.WriteAllBytes(path, bytes);
        var mem = new PhysicalMemory();
        mem.LoadImage(new PhysicalAddress(0x4000_0000), path, offset, 3 * 4096);

        Assert.Equal(0, mem.AllocatedBytes);
        Assert.Equal(0x1000_0000UL, mem.Peek64(new PhysicalAddress(0x4000_0000)));
        Assert.Equal(0x1000_0000UL + 1535, mem.Peek64(new PhysicalAddress(0x4000_2ff8)));
        Assert.Equal(2 * 4096, mem.AllocatedBytes); // the two frames read, not the one between
        mem.Write64(new PhysicalAddress(0x4000_1000), 0xBBBB);
        Assert.Equal(0xBBBBUL, mem.Peek64(new PhysicalAddress(0x4000_1000)));
        Assert.Equal(0x1000_0000UL + 513, mem.Peek64(new PhysicalAddress(0x4000_1008)));
        Assert.Equal(bytes, File.ReadAllBytes(path));

        // The same through a trace line, text and binary.
        string trace = Trace("odd.trace", $"load 0x40000000 odd.img {offset} 0x3000\ndump 0x40001ff8\n");
        string bin = Path.Combine(_dir, "odd.mbt");
        Assert.Equal(0, Support.Cli.Run("convert", trace, bin).Exit);
        foreach (string t in new[] { trace, bin })
        {
            var (_, outcomes) = await Replay(t);
            Assert.Equal(0x1000_0000UL + 1023, outcomes.Single().Value);
        }
    }

    [Fact]
    public void WritesChangeTheSimulationNotTheFile()
    {
        string path = Image("w.img", 8192, (16, 0xAAAA));
        byte[] before = File.ReadAllBytes(path);
        var mem = new PhysicalMemory();
        mem.LoadImage(new PhysicalAddress(0x1000), path, 0, 8192);
        mem.Write64(new PhysicalAddress(0x1010), 0xBBBB);
        mem.Write64(new PhysicalAddress(0x2000), 0xCCCC);

        Assert.Equal(0xBBBBUL, mem.Peek64(new PhysicalAddress(0x1010)));
        Assert.Equal(0xCCCCUL, mem.Peek64(new PhysicalAddress(0x2000)));
        Assert.Equal(before, File.ReadAllBytes(path));
        // A second load of the same file sees the file, not the first one's writes.
        var other = new PhysicalMemory();
        other.LoadImage(new PhysicalAddress(0x1000), path, 0, 8192);
        Assert.Equal(0xAAAAUL, other.Peek64(new PhysicalAddress(0x1010)));
    }

    [Fact]
    public void PartialFramesOffsetsAndOverlapsFollowTraceOrder()
    {
        // Words 0..7 of the file are 0x100 + i; the image takes 3 words from offset 16 to PA 0x2ff8 (straddling frames).
        string path = Image("p.img", 64, Enumerable.Range(0, 8).Select(i => ((long)i * 8, 0x100UL + (ulong)i)).ToArray());
        var mem = new PhysicalMemory();
        mem.Write64(new PhysicalAddress(0x2ff0), 0x55);   // before the image, outside it: kept
        mem.Write64(new PhysicalAddress(0x3000), 0x66);   // before the image, inside it: replaced
        mem.LoadImage(new PhysicalAddress(0x2ff8), path, 16, 24);
        mem.Write64(new PhysicalAddress(0x3008), 0x77);   // after the image: wins

        Assert.Equal(0x55UL, mem.Peek64(new PhysicalAddress(0x2ff0)));
        Assert.Equal(0x102UL, mem.Peek64(new PhysicalAddress(0x2ff8)));
        Assert.Equal(0x103UL, mem.Peek64(new PhysicalAddress(0x3000)));
        Assert.Equal(0x77UL, mem.Peek64(new PhysicalAddress(0x3008)));
        Assert.Equal(0UL, mem.Peek64(new PhysicalAddress(0x3010)));

        // A later image over an earlier one wins where they overlap, the earlier one shows elsewhere.
        var two = new PhysicalMemory();
        two.LoadImage(new PhysicalAddress(0x10000), path, 0, 64);
        two.LoadImage(new PhysicalAddress(0x10020), path, 0, 16);
        Assert.Equal(new ulong[] { 0x100, 0x101, 0x102, 0x103, 0x100, 0x101, 0x106, 0x107 },
            Enumerable.Range(0, 8).Select(i => two.Peek64(new PhysicalAddress(0x10000 + (ulong)i * 8))).ToArray());
    }

    /// <summary>
    /// A sparse 1 GiB image holding a 4K stage-1 table set at its end: loaded and walked, it costs the frames of no
    /// written page (translation reads only), and the walk finds the image's descriptors.
    /// </summary>
    [Fact]
    public async Task LargeSparseImageHoldsTablesAndCostsNoFrames()
    {
        const long gib = 1L << 30;
        const ulong ramBase = 0x4000_0000;
        long t = gib - 0x4000; // the tables: L0, L1, L2, L3 in the last four pages
        ulong Pa(long offset) => ramBase + (ulong)offset;
        Image("big.img", gib,
            (t, Pa(t + 0x1000) | 3),
            (t + 0x1000, Pa(t + 0x2000) | 3),
            (t + 0x2000, Pa(t + 0x3000) | 3),
            (t + 0x3000 + 8, 0x5000_0403));
        string trace = Trace("big.trace", $"""
            ram  0x40000000 0x40000000
            load 0x40000000 big.img
            reg  MAIR_EL1  0xff
            reg  TCR_EL1   0x0000000280803510
            reg  TTBR0_EL1 0x{Pa(t):x}
            reg  SCTLR_EL1 0x1
            el   1
            R    0x1008
            R    0x2000
            """);

        var (core, outcomes) = await Replay(trace);

        Assert.Equal(0x5000_0008UL, outcomes[0].Pa);
        Assert.False(outcomes[0].IsFault);
        Assert.True(outcomes[1].IsFault);
        Assert.Equal(3, outcomes[1].Fault.Level);
        Assert.Equal((ulong)gib, core.Memory.MappedImageBytes);
        Assert.Equal(0, core.Memory.AllocatedBytes);
    }

    [Fact]
    public async Task RelativeNameIsFoundFromTheTracesFolderAndConvertsBothWays()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "sub"));
        Image(Path.Combine("sub", "m.img"), 4096, (8, 0x40001003));
        string trace = Trace(Path.Combine("sub", "t.trace"), "load 0x40000000 m.img 8 8\ndump 0x40000000\ndump 0x40000008\n");

        var (_, outcomes) = await Replay(trace);
        Assert.Equal(new ulong[] { 0x40001003, 0 }, outcomes.Select(o => o.Value).ToArray());

        // text -> binary -> text keeps the line as written (a relative name stays relative).
        string bin = Path.Combine(_dir, "sub", "t.mbt");
        string back = Path.Combine(_dir, "sub", "back.trace");
        Assert.Equal(0, Support.Cli.Run("convert", trace, bin).Exit);
        Assert.Equal(0, Support.Cli.Run("convert", bin, back).Exit);
        Assert.Equal("load 0x40000000 m.img 0x8 0x8\ndump 0x40000000\ndump 0x40000008\n", File.ReadAllText(back));
        var (_, fromBinary) = await Replay(bin);
        Assert.Equal(outcomes.Select(o => o.Value), fromBinary.Select(o => o.Value));
    }

    [Theory]
    [InlineData("load 0x1000 nothere.img", 1, 13, "memory image 'nothere.img' not found ({dir}/nothere.img)")]
    [InlineData("load 0x1000 small.img 0 0x2000", 1, 13, "memory image 'small.img' holds 4096 bytes from offset 0, fewer than the 8192 asked for")]
    [InlineData("load 0x1000 small.img 0x2000", 1, 13, "offset 8192 is past the end of memory image 'small.img' (4096 bytes)")]
    [InlineData("load 0x1004 small.img", 1, 6, "load address 0x1004 is not 8-byte aligned")]
    [InlineData("load 0x1000 small.img 0 12", 1, 25, "load size 12 is not a multiple of 8")]
    [InlineData("load 0x10_0000_0000_0000 small.img", 1, 6, "load address 0x10000000000000 is outside the 52-bit physical address space")]
    [InlineData("load 0xf_ffff_ffff_f000 small.img 0 0x2000", 1, 37, "a load of 8192 bytes at 0xffffffffff000 ends past the 52-bit physical address space")]
    [InlineData("load 0xf_ffff_ffff_f008 small.img", 1, 25, "memory image 'small.img' (4096 bytes from 0xffffffffff008) ends past the 52-bit physical address space")]
    [InlineData("load 0x1000", 1, 12, "missing file name")]
    public void BadLoadIsAnErrorAtItsLineAndColumn(string line, int lineNumber, int column, string reason)
    {
        Image("small.img", 4096);
        string trace = Trace("bad.trace", "# a memory image\n" + line + "\n");
        var (exit, _, stderr) = Support.Cli.Run("replay", trace);
        Assert.Equal(2, exit);
        Assert.Equal($"mmusim: {trace}:{lineNumber + 1}:{column}: {reason.Replace("{dir}", _dir)}", stderr.Trim());
    }

    [Fact]
    public void HostileBinaryLoadRecordsAreRefusedAtTheirOffset()
    {
        // Header, then a load record whose file-name word is all zeros (an empty name).
        var bytes = new byte[16 + 16 + 24];
        BinaryTrace.WriteHeader(bytes);
        bytes[16] = BinaryTrace.TagLoad;
        BitConverter.GetBytes(3u).CopyTo(bytes, 20);
        string path = Path.Combine(_dir, "h.mbt");
        File.WriteAllBytes(path, bytes);
        var (exit, _, stderr) = Support.Cli.Run("replay", path);
        Assert.Equal(2, exit);
        Assert.Equal($"mmusim: {path}:byte 16: record 1: the file name of a load record fills its words, zero-padded to the last", stderr.Trim());

        // Truncated inside its extra words.
        File.WriteAllBytes(path, bytes[..40]);
        (exit, _, stderr) = Support.Cli.Run("replay", path);
        Assert.Equal(2, exit);
        Assert.StartsWith($"mmusim: {path}:byte 16: truncated input", stderr.Trim());
    }
}
