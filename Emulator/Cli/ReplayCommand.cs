using System.CommandLine;
using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Reporting;
using MmuSim.Tracing;

namespace MmuSim.Cli;

/// <summary>`mmusim replay`: stream traces through the simulated core.</summary>
public static class ReplayCommand
{
    public static Command Create()
    {
        var traces = new Argument<string[]>("trace") { Description = "Trace files, replayed in order as one stream ('-' for standard input).", Arity = ArgumentArity.OneOrMore };
        var results = new Option<string?>("--results") { Description = "Write one JSON result per R/W/X/at/dump line to this file (JSON Lines)." };
        var stop = new Option<bool>("--stop-on-fault") { Description = "Stop at the first access or AT that faults." };
        var cmd = new Command("replay", "Replay memory-access traces through the MMU and report results and a summary.")
        {
            traces, results, stop,
        };
        cmd.SetAction((pr, ct) => Run(pr.GetValue(traces)!, pr.GetValue(results), pr.GetValue(stop), ct));
        return cmd;
    }

    private static async Task<int> Run(string[] traces, string? resultsPath, bool stopOnFault, CancellationToken ct)
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
