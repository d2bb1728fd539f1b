using System.Text;

namespace MmuSim.Bits;

/// <summary>
/// Text from an input (a configuration's names, a file name, an unknown word) made safe to write into a line of a
/// trace or onto a terminal: control characters (C0, DEL, C1) and the Unicode line and paragraph separators become
/// visible escapes, so a name can neither end a comment line of a trace (and start a command) nor drive a terminal.
/// </summary>
public static class PrintableText
{
    /// <summary>Whether <paramref name="s"/> holds a character <see cref="Escape"/> would rewrite.</summary>
    public static bool HasControl(string s)
    {
        foreach (char c in s)
        {
            if (IsControl(c))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary><paramref name="s"/> with each control character as <c>\xNN</c> (or <c>\uNNNN</c> above 0xFF); unchanged when it has none.</summary>
    public static string Escape(string s)
    {
        if (!HasControl(s))
        {
            return s;
        }
        var sb = new StringBuilder(s.Length + 8);
        foreach (char c in s)
        {
            if (!IsControl(c))
            {
                sb.Append(c);
            }
            else if (c <= 0xFF)
            {
                sb.Append("\\x").Append(((int)c).ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        return sb.ToString();
    }

    private static bool IsControl(char c) => char.IsControl(c) || c is '\u2028' or '\u2029';
}
