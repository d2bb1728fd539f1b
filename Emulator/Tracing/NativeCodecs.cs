using System.Runtime.InteropServices;

namespace MmuSim.Tracing;

/// <summary>
/// The system's zlib, liblzma and libzstd, loaded when first needed: the same decoders `gzip -t`'s format and `xz -t` rely on
/// (zlib checks each gzip member's CRC32 and ISIZE, RFC 1952 §2.3.1; liblzma checks each xz block's CRC32, CRC64 or
/// SHA-256, the index against the blocks, the footer against the header and index, and stream padding, .xz file
/// format 1.2.1 §2-§4). Both are on every Linux system (dpkg itself needs them); where one is missing the managed
/// decoders are used instead, with the weaker checks documented in the README.
/// </summary>
internal static unsafe class NativeCodecs
{
    private static readonly Lazy<Zlib?> ZlibLib = new(Zlib.Load);
    private static readonly Lazy<Lzma?> LzmaLib = new(Lzma.Load);
    private static readonly Lazy<Zstd?> ZstdLib = new(Zstd.Load);

    public static Zlib? ZlibOrNull => ZlibLib.Value;

    public static Lzma? LzmaOrNull => LzmaLib.Value;

    public static Zstd? ZstdOrNull => ZstdLib.Value;

    /// <summary>
    /// The library under the first of <paramref name="names"/> that loads, bound by <paramref name="bind"/>; null where
    /// none loads, where an entry point is missing, or off LP64 Linux and macOS (the layouts above are LP64's, and
    /// Windows has no system zlib, liblzma or libzstd anyway).
    /// </summary>
    private static T? LoadLibrary<T>(Func<nint, T> bind, params string[] names) where T : class
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() || IntPtr.Size != 8)
        {
            return null;
        }
        nint h = LoadFirst(names);
        try
        {
            return h == 0 ? null : bind(h);
        }
        catch (EntryPointNotFoundException)
        {
            return null;
        }
    }

    private static nint LoadFirst(params string[] names)
    {
        foreach (string n in names)
        {
            if (NativeLibrary.TryLoad(n, out nint h))
            {
                return h;
            }
        }
        return 0;
    }

    /// <summary>zlib's inflate entry points (zlib 1.2.x's public API; the z_stream layout is that of an LP64 system).</summary>
    internal sealed class Zlib
    {
        // Return codes (zlib's public API).
        public const int Ok = 0, StreamEnd = 1, NeedDict = 2, DataError = -3, MemError = -4, BufError = -5;

        /// <summary>sizeof(z_stream) on LP64: 14 fields, pointers and uLong 8 bytes, uInt and int 4 (padded).</summary>
        public const int StreamSize = 112;

        // Field offsets in z_stream (LP64).
        public const int NextIn = 0, AvailIn = 8, TotalIn = 16, NextOut = 24, AvailOut = 32, TotalOut = 40, Msg = 48;

        public readonly delegate* unmanaged<void*, int, byte*, int, int> InflateInit2;
        public readonly delegate* unmanaged<void*, int, int> Inflate;
        public readonly delegate* unmanaged<void*, int> InflateReset;
        public readonly delegate* unmanaged<void*, int> InflateEnd;

        private Zlib(nint h)
        {
            InflateInit2 = (delegate* unmanaged<void*, int, byte*, int, int>)NativeLibrary.GetExport(h, "inflateInit2_");
            Inflate = (delegate* unmanaged<void*, int, int>)NativeLibrary.GetExport(h, "inflate");
            InflateReset = (delegate* unmanaged<void*, int>)NativeLibrary.GetExport(h, "inflateReset");
            InflateEnd = (delegate* unmanaged<void*, int>)NativeLibrary.GetExport(h, "inflateEnd");
        }

        internal static Zlib? Load() => LoadLibrary(h => new Zlib(h), "libz.so.1", "libz.so", "libz.1.dylib", "libz.dylib");
    }

    /// <summary>liblzma's decoder entry points (liblzma 5.x's public API; lzma_stream on LP64).</summary>
    internal sealed class Lzma
    {
        // lzma_ret (liblzma's public API).
        public const int Ok = 0, StreamEnd = 1, NoCheck = 2, UnsupportedCheck = 3, GetCheck = 4, MemError = 5,
            MemlimitError = 6, FormatError = 7, OptionsError = 8, DataError = 9, BufError = 10, ProgError = 11;

        // lzma_action.
        public const int Run = 0, Finish = 3;

        // lzma_stream_decoder flag (liblzma's public API).
        public const uint TellUnsupportedCheck = 0x02;

        /// <summary>sizeof(lzma_stream) on LP64: 6 I/O fields, 6 pointers, 4 64-bit and 2 size_t reserved, 2 enums.</summary>
        public const int StreamSize = 136;

        public const int NextIn = 0, AvailIn = 8, TotalIn = 16, NextOut = 24, AvailOut = 32, TotalOut = 40;

        public readonly delegate* unmanaged<void*, ulong, uint, int> StreamDecoder;
        public readonly delegate* unmanaged<void*, int, int> Code;
        public readonly delegate* unmanaged<void*, void> End;

        private Lzma(nint h)
        {
            StreamDecoder = (delegate* unmanaged<void*, ulong, uint, int>)NativeLibrary.GetExport(h, "lzma_stream_decoder");
            Code = (delegate* unmanaged<void*, int, int>)NativeLibrary.GetExport(h, "lzma_code");
            End = (delegate* unmanaged<void*, void>)NativeLibrary.GetExport(h, "lzma_end");
        }

        internal static Lzma? Load() => LoadLibrary(h => new Lzma(h), "liblzma.so.5", "liblzma.so", "liblzma.5.dylib", "liblzma.dylib");
    }

    /// <summary>
    /// libzstd's streaming decoder (zstd 1.4+'s stable API: ZSTD_createDStream, ZSTD_decompressStream over
    /// ZSTD_inBuffer/ZSTD_outBuffer, ZSTD_isError, ZSTD_getErrorName). It checks each frame's content checksum
    /// (XXH64) when the frame has one, as `zstd -t` does; the zstd command writes one by default.
    /// </summary>
    internal sealed class Zstd
    {
        /// <summary>sizeof(ZSTD_inBuffer) and of ZSTD_outBuffer: a pointer, then size_t size and size_t pos.</summary>
        public const int BufferSize = 24;

        public const int Src = 0, Size = 8, Pos = 16;

        public readonly delegate* unmanaged<void*> CreateDStream;
        public readonly delegate* unmanaged<void*, nuint> InitDStream;
        public readonly delegate* unmanaged<void*, void*, void*, nuint> DecompressStream;
        public readonly delegate* unmanaged<void*, nuint> FreeDStream;
        public readonly delegate* unmanaged<nuint, uint> IsError;
        public readonly delegate* unmanaged<nuint, byte*> GetErrorName;

        private Zstd(nint h)
        {
            CreateDStream = (delegate* unmanaged<void*>)NativeLibrary.GetExport(h, "ZSTD_createDStream");
            InitDStream = (delegate* unmanaged<void*, nuint>)NativeLibrary.GetExport(h, "ZSTD_initDStream");
            DecompressStream = (delegate* unmanaged<void*, void*, void*, nuint>)NativeLibrary.GetExport(h, "ZSTD_decompressStream");
            FreeDStream = (delegate* unmanaged<void*, nuint>)NativeLibrary.GetExport(h, "ZSTD_freeDStream");
            IsError = (delegate* unmanaged<nuint, uint>)NativeLibrary.GetExport(h, "ZSTD_isError");
            GetErrorName = (delegate* unmanaged<nuint, byte*>)NativeLibrary.GetExport(h, "ZSTD_getErrorName");
        }

        /// <summary>libzstd's words for an error code.</summary>
        public string ErrorName(nuint code) => Marshal.PtrToStringUTF8((nint)GetErrorName(code)) ?? $"zstd error {code}";

        internal static Zstd? Load() => LoadLibrary(h => new Zstd(h), "libzstd.so.1", "libzstd.so", "libzstd.1.dylib", "libzstd.dylib");
    }
}
