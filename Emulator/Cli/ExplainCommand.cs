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
        var line = new Option<long>("--line", "-n") { Description = "Line number (in the last trace) of the R, W, X or at command to explain.", Required = true };
        var preset = new Option<string?>("--preset") { Description = "Translation model preset, as for replay (default neoverse-n1)." };
        var config = new Option<string?>("--config") { Description = "Translation model configuration file, as for replay." };
        var format = FormatOption.Create();
        var paging = new Option<string>("--demand-paging") { Description = "auto (foreign traces only), on (every trace) or off, as for replay (default page tables).", DefaultValueFactory = _ => "auto" };
        var regime = new Option<string>("--regime") { Description = "Demand paging: el10 (a guest OS's tables, two stages) or el20 (a VHE host's EL2&0 tables, one stage), as for replay.", DefaultValueFactory = _ => "el10" };
        paging.CompletionSources.Add("auto", "on", "off");
        regime.CompletionSources.Add("el10", "el20");
        var cmd = new Command("explain", "Show every step of one access's translation: TLB lookups, walk-cache hits, descriptors, nested walks, cycles, and the outcome with decoded syndromes.")
        {
            traces, line, preset, config, format, paging, regime,
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
            // EL2&0 has no stage 2: its tables are one stage.
            var pagingOptions = new DemandPagingOptions { Regime = pagingRegime, Stages = pagingRegime == TranslationRegime.El20 ? 1 : 2 };
            try
            {
                var model = new ModelOptions.Values(pr.GetValue(config), pr.GetValue(preset), null, false, false).Resolve();
                // The explanation quotes the trace (its line, names of a setup trace): no byte of it may drive the terminal.
                Console.Out.Write(PrintableText.EscapeKeepingLines(await Explainer.ExplainAsync(pr.GetValue(traces)!, pr.GetValue(line), model, ct,
                    new ReplayOptions { Format = inFormat, DemandPaging = mode, Paging = pagingOptions })));
                return 0;
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
