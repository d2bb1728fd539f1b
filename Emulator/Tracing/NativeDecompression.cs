using System.Runtime.InteropServices;

namespace MmuSim.Tracing;

/// <summary>
/// The plumbing the zlib and liblzma decoders share: the compressed input in a native buffer (the decoders keep
/// pointers into it between calls), the byte offset in the compressed file of the next byte the decoder has not
/// consumed (what errors name), and an error met after some output was produced kept for the next read, so the
/// bytes decompressed before a corruption are replayed before it is reported.
/// </summary>
internal abstract unsafe class NativeDecompressStream : ReadOnlyStream
{
    private const int InputSize = 1 << 17;

    protected readonly string Source;
    protected readonly byte* Strm;
    private readonly byte* _in;
    private readonly int _availInOffset;
    private long _fed;
    private bool _released;
    private Exception? _pending;

    protected NativeDecompressStream(Stream compressed, string source, int streamSize, int nextInOffset, int availInOffset)
        : base(compressed)
    {
        Source = source;
        Strm = (byte*)NativeMemory.AllocZeroed((nuint)streamSize);
        _in = (byte*)NativeMemory.Alloc(InputSize);
        _availInOffset = availInOffset;
        NextInField = (byte**)(Strm + nextInOffset);
        *NextInField = _in;
    }

    ~NativeDecompressStream() => Release();

    private byte** NextInField { get; }

    /// <summary>Compressed bytes handed to the decoder and not yet consumed (size_t avail_in; zlib's uInt is read as its low half).</summary>
    protected abstract ulong AvailIn { get; set; }

    /// <summary>True once the compressed input has ended.</summary>
    protected bool InputEnded { get; private set; }

    /// <summary>Offset in the compressed file of the first byte the decoder has not consumed.</summary>
    protected long Consumed => _fed - (long)AvailIn;

    /// <summary>Consumes <paramref name="n"/> bytes the decoder is not given (padding between streams).</summary>
    protected void Skip(int n)
    {
        *NextInField += n;
        AvailIn -= (ulong)n;
    }

    /// <summary>Consumes null bytes up to the next other byte or the end of the input; returns how many.</summary>
    protected long SkipZeros()
    {
        long zeros = 0;
        while (Fill(1))
        {
            ReadOnlySpan<byte> next = Unconsumed;
            int z = next.IndexOfAnyExcept((byte)0);
            z = z < 0 ? next.Length : z;
            zeros += z;
            Skip(z);
            if (AvailIn > 0)
            {
                break;
            }
        }
        return zeros;
    }

    /// <summary>The next unconsumed compressed bytes.</summary>
    protected ReadOnlySpan<byte> Unconsumed => new(*NextInField, (int)AvailIn);

    /// <summary>
    /// Makes at least <paramref name="want"/> unconsumed bytes available if the input has them (moving what is left
    /// to the front of the buffer first); false when it ended before.
    /// </summary>
    protected bool Fill(int want)
    {
        while ((int)AvailIn < want && !InputEnded)
        {
            int left = (int)AvailIn;
            if (left > 0 && *NextInField != _in)
            {
                Buffer.MemoryCopy(*NextInField, _in, InputSize, left);
            }
            *NextInField = _in;
            int n = Inner.Read(new Span<byte>(_in + left, InputSize - left));
            if (n == 0)
            {
                InputEnded = true;
            }
            _fed += n;
            AvailIn = (ulong)(left + n);
        }
        return (int)AvailIn >= want;
    }

    public sealed override int Read(Span<byte> buffer)
    {
        if (_pending is { } e)
        {
            _pending = null;
            throw e;
        }
        if (buffer.IsEmpty)
        {
            return 0;
        }
        fixed (byte* output = buffer)
        {
            int produced = 0;
            try
            {
                produced = Decode(output, buffer.Length);
            }
            catch (TraceFormatException error) when (DecodedSoFar > 0)
            {
                _pending = error;
            }
            return DecodedSoFar is var n and > 0 ? n : produced;
        }
    }

    /// <summary>Output bytes the current <see cref="Decode"/> call had written when it failed (so they are returned first).</summary>
    protected int DecodedSoFar { get; set; }

    /// <summary>Decodes into <paramref name="output"/>; 0 only at the end of the input. Sets <see cref="DecodedSoFar"/> as it goes.</summary>
    protected abstract int Decode(byte* output, int length);

    /// <summary>Ends the native decoder (inflateEnd, lzma_end).</summary>
    protected abstract void EndDecoder();

    protected TraceFormatException Error(long offset, string reason) => TraceFormatException.AtByte(Source, offset, reason);

    private void Release()
    {
        if (_released)
        {
            return;
        }
        _released = true;
        EndDecoder();
        NativeMemory.Free(Strm);
        NativeMemory.Free(_in);
    }

    protected override void Dispose(bool disposing)
    {
        Release();
        GC.SuppressFinalize(this);
        base.Dispose(disposing);
    }
}

/// <summary>
/// gzip through zlib, member after member (RFC 1952 §2.2: a gzip file is a series of members; `cat a.gz b.gz` and
/// pigz write several). zlib parses each member's header and checks its trailer, CRC32 and ISIZE (§2.3.1). After
/// the last member the input must end: anything else is reported with its byte offset (gzip ignores such trailing
/// bytes with a warning; a trace must not lose data silently). A member cut short is reported as truncated.
/// </summary>
internal sealed unsafe class ZlibGzipStream : NativeDecompressStream
{
    private readonly NativeCodecs.Zlib _z;
    private long _memberStart;
    private long _memberOut;
    private bool _betweenMembers;
    private bool _done;

    public ZlibGzipStream(Stream compressed, string source, NativeCodecs.Zlib z)
        : base(compressed, source, NativeCodecs.Zlib.StreamSize, NativeCodecs.Zlib.NextIn, NativeCodecs.Zlib.AvailIn)
    {
        _z = z;
        ReadOnlySpan<byte> version = "1.2.11\0"u8; // zlib checks only that the major version is 1
        fixed (byte* v = version)
        {
            // windowBits 15 + 16: a gzip wrapper only, with the largest window (zlib's documented inflateInit2 API).
            int r = z.InflateInit2(Strm, 15 + 16, v, NativeCodecs.Zlib.StreamSize);
            if (r != NativeCodecs.Zlib.Ok)
            {
                throw new InvalidOperationException($"zlib inflateInit2 failed ({r})");
            }
        }
    }

    protected override ulong AvailIn
    {
        get => *(uint*)(Strm + NativeCodecs.Zlib.AvailIn);
        set => *(uint*)(Strm + NativeCodecs.Zlib.AvailIn) = (uint)value;
    }

    protected override int Decode(byte* output, int length)
    {
        DecodedSoFar = 0;
        while (DecodedSoFar == 0)
        {
            if (_done)
            {
                return 0;
            }
            if (_betweenMembers)
            {
                Fill(2);
                if (AvailIn == 0)
                {
                    _done = true;
                    return 0;
                }
                if (!Unconsumed.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B]))
                {
                    // Null bytes to the end are accepted, as gzip accepts them (block padding of tapes and some
                    // writers: no member can hide in them); anything else is refused where gzip warns.
                    if (Unconsumed[0] == 0 && SkipZeros() > 0 && AvailIn == 0)
                    {
                        _done = true;
                        return 0;
                    }
                    throw Error(Consumed, $"trailing data after the last gzip member ({Describe(Unconsumed)}): " +
                        "not a gzip member (gzip -t ignores such bytes with a warning; mmusim refuses them, a trace must not lose data silently)");
                }
                _z.InflateReset(Strm);
                _betweenMembers = false;
                _memberStart = Consumed;
                _memberOut = 0;
            }
            if (AvailIn == 0)
            {
                Fill(1);
            }
            *(byte**)(Strm + NativeCodecs.Zlib.NextOut) = output + DecodedSoFar;
            *(uint*)(Strm + NativeCodecs.Zlib.AvailOut) = (uint)(length - DecodedSoFar);
            int r = _z.Inflate(Strm, 0);
            int made = length - DecodedSoFar - (int)*(uint*)(Strm + NativeCodecs.Zlib.AvailOut);
            DecodedSoFar += made;
            _memberOut += made;
            switch (r)
            {
                case NativeCodecs.Zlib.StreamEnd:
                    _betweenMembers = true;
                    break;
                case NativeCodecs.Zlib.Ok:
                case NativeCodecs.Zlib.BufError:
                    if (AvailIn == 0 && InputEnded && made == 0)
                    {
                        throw Error(Consumed, $"truncated gzip input: the input ends inside the gzip member that starts at byte {_memberStart} " +
                            $"({_memberOut} bytes of it decompressed), before its trailer");
                    }
                    break;
                default:
                    throw Error(ErrorOffset(r, out string reason), reason);
            }
        }
        return DecodedSoFar;
    }

    /// <summary>zlib's message for a failed inflate, said for a trace reader, and where in the file it points.</summary>
    private long ErrorOffset(int r, out string reason)
    {
        string msg = r == NativeCodecs.Zlib.MemError ? "out of memory"
            : Marshal.PtrToStringAnsi(*(nint*)(Strm + NativeCodecs.Zlib.Msg)) ?? $"zlib error {r}";
        string member = $"gzip member at byte {_memberStart}";
        // zlib reads the 4-byte field, then compares (its inflate states CHECK and LENGTH): the field ends at Consumed.
        (long at, reason) = msg switch
        {
            "incorrect data check" => (Consumed - 4,
                $"gzip CRC32 mismatch: the {member} decompresses to data whose CRC32 differs from its trailer's (corrupt data or trailer)"),
            "incorrect length check" => (Consumed - 4,
                $"gzip ISIZE mismatch: the {member} decompresses to {_memberOut} bytes, not the length its trailer gives (corrupt trailer)"),
            "incorrect header check" or "unknown compression method" or "unknown header flags set" or "header crc mismatch" =>
                (Consumed, $"corrupt gzip header in the {member}: {msg}"),
            _ => (Consumed, $"corrupt gzip data in the {member}: {msg}"),
        };
        return at;
    }

    internal static string Describe(ReadOnlySpan<byte> next)
    {
        var s = new System.Text.StringBuilder("bytes");
        foreach (byte b in next[..Math.Min(next.Length, 4)])
        {
            s.Append($" {b:x2}");
        }
        return next.Length > 4 ? s.Append(" ...").ToString() : s.ToString();
    }

    protected override void EndDecoder() => _z.InflateEnd(Strm);
}

/// <summary>
/// xz through liblzma, every stream of the file (.xz file format 1.2.1 §2: streams may be concatenated, with stream
/// padding, null bytes in a multiple of four, between and after them; `xz -T0`, pixz and pxz write several blocks or
/// streams). liblzma decodes one stream and checks each block's check field, the index against the blocks and the
/// footer against the header and the index (§2.1-§4), as `xz -t` does; the streams, their padding and the end of
/// the file are walked here, so that bytes after the last stream that are neither padding nor a stream are an error
/// at their own offset.
/// </summary>
internal sealed unsafe class LzmaXzStream : NativeDecompressStream
{
    private readonly NativeCodecs.Lzma _l;
    private bool _betweenStreams;
    private bool _done;
    private long _streamStart;
    private long _padding;

    public LzmaXzStream(Stream compressed, string source, NativeCodecs.Lzma l)
        : base(compressed, source, NativeCodecs.Lzma.StreamSize, NativeCodecs.Lzma.NextIn, NativeCodecs.Lzma.AvailIn)
    {
        _l = l;
        StartStream();
    }

    /// <summary>A decoder for one stream. No memory limit, as xz's default for decompression; an unsupported check type is an error (below), not a warning.</summary>
    private void StartStream()
    {
        _l.End(Strm);
        int r = _l.StreamDecoder(Strm, ulong.MaxValue, NativeCodecs.Lzma.TellUnsupportedCheck);
        if (r != NativeCodecs.Lzma.Ok)
        {
            throw Error(Consumed, Reason(r));
        }
        _streamStart = Consumed;
    }

    protected override ulong AvailIn
    {
        get => *(ulong*)(Strm + NativeCodecs.Lzma.AvailIn);
        set => *(ulong*)(Strm + NativeCodecs.Lzma.AvailIn) = value;
    }

    protected override int Decode(byte* output, int length)
    {
        DecodedSoFar = 0;
        while (DecodedSoFar == 0)
        {
            if (_done)
            {
                return 0;
            }
            if (_betweenStreams)
            {
                NextStream();
                continue;
            }
            if (AvailIn == 0)
            {
                Fill(1);
            }
            // LZMA_FINISH once the input has ended: the decoder then reports a stream cut short (LZMA_BUF_ERROR).
            int action = AvailIn == 0 && InputEnded ? NativeCodecs.Lzma.Finish : NativeCodecs.Lzma.Run;
            *(byte**)(Strm + NativeCodecs.Lzma.NextOut) = output + DecodedSoFar;
            *(ulong*)(Strm + NativeCodecs.Lzma.AvailOut) = (ulong)(length - DecodedSoFar);
            int r = _l.Code(Strm, action);
            DecodedSoFar = length - (int)*(ulong*)(Strm + NativeCodecs.Lzma.AvailOut);
            switch (r)
            {
                case NativeCodecs.Lzma.StreamEnd:
                    _betweenStreams = true;
                    _padding = 0;
                    break;
                case NativeCodecs.Lzma.Ok:
                    break;
                case NativeCodecs.Lzma.BufError when action == NativeCodecs.Lzma.Finish:
                    throw Error(Consumed, $"truncated xz input: the input ends inside the xz stream that starts at byte {_streamStart}");
                case NativeCodecs.Lzma.BufError:
                    break;
                default:
                    throw Error(Consumed, Reason(r));
            }
        }
        return DecodedSoFar;
    }

    /// <summary>After a stream: stream padding, then the end of the input or the next stream's header (§2.2).</summary>
    private void NextStream()
    {
        _padding = SkipZeros();
        if (_padding % 4 != 0)
        {
            throw Error(Consumed - _padding, $"corrupt xz input: stream padding of {_padding} null bytes, not a multiple of four");
        }
        if (AvailIn == 0)
        {
            _done = true;
            return;
        }
        Fill(6);
        if (!Unconsumed.StartsWith((ReadOnlySpan<byte>)[0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0x00]))
        {
            throw Error(Consumed, $"trailing data after the last xz stream ({ZlibGzipStream.Describe(Unconsumed)}): neither stream padding nor an xz stream");
        }
        _betweenStreams = false;
        StartStream();
    }

    /// <summary>What each liblzma error means for an xz file (the wording of xz's own messages, with the trace in mind).</summary>
    private static string Reason(int r) => r switch
    {
        NativeCodecs.Lzma.DataError =>
            "corrupt xz input: compressed data is corrupt (a block, its CRC32/CRC64/SHA-256 check, the index or the stream footer does not match)",
        NativeCodecs.Lzma.FormatError => "corrupt xz input: file format not recognized (not an xz stream header)",
        NativeCodecs.Lzma.OptionsError => "unsupported xz options (a filter or setting this liblzma does not know)",
        NativeCodecs.Lzma.UnsupportedCheck => "unsupported xz integrity check type: the data cannot be verified",
        NativeCodecs.Lzma.MemError or NativeCodecs.Lzma.MemlimitError => "out of memory decompressing xz input",
        _ => $"xz decoder error {r}",
    };

    protected override void EndDecoder() => _l.End(Strm);
}

/// <summary>
/// zstd through libzstd, frame after frame (RFC 8878 §3: a zstd file is a series of frames, zstd or skippable;
/// `cat a.zst b.zst` and `zstd -T0` write several). libzstd checks each frame's content checksum when the frame has
/// one. After the last frame the input must end: anything else is reported with its byte offset, as `zstd -t` reports
/// it. A frame cut short is reported as truncated.
/// </summary>
internal sealed unsafe class ZstdStream : NativeDecompressStream
{
    private readonly NativeCodecs.Zstd _z;
    private readonly void* _ds;
    private long _frameStart;
    private bool _inFrame;
    private bool _done;

    // The decoder's input is a ZSTD_inBuffer at the start of the stream block: src (the next unconsumed byte, which the
    // base class moves), size (what is left there) and pos, which is folded back into src and size after every call so
    // that the block reads as the base class expects (a pointer to the next byte, a count of bytes left).
    public ZstdStream(Stream compressed, string source, NativeCodecs.Zstd z)
        : base(compressed, source, NativeCodecs.Zstd.BufferSize, NativeCodecs.Zstd.Src, NativeCodecs.Zstd.Size)
    {
        _z = z;
        _ds = z.CreateDStream();
        if (_ds == null || _z.IsError(_z.InitDStream(_ds)) != 0)
        {
            throw Error(0, "out of memory decompressing zstd input");
        }
    }

    protected override ulong AvailIn
    {
        get => *(ulong*)(Strm + NativeCodecs.Zstd.Size);
        set => *(ulong*)(Strm + NativeCodecs.Zstd.Size) = value;
    }

    protected override int Decode(byte* output, int length)
    {
        DecodedSoFar = 0;
        byte* outBuffer = stackalloc byte[NativeCodecs.Zstd.BufferSize];
        while (DecodedSoFar == 0)
        {
            if (_done)
            {
                return 0;
            }
            if (AvailIn == 0)
            {
                Fill(1);
            }
            if (AvailIn == 0)
            {
                if (_inFrame)
                {
                    throw Error(Consumed, $"truncated zstd input: the input ends inside the zstd frame that starts at byte {_frameStart}");
                }
                _done = true;
                return 0;
            }
            if (!_inFrame)
            {
                // Between frames: the next must be a zstd frame or a skippable one (RFC 8878 §3.1.1, §3.1.2).
                Fill(4);
                var next = Unconsumed;
                bool frame = next.Length >= 4 && (next[..4].SequenceEqual((ReadOnlySpan<byte>)[0x28, 0xB5, 0x2F, 0xFD])
                    || (next[0] & 0xF0) == 0x50 && next[1] == 0x2A && next[2] == 0x4D && next[3] == 0x18);
                if (!frame)
                {
                    throw Error(Consumed, _frameStart == 0 && Consumed == 0
                        ? "corrupt zstd input: not a zstd frame"
                        : $"trailing data after the last zstd frame ({ZlibGzipStream.Describe(next)}): not a zstd frame");
                }
                _frameStart = Consumed;
                _inFrame = true;
            }
            *(byte**)(outBuffer + NativeCodecs.Zstd.Src) = output + DecodedSoFar;
            *(ulong*)(outBuffer + NativeCodecs.Zstd.Size) = (ulong)(length - DecodedSoFar);
            *(ulong*)(outBuffer + NativeCodecs.Zstd.Pos) = 0;
            *(ulong*)(Strm + NativeCodecs.Zstd.Pos) = 0;
            nuint r = _z.DecompressStream(_ds, outBuffer, Strm);
            ulong used = *(ulong*)(Strm + NativeCodecs.Zstd.Pos);
            *(byte**)(Strm + NativeCodecs.Zstd.Src) += used;
            AvailIn -= used;
            *(ulong*)(Strm + NativeCodecs.Zstd.Pos) = 0;
            DecodedSoFar += (int)*(ulong*)(outBuffer + NativeCodecs.Zstd.Pos);
            if (_z.IsError(r) != 0)
            {
                throw Error(Consumed, $"corrupt zstd input in the zstd frame that starts at byte {_frameStart}: {_z.ErrorName(r)}");
            }
            if (r == 0)
            {
                _inFrame = false; // the frame is decoded, its checksum checked, and its output all handed out
            }
        }
        return DecodedSoFar;
    }

    protected override void EndDecoder() => _z.FreeDStream(_ds);
}
