using System.CommandLine;
using System.Text;
using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Hypervisor;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Replay;
using MmuSim.Tracing;

namespace MmuSim.Cli;

/// <summary>
/// `mmusim import kvm-stage2 DUMP [--setup GUEST.trace] -o SETUP.trace`: KVM's stage-2 debugfs dump
/// (stage2_page_tables) as the stage 2 of a setup, added to a guest's setup so the guest's faults replay against it.
/// </summary>
public static class ImportKvmCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("dump") { Description = "KVM's stage-2 dump: a copy of /sys/kernel/debug/kvm/PID-FD/stage2_page_tables." };
        var output = new Option<string>("--output", "-o") { Description = "The setup trace to write ('-' for standard output).", Required = true };
        var setup = new Option<string?>("--setup") { Description = "A guest's text setup (from `import core` or `import qemu-gdb`, at IPAs) to add the stage 2 to; without it, a setup of the stage 2 alone." };
        var granule = new Option<string>("--granule") { Description = "The host's page size, which KVM's stage 2 uses: 4k, 16k or 64k (default 4k).", DefaultValueFactory = _ => "4k" };
        granule.CompletionSources.Add("4k", "16k", "64k");
        var ipaBits = new Option<int?>("--ipa-bits") { Description = "KVM's ipa_range (default: the file ipa_range beside the dump, else the smallest IPA size that holds the dump)." };
        var levels = new Option<int?>("--levels") { Description = "KVM's stage2_levels (default: the file stage2_levels beside the dump, else what KVM derives from the IPA size)." };
        var paOffset = new Option<string?>("--pa-offset") { Description = "Map each IPA to PA = IPA + OFFSET (default 0: PA = IPA); the setup's memory moves with it." };
        var hwAf = new Option<bool>("--hw-af") { Description = "Set VTCR_EL2.HA (hardware updates AF), so AF=0 entries do not fault." };
        var maxMemory = new Option<string>("--max-memory") { Description = "Cap on the stage-2 tables built (e.g. 512m, 4g; default 1g): a larger dump is exit 3.", DefaultValueFactory = _ => "1g" };
        var cmd = new Command("kvm-stage2", "KVM's stage-2 dump (stage2_page_tables: IPA ranges, levels, permissions, no output addresses) as the stage 2 of a setup: "
            + "each IPA maps to itself (or + --pa-offset) with the dump's levels, S2AP, XN and AF, so a guest's stage-2 faults replay as on the host.")
        {
            file, output, setup, granule, ipaBits, levels, paOffset, hwAf, maxMemory,
        };
        cmd.SetAction(async (pr, ct) =>
        {
            const string me = "mmusim import kvm-stage2";
            var g = pr.GetValue(granule)!.ToLowerInvariant() switch
            {
                "4k" => Granule.K4,
                "16k" => Granule.K16,
                "64k" => Granule.K64,
                _ => (Granule?)null,
            };
            if (g is null)
            {
                Console.Error.WriteLine($"{me}: --granule {pr.GetValue(granule)}: expected 4k, 16k or 64k");
                return 1;
            }
            ulong offset = 0;
            if (pr.GetValue(paOffset) is { } off && (!TranslateCommand.TryNumber(off, out offset) || (offset & 0xFFF) != 0))
            {
                Console.Error.WriteLine($"{me}: --pa-offset {off}: expected a 64-bit number, a multiple of 4 KiB");
                return 1;
            }
            if (!ReplayCommand.TryParseSize(pr.GetValue(maxMemory)!, out ulong cap) || cap < (4UL << 20) || cap > long.MaxValue)
            {
                Console.Error.WriteLine($"{me}: --max-memory {pr.GetValue(maxMemory)}: expected a size of at least 4m (e.g. 512m, 4g)");
                return 1;
            }
            string dumpPath = pr.GetValue(file)!;
            string outPath = pr.GetValue(output)!;
            string? setupPath = pr.GetValue(setup);
            var notes = new List<string>();
            KvmStage2Dump dump;
            int? ipa = pr.GetValue(ipaBits), lv = pr.GetValue(levels);
            try
            {
                dump = KvmStage2Dump.Read(dumpPath);
                // KVM writes ipa_range ("%2u") and stage2_levels ("%1d") beside stage2_page_tables.
                string dir = Path.GetDirectoryName(Path.GetFullPath(dumpPath))!;
                ipa ??= Sibling(dir, "ipa_range", notes);
                lv ??= Sibling(dir, "stage2_levels", notes);
            }
            catch (TraceFormatException e)
            {
                Console.Error.WriteLine($"mmusim: {e.Message}");
                return 2;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"mmusim: {PathErrors.Describe(dumpPath, e).Message}");
                return 2;
            }

            string setupText = "";
            List<KvmSetupPe>? pes = null;
            bool ram = false;
            int paBits = AddressSizes.Decode(new Mmfr0(SystemRegisters.QemuMaxMmfr0).PaRange);
            if (setupPath is not null)
            {
                try
                {
                    byte[] bytes = await File.ReadAllBytesAsync(setupPath, ct);
                    if (BinaryTrace.HasMagic(bytes) || bytes.AsSpan(0, Math.Min(bytes.Length, 4096)).Contains((byte)0))
                    {
                        Console.Error.WriteLine($"{me}: {setupPath}: --setup takes a text setup (`mmusim convert` writes one from a binary trace)");
                        return 2;
                    }
                    setupText = Encoding.UTF8.GetString(bytes);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"mmusim: {PathErrors.Describe(setupPath, e).Message}");
                    return 2;
                }
                var (replayer, failed) = await SetupInput.ReplayAsync([setupPath], TraceFormat.Text, ct);
                if (replayer is null)
                {
                    return failed;
                }
                pes = replayer.System.Pes.Select(p => new KvmSetupPe(p.Index, p.Registers[SysReg.HCR_EL2])).ToList();
                ram = replayer.System.Memory.RamRegions.Count > 0;
                paBits = replayer.System.Pes.Min(p => p.Registers.Mmfr0.PaMax);
                string setupDir = Path.GetDirectoryName(Path.GetFullPath(setupPath))!;
                string outDir = outPath == "-" ? "" : Path.GetDirectoryName(Path.GetFullPath(outPath))!;
                setupText = KvmStage2Import.Relocate(setupText, offset, f =>
                {
                    string full = Path.IsPathRooted(f) ? f : Path.GetFullPath(Path.Combine(setupDir, f));
                    return outPath == "-" ? full : Path.GetRelativePath(outDir, full);
                });
                if (!setupText.EndsWith('\n'))
                {
                    setupText += "\n";
                }
            }

            KvmStage2Import.Result result;
            try
            {
                result = KvmStage2Import.Build(dump, new KvmStage2Options { Granule = g.Value, IpaBits = ipa, Levels = lv, PaOffset = offset, HardwareAf = pr.GetValue(hwAf), MaxTableBytes = (long)cap }, pes, ram, paBits);
            }
            catch (TraceFormatException e)
            {
                Console.Error.WriteLine($"mmusim: {e.Message}");
                return 2;
            }
            catch (MemoryLimitException)
            {
                Console.Error.WriteLine($"{me}: {dumpPath}: its stage-2 tables would take more than --max-memory {pr.GetValue(maxMemory)} ({cap} bytes)");
                return 3;
            }
            if (!ImportCommand.WriteSetup(me, outPath, setupPath is null ? [dumpPath] : [dumpPath, setupPath], setupText, result.Text))
            {
                return 1;
            }
            Console.Error.WriteLine($"{me}: {result.Ranges} range(s), {result.Mapped} mapped ({result.Leaves} leaf entries), {result.IpaBits}-bit IPA from level {result.StartLevel}, {result.TablesBytes} bytes of tables"
                + (pes is null ? "" : $"; added to {pes.Count} PE(s) of {setupPath}")
                + (notes.Count > 0 ? $"; {string.Join(", ", notes)}" : ""));
            return 0;
        });
        return cmd;
    }

    /// <summary>A number KVM wrote in a debugfs file beside the dump, or null when there is no such file.</summary>
    private static int? Sibling(string dir, string name, List<string> notes)
    {
        string path = Path.Combine(dir, name);
        if (!File.Exists(path))
        {
            return null;
        }
        string text = File.ReadAllText(path).Trim();
        if (!int.TryParse(text, out int v) || v is < 1 or > 64)
        {
            throw TraceFormatException.AtByte(path, 0, $"'{text}' is not the number KVM writes in {name}");
        }
        notes.Add($"{name} {v} read from {path}");
        return v;
    }
}
