using System.CommandLine;
using MmuSim.Bits;
using MmuSim.Core;
using MmuSim.Paging;
using MmuSim.Registers;
using MmuSim.Replay;
using MmuSim.Reporting;
using MmuSim.Tracing;

namespace MmuSim.Cli;

/// <summary>`mmusim explain TRACE... --line N`: every step of one access's translation.</summary>
public static class ExplainCommand
{
    public static Command Create()
    {
        var traces = new Argument<string[]>("trace") { Description = "Traces replayed in order ('-' for standard input; .gz and .xz are decompressed; any input format); --line refers to the last one.", Arity = ArgumentArity.OneOrMore };
        var line = new Option<long?>("--line", "-n") { Description = "Line number (in the last trace) of the R, W, X or at command to explain." };
        var va = new Option<string?>("--va") { Description = "Instead of --line: a VA to translate with the tables as they are after the traces (as `translate`): the walk and a read, a write and a fetch." };
        var el = new Option<int?>("--el") { Description = "With --va: the exception level (default: the PE's EL after the traces)." };
        var preset = new Option<string?>("--preset") { Description = "Translation model preset, as for replay (default neoverse-n1)." };
        var config = new Option<string?>("--config") { Description = "Translation model configuration file, as for replay." };
        var format = FormatOption.Create();
        var paging = new Option<string>("--demand-paging") { Description = "auto (foreign traces only), on (every trace) or off, as for replay (default page tables).", DefaultValueFactory = _ => "auto" };
        var regime = new Option<string>("--regime") { Description = "Demand paging: el10 (a guest OS's tables, two stages) or el20 (a VHE host's EL2&0 tables, one stage), as for replay.", DefaultValueFactory = _ => "el10" };
        var timing = ModelOptions.TimingOption();
        var maxMemory = new Option<string>("--max-memory") { Description = "Cap on simulated physical memory and on each demand-paging RAM pool, as for replay (e.g. 512m, 4g); past it the exit code is 3.", DefaultValueFactory = _ => "4g" };
        paging.CompletionSources.Add("auto", "on", "off");
        regime.CompletionSources.Add("el10", "el20");
        var cmd = new Command("explain", "Show every step of one access's translation: TLB lookups, walk-cache hits, descriptors, nested walks, cycles, and the outcome with decoded syndromes.")
        {
            traces, line, va, el, preset, config, format, paging, regime, timing, maxMemory,
        };
        cmd.SetAction(async (pr, ct) =>
        {
            if (!FormatOption.TryRead(pr, format, out var inFormat, out string? error))
            {
                Console.Error.WriteLine($"mmusim: {error}");
                return 1;
            }
            if (!Enum.TryParse<DemandPagingMode>(pr.GetValue(paging), ignoreCase: true, out var mode) || !Enum.IsDefined(mode))
            {
                Console.Error.WriteLine($"mmusim: bad --demand-paging '{pr.GetValue(paging)}' (auto, on or off)");
                return 1;
            }
            if (!DemandPagingOptions.TryParseRegime(pr.GetValue(regime)!, out var pagingRegime))
            {
                Console.Error.WriteLine($"mmusim: bad --regime '{pr.GetValue(regime)}' ({string.Join(" or ", DemandPagingOptions.RegimeNames.Select(n => n.Name))})");
                return 1;
            }
            if (!ReplayCommand.TryReadMaxMemory(pr.GetValue(maxMemory)!, out ulong cap, out error))
            {
                Console.Error.WriteLine($"mmusim explain: {error}");
                return 1;
            }
            if (pr.GetValue(line) is null == pr.GetValue(va) is null)
            {
                Console.Error.WriteLine("mmusim explain: give --line N (a line of the last trace) or --va VA (an address, no trace line)");
                return 1;
            }
            if (pr.GetValue(va) is { } vaText)
            {
                if (!TranslateCommand.TryNumber(vaText, out ulong address))
                {
                    Console.Error.WriteLine($"mmusim explain: '{vaText}' is not a 64-bit address (0x... or decimal)");
                    return 1;
                }
                if (pr.GetValue(el) is { } e && e is < 0 or > 2)
                {
                    Console.Error.WriteLine($"mmusim explain: --el {e} is not 0, 1 or 2");
                    return 1;
                }
                try
                {
                    var replayer = await SetupReplay.RunAsync(pr.GetValue(traces)!, inFormat, (long)cap, ct: ct);
                    var pe = replayer.Core;
                    byte level = (byte)(pr.GetValue(el) ?? pe.CurrentEl);
                    Console.Out.Write(TranslationProbe.Text(pe, address, level, ipa: false, TranslationProbe.Accesses(pe, address, level)));
                    return 0;
                }
                catch (Exception ex) when (ex is TraceFormatException or IOException or ArgumentException or Memory.MemoryLimitException)
                {
                    Console.Error.WriteLine($"mmusim: {ex.Message}");
                    return ex is Memory.MemoryLimitException ? 3 : 2;
                }
            }
            // EL2&0 has no stage 2: its tables are one stage.
            var pagingOptions = new DemandPagingOptions { Regime = pagingRegime, Stages = pagingRegime == TranslationRegime.El20 ? 1 : 2, MaxBytes = Math.Min(cap, DemandPager.MaxPoolBytes) };
            try
            {
                var model = new ModelOptions.Values(pr.GetValue(config), pr.GetValue(preset), null, false, false).Resolve();
                // The explanation quotes the trace (its line, names of a setup trace): no byte of it may drive the terminal.
                Console.Out.Write(PrintableText.EscapeKeepingLines(await Explainer.ExplainAsync(pr.GetValue(traces)!, pr.GetValue(line)!.Value, model, ct,
                    new ReplayOptions { Format = inFormat, DemandPaging = mode, Paging = pagingOptions }, pr.GetValue(timing) == "timeline", (long)cap)));
                return 0;
            }
            catch (Memory.MemoryLimitException e)
            {
                Console.Error.WriteLine($"mmusim: {e.Message}");
                return 3;
            }
            catch (Exception e) when (e is ArgumentException or TraceFormatException or IOException or ConfigException)
            {
                Console.Error.WriteLine($"mmusim: {e.Message}");
                return 2;
            }
        });
        return cmd;
    }
}
