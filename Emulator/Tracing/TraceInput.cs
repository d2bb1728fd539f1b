using System.IO.Compression;
using System.Text;
using SharpCompress.Compressors.Xz;

namespace MmuSim.Tracing;

/// <summary>The trace formats `replay` and `convert` read.</summary>
public enum TraceFormat : byte
{
    /// <summary>Decide from the magic number, the name and the first lines.</summary>
    Auto,
    /// <summary>The text format (docs/trace-format.md).</summary>
    Text,
    /// <summary>The binary format (docs/binary-format.md).</summary>
    Binary,
    /// <summary>Valgrind lackey `--trace-mem=yes` output.</summary>
    Lackey,
    /// <summary>ChampSim `input_instr` records.</summary>
    ChampSim,
    /// <summary>QEMU TCG `mem` plugin CSV (`print-accesses=true`).</summary>
    QemuMem,
}

/// <summary>Compression of an input, recognised by its magic number.</summary>
public enum TraceCompression : byte
{
    None,
    Gzip,
    Xz,
}

/// <summary>
/// One opened trace: a file or standard input (`-`), decompressed when it starts with the gzip or xz magic number,
/// its format decided (or taken from --format). Counts the raw bytes read so a progress display can show how far a
/// file is done, compressed or not.
/// </summary>
public sealed class TraceInput : IAsyncDisposable, IDisposable
{
    /// <summary>How many decompressed bytes format detection looks at.</summary>
    public const int SniffBytes = 4096;

    private readonly CountingStream _raw;
    private readonly FileStream? _file;
    private long _directBytes = -1;

    private TraceInput(string source, CountingStream raw, Stream stream, TraceFormat format, TraceCompression compression, long? length,
        FileStream? file)
    {
        Source = source;
        _raw = raw;
        _file = compression == TraceCompression.None ? file : null;
        Stream = stream;
        Format = format;
        Compression = compression;
        Length = length;
    }

    /// <summary>The name errors use: the path, or `-` for standard input.</summary>
    public string Source { get; }

    /// <summary>The decompressed bytes, from the start.</summary>
    public Stream Stream { get; }

    public TraceFormat Format { get; }

    public TraceCompression Compression { get; }

    /// <summary>Size of the file on disk, when known (not for standard input).</summary>
    public long? Length { get; }

    /// <summary>Bytes read so far from the file or pipe (compressed bytes for a compressed input).</summary>
    public long RawBytesRead => Interlocked.Read(ref _directBytes) is >= 0 and var direct ? direct : _raw.Count;

    /// <summary>
    /// True for an uncompressed regular file opened by path: <see cref="FileTraceReader"/> can then read it with
    /// plain positioned reads from <see cref="DirectStart"/> instead of through <see cref="Stream"/> and a pipe.
    /// </summary>
    public bool CanReadDirect => _file is not null;

    /// <summary>The UTF-8 byte order mark a text input may begin with.</summary>
    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    /// <summary>Where <see cref="FileTraceReader"/> starts reading the file: after a text input's byte order mark, else 0.</summary>
    internal int DirectStart { get; private init; }

    /// <summary>The file's handle for <see cref="FileTraceReader"/> (taken only when that path is used: asking a
    /// FileStream for its handle drops its read buffer).</summary>
    internal Microsoft.Win32.SafeHandles.SafeFileHandle DirectHandle =>
        _file?.SafeFileHandle ?? throw new InvalidOperationException("not a direct-readable file");

    /// <summary>The direct reader's progress: bytes of the file read so far (what <see cref="RawBytesRead"/> then shows).</summary>
    internal void SetDirectBytes(long n) => Interlocked.Exchange(ref _directBytes, n);

    /// <summary>True for the formats that carry virtual addresses only and run at EL0 of one guest.</summary>
    public bool IsForeign => Format is TraceFormat.Lackey or TraceFormat.ChampSim or TraceFormat.QemuMem;

    /// <summary>Opens <paramref name="path"/> (`-` for standard input).</summary>
    public static TraceInput Open(string path, TraceFormat format = TraceFormat.Auto, Stream? stdin = null)
    {
        Stream file = path == "-"
            ? stdin ?? Console.OpenStandardInput()
            : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        long? length = file.CanSeek ? file.Length : null;
        // A seekable FileStream is a regular file (pipes, FIFOs and terminals do not seek): it may be read directly.
        return Open(file, path, format, length, file is FileStream { CanSeek: true } fs ? fs : null);
    }

    /// <summary>Wraps an already-open stream (tests, pipes). Takes ownership of it.</summary>
    public static TraceInput Open(Stream stream, string source, TraceFormat format = TraceFormat.Auto, long? length = null) =>
        Open(stream, source, format, length, null);

    private static TraceInput Open(Stream stream, string source, TraceFormat format, long? length, FileStream? file)
    {
        var raw = new CountingStream(stream);
        try
        {
            byte[] magic = ReadUpTo(raw, 6);
            Stream s = new PrefixStream(magic, raw);
            var compression = TraceCompression.None;
            if (magic.Length >= 2 && magic[0] == 0x1F && magic[1] == 0x8B)
            {
                compression = TraceCompression.Gzip;
                s = new CheckedGzipStream(s, source);
            }
            else if (magic.AsSpan().SequenceEqual((ReadOnlySpan<byte>)[0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0x00]))
            {
                compression = TraceCompression.Xz;
                s = new XzErrorStream(new XZStream(s), source, raw);
            }
            // A truncated compressed input may fail within the first bytes: keep the error for after the bytes that
            // did arrive, so they are replayed before it is reported.
            byte[] head = ReadUpTo(s, format == TraceFormat.Auto ? SniffBytes : Utf8Bom.Length, out var pending);
            // A text file may begin with a UTF-8 byte order mark (Windows editors write one): not part of line 1.
            int bom = head.AsSpan().StartsWith(Utf8Bom) ? Utf8Bom.Length : 0;
            if (format == TraceFormat.Auto)
            {
                format = Detect(head.AsSpan(bom), source);
            }
            if (format is not (TraceFormat.Text or TraceFormat.Lackey or TraceFormat.QemuMem))
            {
                bom = 0;
            }
            s = new PrefixStream(head[bom..], s, pending);
            return new TraceInput(source, raw, s, format, compression, length, file) { DirectStart = bom };
        }
        catch
        {
            raw.Dispose();
            throw;
        }
    }

    private static byte[] ReadUpTo(Stream s, int n) => ReadUpTo(s, n, out var e) is var b && e is null ? b : throw e!;

    /// <summary>Reads up to <paramref name="n"/> bytes; a format error (truncated compressed input) ends the read and is handed back.</summary>
    private static byte[] ReadUpTo(Stream s, int n, out TraceFormatException? error)
    {
        var buf = new byte[n];
        int got = 0;
        error = null;
        try
        {
            while (got < n)
            {
                int k = s.Read(buf, got, n - got);
                if (k == 0)
                {
                    break;
                }
                got += k;
            }
        }
        catch (TraceFormatException e)
        {
            error = e;
        }
        return got == n ? buf : buf[..got];
    }

    /// <summary>
    /// Decides the format of decompressed bytes: the binary magic number; a ChampSim name (`*.champsim*`) or
    /// content that is mostly not text (one byte in eight or more); valgrind's `==PID==` banner or lackey records;
    /// the QEMU mem plugin's header or records; otherwise the text format.
    /// </summary>
    public static TraceFormat Detect(ReadOnlySpan<byte> head, string name)
    {
        if (BinaryTrace.HasMagic(head))
        {
            return TraceFormat.Binary;
        }
        if (name.Contains(".champsim", StringComparison.OrdinalIgnoreCase))
        {
            return TraceFormat.ChampSim;
        }
        // Binary content without our magic number: ChampSim records are mostly zero bytes. A text trace with a few
        // stray control bytes (a damaged file) stays text, so that its parser names the line and column of each.
        int binary = 0;
        foreach (byte b in head)
        {
            if (b == 0 || (b < 0x20 && b is not ((byte)'\n' or (byte)'\r' or (byte)'\t')))
            {
                binary++;
            }
        }
        if (binary > 0 && binary * 8 >= head.Length)
        {
            return TraceFormat.ChampSim;
        }
        // Look at the first few lines that carry something.
        int seen = 0;
        while (!head.IsEmpty && seen < 16)
        {
            int nl = head.IndexOf((byte)'\n');
            var line = nl >= 0 ? head[..nl] : head;
            head = nl >= 0 ? head[(nl + 1)..] : default;
            if (nl < 0 && !head.IsEmpty)
            {
                break;
            }
            line = line.TrimEnd((byte)'\r');
            if (line.IsEmpty || line[0] == (byte)'#')
            {
                continue;
            }
            seen++;
            if (line.StartsWith("=="u8) || line.StartsWith("--"u8) || IsLackeyRecord(line))
            {
                return TraceFormat.Lackey;
            }
            if (line.StartsWith("insn_vaddr,"u8) || IsQemuMemRecord(line))
            {
                return TraceFormat.QemuMem;
            }
            return TraceFormat.Text;
        }
        return TraceFormat.Text;
    }

    private static bool IsLackeyRecord(ReadOnlySpan<byte> line) =>
        line.Length > 4 && (line.StartsWith("I  "u8) || (line[0] == (byte)' ' && line[1] is (byte)'L' or (byte)'S' or (byte)'M' && line[2] == (byte)' '))
        && line.IndexOf((byte)',') > 0;

    private static bool IsQemuMemRecord(ReadOnlySpan<byte> line) =>
        line.StartsWith("0x"u8) && line.Count((byte)',') >= 6 && (line.IndexOf(",load,"u8) > 0 || line.IndexOf(",store,"u8) > 0);

    public void Dispose() => Stream.Dispose();

    public ValueTask DisposeAsync() => Stream.DisposeAsync();

    /// <summary>The name of a format as the --format option spells it.</summary>
    public static string FormatName(TraceFormat f) => f switch
    {
        TraceFormat.Text => "text",
        TraceFormat.Binary => "binary",
        TraceFormat.Lackey => "lackey",
        TraceFormat.ChampSim => "champsim",
        TraceFormat.QemuMem => "qemu-mem",
        _ => "auto",
    };

    /// <summary>Parses a --format value.</summary>
    public static bool TryParseFormat(string s, out TraceFormat f)
    {
        f = s.ToLowerInvariant() switch
        {
            "auto" => TraceFormat.Auto,
            "text" => TraceFormat.Text,
            "binary" or "bin" => TraceFormat.Binary,
            "lackey" => TraceFormat.Lackey,
            "champsim" => TraceFormat.ChampSim,
            "qemu-mem" or "qemu" => TraceFormat.QemuMem,
            _ => (TraceFormat)255,
        };
        return (byte)f != 255;
    }
}

/// <summary>A read-only stream that counts the bytes read through it.</summary>
internal sealed class CountingStream(Stream source) : ReadOnlyStream(source)
{
    private long _count;

    public long Count => Interlocked.Read(ref _count);

    public override int Read(Span<byte> buffer) => Counted(Inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) =>
        Counted(await Inner.ReadAsync(buffer, ct).ConfigureAwait(false));

    private int Counted(int n)
    {
        Interlocked.Add(ref _count, n);
        return n;
    }

    /// <summary>Bytes read so far (the xz decoder asks).</summary>
    protected override long BytesRead => Count;
}

/// <summary>Replays bytes already read (a sniffed header) before the rest of a stream.</summary>
internal sealed class PrefixStream(byte[] prefix, Stream source, Exception? pending = null) : ReadOnlyStream(source)
{
    private int _pos;
    private long _read;
    private Exception? _pending = pending;

    public override int Read(Span<byte> buffer)
    {
        if (_pos < prefix.Length)
        {
            int n = Math.Min(buffer.Length, prefix.Length - _pos);
            prefix.AsSpan(_pos, n).CopyTo(buffer);
            _pos += n;
            _read += n;
            return n;
        }
        ThrowPending();
        int k = Inner.Read(buffer);
        _read += k;
        return k;
    }

    private void ThrowPending()
    {
        if (_pending is { } e)
        {
            _pending = null;
            throw e;
        }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (_pos < prefix.Length)
        {
            return new ValueTask<int>(Read(buffer.Span));
        }
        ThrowPending();
        return Counted(Inner.ReadAsync(buffer, ct));
    }

    private async ValueTask<int> Counted(ValueTask<int> read)
    {
        int k = await read.ConfigureAwait(false);
        _read += k;
        return k;
    }

    /// <summary>Bytes read so far (the xz decoder asks).</summary>
    protected override long BytesRead => _read;
}

/// <summary>
/// gzip decompression that reports a truncated input. .NET's GZipStream ends quietly when the compressed bytes
/// stop early, so this checks the member trailer (RFC 1952 §2.3.1): the last 8 bytes of the input are CRC32 and
/// ISIZE, and ISIZE must equal the decompressed length modulo 2^32, which a cut stream fails but by a 2^-32 chance.
/// (With several concatenated members only the last one's ISIZE is known, so such files are reported as
/// truncated: decompress them with `gzip -dc FILE | mmusim replay -`.)
/// </summary>
internal sealed class CheckedGzipStream : ReadOnlyStream
{
    private readonly TailStream _tail;
    private readonly GZipStream _gzip;
    private readonly string _source;
    private long _out;
    private bool _checked;

    public CheckedGzipStream(Stream compressed, string source)
        : this(new TailStream(compressed), source)
    {
    }

    private CheckedGzipStream(TailStream tail, string source)
        : this(tail, new GZipStream(tail, CompressionMode.Decompress), source)
    {
    }

    private CheckedGzipStream(TailStream tail, GZipStream gzip, string source)
        : base(gzip)
    {
        _tail = tail;
        _gzip = gzip;
        _source = source;
    }

    public override int Read(Span<byte> buffer)
    {
        int n;
        try
        {
            n = _gzip.Read(buffer);
        }
        catch (InvalidDataException e)
        {
            throw TraceFormatException.AtByte(_source, _tail.Count, $"corrupt gzip input: {e.Message}");
        }
        return Done(n, buffer.Length);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        int n;
        try
        {
            n = await _gzip.ReadAsync(buffer, ct).ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            throw TraceFormatException.AtByte(_source, _tail.Count, $"corrupt gzip input: {e.Message}");
        }
        return Done(n, buffer.Length);
    }

    private int Done(int n, int requested)
    {
        _out += n;
        if (n == 0 && requested > 0 && !_checked)
        {
            _checked = true;
            if (_tail.Count < 18 || _tail.Isize != (uint)_out)
            {
                throw TraceFormatException.AtByte(_source, _tail.Count,
                    $"truncated gzip input: the stream ends after {_tail.Count} compressed bytes ({_out} decompressed) without a valid trailer");
            }
        }
        return n;
    }

    /// <summary>Passes bytes through, keeping the last 8 (the gzip trailer once the input ends).</summary>
    private sealed class TailStream(Stream source) : ReadOnlyStream(source)
    {
        private readonly byte[] _last = new byte[8];

        public long Count { get; private set; }

        public uint Isize
        {
            get
            {
                // _last is a ring indexed by absolute position: ISIZE is the final 4 bytes, little-endian.
                uint v = 0;
                for (int i = 0; i < 4; i++)
                {
                    v |= (uint)_last[(int)((Count - 4 + i) & 7)] << (8 * i);
                }
                return v;
            }
        }

        public override int Read(Span<byte> buffer)
        {
            int n = Inner.Read(buffer);
            Keep(buffer[..n]);
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            int n = await Inner.ReadAsync(buffer, ct).ConfigureAwait(false);
            Keep(buffer.Span[..n]);
            return n;
        }

        private void Keep(ReadOnlySpan<byte> got)
        {
            int from = Math.Max(0, got.Length - 8);
            for (int i = from; i < got.Length; i++)
            {
                _last[(int)((Count + i) & 7)] = got[i];
            }
            Count += got.Length;
        }
    }
}

/// <summary>Turns the xz decoder's exceptions (truncated or corrupt input) into a format error that names the input.</summary>
internal sealed class XzErrorStream(Stream xz, string source, CountingStream raw) : ReadOnlyStream(xz)
{
    public override int Read(Span<byte> buffer)
    {
        try
        {
            return Inner.Read(buffer);
        }
        catch (Exception e) when (e is not TraceFormatException and not OperationCanceledException)
        {
            throw TraceFormatException.AtByte(source, raw.Count, $"truncated or corrupt xz input: {e.Message}");
        }
    }
}
