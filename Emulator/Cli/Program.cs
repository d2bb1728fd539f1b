using System.CommandLine;

namespace MmuSim.Cli;

/// <summary>The `mmusim` command: thin option parsing over the library. Each subcommand lives in its own file.</summary>
public static class Program
{
    public static int Main(string[] args) => BuildRoot().Parse(args).Invoke();

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
        return root;
    }
}
