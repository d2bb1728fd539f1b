using System.CommandLine;
using MmuSim.Bits;
using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Paging;
using MmuSim.Registers;
using MmuSim.Replay;
using MmuSim.Reporting;
using MmuSim.Tracing;

namespace MmuSim.Cli;

/// <summary>`mmusim replay`: stream traces through the simulated core.</summary>
public static class ReplayCommand
{
    public static Command Create()
    {
        var traces = new Argument<string[]>("trace") { Description = "Trace files, replayed in order as one stream ('-' for standard input; .gz and .xz are decompressed).", Arity = ArgumentArity.OneOrMore };
        var results = new Option<string?>("--results") { Description = "Write one JSON result per R/W/X/at/dump line to this file (JSON Lines; a name ending .gz: JSON Lines compressed with gzip; a name ending .parquet: the same fields as Apache Parquet columns)." };
        var stop = new Option<bool>("--stop-on-fault") { Description = "Stop at the first access or AT that faults." };
        var report = new Option<string?>("--report") { Description = "Write an HTML report of the summary (tables and charts, as `mmusim report` makes) to this file." };
        var plot = new Option<string?>("--plot") { Description = "With --report: also write each chart to this directory as ID.svg and ID.png." };
        var maintenance = new Option<string?>("--check-maintenance") { Description = "Check TLB maintenance on every PE (stale translations, unordered writes, unsynchronized context, break-before-make) and write the findings to this file (JSON Lines; docs/tlb-maintenance.md)." };
        var input = new InputOptions();
        var cmd = new Command("replay", "Replay memory-access traces through the MMU and report results and a summary.")
        {
            traces, results, stop, report, plot, maintenance,
        };
        input.AddTo(cmd);
        var model = ModelOptions.AddTo(cmd);
        cmd.SetAction((pr, ct) => Run(pr.GetValue(traces)!, pr.GetValue(results), pr.GetValue(stop), pr.GetValue(maintenance), input, model.Read(pr), pr, ct,
            pr.GetValue(report), pr.GetValue(plot)));
        return cmd;
    }

    private static async Task<int> Run(string[] traces, string? resultsPath, bool stopOnFault, string? findingsPath, InputOptions input, ModelOptions.Values model,
        ParseResult pr, CancellationToken commandToken, string? reportPath, string? plotDir)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(commandToken, Interrupts.Observe());
        var ct = stop.Token;
        if (!input.TryRead(pr, out var settings, out string? error))
        {
            Console.Error.WriteLine($"mmusim: {error}");
            return 1;
        }
        if (plotDir is not null && reportPath is null)
        {
            Console.Error.WriteLine("mmusim: --plot goes with --report (or use mmusim report --plot on a --json summary)");
            return 1;
        }
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
        if (resultsPath is not null && CompressedOutput.Refusal(resultsPath, "--results") is { } refused)
        {
            Console.Error.WriteLine($"mmusim: {refused}");
            return 1;
        }
        if (resultsPath is not null && CompressedOutput.IsGzip(resultsPath) && resultsPath[..^3].EndsWith(".parquet", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"mmusim: --results {resultsPath}: Parquet compresses its columns itself; name it .parquet");
            return 1;
        }
        // Outputs are opened before the replay: a path that cannot be written, or that names an input, fails now
        // and nothing is destroyed; each is put in place (renamed over the old file) when the replay has ended.
        OutputFile? resultsFile = null, jsonFile = null, reportFile = null, findingsFile = null;
        string? opening = null;
        try
        {
            opening = resultsPath;
            resultsFile = resultsPath is null ? null : OutputFile.Open(resultsPath, traces);
            opening = model.JsonPath;
            jsonFile = model.JsonPath is null ? null : OutputFile.Open(model.JsonPath, traces);
            opening = reportPath;
            reportFile = reportPath is null ? null : OutputFile.Open(reportPath, traces);
            opening = findingsPath;
            findingsFile = findingsPath is null ? null : OutputFile.Open(findingsPath, traces);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            resultsFile?.Dispose();
            jsonFile?.Dispose();
            reportFile?.Dispose();
            findingsFile?.Dispose();
            Console.Error.WriteLine($"mmusim: {PathErrors.Describe(opening ?? "", e, output: true).Message}");
            return 1;
        }
        // With results or the JSON summary on standard output, the text summary goes to standard error.
        var summaryOut = resultsPath == "-" || model.JsonPath == "-" || findingsPath == "-" ? Console.Error : Console.Out;
        using var results = resultsFile;
        using var json = jsonFile;
        using var report = reportFile;
        using var findings = findingsFile;
        var memory = new PhysicalMemory { MaxBytes = (long)settings.MaxMemory };
        var core = new SimulatedCore(memory, config) { CheckStale = model.CheckStale };
        core.Mmu.Record.Detailed = false; // a replay reads counts and prices, never the fields explain shows
        if (model.Timeline)
        {
            core.StartTimeline();
        }
        // FILE.parquet: the same fields as columns (docs/analysis.md); FILE.gz: JSON Lines compressed with gzip (the
        // writer's Dispose writes the gzip trailer before the file is committed); anything else: JSON Lines.
        IOutcomeSink? writer = results is null ? null
            : resultsPath!.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase) ? new ParquetResultWriter(results.Stream)
            : CompressedOutput.IsGzip(resultsPath) ? new ResultWriter(new BufferedStream(CompressedOutput.Wrap(resultsPath, results.KeptOpen()), 1 << 16), ownsStream: true)
            : new ResultWriter(new BufferedStream(results.Stream, 1 << 16), ownsStream: false);
        // The checker watches the replay (an observer): without --check-maintenance nothing of it runs.
        var checker = findings is null ? null : new Checking.MaintenanceChecker(core.System);
        var findingsWriter = findings is null ? null : new StreamWriter(findings.Stream, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true);
        if (checker is not null)
        {
            checker.OnFinding = f => findingsWriter!.Write(f.ToJson() + "\n");
        }
        // Without --results nothing is formatted: results cost nothing when nobody reads them.
        var replayer = new Replayer(core, writer, new ReplayOptions
        {
            StopOnFault = stopOnFault,
            Format = settings.Format,
            Parse = settings.Parse,
            DemandPaging = settings.DemandPaging,
            Paging = settings.Paging,
            // The provenance of --json names each input by its digest: hashed as it is read, only when written.
            DigestInputs = json is not null,
        }, checker);
        int exit = 0;
        // The progress display only on an interactive terminal (Cli/ReplayProgress.cs); redirected or --quiet, none.
        var progressConsole = ReplayProgress.OnStandardError(settings.Quiet);
        {
            try
            {
                await ReplayProgress.RunAsync(async () => await replayer.ReplayFilesAsync(traces, ct), () =>
                {
                    var cur = replayer.Current;
                    return (cur?.RawBytesRead ?? 0, cur?.Length, replayer.Records);
                }, progressConsole);
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
            catch (OperationCanceledException) when (Interrupts.ExitCode != 0)
            {
                // SIGINT/SIGTERM: the records replayed so far are written and summarised below.
                Console.Error.WriteLine($"mmusim: interrupted after {replayer.Records} records; writing what ran");
                exit = Interrupts.ExitCode;
            }
            catch (PathIOException e) when (e.Output)
            {
                // The results could not be written (disk full, a reader gone): the replay stops; what ran is
                // summarised and the other outputs are still written.
                exit = OutputFailed(e);
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"mmusim: {e.Message}");
                exit = 2;
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"mmusim: {e.Message}");
                exit = 1;
            }
        }
        try
        {
            (writer as IDisposable)?.Dispose(); // flushes what it holds; the stream is the output file's
            results?.Commit();
        }
        catch (PathIOException e) when (exit == 0 || !e.BrokenPipe)
        {
            exit = Math.Max(exit, OutputFailed(e));
        }
        catch (PathIOException)
        {
            // Already reported (or a reader that has gone): nothing more to say.
        }
        if (checker is not null)
        {
            try
            {
                findingsWriter!.Dispose();
                findings!.Commit();
            }
            catch (PathIOException e)
            {
                exit = Math.Max(exit, OutputFailed(e));
            }
        }
        var pes = replayer.ReportedPes;
        Summary.Write(summaryOut, pes, replayer.StoppedOnFault, replayer.Pager);
        if (checker is not null)
        {
            FindingSummary.Write(summaryOut, checker.Findings);
        }
        if (json is not null)
        {
            try
            {
                SummaryJson.Write(json.Stream, pes, replayer.StoppedOnFault, new Provenance
                {
                    Command = "replay",
                    Options = RunOptions.Of(pr),
                    Inputs = replayer.Opened.Select(i => new InputRecord(i.Source, i.Bytes, i.Format, i.Compression, i.Digest)).ToList(),
                    ModelSource = model.ConfigPath is not null ? "config" : model.Preset is not null ? "preset" : "default",
                    ModelName = model.ConfigPath ?? model.Preset ?? config.Name,
                    Model = config,
                    DemandPaging = replayer.Pager is not null,
                    SkippedLines = settings.Parse.BadLines,
                });
                json.Commit();
            }
            catch (PathIOException e)
            {
                exit = Math.Max(exit, OutputFailed(e));
            }
        }
        if (report is not null)
        {
            // The report reads the summary the replay would write with --json: one path from figures to report.
            int reported = ReportCommand.WriteFromReplay(s => SummaryJson.Write(s, pes, replayer.StoppedOnFault), traces, report, plotDir);
            exit = exit == 0 ? reported : exit;
        }
        return exit;
    }

    /// <summary>
    /// An output that failed while written: one line `mmusim: PATH: reason` and exit code 1, or, when its reader has
    /// gone (EPIPE: `mmusim replay … --results - | head`), no message and exit code 141 (128 + SIGPIPE, what a
    /// shell reports for a command a closed pipe ended).
    /// </summary>
    internal static int OutputFailed(PathIOException e, string command = "mmusim")
    {
        if (e.BrokenPipe)
        {
            return BrokenPipeExit;
        }
        Console.Error.WriteLine($"{command}: {e.Message}");
        return 1;
    }

    /// <summary>Exit code of a run whose output's reader went away.</summary>
    public const int BrokenPipeExit = 141;

    /// <summary>What the input-side options of `replay` resolve to.</summary>
    public sealed record InputSettings(TraceFormat Format, ParseOptions Parse, bool Quiet, ulong MaxMemory,
        DemandPagingMode DemandPaging, DemandPagingOptions Paging);

    /// <summary>
    /// The input-side options of `replay` (format, bad input, progress, memory cap, demand paging), kept together so
    /// model options can sit beside them.
    /// </summary>
    public sealed class InputOptions
    {
        public const ulong DefaultMaxMemory = 4UL << 30;

        public Option<string> Format { get; } = FormatOption.Create();
        public Option<bool> SkipBadLines { get; } = new("--skip-bad-lines") { Description = "Count malformed lines (or binary records) and go on instead of stopping." };
        public Option<bool> Quiet { get; } = new("--quiet", "-q") { Description = "No progress display on stderr." };
        public Option<string> MaxMemory { get; } = new("--max-memory") { Description = "Cap on simulated physical memory and on each demand-paging RAM pool (e.g. 512m, 4g).", DefaultValueFactory = _ => "4g" };
        public Option<string> DemandPaging { get; } = new("--demand-paging") { Description = "auto (foreign traces only), on (every trace) or off.", DefaultValueFactory = _ => "auto" };
        public Option<int> Stages { get; } = new("--stages") { Description = "Demand paging: 1 (guest OS) or 2 (guest OS and hypervisor; the default with --regime el10).", DefaultValueFactory = _ => 2 };
        public Option<string> Regime { get; } = new("--regime") { Description = "Demand paging: the regime the tables are built for, el10 (EL0 under a guest OS: TTBR0/1_EL1, stage 2 with --stages 2) or el20 (EL0 under a VHE host: HCR_EL2.{E2H,TGE}={1,1}, TTBR0/1_EL2, one stage).", DefaultValueFactory = _ => "el10" };
        public Option<string> Granule { get; } = new("--granule") { Description = "Demand paging: stage-1 granule, 4k, 16k or 64k.", DefaultValueFactory = _ => "4k" };
        public Option<string?> Stage2Granule { get; } = new("--stage2-granule") { Description = "Demand paging: stage-2 granule (default: as --granule)." };
        public Option<string> PageSize { get; } = new("--page-size") { Description = "Demand paging: stage-1 mappings, 4k (pages), 2m (level-2 blocks), 1g (level-1 blocks) or mixed (by the alignment of the first touch).", DefaultValueFactory = _ => "4k" };
        public Option<string?> Stage2PageSize { get; } = new("--stage2-page-size") { Description = "Demand paging: stage-2 mappings (default: as --page-size)." };
        public Option<string> Placement { get; } = new("--placement") { Description = "Demand paging: frame placement, sequential, random or fragmented.", DefaultValueFactory = _ => "sequential" };
        public Option<int> Seed { get; } = new("--seed") { Description = "Demand paging: seed of the random and fragmented placements.", DefaultValueFactory = _ => 1 };

        public void AddTo(Command cmd)
        {
            // Options with a fixed set of values declare it: `--help` lists them and shell completion offers them.
            DemandPaging.CompletionSources.Add("auto", "on", "off");
            Stages.CompletionSources.Add("1", "2");
            Regime.CompletionSources.Add("el10", "el20");
            foreach (Option granule in new Option[] { Granule, Stage2Granule })
            {
                granule.CompletionSources.Add("4k", "16k", "64k");
            }
            foreach (Option size in new Option[] { PageSize, Stage2PageSize })
            {
                size.CompletionSources.Add("4k", "2m", "1g", "mixed");
            }
            Placement.CompletionSources.Add("sequential", "random", "fragmented");
            foreach (Option o in new Option[] { Format, SkipBadLines, Quiet, MaxMemory, DemandPaging, Stages, Regime, Granule, Stage2Granule, PageSize, Stage2PageSize, Placement, Seed })
            {
                cmd.Options.Add(o);
            }
        }

        public bool TryRead(ParseResult pr, out InputSettings settings, out string? error)
        {
            settings = null!;
            error = null;
            if (!FormatOption.TryRead(pr, Format, out var format, out error))
            {
                return false;
            }
            if (!TryReadMaxMemory(pr.GetValue(MaxMemory)!, out ulong max, out error))
            {
                return false;
            }
            var mode = pr.GetValue(DemandPaging)!.ToLowerInvariant() switch
            {
                "auto" => DemandPagingMode.Auto,
                "on" => DemandPagingMode.On,
                "off" => DemandPagingMode.Off,
                _ => (DemandPagingMode)255,
            };
            if ((byte)mode == 255)
            {
                error = $"bad --demand-paging '{pr.GetValue(DemandPaging)}' (auto, on or off)";
                return false;
            }
            string g1s = pr.GetValue(Granule)!;
            string g2s = pr.GetValue(Stage2Granule) ?? g1s;
            string p1s = pr.GetValue(PageSize)!;
            string p2s = pr.GetValue(Stage2PageSize) ?? p1s;
            if (!DemandPagingOptions.TryParseGranule(g1s, out var g1) || !DemandPagingOptions.TryParseGranule(g2s, out var g2))
            {
                error = "a granule is 4k, 16k or 64k";
                return false;
            }
            if (!DemandPagingOptions.TryParseSizes(p1s, out var p1) || !DemandPagingOptions.TryParseSizes(p2s, out var p2))
            {
                error = "a page size is 4k, 2m, 1g or mixed";
                return false;
            }
            if (!DemandPagingOptions.TryParsePlacement(pr.GetValue(Placement)!, out var placement))
            {
                error = $"bad --placement '{pr.GetValue(Placement)}' (sequential, random or fragmented)";
                return false;
            }
            int stages = pr.GetValue(Stages);
            if (stages is not (1 or 2))
            {
                error = "--stages is 1 or 2";
                return false;
            }
            if (!DemandPagingOptions.TryParseRegime(pr.GetValue(Regime)!, out var regime))
            {
                error = $"bad --regime '{pr.GetValue(Regime)}' ({string.Join(" or ", DemandPagingOptions.RegimeNames.Select(n => n.Name))})";
                return false;
            }
            if (regime == TranslationRegime.El20)
            {
                // EL2&0 has no stage 2: one stage unless --stages says otherwise, which is an error.
                if (pr.GetResult(Stages) is { Implicit: false } && stages != 1)
                {
                    error = "--regime el20 has one stage (the EL2&0 regime has no stage 2): drop --stages 2";
                    return false;
                }
                stages = 1;
            }
            var paging = new DemandPagingOptions
            {
                Stages = stages,
                Regime = regime,
                Stage1Granule = g1,
                Stage2Granule = g2,
                Stage1Sizes = p1,
                Stage2Sizes = p2,
                Placement = placement,
                Seed = pr.GetValue(Seed),
                MaxBytes = Math.Min(max, DemandPager.MaxPoolBytes),
            };
            bool skip = pr.GetValue(SkipBadLines);
            int shown = 0;
            var parse = new ParseOptions
            {
                SkipBadLines = skip,
                OnBadLine = e =>
                {
                    // The first few are worth reading; the count in the summary covers the rest.
                    if (++shown <= 10)
                    {
                        Console.Error.WriteLine($"mmusim: skipped {e.Message}");
                    }
                },
            };
            settings = new InputSettings(format, parse, pr.GetValue(Quiet), max, mode, paging);
            return true;
        }
    }

    /// <summary>Parses a byte count: digits with an optional k, m, g or t suffix (powers of 1024).</summary>
    /// <summary>A `--max-memory` value: a size from 4 MiB to 2^63 − 1 bytes (the cap is a signed 64-bit count).</summary>
    public static bool TryReadMaxMemory(string text, out ulong max, out string? error)
    {
        error = null;
        if (!TryParseSize(text, out max) || max < (4UL << 20) || max > long.MaxValue)
        {
            error = $"bad --max-memory '{Bits.PrintableText.Escape(text)}' (a size from 4m to 8388607t, e.g. 512m or 4g)";
            return false;
        }
        return true;
    }

    public static bool TryParseSize(string s, out ulong bytes)
    {
        bytes = 0;
        s = s.Trim().ToLowerInvariant();
        if (s.EndsWith('b'))
        {
            s = s[..^1];
        }
        int shift = 0;
        if (s.Length > 0 && s[^1] is 'k' or 'm' or 'g' or 't')
        {
            shift = s[^1] switch { 'k' => 10, 'm' => 20, 'g' => 30, _ => 40 };
            s = s[..^1];
        }
        if (!ulong.TryParse(s, out ulong n) || n > (ulong.MaxValue >> shift))
        {
            return false;
        }
        bytes = n << shift;
        return true;
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
    private Option<string> _timing = null!;

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
        m._preset.CompletionSources.Add(Presets.All.Keys.ToArray());
        cmd.Options.Add(m._config);
        cmd.Options.Add(m._preset);
        cmd.Options.Add(m._json);
        cmd.Options.Add(m._checkStale);
        cmd.Options.Add(m._dataCaches);
        m._timing = TimingOption();
        cmd.Options.Add(m._timing);
        return m;
    }

    public Values Read(ParseResult pr) => new(pr.GetValue(_config), pr.GetValue(_preset), pr.GetValue(_json), pr.GetValue(_checkStale), pr.GetValue(_dataCaches),
        pr.GetValue(_timing) == "timeline");

    /// <summary>`--timing additive|timeline` (docs/translation-cost.md): the cycle model that gives the summary its cycles.</summary>
    public static Option<string> TimingOption()
    {
        var o = new Option<string>("--timing")
        {
            Description = "Cycle model: additive (each access's cycles added up, the default) or timeline (accesses overlap: walkers, queue, window; results gain issue and complete).",
            DefaultValueFactory = _ => "additive",
        };
        o.AcceptOnlyFromAmong("additive", "timeline");
        return o;
    }

    /// <param name="Timeline">Time the accesses on a timeline (<c>--timing timeline</c>) besides the additive cycles.</param>
    public sealed record Values(string? ConfigPath, string? Preset, string? JsonPath, bool CheckStale, bool ModelDataCaches, bool Timeline = false)
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
                    throw new ConfigException(null, "--preset", $"unknown preset '{Preset}' (known: {string.Join(", ", Presets.All.Keys)})");
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
