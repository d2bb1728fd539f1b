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

    /// <summary>
    /// A report of several lines (a fault report, an explanation) made safe for a terminal: as <see cref="Escape"/>,
    /// but line feeds and tabs stay what they are.
    /// </summary>
    public static string EscapeKeepingLines(string s)
    {
        bool any = false;
        foreach (char c in s)
        {
            if (c is not ('\n' or '\t') && IsControl(c))
            {
                any = true;
                break;
            }
        }
        if (!any)
        {
            return s;
        }
        var sb = new StringBuilder(s.Length + 8);
        foreach (char c in s)
        {
            sb.Append(c is '\n' or '\t' ? c.ToString() : Escape(c.ToString()));
        }
        return sb.ToString();
    }

    /// <summary>Whether <see cref="Escape"/> would rewrite <paramref name="c"/>.</summary>
    public static bool HasControl(char c) => IsControl(c);

    private static bool IsControl(char c) => char.IsControl(c) || c is '\u2028' or '\u2029';
}
