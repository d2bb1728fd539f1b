namespace MmuSim.Cli;

/// <summary>
/// An output file of a command (`--results`, `--json`), opened before the work starts so that a path that cannot
/// be written fails at once, and that never destroys what it replaces: a regular file is written to a temporary
/// file beside it and renamed over it by <see cref="Commit"/>, so an interrupted run leaves the previous file
/// intact. `-` is standard output; a device or FIFO (`/dev/stdout`, a named pipe) is written in place, opened for
/// writing only (opening it read-write would make this process a reader of its own pipe).
/// </summary>
public sealed class OutputFile : IDisposable
{
    private readonly string? _temporary;
    private bool _committed;

    private OutputFile(string path, Stream stream, string? temporary, string? destination = null)
    {
        Path = path;
        Stream = stream;
        _temporary = temporary;
        _destination = destination;
    }

    /// <summary>Where the temporary file goes when committed.</summary>
    private readonly string? _destination;

    /// <summary>The path the user named.</summary>
    public string Path { get; }

    public Stream Stream { get; }

    /// <summary>
    /// Opens <paramref name="path"/> for writing. Refuses (with <see cref="IOException"/>, whose message names the
    /// path) an output that is one of <paramref name="inputs"/>: writing it would destroy an input before it is read.
    /// </summary>
    public static OutputFile Open(string path, IEnumerable<string> inputs)
    {
        if (path == "-")
        {
            // Through Console.Out (what the rest of the command writes to), buffered so it is written in large pieces.
            return new OutputFile(path, new BufferedStream(new TextWriterStream(Console.Out), 1 << 16), null);
        }
        string target = Resolve(path);
        foreach (var input in inputs)
        {
            if (input != "-" && string.Equals(Resolve(input), target, StringComparison.Ordinal))
            {
                throw new IOException($"{path}: is also an input; refusing to overwrite it");
            }
        }
        if (Directory.Exists(path))
        {
            throw new IOException($"{path}: is a directory");
        }
        // A link to a regular file is replaced through its final target (the link stays a link); anything else
        // (a device such as /dev/stdout, whose link leads to "pipe:[…]", a FIFO, a new file) is opened by its name.
        string file = File.Exists(target) ? target : path;
        if (!File.Exists(file))
        {
            return OpenTemporary(path, file);
        }
        // Opened for writing only and without truncation: a regular file is seekable, and is then replaced through a
        // temporary file; a FIFO or a device is not, and is written in place.
        var stream = new FileStream(file, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        if (!stream.CanSeek)
        {
            return new OutputFile(path, stream, null);
        }
        stream.Dispose();
        return OpenTemporary(path, file);
    }

    private static OutputFile OpenTemporary(string path, string destination)
    {
        string full = System.IO.Path.GetFullPath(destination);
        string dir = System.IO.Path.GetDirectoryName(full) ?? ".";
        string temporary = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.Read);
        return new OutputFile(path, stream, temporary, full);
    }

    /// <summary>The full path with every symbolic link resolved (for a file that does not exist yet, its folder's).</summary>
    private static string Resolve(string path)
    {
        string full = System.IO.Path.GetFullPath(path);
        try
        {
            var link = new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true);
            if (link is not null)
            {
                return link.FullName;
            }
        }
        catch (IOException)
        {
        }
        return full;
    }

    /// <summary>Flushes, closes and puts the file in place (renaming the temporary file over the target).</summary>
    public void Commit()
    {
        if (_committed)
        {
            return;
        }
        Stream.Flush();
        if (_temporary is null)
        {
            _committed = true;
            return;
        }
        Stream.Dispose();
        File.Move(_temporary, _destination!, overwrite: true);
        _committed = true; // only now: a failed rename leaves the temporary file to Dispose, which deletes it
    }

    public void Dispose()
    {
        if (!_committed && _temporary is not null)
        {
            Stream.Dispose();
            File.Delete(_temporary);
        }
        else if (_temporary is null)
        {
            Stream.Dispose(); // standard output: flushed, Console.Out itself stays open
        }
    }
}

/// <summary>UTF-8 bytes written to a <see cref="TextWriter"/> (standard output as the command sees it).</summary>
internal sealed class TextWriterStream(TextWriter writer) : Stream
{
    private readonly System.Text.Decoder _decoder = new System.Text.UTF8Encoding(false).GetDecoder();
    private char[] _chars = new char[4096];

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        int need = _decoder.GetCharCount(buffer, flush: false);
        if (need > _chars.Length)
        {
            _chars = new char[need];
        }
        int n = _decoder.GetChars(buffer, _chars, flush: false);
        writer.Write(_chars, 0, n);
    }

    public override void Flush() => writer.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
