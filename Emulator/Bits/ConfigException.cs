namespace MmuSim.Bits;

/// <summary>
/// A place in a configuration file: a 1-based line and column in a text file, or a byte offset in a binary one
/// (<see cref="AtByte"/>: <see cref="Line"/> is -1 and <see cref="Column"/> holds the offset).
/// </summary>
public readonly record struct SourcePos(string File, int Line, int Column)
{
    /// <summary>A byte offset in a binary file (a jailhouse .cell), written "FILE:byte 0x1f4".</summary>
    public static SourcePos AtByte(string file, long offset) => new(file, -1, checked((int)offset));

    public bool IsByteOffset => Line == -1;

    public override string ToString() => IsByteOffset ? $"{File}:byte 0x{Column:x}" : $"{File}:{Line}:{Column}";
}

/// <summary>One of several errors a <see cref="ConfigException"/> reports at once; its <c>ToString</c> is its line of the message.</summary>
public interface IConfigError
{
    /// <summary>Where the error was written, when it is about one place.</summary>
    SourcePos? Pos { get; }
}

/// <summary>
/// Bad configuration input, from any floor: a translation-model configuration (<c>--config</c>, <c>--preset</c>), a
/// system or cell configuration, or the options that choose one. The CLI reports the message and exits with code 2.
/// The message is <c>FILE[:LINE:COLUMN]: [KEY: ]REASON</c> with the parts that are not known left out, e.g.
/// <c>cfg.json: tlbs[2].ways: 3 does not divide entries (1280)</c> or <c>bad.json:5:91: cell 'guest': … unknown flag</c>;
/// an exception that reports several errors (<see cref="Errors"/>) has one line per error.
/// </summary>
public sealed class ConfigException : Exception
{
    /// <summary>An error in <paramref name="file"/> (null: not about a file) at the key path <paramref name="key"/> (null: none).</summary>
    public ConfigException(string? file, string? key, string reason)
        : this(file, 0, 0, key, reason)
    {
    }

    /// <summary>An error at a known place of a file.</summary>
    public ConfigException(SourcePos where, string reason)
        : this(where.File, where.Line, where.Column, null, reason)
    {
    }

    /// <summary>An error at a known place of a file, about the key path <paramref name="key"/>.</summary>
    public ConfigException(SourcePos where, string? key, string reason)
        : this(where.File, where.Line, where.Column, key, reason)
    {
    }

    /// <summary>An error not tied to a file or key (e.g. options that contradict each other).</summary>
    public ConfigException(string reason)
        : this(null, 0, 0, null, reason)
    {
    }

    /// <summary>Every error found, each a line of the message (the configuration contradicts itself in several places).</summary>
    public ConfigException(IReadOnlyList<IConfigError> errors)
        : base(string.Join(Environment.NewLine, errors.Select(e => e.ToString())))
    {
        Errors = errors;
        Reason = Message;
    }

    private ConfigException(string? file, int line, int column, string? key, string reason)
        : base(Format(file, line, column, key, reason))
    {
        File = file;
        Line = line;
        Column = column;
        Key = key;
        Reason = reason;
    }

    /// <summary>The file at fault; null when the error is not about a file.</summary>
    public string? File { get; }

    /// <summary>1-based line, 0 when not known.</summary>
    public int Line { get; }

    /// <summary>1-based column (bytes), 0 when not known.</summary>
    public int Column { get; }

    /// <summary>
    /// What is at fault: a key path (<c>tlbs[2].ways</c>), an option (<c>--preset</c>) or a field as a cell configuration's
    /// messages name it (<c>cell 'guest': mem_regions[1] 'dtb'.flags</c>); null when the reason names it itself.
    /// </summary>
    public string? Key { get; }

    /// <summary>What is wrong, without the place.</summary>
    public string Reason { get; }

    /// <summary>File, line and column together (empty file and zeros where not known).</summary>
    public SourcePos Where => new(File ?? "", Line, Column);

    /// <summary>The errors of an exception that reports several at once; empty for a single error.</summary>
    public IReadOnlyList<IConfigError> Errors { get; } = [];

    private static string Format(string? file, int line, int column, string? key, string reason)
    {
        string place = file is null ? "" : line > 0 ? $"{file}:{line}:{column}: " : line == -1 ? $"{file}:byte 0x{column:x}: " : $"{file}: ";
        return key is null ? place + reason : $"{place}{key}: {reason}";
    }
}
