using System.CommandLine;
using System.CommandLine.Parsing;
using MmuSim.Bits;

namespace MmuSim.Cli;

/// <summary>The `mmusim` command: thin option parsing over the library. Each subcommand lives in its own file.</summary>
public static class Program
{
    /// <summary>The process's entry point: `-` outputs are its standard output (file descriptor 1).</summary>
    public static int Main(string[] args)
    {
        OutputFile.StandardOutputIsProcess = true;
        Interrupts.Install();
        return Run(args);
    }

    /// <summary>Runs the command line <paramref name="args"/> (in process: the tests).</summary>
    public static int Run(string[] args)
    {
        // Every message goes to standard error; none may drive the terminal (EscapingWriter).
        var error = Console.Error;
        Console.SetError(new EscapingWriter(error));
        try
        {
            var parsed = BuildRoot().Parse(args);
            if (UnknownOption(parsed) is { } message)
            {
                Console.Error.WriteLine($"mmusim: {message}");
                return 1;
            }
            // Signals are Interrupts' (the commands stop in order and write what they have), not System.CommandLine's,
            // which would end the process two seconds after the first one whatever was left to write.
            return parsed.Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null });
        }
        finally
        {
            Console.Error.Flush();
            Console.SetError(error);
        }
    }

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("MmuSim: a cycle-level ARMv8-A (VMSAv8-64) MMU emulator with a software TLB.");
        root.Subcommands.Add(ReplayCommand.Create());
        root.Subcommands.Add(ExplainCommand.Create());
        root.Subcommands.Add(CellCommand.Create());
        root.Subcommands.Add(FaultsCommand.Create());
        foreach (var c in DecodeCommands.Create())
        {
            root.Subcommands.Add(c);
        }
        root.Subcommands.Add(ConvertCommand.Create());
        root.Subcommands.Add(ReportCommand.Create());
        root.Subcommands.Add(TranslateCommand.Create());
        root.Subcommands.Add(TablesCommand.Create());
        root.Subcommands.Add(ImportCommand.Create());
        root.Subcommands.Add(MrcCommand.Create());
        root.Subcommands.Add(SweepCommand.Create());
        root.Subcommands.Add(CompareCommand.Create());
        root.Subcommands.Add(MergeCommand.Create());
        return root;
    }

    /// <summary>
    /// A word that looks like an option but was taken as an argument (a trace name, say) because no option has that
    /// name: a mistyped `--reslts` would otherwise be opened as a file. Words after `--`, `-` (standard input),
    /// negative numbers and names of files that exist are arguments as written.
    /// </summary>
    private static string? UnknownOption(ParseResult parsed)
    {
        var options = parsed.CommandResult.Command.Options
            .SelectMany(o => o.Aliases.Append(o.Name))
            .Where(n => n.StartsWith('-'))
            .Distinct(StringComparer.Ordinal)
            .ToList();
        foreach (var token in parsed.Tokens)
        {
            if (token.Type == TokenType.DoubleDash)
            {
                return null;
            }
            string v = token.Value;
            if (token.Type != TokenType.Argument || v.Length < 2 || v[0] != '-' || char.IsAsciiDigit(v[1])
                || File.Exists(v) || Directory.Exists(v))
            {
                continue;
            }
            string name = v.Split('=', 2)[0];
            string? near = options.Where(o => Distance(o, name) <= Math.Max(2, name.Length / 4)).OrderBy(o => Distance(o, name)).FirstOrDefault();
            return $"unknown option '{PrintableText.Escape(v)}'" + (near is null ? "" : $" (did you mean {near}?)")
                + $"; see mmusim {parsed.CommandResult.Command.Name} --help";
        }
        return null;
    }

    /// <summary>Levenshtein distance (insertions, deletions, substitutions).</summary>
    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            prev[j] = j;
        }
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
