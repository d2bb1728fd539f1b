using System.Buffers;
using System.Text.Unicode;

namespace MmuSim.Bits;

/// <summary>Where a text that must be UTF-8 (JSON configurations) stops being so.</summary>
public static class Utf8Text
{
    /// <summary>
    /// The 1-based line and column (in bytes) of the first byte of <paramref name="utf8"/> that is not part of valid
    /// UTF-8, or null when all of it is. System.Text.Json checks a string's escapes when it reads it, but its UTF-8
    /// only when the string is decoded, where it throws InvalidOperationException with no position.
    /// </summary>
    public static (int Line, int Column)? FirstInvalid(ReadOnlySpan<byte> utf8)
    {
        if (Utf8.IsValid(utf8))
        {
            return null;
        }
        char[] chars = ArrayPool<char>.Shared.Rent(utf8.Length);
        try
        {
            Utf8.ToUtf16(utf8, chars, out int valid, out _, replaceInvalidSequences: false);
            var before = utf8[..valid];
            int line = before.Count((byte)'\n') + 1;
            int column = valid - (before.LastIndexOf((byte)'\n') + 1) + 1;
            return (line, column);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }
}
