using System.CommandLine;
using System.Globalization;
using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Hypervisor;

namespace MmuSim.Cli;

/// <summary>`mmusim cell SYSTEM.json [CELL.json...]`: build a hypervisor's tables as a setup trace, or check a configuration.</summary>
public static class CellCommand
{
    public static Command Create()
    {
        var system = new Argument<string>("system") { Description = "System configuration (JSON): hypervisor_memory, debug_console, platform_info, cpu, root_cell." };
        var cells = new Argument<string[]>("cell") { Description = "Non-root cell configurations (JSON). The first one is entered (VTTBR_EL2); without any, the root cell is.", Arity = ArgumentArity.ZeroOrMore };
        var output = new Option<string?>("--output", "-o") { Description = "Write the setup trace here ('-' or absent: standard output). Nothing is written when the configuration has errors." };
        var granule = new Option<string>("--granule") { Description = "Translation granule of every table: 4k, 16k or 64k.", DefaultValueFactory = _ => "4k" };
        granule.CompletionSources.Add("4k", "16k", "64k");
        var vmid = new Option<int?>("--vmid") { Description = "VMID of the entered cell (default: jailhouse's numbering, root 0 and non-root cells 1, 2, ...)." };
        var compat = new Option<bool>("--jailhouse-compat") { Description = "Reproduce jailhouse: ignore JAILHOUSE_MEM_EXECUTE, so no stage-2 descriptor is execute-never." };
        var hwAf = new Option<bool>("--hw-af") { Description = "Stage-2 leaves with AF=0 and VTCR_EL2.HA=1 (hardware access-flag update) instead of AF=1." };
        var pool = new Option<string?>("--pool") { Description = "Place table frames in BASE:SIZE (default: the upper half of hypervisor_memory)." };
        var check = new Option<bool>("--check") { Description = "Report every finding (errors, warnings, notes) instead of building; exit 1 when there is an error (or a warning, with --warnings-as-errors)." };
        var warningsAsErrors = new Option<bool>("--warnings-as-errors") { Description = "With --check: exit 1 for warnings too." };
        var ignore = new Option<string[]>("--ignore") { Description = "Leave out warnings and notes of this kind (e.g. writable-executable); may be repeated or comma-separated. Errors cannot be ignored.", AllowMultipleArgumentsPerToken = true };
        var loading = new Option<bool>("--loading") { Description = "The loading phase: the root cell keeps the non-root cells' LOADABLE regions mapped (jailhouse's cell load), to replay the root writing the images." };
        var toJson = new Option<bool>("--to-json") { Description = "Write each configuration (jailhouse .cell or JSON) as this tool's JSON instead of building: to -o FILE for one input, into -o DIRECTORY (NAME.json each) for several, or to standard output." };
        var jhTables = new Option<bool>("--jailhouse-tables") { Description = "Stage-2 tables shaped as jailhouse writes them (4K only: its start level and root tables, no 1 GiB blocks below 44-bit PAs, no SH or XN bits, the root's hypervisor_memory backed by an empty read-only page, the root's mmconfig trapped), so the descriptors can be compared with a live system." };
        var el2Map = new Option<string?>("--el2-map") { Description = "The hypervisor's EL2 map: jailhouse (its arm64 layout: JAILHOUSE_BASE, UART_BASE, the remap area; the default for a jailhouse .cell) or identity (the default for JSON)." };
        el2Map.CompletionSources.Add("jailhouse", "identity");
        var against = new Option<string?>("--against") { Description = "With --check: probe the hypervisor's EL2 map in this setup trace instead of the tables `cell` would build." };
        var cmd = new Command("cell", "Build the stage-2 and EL2 tables of a jailhouse-style cell configuration as a setup trace, or check the configuration.")
        {
            system, cells, output, granule, vmid, compat, hwAf, pool, check, against, warningsAsErrors, ignore, toJson, loading, el2Map, jhTables,
        };
        cmd.SetAction(async (pr, ct) =>
        {
            // The options first: a bad one (--granule, --pool, --ignore) is exit 1, as for every command, before any
            // configuration is read; what the configurations say is exit 2 below.
            CellBuildOptions opt;
            HashSet<string> ignored;
            try
            {
                opt = new CellBuildOptions
                {
                    Granule = ParseGranule(pr.GetValue(granule)!),
                    Vmid = pr.GetValue(vmid),
                    JailhouseCompat = pr.GetValue(compat),
                    HardwareAf = pr.GetValue(hwAf),
                    Loading = pr.GetValue(loading),
                    El2Map = ParseEl2Map(pr.GetValue(el2Map)),
                    JailhouseTables = pr.GetValue(jhTables),
                };
                if (opt.JailhouseTables && opt.Granule != Granule.K4)
                {
                    throw new ArgumentException("--jailhouse-tables: jailhouse's arm64 paging uses the 4K granule only, not --granule " + pr.GetValue(granule));
                }
                if (opt.JailhouseTables && opt.HardwareAf)
                {
                    throw new ArgumentException("--jailhouse-tables and --hw-af: jailhouse writes every stage-2 leaf with AF=1 and never sets VTCR_EL2.HA");
                }
                if (pr.GetValue(pool) is { } p)
                {
                    var (b, s) = ParsePool(p);
                    opt = opt with { PoolBase = b, PoolSize = s };
                }
                ignored = ParseIgnore(pr.GetValue(ignore) ?? []);
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"mmusim cell: {e.Message}");
                return 1;
            }
            try
            {
                var sys = CellConfigLoader.LoadSystem(pr.GetValue(system)!);
                var cellConfigs = pr.GetValue(cells)!.Select(CellConfigLoader.LoadCell).ToList();
                if (pr.GetValue(toJson))
                {
                    return ToJson(sys, cellConfigs, pr.GetValue(system)!, pr.GetValue(cells)!, pr.GetValue(output));
                }
                if (pr.GetValue(check))
                {
                    return await Check(sys, cellConfigs, opt, pr.GetValue(against), ignored, pr.GetValue(warningsAsErrors), ct);
                }
                return Build(sys, cellConfigs, opt, pr.GetValue(output), ignored, [pr.GetValue(system)!, .. pr.GetValue(cells)!]);
            }
            catch (ConfigException e) when (e.Errors.Count > 0)
            {
                // The configuration contradicts itself (found while building): every error, then nothing is written.
                foreach (var f in e.Errors)
                {
                    Console.Error.WriteLine(f.ToString());
                }
                Console.Error.WriteLine($"mmusim cell: {e.Errors.Count} error{(e.Errors.Count == 1 ? "" : "s")}; nothing written");
                return 2;
            }
            catch (ConfigException e)
            {
                Console.Error.WriteLine($"mmusim cell: {e.Message}");
                return 2;
            }
            catch (Building.PoolExhaustedException e)
            {
                // The tables need more frames than the pool holds (a --pool too small for this configuration).
                Console.Error.WriteLine($"mmusim cell: {e.Message}: give a larger --pool; nothing written");
                return 2;
            }
            catch (Exception e) when (e is ArgumentException or IOException or Tracing.TraceFormatException)
            {
                Console.Error.WriteLine($"mmusim cell: {e.Message}");
                return 2;
            }
        });
        return cmd;
    }

    private static El2Layout? ParseEl2Map(string? v) => v switch
    {
        null => null,
        "jailhouse" => El2Layout.Jailhouse,
        "identity" => El2Layout.Identity,
        _ => throw new ArgumentException($"--el2-map {v}: expected jailhouse or identity"),
    };

    /// <summary>Kinds named by --ignore (repeated or comma-separated), each checked against the known kinds.</summary>
    private static HashSet<string> ParseIgnore(IEnumerable<string> values)
    {
        var kinds = new HashSet<string>(StringComparer.Ordinal);
        foreach (string k in values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (!Finding.Kinds.Contains(k))
            {
                throw new ArgumentException($"--ignore {k}: not a finding kind (kinds: {string.Join(", ", Finding.Kinds)})");
            }
            kinds.Add(k);
        }
        return kinds;
    }

    private static bool Shown(Finding f, HashSet<string> ignored) => f.Severity == Severity.Error || !ignored.Contains(f.Kind);

    private static int ToJson(SystemConfig sys, List<CellConfig> cells, string systemPath, string[] cellPaths, string? output)
    {
        // A .cell keeps no region names; jailhouse's source next to it has them in comments.
        sys = new SystemConfig
        {
            File = sys.File,
            HypervisorMemory = sys.HypervisorMemory,
            DebugConsole = sys.DebugConsole,
            Platform = sys.Platform,
            Cpu = sys.Cpu,
            RootCell = ConfigSourceNames.Apply(sys.RootCell, ConfigSourceNames.ForCellFile(systemPath)),
            Flags = sys.Flags,
            Arm = sys.Arm,
            IommuUnits = sys.IommuUnits,
            Family = sys.Family,
        };
        cells = cells.Select((c, i) => ConfigSourceNames.Apply(c, ConfigSourceNames.ForCellFile(cellPaths[i]))).ToList();
        var all = new List<(string Path, Action<Stream> Write)> { (systemPath, s => ConfigJsonWriter.WriteSystem(s, sys)) };
        for (int i = 0; i < cells.Count; i++)
        {
            var c = cells[i];
            all.Add((cellPaths[i], s => ConfigJsonWriter.WriteCell(s, c)));
        }
        string[] inputs = [systemPath, .. cellPaths];
        if (all.Count > 1 && output is not null and not "-")
        {
            // Several configurations: one NAME.json per input in the directory -o names.
            Directory.CreateDirectory(output);
            foreach (var (path, write) in all)
            {
                string target = System.IO.Path.Combine(output, System.IO.Path.GetFileNameWithoutExtension(path) + ".json");
                using var file = OutputFile.Open(target, inputs);
                write(file.Stream);
                file.Commit();
                Console.Error.WriteLine($"mmusim cell: wrote {target}");
            }
            return 0;
        }
        using (var file = OutputFile.Open(output ?? "-", inputs))
        {
            foreach (var (_, write) in all)
            {
                write(file.Stream);
            }
            file.Commit();
        }
        return 0;
    }

    private static int Build(SystemConfig sys, List<CellConfig> cells, CellBuildOptions opt, string? output, HashSet<string> ignored, string[] inputs)
    {
        var setup = CellSetupBuilder.Build(sys, cells, opt);
        foreach (var f in setup.Findings.Where(f => f.Severity != Severity.Note && Shown(f, ignored)))
        {
            Console.Error.WriteLine(f.ToString());
        }
        if (opt.JailhouseCompat)
        {
            Console.Error.WriteLine("mmusim cell: --jailhouse-compat: JAILHOUSE_MEM_EXECUTE is ignored as jailhouse does; no region is execute-never at stage 2");
        }
        // Through OutputFile: never over a configuration it read, and the old setup trace stays whole until the
        // new one is complete; an output that cannot be written is `mmusim cell: PATH: reason`, exit 1.
        try
        {
            using var file = OutputFile.Open(output ?? "-", inputs);
            file.Stream.Write(System.Text.Encoding.UTF8.GetBytes(setup.Trace));
            file.Commit();
        }
        catch (PathIOException e)
        {
            Console.Error.WriteLine($"mmusim cell: {e.Message}");
            return 1;
        }
        if (output is not null and not "-")
        {
            Console.Error.WriteLine($"mmusim cell: wrote {output}: {setup.Descriptors.Count} descriptors, {setup.PoolUsed} bytes of the table pool "
                + $"(0x{setup.Map.PoolBase:x}+0x{setup.Map.PoolSize:x}), entering cell '{setup.Map.EnteredCell}'");
        }
        return 0;
    }

    private static async Task<int> Check(SystemConfig sys, List<CellConfig> cells, CellBuildOptions opt, string? against,
        HashSet<string> ignored, bool warningsAsErrors, CancellationToken ct)
    {
        var findings = (await CellChecker.CheckAsync(sys, cells, opt, against, ct)).Where(f => Shown(f, ignored)).ToList();
        foreach (var f in findings)
        {
            Console.Out.WriteLine(f.ToString());
        }
        int errors = findings.Count(f => f.Severity == Severity.Error);
        int warnings = findings.Count(f => f.Severity == Severity.Warning);
        int notes = findings.Count - errors - warnings;
        Console.Out.WriteLine($"{errors} error{(errors == 1 ? "" : "s")}, {warnings} warning{(warnings == 1 ? "" : "s")}, {notes} note{(notes == 1 ? "" : "s")}");
        // Exit 1 gates a CI on errors; warnings (and never notes) only when asked to.
        return errors > 0 || (warningsAsErrors && warnings > 0) ? 1 : 0;
    }

    public static Granule ParseGranule(string s) => s.Trim().ToLowerInvariant() switch
    {
        "4k" or "4096" => Granule.K4,
        "16k" or "16384" => Granule.K16,
        "64k" or "65536" => Granule.K64,
        _ => throw new ArgumentException($"--granule {s}: expected 4k, 16k or 64k"),
    };

    /// <summary>"BASE:SIZE", each 0x-hex or decimal.</summary>
    public static (ulong Base, ulong Size) ParsePool(string s)
    {
        var parts = s.Split(':');
        if (parts.Length == 2 && TryNumber(parts[0], out ulong b) && TryNumber(parts[1], out ulong size))
        {
            return (b, size);
        }
        throw new ArgumentException($"--pool {s}: expected BASE:SIZE, e.g. 0x7fe00000:0x200000");
    }

    private static bool TryNumber(string t, out ulong v)
    {
        t = t.Trim().Replace("_", "", StringComparison.Ordinal);
        return t.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v)
            : ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out v);
    }
}
