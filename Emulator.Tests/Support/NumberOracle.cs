namespace MmuSim.Tests.Support;

/// <summary>The number rules of the trace formats, plainly (BigInteger over the digits), for oracle tests.</summary>
public static class NumberOracle
{
    /// <summary>The text format's rule: `0x` hexadecimal or decimal, `_` anywhere after the prefix, at most 64 bits.</summary>
    public static ulong? Text(string tok)
    {
        bool hex = tok.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        string digits = (hex ? tok[2..] : tok).Replace("_", "");
        string valid = hex ? "0123456789abcdefABCDEF" : "0123456789";
        if (digits.Length == 0 || digits.Any(c => !valid.Contains(c)))
        {
            return null;
        }
        var v = System.Numerics.BigInteger.Parse(hex ? "0" + digits : digits, hex ? System.Globalization.NumberStyles.HexNumber : System.Globalization.NumberStyles.None);
        return v <= ulong.MaxValue ? (ulong)v : null;
    }

    /// <summary>
    /// The foreign formats' addresses (lackey, QEMU mem): hexadecimal digits with or without a `0x` prefix (a token of
    /// more than the prefix), 1 to 16 of them, no `_`.
    /// </summary>
    public static ulong? ForeignHex(string tok)
    {
        string digits = tok.Length > 2 && tok.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? tok[2..] : tok;
        if (digits.Length is 0 or > 16 || digits.Any(c => !"0123456789abcdefABCDEF".Contains(c)))
        {
            return null;
        }
        return (ulong)System.Numerics.BigInteger.Parse("0" + digits, System.Globalization.NumberStyles.HexNumber);
    }

    /// <summary>The foreign formats' sizes: 1 to 9 decimal digits, nothing else.</summary>
    public static ulong? ForeignDec(string tok) =>
        tok.Length is 0 or > 9 || tok.Any(c => c is < '0' or > '9') ? null : ulong.Parse(tok, System.Globalization.CultureInfo.InvariantCulture);
}
