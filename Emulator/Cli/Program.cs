using System.CommandLine;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Reporting;
using MmuSim.Tracing;

namespace MmuSim.Cli;

/// <summary>The `mmusim` command: thin option parsing over the library.</summary>
public static class Program
{
    public static int Main(string[] args) => BuildRoot().Parse(args).Invoke();

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("MmuSim: a cycle-level ARMv8-A (VMSAv8-64) MMU emulator with a software TLB.");
        root.Subcommands.Add(ReplayCommand());
        return root;
    }

    private static Command ReplayCommand()
    {
        var traces = new Argument<string[]>("trace") { Description = "Trace files, replayed in order as one stream ('-' for standard input).", Arity = ArgumentArity.OneOrMore };
        var results = new Option<string?>("--results") { Description = "Write one JSON result per R/W/X/at/dump line to this file (JSON Lines)." };
        var stop = new Option<bool>("--stop-on-fault") { Description = "Stop at the first access or AT that faults." };
        var cmd = new Command("replay", "Replay memory-access traces through the MMU and report results and a summary.")
        {
            traces, results, stop,
        };
        cmd.SetAction((pr, ct) => Replay(pr.GetValue(traces)!, pr.GetValue(results), pr.GetValue(stop), ct));
        return cmd;
    }

    private static async Task<int> Replay(string[] traces, string? resultsPath, bool stopOnFault, CancellationToken ct)
    {
        var core = new SimulatedCore();
        using var writer = new ResultWriter(resultsPath is null ? Stream.Null : new BufferedStream(File.Create(resultsPath), 1 << 16));
        var replayer = new Replayer(core, writer, new ReplayOptions { StopOnFault = stopOnFault });
        int exit = 0;
        try
        {
            await replayer.ReplayFilesAsync(traces, ct);
        }
        catch (TraceFormatException e)
        {
            Console.Error.WriteLine($"mmusim: {e.Message}");
            exit = 2;
        }
        catch (MemoryLimitException e)
        {
            Console.Error.WriteLine($"mmusim: {e.Message}");
            exit = 3;
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"mmusim: {e.Message}");
            exit = 2;
        }
        writer.Flush();
        Summary.Write(Console.Out, core.Stats, replayer.StoppedOnFault);
        return exit;
    }
}
