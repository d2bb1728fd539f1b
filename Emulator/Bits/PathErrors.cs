using System.Runtime.InteropServices;

namespace MmuSim.Bits;

/// <summary>
/// An input or output that could not be read or written, as the one line the commands print: <c>PATH: reason</c>
/// (reason as the C library words it: "no such file or directory", "is a directory", "permission denied", "no
/// space left on device", "broken pipe").
/// </summary>
public sealed class PathIOException(string path, string reason, Exception? inner = null)
    : IOException($"{PrintableText.Escape(path)}: {reason}", inner)
{
    public string PathName { get; } = path;

    public string Reason { get; } = reason;

    /// <summary>The path is one the command writes (an output), not one it reads: the error is exit code 1, not 2.</summary>
    public bool Output { get; init; }

    /// <summary>Whether the output's reader has gone (EPIPE): a consumer such as `head` that read what it wanted.</summary>
    public bool BrokenPipe => Reason == PathErrors.BrokenPipe;
}

/// <summary>Turns the exceptions of opening, reading and writing a file into <see cref="PathIOException"/>.</summary>
public static partial class PathErrors
{
    public const string BrokenPipe = "broken pipe";

    /// <summary>The error of <paramref name="e"/> on <paramref name="path"/>, worded once for every command.</summary>
    public static PathIOException Describe(string path, Exception e, bool output = false) => e switch
    {
        PathIOException p => p,
        FileNotFoundException => new(path, "no such file or directory", e) { Output = output },
        DirectoryNotFoundException => new(path, UnderAFile(path) ? "not a directory" : "no such file or directory", e) { Output = output },
        UnauthorizedAccessException => new(path, Directory.Exists(path) ? "is a directory" : "permission denied", e) { Output = output },
        _ => new(path, Reason(e), e) { Output = output },
    };

    /// <summary>The C library's wording of an I/O error (.NET's message without the path it appends), lower case.</summary>
    private static string Reason(Exception e)
    {
        string m = e.Message;
        int at = m.IndexOf(" : '", StringComparison.Ordinal);
        if (at > 0)
        {
            m = m[..at];
        }
        m = m.TrimEnd('.');
        if (m.Contains("Broken pipe", StringComparison.OrdinalIgnoreCase))
        {
            return BrokenPipe;
        }
        return m.Length > 1 && char.IsUpper(m[0]) && char.IsLower(m[1]) ? char.ToLowerInvariant(m[0]) + m[1..] : m;
    }

    /// <summary>Whether a folder on the way to <paramref name="path"/> is a regular file (ENOTDIR, which .NET reports as a missing folder).</summary>
    private static bool UnderAFile(string path)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        while (!string.IsNullOrEmpty(dir))
        {
            if (File.Exists(dir))
            {
                return true;
            }
            dir = Path.GetDirectoryName(dir);
        }
        return false;
    }

    /// <summary>
    /// Whether <paramref name="path"/> (links followed) is a regular file: only a regular file may be replaced by
    /// renaming a new file over it. A device is seekable too (/dev/full, /dev/null), and renaming over one would
    /// replace the device node itself. False when it does not exist.
    /// </summary>
    public static bool IsRegularFile(string path)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64))
        {
            return File.Exists(path); // elsewhere device files are not paths a user names
        }
        // struct stat of the Linux ABI: st_mode is at byte 24 on x86-64 (after dev, ino, nlink) and at 16 on the
        // generic layout arm64 uses (nlink follows mode); S_IFMT 0o170000, S_IFREG 0o100000.
        Span<byte> buffer = stackalloc byte[256];
        try
        {
            if (Stat(path, ref MemoryMarshal.GetReference(buffer)) != 0)
            {
                return false;
            }
        }
        catch (EntryPointNotFoundException)
        {
            return File.Exists(path); // a C library older than glibc 2.33 exports no `stat`
        }
        int offset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 24 : 16;
        uint mode = BitConverter.ToUInt32(buffer[offset..]);
        return (mode & 0xF000) == 0x8000;
    }

    [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Stat(string path, ref byte buffer);
}
