using System.CommandLine;
using MmuSim.Reporting;
using MmuSim.Tracing;

namespace MmuSim.Cli;

/// <summary>`mmusim explain TRACE... --line N`: every step of one access's translation.</summary>
public static class ExplainCommand
{
    public static Command Create()
    {
        var traces = new Argument<string[]>("trace") { Description = "Trace files replayed in order; --line refers to the last one.", Arity = ArgumentArity.OneOrMore };
        var line = new Option<long>("--line", "-n") { Description = "Line number (in the last trace) of the R, W, X or at command to explain.", Required = true };
        var cmd = new Command("explain", "Show every step of one access's translation: descriptors, nested walks, permissions, and the outcome with decoded syndromes.")
        {
            traces, line,
        };
        cmd.SetAction(async (pr, ct) =>
        {
            try
            {
                Console.Out.Write(await Explainer.ExplainAsync(pr.GetValue(traces)!, pr.GetValue(line), ct));
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or TraceFormatException or IOException)
            {
                Console.Error.WriteLine($"mmusim: {e.Message}");
                return 2;
            }
        });
        return cmd;
    }
}
