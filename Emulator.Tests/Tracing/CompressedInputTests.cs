using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using MmuSim.Tracing;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Tracing;

/// <summary>
/// Compressed inputs are read whole and checked as `gzip -t` and `xz -t` check them: every gzip member (RFC 1952
/// §2.2) and every xz stream with its padding (.xz format §2), each member's CRC32 and ISIZE, each xz block's check,
/// index and footer; a cut, a flipped byte or bytes after the end are errors naming the byte offset, reported after
/// the records decompressed before them. The .gz files are made here by .NET; the .xz files by the xz command.
/// </summary>
public class CompressedInputTests
{
    /// <summary>`count` reads of consecutive pages from page `first`, one per line.</summary>
    private static byte[] Text(int first, int count) =>
        Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(first, count).Select(i => $"R 0x{(ulong)i * 4096:x}\n")));

    private static ulong[] Pages(int first, int count) => [.. Enumerable.Range(first, count).Select(i => (ulong)i * 4096)];

    private static byte[] Gzip(byte[] data)
    {
        var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Optimal, leaveOpen: true))
        {
            z.Write(data);
        }
        return gz.ToArray();
    }

    private static bool HaveXz => File.Exists("/usr/bin/xz") || File.Exists("/bin/xz");

    private static void NeedXz() =>
        Skip.If(!HaveXz && Environment.GetEnvironmentVariable("CI") != "true", "the xz command is not installed (.ci/install-xz.sh)");

    private static bool HaveZstd => File.Exists("/usr/bin/zstd") || File.Exists("/bin/zstd");

    private static void NeedZstd() =>
        Skip.If(!HaveZstd && Environment.GetEnvironmentVariable("CI") != "true", "the zstd command is not installed (.ci/install-xz.sh)");

    /// <summary>Compresses with the zstd command (`zstd -c -q ARGS`), as a user's files are made.</summary>
    private static byte[] Zstd(byte[] data, params string[] args) => Compress("zstd", data, ["-q", .. args]);

    /// <summary>Compresses with the xz command (`xz -c ARGS`), as a user's files are made.</summary>
    private static byte[] Xz(byte[] data, params string[] args) => Compress("xz", data, args);

    private static byte[] Compress(string command, byte[] data, string[] args)
    {
        var psi = new ProcessStartInfo(command) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var output = new MemoryStream();
        var copy = p.StandardOutput.BaseStream.CopyToAsync(output);
        p.StandardInput.BaseStream.Write(data);
        p.StandardInput.Close();
        copy.GetAwaiter().GetResult();
        Assert.True(p.WaitForExit(30_000));
        Assert.Equal(0, p.ExitCode);
        return output.ToArray();
    }

    private static byte[] Cat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    /// <summary>Reads a whole compressed text trace: the pages read, and the error that ended it (null if none).</summary>
    private static (ulong[] Pages, TraceFormatException? Error) Read(byte[] file, string name)
    {
        var sink = new RecordList();
        TraceFormatException? error = null;
        try
        {
            using var input = TraceInput.Open(new MemoryStream(file), name, TraceFormat.Text);
            TraceReaders.ParseAsync(input, sink).AsTask().GetAwaiter().GetResult();
        }
        catch (TraceFormatException e)
        {
            error = e;
        }
        return ([.. sink.Records.Select(r => r.Address)], error);
    }

    private static ulong[] ReadWhole(byte[] file, string name)
    {
        var (pages, error) = Read(file, name);
        Assert.Null(error);
        return pages;
    }

    /// <summary>
    /// The error a damaged file gives, and a check that what was replayed before it is a prefix of the whole (not
    /// when the damage is inside compressed data: a block's or member's check is verified at its end, after the
    /// bytes decoded from it were handed on, as `xz -dc` and `gzip -dc` hand them on).
    /// </summary>
    private static string Fails(byte[] file, string name, ulong[] whole, bool prefix = true)
    {
        var (pages, error) = Read(file, name);
        Assert.NotNull(error);
        if (prefix)
        {
            Assert.Equal(whole[..pages.Length], pages);
        }
        return error.Message;
    }

    [Fact]
    public void TheSystemDecodersAreUsed()
    {
        // The checks below are zlib's and liblzma's; a Linux system always has both (dpkg needs them).
        Assert.NotNull(NativeCodecs.ZlibOrNull);
        Assert.NotNull(NativeCodecs.LzmaOrNull);
    }

    [Fact]
    public void EveryGzipMemberIsReplayed()
    {
        // `cat a.gz b.gz` and pigz: several members, an empty one among them.
        byte[] file = Cat(Gzip(Text(0, 3000)), Gzip(Text(3000, 5)), Gzip([]), Gzip(Text(3005, 2000)));
        Assert.Equal(Pages(0, 5005), ReadWhole(file, "m.trace.gz"));
    }

    [SkippableFact]
    public void EveryXzStreamIsReplayedWithItsPadding()
    {
        NeedXz();
        byte[] a = Xz(Text(0, 3000)), b = Xz(Text(3000, 1000), "--check=sha256"), c = Xz(Text(4000, 10), "--check=crc32");
        Assert.Equal(Pages(0, 4010), ReadWhole(Cat(a, b, c), "s.trace.xz"));
        // Stream padding: multiples of four null bytes between and after streams (.xz format §2.2).
        byte[] padded = Cat(a, new byte[4], b, new byte[12], c, new byte[8]);
        Assert.Equal(Pages(0, 4010), ReadWhole(padded, "p.trace.xz"));
        // Several blocks in one stream, as `xz -T0` writes them.
        Assert.Equal(Pages(0, 20000), ReadWhole(Xz(Text(0, 20000), "-T2", "--block-size=8KiB"), "b.trace.xz"));
        // Padding that is not a multiple of four is corrupt.
        Assert.Equal($"p3.trace.xz:byte {a.Length + b.Length}: corrupt xz input: stream padding of 3 null bytes, not a multiple of four",
            Fails(Cat(a, b, new byte[3]), "p3.trace.xz", Pages(0, 4000)));
        Assert.Equal($"p5.trace.xz:byte {a.Length}: corrupt xz input: stream padding of 5 null bytes, not a multiple of four",
            Fails(Cat(a, new byte[5], b), "p5.trace.xz", Pages(0, 4000)));
    }

    [Fact]
    public void GzipChecksumsAreCheckedAndNamed()
    {
        byte[] good = Gzip(Text(0, 2000));
        ulong[] whole = Pages(0, 2000);
        int n = good.Length;
        byte[] crc = Flip(good, n - 8);
        Assert.Equal($"c.trace.gz:byte {n - 8}: gzip CRC32 mismatch: the gzip member at byte 0 decompresses to data whose CRC32 differs from its trailer's (corrupt data or trailer)",
            Fails(crc, "c.trace.gz", whole));
        byte[] isize = Flip(good, n - 3);
        Assert.Equal($"i.trace.gz:byte {n - 4}: gzip ISIZE mismatch: the gzip member at byte 0 decompresses to {Text(0, 2000).Length} bytes, not the length its trailer gives (corrupt trailer)",
            Fails(isize, "i.trace.gz", whole));
        // In the second member: the offset is the file's, the member named by where it starts.
        byte[] two = Cat(good, crc);
        Assert.Equal($"t.trace.gz:byte {2 * n - 8}: gzip CRC32 mismatch: the gzip member at byte {n} decompresses to data whose CRC32 differs from its trailer's (corrupt data or trailer)",
            Fails(two, "t.trace.gz", [.. whole, .. whole]));
        // A reserved header flag bit (RFC 1952 §2.3.1: FLG bits 5-7 must be zero).
        byte[] flags = (byte[])good.Clone();
        flags[3] = 0xE0;
        Assert.Equal("f.trace.gz:byte 4: corrupt gzip header in the gzip member at byte 0: unknown header flags set", Fails(flags, "f.trace.gz", whole));
    }

    [Fact]
    public void WithoutZlibAChecksumErrorStillSaysWhatItCanBe()
    {
        // The managed fallback (systems without zlib): .NET words a CRC32 mismatch "unsupported compression method".
        byte[] good = Gzip(Text(0, 50));
        using var gz = new CheckedGzipStream(new MemoryStream(Flip(good, good.Length - 8)), "w.trace.gz");
        var e = Assert.Throws<TraceFormatException>(() => gz.CopyTo(Stream.Null));
        Assert.Equal($"w.trace.gz:byte {good.Length}: corrupt gzip input: damaged deflate data, or a member's CRC32 or ISIZE does not match its data", e.Message);
    }

    [Fact]
    public void EveryFlippedGzipByteIsAnErrorOrHarmless()
    {
        // Any one byte changed anywhere is caught (by the header parse, the deflate decoder or the CRC32), except in
        // the header's MTIME, XFL and OS fields, which carry no data.
        byte[] good = Gzip(Text(0, 300));
        ulong[] whole = Pages(0, 300);
        for (int i = 0; i < good.Length; i++)
        {
            var (pages, error) = Read(Flip(good, i), "x.trace.gz");
            if (i is >= 4 and < 10)
            {
                Assert.Null(error);
                Assert.Equal(whole, pages);
                continue;
            }
            // A flipped magic number is no gzip file: it is read as text, whose first line is then wrong. Damaged
            // compressed data may decode to a bad line before the member's CRC32 is reached: an error either way.
            Assert.True(error is not null, $"byte {i} flipped: no error");
            Assert.Matches(i < 2 ? "^x\\.trace\\.gz:1:" : "^x\\.trace\\.gz:(byte |[0-9]+:[0-9]+: )", error.Message);
        }
    }

    [SkippableFact]
    public void XzBlockIndexAndFooterDamageIsAnError()
    {
        NeedXz();
        byte[] good = Xz(Text(0, 2000));
        ulong[] whole = Pages(0, 2000);
        int n = good.Length;
        // Stream footer (§2.1.2): CRC32, Backward Size, Stream Flags, "YZ" — 12 bytes; the index ends just before it.
        int backward = (BitConverter.ToInt32(good, n - 8) + 1) * 4;
        int index = n - 12 - backward;
        // The block's CRC64 is the 8 bytes before the index (after the block's padding).
        var places = new (string What, int At)[]
        {
            ("block data", index / 2), ("block check", index - 3), ("index record count", index + 1), ("index CRC32", index + backward - 2),
            ("footer CRC32", n - 11), ("footer backward size", n - 8), ("footer flags", n - 3), ("footer magic", n - 1),
            ("header flags", 7),
        };
        foreach (var (what, at) in places)
        {
            string message = Fails(Flip(good, at), "d.trace.xz", whole, prefix: what != "block data");
            // Damaged block data may decode to a bad line before the block's check is reached.
            Assert.True(message.StartsWith("d.trace.xz:byte ", StringComparison.Ordinal) && message.Contains("xz input")
                || what == "block data" && System.Text.RegularExpressions.Regex.IsMatch(message, "^d\\.trace\\.xz:[0-9]+:[0-9]+: "), $"{what}: {message}");
        }
    }

    [SkippableFact]
    public void EveryFlippedXzByteIsAnError()
    {
        // Every byte of an xz file is covered by a CRC32 (headers, index, footer) or the block's check, or is a
        // magic number or padding that must be exact: any one changed is an error, never a quiet replay.
        NeedXz();
        foreach (string check in new[] { "crc32", "crc64", "sha256" })
        {
            byte[] good = Xz(Text(0, 40), "--check=" + check);
            for (int i = 0; i < good.Length; i++)
            {
                var (_, error) = Read(Flip(good, i), "x.trace.xz");
                Assert.True(error is not null, $"--check={check}, byte {i} flipped: no error");
                Assert.Matches(i < 6 ? "^x\\.trace\\.xz:1:" : "^x\\.trace\\.xz:(byte |[0-9]+:[0-9]+: )", error.Message);
            }
        }
    }

    [SkippableFact]
    public void TruncationAtEveryLengthIsReported()
    {
        NeedXz();
        byte[] text = Text(0, 40);
        ulong[] whole = Pages(0, 40);
        foreach (var (name, file) in new[] { ("cut.trace.gz", Gzip(text)), ("cut.trace.xz", Xz(text)), ("cut2.trace.gz", Cat(Gzip(text), Gzip(Text(40, 3)))) })
        {
            int firstMember = Gzip(text).Length;
            for (int cut = 1; cut < file.Length; cut++)
            {
                if (name == "cut2.trace.gz" && cut == firstMember)
                {
                    Assert.Equal(whole, ReadWhole(file[..cut], name)); // a whole member: a whole gzip file
                    continue;
                }
                string message = Fails(file[..cut], name, [.. whole, .. Pages(40, 3)]);
                Assert.True(message.StartsWith($"{name}:byte {cut}: truncated ", StringComparison.Ordinal)
                    || (name == "cut2.trace.gz" && cut == firstMember + 1 && message.StartsWith($"{name}:byte {cut - 1}: trailing data", StringComparison.Ordinal)),
                    $"cut at {cut} of {file.Length}: {message}");
            }
        }
    }

    [SkippableFact]
    public void TrailingBytesAfterTheLastMemberOrStreamAreAnError()
    {
        NeedXz();
        byte[] gz = Gzip(Text(0, 100));
        Assert.Equal($"g.trace.gz:byte {gz.Length}: trailing data after the last gzip member (bytes 67 61 72 62 ...): not a gzip member " +
            "(gzip -t ignores such bytes with a warning; mmusim refuses them, a trace must not lose data silently)",
            Fails(Cat(gz, "garbage!"u8.ToArray()), "g.trace.gz", Pages(0, 100)));
        // Null bytes to the end are accepted, as gzip accepts them; not when something follows them.
        Assert.Equal(Pages(0, 100), ReadWhole(Cat(gz, new byte[512]), "z.trace.gz"));
        Assert.StartsWith($"z.trace.gz:byte {gz.Length + 3}: trailing data after the last gzip member (bytes 1f 8b",
            Fails(Cat(gz, new byte[3], gz), "z.trace.gz", Pages(0, 100)));
        byte[] xz = Xz(Text(0, 100));
        Assert.Equal($"g.trace.xz:byte {xz.Length}: trailing data after the last xz stream (bytes 67 61 72 62 ...): neither stream padding nor an xz stream",
            Fails(Cat(xz, "garbage!"u8.ToArray()), "g.trace.xz", Pages(0, 100)));
        Assert.Equal($"z.trace.xz:byte {xz.Length + 8}: trailing data after the last xz stream (bytes 01): neither stream padding nor an xz stream",
            Fails(Cat(xz, new byte[8], [1]), "z.trace.xz", Pages(0, 100)));
    }

    /// <summary>Gives <paramref name="data"/> in reads of at most 1000 bytes, then throws a format error.</summary>
    private sealed class FailingSource(byte[] data) : ReadOnlyStream(Null, ownsInner: false)
    {
        private int _pos;

        public int Disposed { get; private set; }

        protected override long BytesRead => _pos;

        public override int Read(Span<byte> buffer)
        {
            if (_pos == data.Length)
            {
                throw TraceFormatException.AtByte("s", _pos, "broken here");
            }
            int n = Math.Min(Math.Min(buffer.Length, 1000), data.Length - _pos);
            data.AsSpan(_pos, n).CopyTo(buffer);
            _pos += n;
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            Disposed++;
            base.Dispose(disposing);
        }
    }

    [Fact]
    public void ReadAheadGivesTheBytesThenTheErrorInOrder()
    {
        // More than the four 256 KiB buffers, so the thread waits for the reader several times.
        byte[] data = [.. Enumerable.Range(0, 1_500_000).Select(i => (byte)(i * 7 + (i >> 11)))];
        var source = new FailingSource(data);
        var got = new MemoryStream();
        var rng = new Random(5);
        TraceFormatException? error = null;
        using (var ahead = new ReadAheadStream(source))
        {
            var buf = new byte[70_000];
            try
            {
                while (true)
                {
                    int n = ahead.Read(buf, 0, rng.Next(1, buf.Length));
                    Assert.NotEqual(0, n); // the source never ends: it fails
                    got.Write(buf, 0, n);
                }
            }
            catch (TraceFormatException e)
            {
                error = e;
            }
            Assert.Equal("s:byte 1500000: broken here", error.Message);
            Assert.Equal(data, got.ToArray());
            // The error stays: a later read reports it again rather than inventing an end.
            Assert.Equal(error.Message, Assert.Throws<TraceFormatException>(() => ahead.Read(buf, 0, 10)).Message);
        }
        Assert.Equal(1, source.Disposed);
        // Disposed early, with the thread waiting for room: it stops, and the source is disposed after it.
        var early = new FailingSource(data);
        using (var ahead = new ReadAheadStream(early))
        {
            Assert.Equal(1, ahead.Read(new byte[1], 0, 1));
        }
        Assert.Equal(1, early.Disposed);
    }

    private static byte[] Flip(byte[] data, int at)
    {
        byte[] copy = (byte[])data.Clone();
        copy[at] ^= 0x55;
        return copy;
    }

    [SkippableFact]
    public void EveryZstdFrameIsReplayedAndItsChecksumChecked()
    {
        NeedZstd();
        Assert.NotNull(NativeCodecs.ZstdOrNull);
        // Concatenated files, a frame without a checksum, and a multi-threaded one.
        byte[] a = Zstd(Text(0, 3000)), b = Zstd(Text(3000, 1000), "--no-check"), c = Zstd(Text(4000, 10), "-T2", "-19");
        Assert.Equal(Pages(0, 4010), ReadWhole(Cat(a, b, c), "c.trace.zst"));
        using (var input = TraceInput.Open(new MemoryStream(a), "a.trace.zst"))
        {
            Assert.Equal((TraceCompression.Zstd, TraceFormat.Text), (input.Compression, input.Format));
        }
        // A flipped byte in the checksum (the frame's last four bytes) is the frame's error, named at the checksum.
        byte[] bad = (byte[])a.Clone();
        bad[^2] ^= 0x40;
        Assert.Equal($"bad.trace.zst:byte {a.Length - 4}: corrupt zstd input in the zstd frame that starts at byte 0: Restored data doesn't match checksum",
            Fails(bad, "bad.trace.zst", Pages(0, 3000), prefix: false));
    }

    [SkippableFact]
    public void EveryFlippedZstdByteIsAnErrorOrHarmless()
    {
        NeedZstd();
        byte[] good = Zstd(Text(0, 40));
        ulong[] whole = Pages(0, 40);
        for (int at = 0; at < good.Length; at++)
        {
            var (pages, error) = Read(Flip(good, at), "f.trace.zst");
            // With the content checksum on, a flipped byte is caught; the frame header's unused bits may be harmless.
            // A flipped magic number is no zstd input at all: its bytes are read as text, and line 1 is the error.
            Assert.True(error is not null || pages.SequenceEqual(whole), $"flip at {at}: no error and other records");
            if (error is not null)
            {
                Assert.StartsWith(at < 4 ? "f.trace.zst:1:1: " : "f.trace.zst:byte ", error.Message);
            }
        }
    }

    [SkippableFact]
    public void ZstdTruncationAtEveryLengthAndTrailingBytesAreReported()
    {
        NeedZstd();
        byte[] text = Text(0, 40);
        byte[] file = Zstd(text);
        for (int cut = 1; cut < file.Length; cut++)
        {
            string message = Fails(file[..cut], "cut.trace.zst", Pages(0, 40));
            Assert.True(message.StartsWith($"cut.trace.zst:byte {cut}: truncated zstd input: the input ends inside ", StringComparison.Ordinal),
                $"cut at {cut} of {file.Length}: {message}");
        }
        Assert.Equal($"g.trace.zst:byte {file.Length}: trailing data after the last zstd frame (bytes 67 61 72 62 ...): not a zstd frame",
            Fails(Cat(file, "garbage!"u8.ToArray()), "g.trace.zst", Pages(0, 40)));
        Assert.Equal("t.trace.zst:byte 2: truncated zstd input: the input ends inside the magic number", Fails(file[..2], "t.trace.zst", Pages(0, 40)));
    }
}
