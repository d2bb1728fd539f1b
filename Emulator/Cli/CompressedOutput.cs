using System.IO.Compression;

namespace MmuSim.Cli;

/// <summary>
/// Compression of an output chosen by its name: FILE.gz is written as gzip (one member, RFC 1952), which every
/// input reader of mmusim and `zcat` read back; other compressed names are refused before any work starts, so that
/// a file named .xz or .zst never holds uncompressed bytes.
/// </summary>
public static class CompressedOutput
{
    /// <summary>Names of compressions mmusim does not write, with the tool that does.</summary>
    private static readonly (string Extension, string Tool)[] Unwritten =
        [(".xz", "xz"), (".zst", "zstd"), (".zstd", "zstd"), (".bz2", "bzip2"), (".lz4", "lz4"), (".lzma", "xz"), (".br", "brotli")];

    public static bool IsGzip(string path) => path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);

    /// <summary>Why <paramref name="path"/> cannot be written as named (an unsupported compression), or null.</summary>
    public static string? Refusal(string path, string what)
    {
        foreach (var (ext, tool) in Unwritten)
        {
            if (path.EndsWith(ext, StringComparison.OrdinalIgnoreCase))
            {
                return $"{what} {path}: mmusim writes gzip (.gz) but not {ext}; name the output .gz, or write it to standard output and compress that: `{what} - | {tool} > {Path.GetFileName(path)}`";
            }
        }
        return null;
    }

    /// <summary>
    /// <paramref name="sink"/> (the output file, kept open for its commit) compressed when the name ends .gz. Disposing
    /// the returned stream writes the gzip trailer; the fastest level, since results are written as fast as a replay runs.
    /// </summary>
    public static Stream Wrap(string path, Stream sink) => IsGzip(path) ? new GZipStream(sink, CompressionLevel.Fastest) : sink;
}
