using System.CommandLine;
using MmuSim.Memory;
using MmuSim.Replay;
using MmuSim.Reporting;
using MmuSim.Tracing;

namespace MmuSim.Cli;

/// <summary>`mmusim tables SETUP.trace [--regime R] [--cpu N] [--diff OTHER.trace]`: every mapping of a setup's tables, merged.</summary>
public static class TablesCommand
{
    public static Command Create()
    {
        var setup = new Argument<string>("setup") { Description = "The setup trace (registers, memory, load images), replayed first; '-' for standard input." };
        var regime = new Option<string?>("--regime") { Description = $"Only this tree: {string.Join(", ", TableDump.RegimeNames)} (default: every enabled regime and stage 2 when on)." };
        var cpu = new Option<int>("--cpu") { Description = "The PE whose registers name the tables (default 0).", DefaultValueFactory = _ => 0 };
        var diff = new Option<string?>("--diff") { Description = "Another setup: print only the ranges that differ (- this setup, + the other)." };
        var format = FormatOption.Create();
        var cmd = new Command("tables", "List every mapping of a setup's translation tables as input ranges with attributes, consecutive leaves merged (like Linux's ptdump and KVM's stage-2 dump); --diff compares two setups.")
        {
            setup, regime, cpu, diff, format,
        };
        cmd.SetAction(async (pr, ct) =>
        {
            if (!FormatOption.TryRead(pr, format, out var inFormat, out string? error))
            {
                Console.Error.WriteLine($"mmusim tables: {error}");
                return 1;
            }
            string? only = pr.GetValue(regime)?.ToLowerInvariant();
            if (only is not null && !TableDump.RegimeNames.Contains(only))
            {
                Console.Error.WriteLine($"mmusim tables: bad --regime '{pr.GetValue(regime)}' ({string.Join(", ", TableDump.RegimeNames)})");
                return 1;
            }
            int n = pr.GetValue(cpu);
            var names = new List<string> { pr.GetValue(setup)! };
            if (pr.GetValue(diff) is { } other)
            {
                names.Add(other);
            }
            var trees = new List<List<TableTree>>();
            foreach (string name in names)
            {
                var (replayer, failed) = await SetupInput.ReplayAsync([name], inFormat, ct);
                if (replayer is null)
                {
                    return failed;
                }
                var pes = replayer.System.Pes;
                if (n < 0 || n >= pes.Count)
                {
                    Console.Error.WriteLine($"mmusim tables: --cpu {n}: {name} has {pes.Count} PE{(pes.Count == 1 ? "" : "s")} (0..{pes.Count - 1})");
                    return 1;
                }
                trees.Add(TableDump.Trees(pes[n], only));
            }
            Console.Out.Write(trees.Count == 1 ? TableDump.Text(trees[0]) : TableDump.Diff(trees[0], trees[1], names[0], names[1]));
            return 0;
        });
        return cmd;
    }
}
