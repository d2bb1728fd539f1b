using System.CommandLine;
using MmuSim.Bits;
using MmuSim.Hypervisor;

namespace MmuSim.Cli;

/// <summary>`mmusim faults SETUP.trace GUEST.trace...`: every guest fault with its syndromes, region, walk and likely cause.</summary>
public static class FaultsCommand
{
    public static Command Create()
    {
        var traces = new Argument<string[]>("trace") { Description = "A setup trace written by `mmusim cell`, then guest traces, replayed in order ('-' for standard input; .gz and .xz are decompressed; any input format).", Arity = ArgumentArity.OneOrMore };
        var stop = new Option<bool>("--stop-on-fault") { Description = "Stop at the first fault." };
        var json = new Option<string?>("--json") { Description = "Also write {\"faults\": [...]} to this file, for tools." };
        var format = FormatOption.Create();
        var maxMemory = new Option<string>("--max-memory") { Description = "Cap on simulated physical memory, as for replay (e.g. 512m, 4g); past it the faults found so far are printed and the exit code is 3.", DefaultValueFactory = _ => "4g" };
        var cmd = new Command("faults", "Replay a cell setup and guest traces; list every fault with ESR/FAR/HPFAR decoded, the cell region at or nearest the faulting IPA, the walk and a likely cause.")
        {
            traces, stop, json, format, maxMemory,
        };
        cmd.SetAction(async (pr, ct) =>
        {
            if (!FormatOption.TryRead(pr, format, out var inFormat, out string? error))
            {
                Console.Error.WriteLine($"mmusim faults: {error}");
                return 1;
            }
            if (!ReplayCommand.TryReadMaxMemory(pr.GetValue(maxMemory)!, out ulong cap, out error))
            {
                Console.Error.WriteLine($"mmusim faults: {error}");
                return 1;
            }
            // The JSON output is opened first, so a path that cannot be written fails before the replay.
            OutputFile? jsonFile = null;
            if (pr.GetValue(json) is { } jsonPath)
            {
                try
                {
                    jsonFile = OutputFile.Open(jsonPath, pr.GetValue(traces)!);
                }
                catch (PathIOException e)
                {
                    Console.Error.WriteLine($"mmusim faults: {e.Message}");
                    return 1;
                }
            }
            using var jsonOut = jsonFile;
            // Each fault is printed (and added to --json) as the replay finds it, and not kept: a trace that faults
            // on every access runs in bounded memory.
            var jsonStream = jsonOut is null ? null : new FaultReportWriter.JsonStream(jsonOut.Stream);
            PathIOException? jsonFailed = null;
            bool noted = false;
            SetupMap? map = null;
            void Note()
            {
                if (!noted && map is { JailhouseCompat: true })
                {
                    Console.Out.WriteLine("note: the setup was built with --jailhouse-compat: JAILHOUSE_MEM_EXECUTE is ignored, so fetches from regions without EXECUTE do not fault\n");
                }
                noted = true;
            }
            void OnFault(FaultRun found, FaultReport r)
            {
                map = found.Map;
                Note();
                Console.Out.WriteLine(PrintableText.EscapeKeepingLines(FaultReportWriter.Text(r))); // names come from the setup trace
                try
                {
                    jsonStream?.Add(r);
                }
                catch (PathIOException e)
                {
                    jsonFailed ??= e;
                    jsonStream = null;
                }
            }
            FaultRun run;
            try
            {
                run = await FaultReplay.RunAsync(pr.GetValue(traces)!, pr.GetValue(stop), ct, inFormat, maxMemory: (long)cap, onFault: OnFault);
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"mmusim faults: {e.Message}");
                return 2;
            }
            map = run.Map;
            Note();
            if (run.Map is null)
            {
                Console.Error.WriteLine("mmusim faults: note: no #@mmusim-setup line in the traces, so regions cannot be named (use a setup trace from `mmusim cell`)");
            }
            Console.Out.WriteLine($"{run.FaultCount} fault{(run.FaultCount == 1 ? "" : "s")} in {run.Accesses} access{(run.Accesses == 1 ? "" : "es")}"
                + (run.StoppedOnFault ? " (stopped at the first fault: --stop-on-fault)" : ""));
            if (jsonOut is not null)
            {
                try
                {
                    if (jsonFailed is not null)
                    {
                        throw jsonFailed;
                    }
                    jsonStream?.Dispose();
                    jsonOut.Commit();
                }
                catch (PathIOException e)
                {
                    return ReplayCommand.OutputFailed(e, "mmusim faults");
                }
            }
            if (run.Error is not null)
            {
                Console.Error.WriteLine($"mmusim faults: {run.Error}");
                return run.OverMemoryCap ? 3 : 2;
            }
            return 0;
        });
        return cmd;
    }
}
