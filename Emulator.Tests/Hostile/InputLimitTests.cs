using System.Buffers.Binary;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// Records that used to wrap or that the formats forbid are refused with one line naming file, line and column (or
/// byte offset), exit 2: a `mem` line whose words run past 2^64 (they wrapped to PA 0), an empty or wrapping `ram`
/// region, a binary X record whose size is not 4. A lackey instruction record replays as the X of its conversion.
/// </summary>
[Collection("Console")]
public sealed class InputLimitTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-limits-" + Guid.NewGuid().ToString("N"));

    public InputLimitTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private string WriteBytes(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static (int Exit, string Err) Replay(string path)
    {
        var (exit, _, err) = Support.Cli.Run("replay", path, "--quiet");
        return (exit, err.Replace("\r\n", "\n"));
    }

    [Fact]
    public void MemWordsPastTheTopOfTheAddressSpaceAreRefused()
    {
        string path = Write("m.trace", "mem 0xfffffffffffffff0 1 2 3\n");
        var (exit, err) = Replay(path);
        Assert.Equal(2, exit);
        Assert.Equal($"mmusim: {path}:1:28: mem word 3 would lie past the top of the 64-bit address space\n", err);
    }

    [Fact]
    public void MemWordsUpToTheTopOfTheAddressSpaceAreKept()
    {
        string path = Write("m.trace", "mem 0xfffffffffffffff0 1 2\ndump 0xfffffffffffffff8\n");
        string results = Path.Combine(_dir, "r.jsonl");
        var (exit, _, err) = Support.Cli.Run("replay", path, "--quiet", "--results", results);
        Assert.Equal("", err);
        Assert.Equal(0, exit);
        Assert.Contains("\"value\":\"0x2\"", File.ReadAllText(results));
    }

    [Theory]
    [InlineData("ram 0x1000 0\n", "1:12: a RAM region cannot be empty (size 0)")]
    [InlineData("ram 0xfffffffffffff000 0x2000\n", "1:24: the RAM region runs past the top of the 64-bit address space")]
    public void EmptyAndWrappingRamLinesAreRefused(string text, string where)
    {
        string path = Write("r.trace", text);
        var (exit, err) = Replay(path);
        Assert.Equal(2, exit);
        Assert.Equal($"mmusim: {path}:{where}\n", err);
    }

    private static byte[] Binary(params (ulong Head, ulong X, ulong[] Extra)[] records)
    {
        var bytes = new List<byte>();
        byte[] header = new byte[16];
        MmuSim.Tracing.BinaryTrace.Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(8), MmuSim.Tracing.BinaryTrace.Version);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(10), 16);
        bytes.AddRange(header);
        foreach (var (head, x, extra) in records)
        {
            byte[] r = new byte[16 + 8 * extra.Length];
            BinaryPrimitives.WriteUInt64LittleEndian(r, head);
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(8), x);
            for (int i = 0; i < extra.Length; i++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(16 + 8 * i), extra[i]);
            }
            bytes.AddRange(r);
        }
        return bytes.ToArray();
    }

    [Fact]
    public void ABinaryFetchOfEightBytesIsRefused()
    {
        string path = WriteBytes("x.bin", Binary((0x03 | 4 << 8, 0x1000, []), (0x03 | 8 << 8, 0x2000, [])));
        var (exit, err) = Replay(path);
        Assert.Equal(2, exit);
        Assert.Equal($"mmusim: {path}:byte 32: record 2: fetch size 8 is not 4 (an X record fetches one 4-byte instruction)\n", err);
    }

    [Fact]
    public void BinaryMemWordsPastTheTopAndEmptyRamAreRefused()
    {
        string mem = WriteBytes("m.bin", Binary((0x11 | 3UL << 32, 0xfffffffffffffff0, [1, 2, 3])));
        var (exit, err) = Replay(mem);
        Assert.Equal(2, exit);
        Assert.Equal($"mmusim: {mem}:byte 16: record 1: 3 mem words from 0xfffffffffffffff0 would run past the top of the 64-bit address space\n", err);
        string ram = WriteBytes("r.bin", Binary((0x12 | 1UL << 32, 0x1000, [0])));
        (exit, err) = Replay(ram);
        Assert.Equal(2, exit);
        Assert.Equal($"mmusim: {ram}:byte 16: record 1: a RAM region cannot be empty (size 0)\n", err);
    }

    [Fact]
    public void ALackeyInstructionReplaysAsItsBinaryConversion()
    {
        // A 7-byte x86 instruction 3 bytes before a page boundary: as lackey's size it would cross the page.
        string lackey = Write("l.lackey", "==1== lackey\nI  00000ffd,7\n L 00002000,8\n");
        string bin = Path.Combine(_dir, "l.bin");
        Assert.Equal(0, Support.Cli.Run("convert", lackey, bin).Exit);
        string direct = Path.Combine(_dir, "direct.json"), converted = Path.Combine(_dir, "converted.json");
        var (e1, _, err1) = Support.Cli.Run("replay", lackey, "--quiet", "--json", direct, "--demand-paging", "on");
        var (e2, _, err2) = Support.Cli.Run("replay", bin, "--quiet", "--json", converted, "--demand-paging", "on");
        Assert.Equal("", err1 + err2);
        Assert.Equal((0, 0), (e1, e2));
        var a = System.Text.Json.JsonDocument.Parse(File.ReadAllText(direct)).RootElement;
        var b = System.Text.Json.JsonDocument.Parse(File.ReadAllText(converted)).RootElement;
        foreach (string counter in new[] { "accesses", "fetches", "tlbHits", "walks", "descriptorReads", "translationCycles" })
        {
            Assert.Equal(a.GetProperty(counter).GetInt64(), b.GetProperty(counter).GetInt64());
        }
        Assert.Equal(2, a.GetProperty("accesses").GetInt64()); // the fetch did not cross into a second page
    }
}
