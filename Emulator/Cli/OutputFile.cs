using MmuSim.Bits;

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

    /// <summary>
    /// Set by the process's entry point: `-` is then file descriptor 1. Left false when the commands run inside
    /// another program (the tests), where standard output is whatever Console.Out was set to.
    /// </summary>
    public static bool StandardOutputIsProcess { get; set; }

    /// <summary>Where the temporary file goes when committed.</summary>
    private readonly string? _destination;

    /// <summary>The path the user named.</summary>
    public string Path { get; }

    public Stream Stream { get; }

    /// <summary>The stream for a writer that closes what it is given: its Dispose flushes, and the file stays open for <see cref="Commit"/>.</summary>
    public Stream KeptOpen() => new NamedStream(Stream, Path, closes: false);

    /// <summary>
    /// Opens <paramref name="path"/> for writing. Refuses (with <see cref="IOException"/>, whose message names the
    /// path) an output that is one of <paramref name="inputs"/>: writing it would destroy an input before it is read.
    /// </summary>
    public static OutputFile Open(string path, IEnumerable<string> inputs)
    {
        if (path == "-")
        {
            // The process's standard output itself (file descriptor 1): bytes as written (a binary trace too), and a
            // reader that has gone is an error (EPIPE) that ends the run, where Console's stream ignores it. Run in
            // process (tests), through Console.Out, what the rest of the command writes to.
            Console.Out.Flush();
            Stream stdout = StandardOutputIsProcess
                ? new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(1, ownsHandle: false), FileAccess.Write, 1)
                : new TextWriterStream(Console.Out);
            return new OutputFile(path, new NamedStream(new BufferedStream(stdout, 1 << 16), path), null);
        }
        try
        {
            string target = Resolve(path);
            foreach (var input in inputs)
            {
                if (input != "-" && string.Equals(Resolve(input), target, StringComparison.Ordinal))
                {
                    throw new PathIOException(path, "is also an input; refusing to overwrite it") { Output = true };
                }
            }
            if (Directory.Exists(path))
            {
                throw new PathIOException(path, "is a directory") { Output = true };
            }
            // A link to a regular file is replaced through its final target (the link stays a link); anything else
            // (a device such as /dev/stdout, whose link leads to "pipe:[…]", a FIFO, a new file) is opened by its name.
            string file = File.Exists(target) ? target : path;
            if (!File.Exists(file) || PathErrors.IsRegularFile(file))
            {
                return OpenTemporary(path, file);
            }
            // A FIFO or a device (/dev/stdout, /dev/full, /dev/null) is written in place, for writing only and without
            // truncation: renaming a file over it would replace the device node itself.
            var stream = new FileStream(file, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1);
            return new OutputFile(path, new NamedStream(stream, path), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw PathErrors.Describe(path, e, output: true);
        }
    }

    private static OutputFile OpenTemporary(string path, string destination)
    {
        string full = System.IO.Path.GetFullPath(destination);
        string dir = System.IO.Path.GetDirectoryName(full) ?? ".";
        string temporary = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.Read);
        return new OutputFile(path, new NamedStream(stream, path), temporary, full);
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
        try
        {
            File.Move(_temporary, _destination!, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw PathErrors.Describe(Path, e, output: true);
        }
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

/// <summary>An output stream whose write errors name the output (<see cref="PathIOException"/>: `PATH: no space left on device`).</summary>
internal sealed class NamedStream(Stream inner, string path, bool closes = true) : Stream
{
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        try
        {
            inner.Write(buffer);
        }
        catch (IOException e)
        {
            throw PathErrors.Describe(path, e, output: true);
        }
    }

    public override void Flush()
    {
        try
        {
            inner.Flush();
        }
        catch (IOException e)
        {
            throw PathErrors.Describe(path, e, output: true);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !closes)
        {
            Flush();
        }
        else if (disposing)
        {
            try
            {
                inner.Dispose();
            }
            catch (IOException)
            {
                // A flush that failed has been reported by Flush; closing must not throw a second time.
            }
        }
        base.Dispose(disposing);
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
