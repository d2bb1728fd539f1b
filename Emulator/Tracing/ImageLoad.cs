namespace MmuSim.Tracing;

/// <summary>
/// The operands of a `load PA FILE [OFFSET [SIZE]]` line or record (docs/trace-format.md, "Memory images"), with
/// where it came from so that an image that cannot be loaded is reported at its line and column (or byte offset).
/// A load line is rare (a setup's few images), so it is an object the record points to, not fields of every record.
/// </summary>
public sealed class ImageLoad
{
    /// <summary>The physical address the image starts at (<see cref="TraceRecord.Address"/> holds it too).</summary>
    public required ulong Address { get; init; }

    /// <summary>FILE as the trace spells it (what a converted trace writes back).</summary>
    public required string File { get; init; }

    /// <summary>OFFSET: the first byte of the file the image holds.</summary>
    public ulong Offset { get; init; }

    /// <summary>SIZE, or null for the rest of the file.</summary>
    public ulong? Size { get; init; }

    /// <summary>The trace that named the file (its folder is where a relative FILE is found; `-` = the current folder).</summary>
    public required string Source { get; init; }

    /// <summary>The line (text) or record number (binary).</summary>
    public long Line { get; init; }

    /// <summary>Column of FILE on its line (text), 0 for a binary record.</summary>
    public int Column { get; init; }

    /// <summary>Byte offset of the record (binary), −1 for text.</summary>
    public long ByteOffset { get; init; } = -1;

    /// <summary>The file's path: FILE itself when absolute, else FILE from the folder of <see cref="Source"/>.</summary>
    public string ResolvedPath
    {
        get
        {
            if (Path.IsPathRooted(File) || Source == "-")
            {
                return Path.GetFullPath(File);
            }
            string? folder = Path.GetDirectoryName(Path.GetFullPath(Source));
            return Path.GetFullPath(Path.Combine(folder ?? ".", File));
        }
    }

    /// <summary>
    /// Checks the file against the operands: it exists and is readable, OFFSET is inside it, it holds SIZE bytes from
    /// OFFSET. Returns the resolved path and the number of bytes to map; a bad operand is a
    /// <see cref="TraceFormatException"/> at this line.
    /// </summary>
    public (string Path, ulong Size) Check()
    {
        string path = ResolvedPath;
        long length;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                throw Error($"memory image '{File}' not found ({path})");
            }
            length = info.Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw Error($"memory image '{File}' cannot be read: {e.Message}");
        }
        if (Offset > (ulong)length)
        {
            throw Error($"offset {Offset} is past the end of memory image '{File}' ({length} bytes)");
        }
        ulong rest = (ulong)length - Offset;
        if (Size is { } size && size > rest)
        {
            throw Error($"memory image '{File}' holds {rest} bytes from offset {Offset}, fewer than the {size} asked for");
        }
        ulong bytes = Size ?? rest;
        if ((bytes & 7) != 0)
        {
            throw Error($"memory image '{File}' has {bytes} bytes from offset {Offset}, not a multiple of 8 (give SIZE)");
        }
        return (path, bytes);
    }

    /// <summary>An error about this load at its line and column (text) or byte offset (binary).</summary>
    public TraceFormatException Error(string reason) =>
        ByteOffset >= 0
            ? TraceFormatException.AtByte(Source, ByteOffset, $"record {Line}: {reason}")
            : new TraceFormatException(Source, Line, Column, reason);
}
