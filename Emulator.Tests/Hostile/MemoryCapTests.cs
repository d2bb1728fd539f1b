using System.Text;
using MmuSim.Hypervisor;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// `faults` and `explain` under the memory cap (issue 19): `--max-memory` and the ram-region limit apply as in
/// `replay` (exit 3, the faults found before it printed), and the layout scan of a setup trace reads a comment line
/// of any length in bounded memory (a 1.2 GB comment used to take 6.5 GB).
/// </summary>
[Collection("Console")]
public sealed class MemoryCapTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmusim-cap").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Cells => Path.Combine(TestPaths.Traces, "cells");

    /// <summary>The tlb-hit guest (one fault), then <paramref name="frames"/> `mem` lines each on a frame of its own.</summary>
    private string GuestThenFrames(int frames)
    {
        var sb = new StringBuilder(File.ReadAllText(Path.Combine(Cells, "linux-demo.tlb-hit.guest.trace")));
        for (int k = 0; k < frames; k++)
        {
            sb.Append($"mem 0x{0x100000000UL + ((ulong)k << 12):x} 1\n");
        }
        string path = Path.Combine(_dir, "guest.trace");
        File.WriteAllText(path, sb.ToString());
        return path;
    }

    [Fact]
    public void FaultsStopsAtTheMemoryCapWithTheFaultsFoundSoFar()
    {
        string guest = GuestThenFrames(2048); // 8 MiB of frames against a 4 MiB cap
        string setup = Path.Combine(Cells, "linux-demo.setup.trace");
        var (exit, output, err) = Support.Cli.Run("faults", setup, guest, "--max-memory", "4m");
        Assert.Equal(3, exit);
        Assert.Equal("mmusim faults: simulated physical memory would exceed its cap of 4194304 bytes (raise it with --max-memory)\n", err.Replace("\r\n", "\n"));
        // Without the cap the same trace runs to the end; the fault before the cap is reported the same, in full.
        var (fullExit, fullOutput, fullErr) = Support.Cli.Run("faults", setup, guest);
        Assert.Equal((0, ""), (fullExit, fullErr));
        Assert.Equal(fullOutput, output);
        Assert.EndsWith("\n1 fault in 2 accesses\n", output.Replace("\r\n", "\n"), StringComparison.Ordinal);
    }

    [Fact]
    public void FaultsStopsAtTheRamRegionLimit()
    {
        var sb = new StringBuilder();
        for (int k = 0; k <= MmuSim.Memory.PhysicalMemory.MaxRamRegions; k++)
        {
            sb.Append($"ram 0x{0x100000000UL + ((ulong)k << 13):x} 0x1000\n");
        }
        string path = Path.Combine(_dir, "ram.trace");
        File.WriteAllText(path, sb.ToString());
        var (exit, output, err) = Support.Cli.Run("faults", path);
        Assert.Equal(3, exit);
        Assert.Equal("mmusim faults: note: no #@mmusim-setup line in the traces, so regions cannot be named (use a setup trace from `mmusim cell`)\n"
            + $"mmusim faults: more than {MmuSim.Memory.PhysicalMemory.MaxRamRegions} ram regions declared\n", err.Replace("\r\n", "\n"));
        Assert.EndsWith("0 faults in 0 accesses\n", output.Replace("\r\n", "\n"), StringComparison.Ordinal);
    }

    [Fact]
    public void ExplainStopsAtTheMemoryCap()
    {
        string guest = GuestThenFrames(2048);
        File.AppendAllText(guest, "R 0x4f100000\n"); // explained, after the frames
        int line = File.ReadAllLines(guest).Length;
        var (exit, output, err) = Support.Cli.Run("explain", Path.Combine(Cells, "linux-demo.setup.trace"), guest, "--line", line.ToString(System.Globalization.CultureInfo.InvariantCulture), "--max-memory", "4m");
        Assert.Equal(3, exit);
        Assert.Equal("", output);
        Assert.Equal("mmusim: simulated physical memory would exceed its cap of 4194304 bytes (raise it with --max-memory)\n", err.Replace("\r\n", "\n"));
    }

    [Theory]
    [InlineData("faults")]
    [InlineData("explain")]
    public void ABadCapIsABadOption(string command)
    {
        string[] line = command == "explain" ? ["--line", "1"] : [];
        var (exit, _, err) = Support.Cli.Run([command, Path.Combine(Cells, "linux-demo.setup.trace"), .. line, "--max-memory", "9223372036854775808"]);
        Assert.Equal(1, exit);
        Assert.Equal($"mmusim {command}: bad --max-memory '9223372036854775808' (a size from 4m to 8388607t, e.g. 512m or 4g)\n", err.Replace("\r\n", "\n"));
    }

    [Fact]
    public async Task FaultsKeepsNoReportWhenItPrintsThemAsTheyCome()
    {
        // 20,000 writes to the read-only device tree, each a fault: handed out one by one, none kept.
        var sb = new StringBuilder(File.ReadAllText(Path.Combine(Cells, "linux-demo.tlb-hit.guest.trace")));
        for (int k = 0; k < 20_000; k++)
        {
            sb.Append($"W 0x{0x4f100000 + ((k * 8) & 0xfff):x}\n");
        }
        string guest = Path.Combine(_dir, "many.trace");
        File.WriteAllText(guest, sb.ToString());
        long handed = 0;
        var run = await FaultReplay.RunAsync([Path.Combine(Cells, "linux-demo.setup.trace"), guest], false, onFault: (_, _) => handed++);
        Assert.Null(run.Error);
        Assert.Empty(run.Faults);
        Assert.Equal(20_001, run.FaultCount);
        Assert.Equal(run.FaultCount, handed);
    }

    [Fact]
    public async Task FaultsJsonWrittenAsTheFaultsComeIsTheWholeRunsJson()
    {
        string setup = Path.Combine(Cells, "linux-demo.setup.trace"), guest = Path.Combine(Cells, "linux-demo.guest.trace");
        string json = Path.Combine(_dir, "f.json");
        var (exit, _, err) = Support.Cli.Run("faults", setup, guest, "--json", json);
        Assert.Equal((0, ""), (exit, err));
        var run = await FaultReplay.RunAsync([setup, guest], false);
        var whole = new MemoryStream();
        FaultReportWriter.WriteJson(whole, run.Faults);
        Assert.True(run.Faults.Count > 1);
        Assert.Equal(Encoding.UTF8.GetString(whole.ToArray()), File.ReadAllText(json));
    }

    /// <summary>A stream of one comment line of <paramref name="length"/> bytes, then a command, made as it is read.</summary>
    private sealed class LongCommentStream(long length) : ReadOnlyStream(Null, ownsInner: false)
    {
        private long _pos;
        private static readonly byte[] Tail = "\nR 0x1000\n"u8.ToArray();

        protected override long BytesRead => _pos;

        public override int Read(Span<byte> buffer)
        {
            long total = length + Tail.Length;
            int n = (int)Math.Min(buffer.Length, total - _pos);
            for (int i = 0; i < n; i++, _pos++)
            {
                buffer[i] = _pos == 0 ? (byte)'#' : _pos < length ? (byte)'x' : Tail[_pos - length];
            }
            return n;
        }
    }

    [Fact]
    public void TheLayoutScanSkipsAHugeCommentInBoundedMemory()
    {
        // 256 MiB of comment: a string of it would be 512 MiB; the scan allocates its 64 KiB chunk and little more.
        long before = GC.GetAllocatedBytesForCurrentThread();
        var map = SetupMap.FromTraceStream(new LongCommentStream(256L << 20), "big.trace", 1 << 20);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Null(map);
        Assert.True(allocated < (1 << 20), $"{allocated} bytes allocated");
    }

    [Fact]
    public void ADirectiveLongerThanTheLimitNamesItsLineAndColumn()
    {
        string text = "# setup\n#@mmusim-setup {\"x\":\"" + new string('a', 5000) + "\"}\n";
        var e = Assert.Throws<FormatException>(() => SetupMap.FromTraceStream(new MemoryStream(Encoding.UTF8.GetBytes(text)), "s.trace", 4096));
        Assert.Equal("s.trace:2:4097: line is longer than 4096 bytes", e.Message);
    }

    [Fact]
    public void FaultsRefusesAnOverlongLineNamingItsLine()
    {
        // A 17 MiB comment line in the guest trace: past the readers' 16 MiB line limit, refused by the replay.
        string path = Path.Combine(_dir, "long.trace");
        using (var f = File.Create(path))
        {
            new LongCommentStream(17L << 20).CopyTo(f);
        }
        var (exit, output, err) = Support.Cli.Run("faults", Path.Combine(Cells, "linux-demo.setup.trace"), path);
        Assert.Equal(2, exit);
        Assert.Equal($"mmusim faults: {path}:1:1: line is longer than 16777216 bytes\n", err.Replace("\r\n", "\n"));
        Assert.EndsWith("0 faults in 0 accesses\n", output.Replace("\r\n", "\n"), StringComparison.Ordinal);
    }
}
