using System.CommandLine;
using System.Globalization;
using MmuSim.Memory;
using MmuSim.Replay;
using MmuSim.Reporting;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Cli;

/// <summary>`mmusim translate SETUP.trace VA... [--el N] [--cpu N] [--at OP] [--ipa] [--json]`: what a setup's tables say about addresses.</summary>
public static class TranslateCommand
{
    public static Command Create()
    {
        var setup = new Argument<string>("setup") { Description = "The setup trace (registers, memory, load images), replayed first; '-' for standard input." };
        // Several addresses share one replay of the setup: a real guest's setup (thousands of tables) takes longer to
        // replay than to ask, and checking a kernel's map asks about thousands of VAs.
        var address = new Argument<string[]>("address") { Description = "The VAs (or with --ipa the IPAs) to translate, 0x... or decimal, in the order answered.", Arity = ArgumentArity.OneOrMore };
        var el = new Option<int?>("--el") { Description = "Exception level of the accesses, 0, 1 or 2 (default: the PE's EL at the end of the setup)." };
        var cpu = new Option<int>("--cpu") { Description = "The PE whose registers translate (default 0).", DefaultValueFactory = _ => 0 };
        var at = new Option<string?>("--at") { Description = "An AT operation (S1E1R, S12E0W, ...) instead of the read, write and fetch: its PAR_EL1." };
        var ipa = new Option<bool>("--ipa") { Description = "The address is an IPA: stage 2 alone (VTTBR_EL2), as a guest's accesses meet it." };
        var json = new Option<bool>("--json") { Description = "One JSON object per access type (the results schema's op, va, el, pa or fault; at and par for --at)." };
        var format = FormatOption.Create();
        var cmd = new Command("translate", "Translate addresses with a setup's tables as they are in memory, for a read, a write and a fetch (or one AT operation): the walk, the output address or the fault with its syndromes. Nothing is cached or written.")
        {
            setup, address, el, cpu, at, ipa, json, format,
        };
        cmd.SetAction(async (pr, ct) =>
        {
            if (!FormatOption.TryRead(pr, format, out var inFormat, out string? error))
            {
                Console.Error.WriteLine($"mmusim translate: {error}");
                return 1;
            }
            string[] texts = pr.GetValue(address)!;
            var addrs = new ulong[texts.Length];
            for (int i = 0; i < texts.Length; i++)
            {
                if (!TryNumber(texts[i], out addrs[i]))
                {
                    Console.Error.WriteLine($"mmusim translate: '{texts[i]}' is not a 64-bit address (0x... or decimal)");
                    return 1;
                }
            }
            AtOp? atOp = null;
            if (pr.GetValue(at) is { } atName)
            {
                if (!Enum.TryParse<AtOp>(atName, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed) || int.TryParse(atName, out _))
                {
                    Console.Error.WriteLine($"mmusim translate: unknown AT operation '{atName}' ({string.Join(", ", Enum.GetNames<AtOp>())})");
                    return 1;
                }
                atOp = parsed;
            }
            if (atOp is not null && pr.GetValue(ipa))
            {
                Console.Error.WriteLine("mmusim translate: --at translates a VA: it cannot be combined with --ipa");
                return 1;
            }
            if (pr.GetValue(el) is { } e && e is < 0 or > 2)
            {
                Console.Error.WriteLine($"mmusim translate: --el {e} is not 0, 1 or 2");
                return 1;
            }
            var (replayer, failed) = await SetupInput.ReplayAsync([pr.GetValue(setup)!], inFormat, ct);
            if (replayer is null)
            {
                return failed;
            }
            int n = pr.GetValue(cpu);
            var pes = replayer.System.Pes;
            if (n < 0 || n >= pes.Count)
            {
                Console.Error.WriteLine($"mmusim translate: --cpu {n}: the setup has {pes.Count} PE{(pes.Count == 1 ? "" : "s")} (0..{pes.Count - 1})");
                return 1;
            }
            var pe = pes[n];
            byte level = (byte)(pr.GetValue(el) ?? pe.CurrentEl);
            for (int i = 0; i < addrs.Length; i++)
            {
                ulong addr = addrs[i];
                ProbeAnswer[] answers = atOp is { } op ? [TranslationProbe.At(pe, op, addr)]
                    : pr.GetValue(ipa) ? TranslationProbe.Stage2(pe, addr, level)
                    : TranslationProbe.Accesses(pe, addr, level);
                if (pr.GetValue(json))
                {
                    Console.Out.Write(TranslationProbe.Json(pe, answers));
                }
                else
                {
                    byte shownEl = atOp is { } a ? a.Decode().El : level;
                    // One answer after another, a blank line between them.
                    Console.Out.Write((i > 0 ? "\n" : "") + TranslationProbe.Text(pe, addr, shownEl, pr.GetValue(ipa), answers));
                }
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>0x hexadecimal or decimal, `_` between digits allowed (as the trace format's numbers).</summary>
    internal static bool TryNumber(string text, out ulong value)
    {
        text = text.Replace("_", "", StringComparison.Ordinal);
        bool hex = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        return ulong.TryParse(hex ? text[2..] : text, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }
}
