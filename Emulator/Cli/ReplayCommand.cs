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
        var model = ModelOptions.AddTo(cmd);
        cmd.SetAction((pr, ct) => Run(pr.GetValue(traces)!, pr.GetValue(results), pr.GetValue(stop), model.Read(pr), ct));
        return cmd;
    }

    private static async Task<int> Run(string[] traces, string? resultsPath, bool stopOnFault, ModelOptions.Values model, CancellationToken ct)
    {
        ModelConfig config;
        try
        {
            config = model.Resolve();
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"mmusim: {e.Message}");
            return 2;
        }
        var core = new SimulatedCore(config: config) { CheckStale = model.CheckStale };
        using var writer = resultsPath is null ? null : new ResultWriter(new BufferedStream(File.Create(resultsPath), 1 << 16));
        // Without --results nothing is formatted: results cost nothing when nobody reads them.
        var replayer = new Replayer(core, writer ?? (IOutcomeSink)NullSink.Instance, new ReplayOptions { StopOnFault = stopOnFault });
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
        writer?.Flush();
        Summary.Write(Console.Out, core, replayer.StoppedOnFault);
        if (model.JsonPath is not null)
        {
            await using var js = File.Create(model.JsonPath);
            SummaryJson.Write(js, core, replayer.StoppedOnFault);
        }
        return exit;
    }
}

/// <summary>An outcome sink that drops everything.</summary>
internal sealed class NullSink : IOutcomeSink
{
    public static readonly NullSink Instance = new();

    public void OnOutcome(in AccessOutcome outcome)
    {
    }
}

/// <summary>
/// The translation-model options of `replay` (kept together so other option groups merge cleanly):
/// --config, --preset, --json, --check-stale, --model-data-caches.
/// </summary>
public sealed class ModelOptions
{
    private Option<string?> _config = null!;
    private Option<string?> _preset = null!;
    private Option<string?> _json = null!;
    private Option<bool> _checkStale = null!;
    private Option<bool> _dataCaches = null!;

    public static ModelOptions AddTo(Command cmd)
    {
        var m = new ModelOptions
        {
            _config = new Option<string?>("--config") { Description = "Translation model (TLBs, walk caches, IPA cache, walker caches, latencies) from a JSON file; schema in docs/translation-cost.md." },
            _preset = new Option<string?>("--preset") { Description = $"A named translation model: {string.Join(", ", Presets.All.Keys)} (default neoverse-n1)." },
            _json = new Option<string?>("--json") { Description = "Write the summary as JSON (schema mmusim.summary/1) to this file." },
            _checkStale = new Option<bool>("--check-stale") { Description = "Re-walk every access a cached entry translated and report those the tables now in memory translate differently (missing TLBI)." },
            _dataCaches = new Option<bool>("--model-data-caches") { Description = "Send the trace's data accesses through the walker's caches too, so data evicts table lines." },
        };
        cmd.Options.Add(m._config);
        cmd.Options.Add(m._preset);
        cmd.Options.Add(m._json);
        cmd.Options.Add(m._checkStale);
        cmd.Options.Add(m._dataCaches);
        return m;
    }

    public Values Read(ParseResult pr) => new(pr.GetValue(_config), pr.GetValue(_preset), pr.GetValue(_json), pr.GetValue(_checkStale), pr.GetValue(_dataCaches));

    public sealed record Values(string? ConfigPath, string? Preset, string? JsonPath, bool CheckStale, bool ModelDataCaches)
    {
        /// <summary>The model the options select; <see cref="ConfigException"/> for a bad file or name.</summary>
        public ModelConfig Resolve()
        {
            if (ConfigPath is not null && Preset is not null)
            {
                throw new ConfigException("use either --config or --preset, not both");
            }
            ModelConfig config;
            if (ConfigPath is not null)
            {
                config = ModelConfigJson.Load(ConfigPath);
            }
            else if (Preset is not null)
            {
                if (!Presets.TryGet(Preset, out config))
                {
                    throw new ConfigException($"--preset: unknown preset '{Preset}' (known: {string.Join(", ", Presets.All.Keys)})");
                }
            }
            else
            {
                config = ModelConfig.Default;
            }
            return ModelDataCaches ? config.WithDataCaches(true) : config;
        }
    }
}
