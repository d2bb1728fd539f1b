using System.IO.Hashing;
using System.IO.Compression;
using System.Text;
using MmuSim.Bits;
using SharpCompress.Compressors.Xz;

namespace MmuSim.Tracing;

/// <summary>Compression of an input, recognised by its magic number.</summary>
public enum TraceCompression : byte
{
    None,
    Gzip,
    Xz,
    Zstd,
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

    /// <summary>The xz stream header magic bytes (.xz file format 1.2.1 §2.1.1.1).</summary>
    /// <summary>A zstd frame's magic number, 0xFD2FB528 little-endian (RFC 8878 §3.1.1).</summary>
    private static ReadOnlySpan<byte> ZstdMagic => [0x28, 0xB5, 0x2F, 0xFD];

    private static ReadOnlySpan<byte> XzMagic => [0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0x00];

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

    // The digest of a file read directly (FileTraceReader): its reads start again at the first byte after a byte
    // order mark, past the bytes the stream sniffed, so they are hashed afresh from there (the mark first).
    private XxHash3? _directHash;
    private bool _directEnded;

    /// <summary>A direct read of the file handed <paramref name="data"/> (empty: the end of the file).</summary>
    internal void DirectRead(ReadOnlySpan<byte> data)
    {
        if (!_raw.Digesting)
        {
            return;
        }
        if (_directHash is null)
        {
            _directHash = new XxHash3();
            _directHash.Append(Utf8Bom[..(int)DirectStart]);
        }
        if (data.IsEmpty)
        {
            _directEnded = true;
        }
        _directHash.Append(data);
    }

    /// <summary>
    /// `xxh3:` and the XXH3 64-bit hash of the input's stored bytes (compressed, for a compressed input), once it has
    /// been read to its end; null before that, or when it was not opened to be hashed. Two inputs with one digest are
    /// the same bytes (XXH3 is not a cryptographic hash: it tells files apart, it does not stand up to forgery).
    /// </summary>
    public string? Digest => _directHash is not null
        ? _directEnded ? $"xxh3:{_directHash.GetCurrentHashAsUInt64():x16}" : null
        : _raw.Ended && _raw.Digesting ? $"xxh3:{_raw.HashValue:x16}" : null;

    /// <summary>The format's entry in the registry: its decoder, name and properties.</summary>
    public InputFormat InputFormat => InputFormats.Of(Format);

    /// <summary>True for the formats that carry virtual addresses only and run at EL0 of one guest.</summary>
    public bool IsForeign => InputFormat.IsForeign;

    /// <summary>Opens <paramref name="path"/> (`-` for standard input).</summary>
    /// <param name="digest">Hash the input's bytes as they are read (<see cref="Digest"/>; provenance asks for it).</param>
    public static TraceInput Open(string path, TraceFormat format = TraceFormat.Auto, Stream? stdin = null, bool digest = false)
    {
        Stream file;
        try
        {
            file = path == "-"
                ? stdin ?? new AbandonableStream(Console.OpenStandardInput())
                : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw PathErrors.Describe(path, e); // one line, `PATH: reason`, whichever command opens it
        }
        long? length = file.CanSeek ? file.Length : null;
        // A seekable FileStream is a regular file (pipes, FIFOs and terminals do not seek): it may be read directly.
        return Open(file, path, format, length, file is FileStream { CanSeek: true } fs ? fs : null, digest);
    }

    /// <summary>Wraps an already-open stream (tests, pipes). Takes ownership of it.</summary>
    public static TraceInput Open(Stream stream, string source, TraceFormat format = TraceFormat.Auto, long? length = null) =>
        Open(stream, source, format, length, null, false);

    private static TraceInput Open(Stream stream, string source, TraceFormat format, long? length, FileStream? file, bool digest)
    {
        var raw = new CountingStream(stream, digest);
        try
        {
            byte[] magic = ReadUpTo(raw, 6);
            Stream s = new PrefixStream(magic, raw);
            var compression = TraceCompression.None;
            if (magic.Length >= 2 && magic[0] == 0x1F && magic[1] == 0x8B)
            {
                compression = TraceCompression.Gzip;
                s = NativeCodecs.ZlibOrNull is { } z ? new ZlibGzipStream(s, source, z) : new CheckedGzipStream(s, source);
            }
            else if (magic.AsSpan().SequenceEqual(XzMagic))
            {
                compression = TraceCompression.Xz;
                s = NativeCodecs.LzmaOrNull is { } l ? new LzmaXzStream(s, source, l) : new XzErrorStream(new XZStream(s), source, raw);
            }
            else if (magic.AsSpan().StartsWith(ZstdMagic))
            {
                compression = TraceCompression.Zstd;
                s = NativeCodecs.ZstdOrNull is { } z ? new ZstdStream(s, source, z)
                    : throw TraceFormatException.AtByte(source, 0, "zstd input needs the system's libzstd (libzstd.so.1), which is not installed: decompress it into a pipe, zstd -dc FILE | mmusim ... -");
            }
            else if (magic is [0x1F] || magic.Length is >= 1 and < 6 && XzMagic.StartsWith(magic) || magic.Length is >= 1 and < 4 && ZstdMagic.StartsWith(magic))
            {
                // The whole input is the start of a magic number: a compressed file cut within its first bytes.
                throw TraceFormatException.AtByte(source, magic.Length,
                    $"truncated {(magic[0] == 0x1F ? "gzip" : magic[0] == 0x28 ? "zstd" : "xz")} input: the input ends inside the magic number");
            }
            if (compression != TraceCompression.None && file is not null)
            {
                // A compressed regular file is decompressed on a thread of its own, ahead of the replay.
                s = new ReadAheadStream(s);
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
            if (!InputFormats.Of(format).IsText)
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

    /// <summary>Decides the format of decompressed bytes (<see cref="InputFormats.Detect"/>).</summary>
    public static TraceFormat Detect(ReadOnlySpan<byte> head, string name) => InputFormats.Detect(head, name).Id;

    public void Dispose() => Stream.Dispose();

    public ValueTask DisposeAsync() => Stream.DisposeAsync();
}

/// <summary>A read-only stream that counts the bytes read through it, and hashes them when asked to.</summary>
internal sealed class CountingStream(Stream source, bool digest = false) : ReadOnlyStream(source)
{
    private long _count;
    private readonly XxHash3? _hash = digest ? new XxHash3() : null;

    public long Count => Interlocked.Read(ref _count);

    public bool Digesting => _hash is not null;

    /// <summary>True once a read has returned 0: every byte has been counted (and hashed).</summary>
    public bool Ended { get; private set; }

    /// <summary>The hash of the bytes read so far.</summary>
    public ulong HashValue => _hash?.GetCurrentHashAsUInt64() ?? 0;

    public override int Read(Span<byte> buffer) => Counted(buffer, Inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        int n = await Inner.ReadAsync(buffer, ct).ConfigureAwait(false);
        return Counted(buffer.Span, n);
    }

    private int Counted(Span<byte> buffer, int n)
    {
        Interlocked.Add(ref _count, n);
        _hash?.Append(buffer[..n]);
        if (n == 0 && !buffer.IsEmpty)
        {
            Ended = true;
        }
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
/// truncated: decompress them with `gzip -dc FILE | mmusim replay -`.) Used only where the system has no zlib
/// (<see cref="ZlibGzipStream"/> reads every member and names each check that fails).
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
        catch (InvalidDataException)
        {
            throw TraceFormatException.AtByte(_source, _tail.Count, Damaged);
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
        catch (InvalidDataException)
        {
            throw TraceFormatException.AtByte(_source, _tail.Count, Damaged);
        }
        return Done(n, buffer.Length);
    }

    /// <summary>
    /// .NET reports every zlib data error, a CRC32 or ISIZE mismatch included, as "unsupported compression method":
    /// say what it can be instead.
    /// </summary>
    private const string Damaged = "corrupt gzip input: damaged deflate data, or a member's CRC32 or ISIZE does not match its data";

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
