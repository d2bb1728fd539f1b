using System.Globalization;
using System.Text.RegularExpressions;
using MmuSim.Bits;

namespace MmuSim.Hypervisor;

/// <summary>
/// hvisor's configurations (syswonder/hvisor, aarch64): the root zone, compiled into the hypervisor from the board's
/// <c>board.rs</c> (ROOT_ZONE_NAME, ROOT_ZONE_CPUS, ROOT_ZONE_MEMORY_REGIONS, the GIC of ROOT_ARCH_ZONE_CONFIG,
/// BOARD_UART_BASE, BOARD_NCPUS) with the hypervisor's load address from the board's <c>linker.ld</c>; and the zones
/// hvisor-tool starts, as JSON (<c>name</c>, <c>zone_id</c>, <c>cpus</c>, <c>memory_regions</c> of type ram, io or
/// virtio). hvisor's semantics differ from jailhouse's, and are carried as <see cref="HypervisorFamily.Hvisor"/>:
/// every ram and io region is mapped read/write/execute (io as Device); virtio regions are trapped to the virtio
/// back-end whatever their alignment (<see cref="MemFlags.Trapped"/>); the root zone keeps the memory it gives to
/// zones; descriptors are written with AF set and VTCR_EL2.HA=1.
/// </summary>
public static partial class HvisorConfig
{
    /// <summary>Whether a JSON configuration is an hvisor zone (it has memory_regions, where jailhouse's has mem_regions).</summary>
    public static bool IsZone(ConfigValue root) => root.Kind == ConfigValueKind.Object && root.Properties.Exists(p => p.Name == "memory_regions");

    public static SystemConfig LoadBoard(string path)
    {
        string text = File.ReadAllText(path);
        var lineStarts = new List<int> { 0 };
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                lineStarts.Add(i + 1);
            }
        }
        SourcePos At(int offset)
        {
            int line = lineStarts.BinarySearch(offset);
            if (line < 0)
            {
                line = ~line - 1;
            }
            return new SourcePos(path, line + 1, offset - lineStarts[line] + 1);
        }
        Match Need(Regex r, string what)
        {
            var m = r.Match(text);
            if (!m.Success)
            {
                throw new ConfigException(new SourcePos(path, 1, 1), $"{what} is not in this board.rs: expected hvisor's platform/aarch64/<board>/board.rs");
            }
            return m;
        }

        string name = Need(RootNameRegex(), "ROOT_ZONE_NAME").Groups[1].Value;
        var cpusMatch = Need(RootCpusRegex(), "ROOT_ZONE_CPUS");
        var cpus = new List<int>();
        foreach (Match shift in ShiftRegex().Matches(cpusMatch.Groups[1].Value))
        {
            cpus.Add(int.Parse(shift.Groups[1].Value, CultureInfo.InvariantCulture));
        }
        if (cpus.Count == 0 && TryNumber(cpusMatch.Groups[1].Value.Trim(), out ulong mask))
        {
            cpus.AddRange(Enumerable.Range(0, 64).Where(b => (mask >> b & 1) != 0));
        }
        int ncpus = (int)Number(Need(NcpusRegex(), "BOARD_NCPUS").Groups[1].Value);

        var block = Need(RegionsBlockRegex(), "ROOT_ZONE_MEMORY_REGIONS");
        var regions = new List<MemRegion>();
        foreach (Match m in RegionRegex().Matches(block.Value))
        {
            int at = block.Index + m.Index;
            var region = Region(regions.Count, m.Groups[1].Value, Number(m.Groups[2].Value), Number(m.Groups[3].Value), Number(m.Groups[4].Value),
                m.Groups[5].Success ? m.Groups[5].Value.Trim() : null, At(at), $"root zone memory region {regions.Count}");
            regions.Add(region);
        }
        if (regions.Count == 0)
        {
            throw new ConfigException(At(block.Index), "ROOT_ZONE_MEMORY_REGIONS has no HvConfigMemoryRegion");
        }

        ArmPlatform? arm = null;
        if (GicdRegex().Match(text) is { Success: true } gicd)
        {
            ulong gicr = GicrRegex().Match(text) is { Success: true } r ? Number(r.Groups[1].Value) : 0;
            ulong gicc = GiccRegex().Match(text) is { Success: true } c ? Number(c.Groups[1].Value) : 0;
            arm = new ArmPlatform((byte)(gicr != 0 ? 3 : 2), 0, Number(gicd.Groups[1].Value), gicc, 0, 0, gicr, At(gicd.Index));
        }
        // BOARD_PHYSMEM_LIST: what hvisor's boot page table maps at EL2 (its boot_pt_init; docs/cells.md, "The hypervisor's EL2 map").
        List<(ulong, ulong, bool, SourcePos)>? physmem = null;
        if (PhysmemBlockRegex().Match(text) is { Success: true } pm)
        {
            physmem = [];
            foreach (Match e in PhysmemEntryRegex().Matches(pm.Groups[1].Value))
            {
                int at = pm.Groups[1].Index + e.Index;
                int lineStart = text.LastIndexOf('\n', at) + 1;
                if (text.AsSpan(lineStart, at - lineStart).TrimStart().StartsWith("//", StringComparison.Ordinal))
                {
                    continue;
                }
                physmem.Add((Number(e.Groups[1].Value), Number(e.Groups[2].Value), e.Groups[3].Value == "Device", At(at)));
            }
        }
        DebugConsole? console = UartRegex().Match(text) is { Success: true } u ? new DebugConsole(Number(u.Groups[1].Value), 0x1000, "BOARD_UART_BASE", At(u.Index)) : null;

        // The hypervisor's own memory: from its load address (linker.ld's BASE_ADDRESS) over what hvisor reserves past
        // its image (hvisor's constants: a 64 MiB pool, 1 MiB heap, 512 KiB per CPU), with 2 MiB for the image, in 2 MiB units.
        string linker = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", "linker.ld");
        if (!File.Exists(linker))
        {
            throw new ConfigException(new SourcePos(path, 1, 1), $"hvisor's load address comes from the board's linker.ld, and {linker} does not exist");
        }
        var baseMatch = BaseAddressRegex().Match(File.ReadAllText(linker));
        if (!baseMatch.Success)
        {
            throw new ConfigException(new SourcePos(linker, 1, 1), "BASE_ADDRESS = ...; is not in this linker script");
        }
        ulong hvBase = Number(baseMatch.Groups[1].Value);
        ulong hvSize = ((64UL << 20) + (1UL << 20) + (ulong)ncpus * (512UL << 10) + (2UL << 20) + (2UL << 20) - 1) & ~((2UL << 20) - 1);

        var root = new CellConfig
        {
            Name = name,
            IsRoot = true,
            File = path,
            Pos = At(block.Index),
            Regions = regions,
            Cpus = cpus,
            CpusPos = At(cpusMatch.Index),
        };
        return new SystemConfig
        {
            File = path,
            HypervisorMemory = new HypervisorMemory(hvBase, hvBase, hvSize, new SourcePos(linker, 1, 1)),
            DebugConsole = console,
            Platform = new PlatformInfo(null, 0, new SourcePos(path, 1, 1)),
            Cpu = new CpuIds(Registers.SystemRegisters.QemuMaxMmfr0, Registers.SystemRegisters.QemuMaxMmfr1, Registers.SystemRegisters.QemuMaxMmfr2),
            RootCell = root,
            Arm = arm,
            Family = HypervisorFamily.Hvisor,
            HvisorPhysmem = physmem,
        };
    }

    /// <summary>A zone as hvisor-tool's JSON gives it.</summary>
    public static CellConfig ReadZone(ConfigValue node, string file)
    {
        string? name = null;
        var regions = new List<MemRegion>();
        var ivcs = new List<IvcConfig>();
        List<int>? cpus = null;
        SourcePos? cpusPos = null;
        foreach (var p in node.Properties)
        {
            switch (p.Name)
            {
                case "name":
                    name = p.Value.Text;
                    break;
                case "cpus":
                    cpus = p.Value.Items.Select(i => (int)CellConfigLoader.ParseNumber(i, "cpus")).ToList();
                    cpusPos = p.Value.Pos;
                    break;
                case "memory_regions":
                    foreach (var item in p.Value.Items)
                    {
                        string where = $"memory_regions[{regions.Count}]";
                        string? type = null;
                        ulong phys = 0, virt = 0, size = 0;
                        foreach (var f in item.Properties)
                        {
                            switch (f.Name)
                            {
                                case "type": type = f.Value.Text; break;
                                case "physical_start": phys = CellConfigLoader.ParseNumber(f.Value, $"{where}.physical_start"); break;
                                case "virtual_start": virt = CellConfigLoader.ParseNumber(f.Value, $"{where}.virtual_start"); break;
                                case "size": size = CellConfigLoader.ParseNumber(f.Value, $"{where}.size"); break;
                                default: throw new ConfigException(f.NamePos, $"{where}: unknown field \"{f.Name}\" (an hvisor memory region has type, physical_start, virtual_start, size)");
                            }
                        }
                        string typeName = type switch
                        {
                            "ram" => "MEM_TYPE_RAM",
                            "io" => "MEM_TYPE_IO",
                            "virtio" => "MEM_TYPE_VIRTIO",
                            _ => throw new ConfigException(item.Pos, $"{where}.type", $"\"{type}\" is not an hvisor memory type (ram, io, virtio)"),
                        };
                        regions.Add(Region(regions.Count, typeName, phys, virt, size, type, item.Pos, where));
                    }
                    break;
                case "ivc_configs":
                    foreach (var item in p.Value.Items)
                    {
                        ivcs.Add(ReadIvc(item, $"ivc_configs[{ivcs.Count}]"));
                    }
                    break;
                default:
                    // zone_id, interrupts, kernel and dtb placement, arch_config, pci_config, ...: not modelled.
                    break;
            }
        }
        if (string.IsNullOrEmpty(name) || name.Length > CellConfigLoader.CellNameMaxLength)
        {
            throw new ConfigException(node.Pos, $"an hvisor zone needs a \"name\" of 1 to {CellConfigLoader.CellNameMaxLength} characters");
        }
        return new CellConfig
        {
            Name = name,
            IsRoot = false,
            File = file,
            Pos = node.Pos,
            Regions = regions.Where(r => r.Size != 0).ToList(),
            Placeholders = regions.Where(r => r.Size == 0).ToList(),
            Cpus = cpus,
            CpusPos = cpusPos,
            Ivcs = ivcs,
        };
    }

    private static readonly string[] IvcFields = ["ivc_id", "peer_id", "control_table_ipa", "shared_mem_ipa", "rw_sec_size", "out_sec_size", "interrupt_num", "max_peers"];

    /// <summary>An `ivc_configs` entry: every field of hvisor's HvIvcConfig (docs/cells.md, "hvisor"), none other.</summary>
    private static IvcConfig ReadIvc(ConfigValue item, string where)
    {
        var v = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var f in item.Properties)
        {
            if (!IvcFields.Contains(f.Name))
            {
                throw new ConfigException(f.NamePos, $"{where}: unknown field \"{f.Name}\" (an hvisor IVC config has {string.Join(", ", IvcFields)})");
            }
            v[f.Name] = CellConfigLoader.ParseNumber(f.Value, $"{where}.{f.Name}");
        }
        foreach (string k in IvcFields)
        {
            if (!v.ContainsKey(k))
            {
                throw new ConfigException(item.Pos, $"{where}: \"{k}\" is missing");
            }
        }
        uint U32(string k) => v[k] <= uint.MaxValue ? (uint)v[k] : throw new ConfigException(item.Pos, $"{where}.{k}: 0x{v[k]:x} does not fit hvisor's 32-bit field");
        return new IvcConfig(U32("ivc_id"), U32("peer_id"), v["control_table_ipa"], v["shared_mem_ipa"], U32("rw_sec_size"), U32("out_sec_size"),
            U32("interrupt_num"), U32("max_peers"), item.Pos);
    }

    /// <summary>hvisor's Zone::pt_init: ram and io are mapped read/write/execute (io as Device); virtio is an MMIO handler.</summary>
    private static MemRegion Region(int index, string type, ulong phys, ulong virt, ulong size, string? name, SourcePos pos, string where)
    {
        var flags = type switch
        {
            "MEM_TYPE_RAM" => MemFlags.Read | MemFlags.Write | MemFlags.Execute,
            "MEM_TYPE_IO" => MemFlags.Read | MemFlags.Write | MemFlags.Execute | MemFlags.Io,
            "MEM_TYPE_VIRTIO" => MemFlags.Read | MemFlags.Write | MemFlags.Io | MemFlags.Trapped,
            _ => throw new ConfigException(pos, $"{where}: {type} is a memory type hvisor does not map on aarch64 (MEM_TYPE_RAM, MEM_TYPE_IO, MEM_TYPE_VIRTIO)"),
        };
        return new MemRegion { Index = index, Name = name, PhysStart = phys, VirtStart = virt, Size = size, Flags = flags, Pos = pos };
    }

    private static ulong Number(string s) => TryNumber(s, out ulong v) ? v : throw new ConfigException($"\"{s}\" is not a number");

    private static bool TryNumber(string s, out ulong v)
    {
        s = s.Trim().Replace("_", "", StringComparison.Ordinal);
        return s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v)
            : ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v);
    }

    [GeneratedRegex("""ROOT_ZONE_NAME\s*:\s*&str\s*=\s*"([^"]*)"\s*;""")]
    private static partial Regex RootNameRegex();

    [GeneratedRegex(@"ROOT_ZONE_CPUS\s*:\s*u64\s*=\s*([^;]*);")]
    private static partial Regex RootCpusRegex();

    [GeneratedRegex(@"1\s*<<\s*(\d+)")]
    private static partial Regex ShiftRegex();

    [GeneratedRegex(@"BOARD_NCPUS\s*:\s*usize\s*=\s*(\w+)\s*;")]
    private static partial Regex NcpusRegex();

    [GeneratedRegex(@"ROOT_ZONE_MEMORY_REGIONS\s*:[^=]*=\s*&?\[(.*?)\n\];", RegexOptions.Singleline)]
    private static partial Regex RegionsBlockRegex();

    [GeneratedRegex(@"HvConfigMemoryRegion\s*\{\s*mem_type\s*:\s*(\w+)\s*,\s*physical_start\s*:\s*(\w+)\s*,\s*virtual_start\s*:\s*(\w+)\s*,\s*size\s*:\s*(\w+)\s*,?\s*\}\s*,?[ \t]*(?://[ \t]*([^\n]*))?")]
    private static partial Regex RegionRegex();

    [GeneratedRegex(@"gicd_base\s*:\s*(\w+)")]
    private static partial Regex GicdRegex();

    [GeneratedRegex(@"gicr_base\s*:\s*(\w+)")]
    private static partial Regex GicrRegex();

    [GeneratedRegex(@"gicc_base\s*:\s*(\w+)")]
    private static partial Regex GiccRegex();

    [GeneratedRegex(@"BOARD_UART_BASE\s*:\s*u64\s*=\s*(\w+)\s*;")]
    private static partial Regex UartRegex();

    [GeneratedRegex(@"BOARD_PHYSMEM_LIST\s*:[^=]*=\s*&?\[(.*?)\];", RegexOptions.Singleline)]
    private static partial Regex PhysmemBlockRegex();

    [GeneratedRegex(@"\(\s*(\w+)\s*,\s*(\w+)\s*,\s*MemoryType::(\w+)\s*\)")]
    private static partial Regex PhysmemEntryRegex();

    [GeneratedRegex(@"BASE_ADDRESS\s*=\s*(\w+)\s*;")]
    private static partial Regex BaseAddressRegex();
}
