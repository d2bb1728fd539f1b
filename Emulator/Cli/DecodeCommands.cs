using System.CommandLine;
using System.Globalization;
using MmuSim.Faults;

namespace MmuSim.Cli;

/// <summary>`mmusim esr VALUE`, `mmusim hpfar VALUE`, `mmusim par VALUE`: decode a register in words.</summary>
public static class DecodeCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Make("esr", "Decode an ESR_ELx value: EC, IL, ISS and, for aborts, DFSC/IFSC, WnR, S1PTW, CM, EA, FnV.", (v, el2) => SyndromeDecoder.DescribeEsr(v, el2 ? 2 : 0), withEl2: true);
        yield return Make("hpfar", "Decode an HPFAR_EL2 value: the faulting IPA page.", (v, _) => SyndromeDecoder.DescribeHpfar(v), withEl2: false);
        yield return Make("par", "Decode a PAR_EL1 value after an AT instruction.", (v, _) => SyndromeDecoder.DescribePar(v), withEl2: false);
    }

    private static Command Make(string name, string description, Func<ulong, bool, string> decode, bool withEl2)
    {
        var value = new Argument<string>("value") { Description = "The register value in hexadecimal, with or without 0x (registers are written in hex); 0d... for decimal." };
        var el2 = new Option<bool>("--el2") { Description = "Name the register ESR_EL2 (taken to EL2)." };
        var cmd = new Command(name, description) { value };
        if (withEl2)
        {
            cmd.Options.Add(el2);
        }
        cmd.SetAction(pr =>
        {
            // A syndrome or address register is always written in hex ("ESR 93830006"); decimal must say so with 0d.
            string text = pr.GetValue(value)!.Trim().Replace("_", "", StringComparison.Ordinal);
            bool dec = text.StartsWith("0d", StringComparison.OrdinalIgnoreCase);
            string digits = dec || text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
            if (digits.Length == 0 || !ulong.TryParse(digits, dec ? NumberStyles.None : NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v))
            {
                Console.Error.WriteLine($"mmusim {name}: '{pr.GetValue(value)}' is not a 64-bit number (hexadecimal, with or without 0x; 0d... for decimal)");
                return 2;
            }
            Console.Out.Write(decode(v, withEl2 && pr.GetValue(el2)));
            return 0;
        });
        return cmd;
    }
}
