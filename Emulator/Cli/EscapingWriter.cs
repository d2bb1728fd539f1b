using System.Text;
using MmuSim.Bits;

namespace MmuSim.Cli;

/// <summary>
/// Standard error as every command writes its messages: control characters other than line feed and tab become
/// visible escapes (<see cref="PrintableText"/>), so no input-derived text in a message (a file name, a config's
/// unknown key, a --preset or esr argument, a name) can move the cursor, set the title (OSC), ring the bell or
/// change the colours of the user's terminal. Messages are one line each; a carriage return, which would let the
/// rest of a line overwrite its start, is escaped too. The progress display, which draws with '\r' on purpose,
/// writes to <see cref="Inner"/>.
/// </summary>
public sealed class EscapingWriter(TextWriter inner) : TextWriter
{
    /// <summary>The writer underneath, unescaped.</summary>
    public TextWriter Inner { get; } = inner;

    public override Encoding Encoding => Inner.Encoding;

    /// <summary><paramref name="writer"/> without the escaping, when it has it.</summary>
    public static TextWriter Raw(TextWriter writer) => writer is EscapingWriter e ? e.Inner : writer;

    private static bool Passes(char c) => c is '\n' or '\t' || !PrintableText.HasControl(c);

    public override void Write(char value)
    {
        if (Passes(value))
        {
            Inner.Write(value);
        }
        else
        {
            Inner.Write(PrintableText.Escape(value.ToString()));
        }
    }

    public override void Write(string? value)
    {
        if (value is null)
        {
            return;
        }
        foreach (char c in value)
        {
            if (!Passes(c))
            {
                foreach (char d in value)
                {
                    Write(d);
                }
                return;
            }
        }
        Inner.Write(value);
    }

    public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

    public override void Write(ReadOnlySpan<char> buffer) => Write(buffer.ToString());

    public override void WriteLine(string? value)
    {
        Write(value);
        Inner.WriteLine();
    }

    public override void WriteLine() => Inner.WriteLine();

    public override void Flush() => Inner.Flush();
}
