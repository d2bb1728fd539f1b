using System.Globalization;
using MmuSim.Bits;
using MmuSim.Registers;

namespace MmuSim.Hypervisor;

/// <summary>
/// Loads system and cell configurations written in JSON with the field names of jailhouse's
/// jailhouse's cell configuration structures (docs/cells.md, "Configuration format"). Numbers are JSON integers or strings ("0x4000_0000", "1024"); flags are a list
/// of names, a "READ | WRITE" string, or the numeric value. Unknown fields are errors (a misspelt field must not be
/// silently ignored); jailhouse fields this model does not use are accepted and listed in docs/cells.md.
/// Every error names the file, line and column, and the field.
/// </summary>
public static class CellConfigLoader
{
    /// <summary>jailhouse's JAILHOUSE_CELL_NAME_MAXLEN.</summary>
    public const int CellNameMaxLength = 31;

    private static readonly string[] IgnoredSystemFields = ["signature", "revision", "architecture"];
    private static readonly string[] IgnoredCellFields =
    [
        "signature", "revision", "architecture", "id", "cpu_set_size", "num_memory_regions", "num_cache_regions",
        "num_irqchips", "num_pio_regions", "num_pci_devices", "num_pci_caps", "num_stream_ids", "vpci_irq_base",
        "cpu_reset_address", "msg_reply_timeout", "console", "cache_regions", "pio_regions", "pci_caps", "stream_ids",
    ];
    private static readonly string[] IgnoredPlatformFields = ["pci_domain", "x86"];
    private static readonly string[] IgnoredPciFields =
    [
        "iommu", "bar_mask", "caps_start", "num_caps", "num_msi_vectors", "msi_64bits", "msi_maskable", "num_msix_vectors",
        "msix_region_size", "msix_address",
    ];
    private static readonly string[] IgnoredConsoleFields = ["divider", "gate_nr", "clock_reg"];

    /// <summary>A system configuration: jailhouse's binary .cell when the file starts with its signature, JSON otherwise.</summary>
    public static SystemConfig LoadSystem(string path)
    {
        if (path.EndsWith(".rs", StringComparison.Ordinal))
        {
            // hvisor compiles its root zone into the hypervisor: the board's board.rs is its system configuration.
            return HvisorConfig.LoadBoard(path);
        }
        byte[] data = BoundedFile.ReadAll(path);
        return JailhouseBinaryConfig.IsBinary(data) ? JailhouseBinaryConfig.ReadSystem(data, path) : ParseSystem(data, path);
    }

    /// <summary>A cell configuration: jailhouse's binary .cell when the file starts with its signature, JSON otherwise.</summary>
    public static CellConfig LoadCell(string path)
    {
        byte[] data = BoundedFile.ReadAll(path);
        if (JailhouseBinaryConfig.IsBinary(data))
        {
            return JailhouseBinaryConfig.ReadCell(data, path);
        }
        var root = ConfigJson.Parse(data, path);
        return HvisorConfig.IsZone(root) ? HvisorConfig.ReadZone(root, path) : ReadCell(root, path, isRoot: false);
    }

    public static SystemConfig ParseSystem(byte[] utf8, string file)
    {
        var root = ConfigJson.Parse(utf8, file);
        var o = new Fields(root, "", "the system configuration");
        var hvNode = o.Required("hypervisor_memory");
        var hv = new Fields(hvNode, "hypervisor_memory", "hypervisor_memory");
        ulong hvPhys = hv.Number("phys_start", required: true)!.Value;
        ulong hvSize = hv.Number("size", required: true)!.Value;
        ulong hvVirt = hv.Number("virt_start", required: false) ?? hvPhys;
        hv.Optional("flags");
        hv.Finish();
        var hvMem = new HypervisorMemory(hvPhys, hvVirt, hvSize, hvNode.Pos);

        DebugConsole? console = null;
        if (o.Optional("debug_console") is { } cNode)
        {
            var c = new Fields(cNode, "debug_console", "debug_console");
            ulong address = c.Number("address", required: true)!.Value;
            ulong size = c.Number("size", required: true)!.Value;
            string? type = c.String("type", required: false);
            ulong? conFlags = c.Number("flags", required: false);
            c.Ignore(IgnoredConsoleFields);
            c.Finish();
            console = new DebugConsole(address, size, type, cNode.Pos, conFlags is { } cf ? (ushort)cf : null);
        }

        var platform = new PlatformInfo(null, 0, root.Pos);
        ArmPlatform? arm = null;
        var iommus = new List<IommuUnit>();
        if (o.Optional("platform_info") is { } pNode)
        {
            var p = new Fields(pNode, "platform_info", "platform_info");
            ulong? mmcfg = p.Number("pci_mmconfig_base", required: false);
            ulong endBus = p.Number("pci_mmconfig_end_bus", required: false) ?? 0;
            if (endBus > 255)
            {
                throw p.Error("pci_mmconfig_end_bus", $"{endBus} is not a PCI bus number (0..255)");
            }
            bool isVirtual = p.Optional("pci_is_virtual") is { } virt && virt.Kind switch
            {
                ConfigValueKind.True => true,
                ConfigValueKind.False => false,
                _ => ParseNumber(virt, "platform_info.pci_is_virtual") != 0,
            };
            if (p.Optional("arm") is { } armNode)
            {
                var a = new Fields(armNode, "platform_info.arm", "platform_info.arm");
                arm = new ArmPlatform(
                    GicVersion: (byte)(a.Number("gic_version", required: false) ?? 0),
                    MaintenanceIrq: (byte)(a.Number("maintenance_irq", required: false) ?? 0),
                    GicdBase: a.Number("gicd_base", required: false) ?? 0,
                    GiccBase: a.Number("gicc_base", required: false) ?? 0,
                    GichBase: a.Number("gich_base", required: false) ?? 0,
                    GicvBase: a.Number("gicv_base", required: false) ?? 0,
                    GicrBase: a.Number("gicr_base", required: false) ?? 0,
                    Pos: armNode.Pos);
                a.Ignore(["padding"]);
                a.Finish();
            }
            if (p.Optional("iommu_units") is { } iNode)
            {
                foreach (var (item, i) in Items(iNode, "platform_info.iommu_units"))
                {
                    var u = new Fields(item, $"platform_info.iommu_units[{i}]", $"platform_info.iommu_units[{i}]");
                    uint type = (uint)(u.Number("type", required: false) ?? 0);
                    ulong b = u.Number("base", required: false) ?? 0;
                    ulong size = u.Number("size", required: false) ?? 0;
                    ulong tlbBase = 0, tlbSize = 0;
                    if (u.Optional("tipvu") is { } tNode)
                    {
                        var t = new Fields(tNode, $"platform_info.iommu_units[{i}].tipvu", $"platform_info.iommu_units[{i}].tipvu");
                        tlbBase = t.Number("tlb_base", required: false) ?? 0;
                        tlbSize = t.Number("tlb_size", required: false) ?? 0;
                        t.Finish();
                    }
                    u.Ignore(["amd"]);
                    u.Finish();
                    if (b != 0 || size != 0)
                    {
                        iommus.Add(new IommuUnit(type, b, (uint)size, item.Pos, tlbBase, (uint)tlbSize));
                    }
                }
            }
            p.Ignore(IgnoredPlatformFields);
            p.Finish();
            // pci_mmconfig_base 0: the board has no PCI window (jailhouse writes 0 for "none").
            platform = new PlatformInfo(mmcfg == 0 ? null : mmcfg, (int)endBus, pNode.Pos, isVirtual);
        }

        var cpu = new CpuIds(SystemRegisters.QemuMaxMmfr0, SystemRegisters.QemuMaxMmfr1, SystemRegisters.QemuMaxMmfr2);
        if (o.Optional("cpu") is { } cpuNode)
        {
            var c = new Fields(cpuNode, "cpu", "cpu");
            cpu = new CpuIds(
                c.Number("id_aa64mmfr0_el1", required: false) ?? cpu.Mmfr0,
                c.Number("id_aa64mmfr1_el1", required: false) ?? cpu.Mmfr1,
                c.Number("id_aa64mmfr2_el1", required: false) ?? cpu.Mmfr2,
                cpuNode.Pos);
            c.Finish();
        }

        var rootCell = ReadCell(o.Required("root_cell"), file, isRoot: true);
        uint sysFlags = (uint)(o.Number("flags", required: false) ?? 0);
        o.Ignore(IgnoredSystemFields);
        o.Finish();
        return new SystemConfig
        {
            File = file,
            HypervisorMemory = hvMem,
            DebugConsole = console,
            Platform = platform,
            Cpu = cpu,
            RootCell = rootCell,
            Flags = sysFlags,
            Arm = arm,
            IommuUnits = iommus,
        };
    }

    private static IEnumerable<(ConfigValue Item, int Index)> Items(ConfigValue node, string what)
    {
        if (node.Kind != ConfigValueKind.Array)
        {
            throw new ConfigException(node.Pos, what, $"expected an array, not {node.KindName}");
        }
        return node.Items.Select((v, i) => (v, i));
    }

    public static CellConfig ParseCell(byte[] utf8, string file) => ReadCell(ConfigJson.Parse(utf8, file), file, isRoot: false);

    private static CellConfig ReadCell(ConfigValue node, string file, bool isRoot)
    {
        string prefix = isRoot ? "root_cell." : "";
        var o = new Fields(node, isRoot ? "root_cell" : "", isRoot ? "root_cell" : "the cell configuration");
        string name = o.String("name", required: true)!;
        if (name.Length == 0 || name.Length > CellNameMaxLength)
        {
            throw o.Error("name", $"a cell name has 1 to {CellNameMaxLength} characters (JAILHOUSE_CELL_NAME_MAXLEN); \"{name}\" has {name.Length}");
        }
        string cellLabel = $"cell '{name}'";
        var regionsNode = o.Required("mem_regions");
        if (regionsNode.Kind != ConfigValueKind.Array)
        {
            throw new ConfigException(regionsNode.Pos, $"{cellLabel}: {prefix}mem_regions must be an array, not {regionsNode.KindName}");
        }
        var regions = new List<MemRegion>();
        var placeholders = new List<MemRegion>();
        for (int i = 0; i < regionsNode.Items.Count; i++)
        {
            var r = ReadRegion(regionsNode.Items[i], i, $"{cellLabel}: {prefix}mem_regions[{i}]");
            // Size 0 is a placeholder (jailhouse's JAILHOUSE_SHMEM_NET_REGIONS emits { 0 }): it keeps its index, maps nothing.
            (r.Size == 0 ? placeholders : regions).Add(r);
        }
        uint cellFlags = (uint)(o.Number("flags", required: false) ?? 0);
        List<int>? cpus = null;
        SourcePos? cpusPos = null;
        if (o.Optional("cpus") is { } cpuNode)
        {
            // The cpu_set bitmap as 64-bit words (jailhouse's "__u64 cpus[N]"): bit B of word W is CPU 64*W+B.
            cpus = [];
            cpusPos = cpuNode.Pos;
            foreach (var (item, w) in Items(cpuNode, $"{prefix}cpus"))
            {
                ulong word = ParseNumber(item, $"{prefix}cpus[{w}]");
                for (int b = 0; b < 64; b++)
                {
                    if ((word >> b & 1) != 0)
                    {
                        cpus.Add(64 * w + b);
                    }
                }
            }
        }
        var irqchips = new List<Irqchip>();
        if (o.Optional("irqchips") is { } irqNode)
        {
            foreach (var (item, i) in Items(irqNode, $"{prefix}irqchips"))
            {
                var q = new Fields(item, $"{prefix}irqchips[{i}]", $"{cellLabel}: {prefix}irqchips[{i}]");
                var bitmap = new uint[4];
                if (q.Optional("pin_bitmap") is { } bm)
                {
                    foreach (var (word, w) in Items(bm, $"{prefix}irqchips[{i}].pin_bitmap").Take(4))
                    {
                        bitmap[w] = (uint)ParseNumber(word, $"{prefix}irqchips[{i}].pin_bitmap[{w}]");
                    }
                }
                irqchips.Add(new Irqchip(q.Number("address", required: true)!.Value, (uint)(q.Number("id", required: false) ?? 0),
                    (uint)(q.Number("pin_base", required: false) ?? 0), bitmap, item.Pos));
                q.Finish();
            }
        }
        var pci = new List<PciDevice>();
        if (o.Optional("pci_devices") is { } pciNode)
        {
            foreach (var (item, i) in Items(pciNode, $"{prefix}pci_devices"))
            {
                var q = new Fields(item, $"{prefix}pci_devices[{i}]", $"{cellLabel}: {prefix}pci_devices[{i}]");
                pci.Add(new PciDevice(
                    Type: (byte)(q.Number("type", required: true) ?? 0),
                    Domain: (ushort)(q.Number("domain", required: false) ?? 0),
                    Bdf: (ushort)(q.Number("bdf", required: false) ?? 0),
                    ShmemRegionsStart: (uint)(q.Number("shmem_regions_start", required: false) ?? 0),
                    ShmemDevId: (byte)(q.Number("shmem_dev_id", required: false) ?? 0),
                    ShmemPeers: (byte)(q.Number("shmem_peers", required: false) ?? 0),
                    ShmemProtocol: (ushort)(q.Number("shmem_protocol", required: false) ?? 0),
                    Pos: item.Pos));
                q.Ignore(IgnoredPciFields);
                q.Finish();
            }
        }
        o.Ignore(IgnoredCellFields);
        o.Finish();
        return new CellConfig
        {
            Name = name,
            IsRoot = isRoot,
            File = file,
            Pos = node.Pos,
            Regions = regions,
            Placeholders = placeholders,
            Flags = cellFlags,
            Cpus = cpus,
            CpusPos = cpusPos,
            Irqchips = irqchips,
            PciDevices = pci,
        };
    }

    private static MemRegion ReadRegion(ConfigValue node, int index, string path)
    {
        var o = new Fields(node, path, path);
        string? name = o.String("name", required: false);
        if (name is not null)
        {
            o.Prefix = o.Context = $"{path} '{name}'";
        }
        var flagsNode = o.Required("flags");
        MemFlags flags = ParseFlags(flagsNode, $"{o.Context}.flags");
        // A communication region is backed by a page of hypervisor memory; jailhouse ignores its phys_start.
        ulong phys = o.Number("phys_start", required: (flags & MemFlags.CommRegion) == 0) ?? 0;
        ulong virt = o.Number("virt_start", required: true)!.Value;
        ulong size = o.Number("size", required: true)!.Value;
        o.Finish();
        return new MemRegion
        {
            Index = index,
            Name = name,
            PhysStart = phys,
            VirtStart = virt,
            Size = size,
            Flags = flags,
            Pos = node.Pos,
            FieldPos = o.Positions,
        };
    }

    /// <summary>Flags as a number, a numeric string, a "READ | WRITE" string, or an array of names and numbers.</summary>
    public static MemFlags ParseFlags(ConfigValue v, string what)
    {
        switch (v.Kind)
        {
            case ConfigValueKind.Number:
                return CheckDefined(ParseNumber(v, what), v, what);
            case ConfigValueKind.String:
            {
                if (v.Text.Trim().Length > 0 && char.IsAsciiDigit(v.Text.Trim()[0]))
                {
                    return CheckDefined(ParseNumber(v, what), v, what);
                }
                MemFlags f = MemFlags.None;
                foreach (string part in v.Text.Split('|'))
                {
                    f |= FlagName(part, v, what);
                }
                return f;
            }
            case ConfigValueKind.Array:
            {
                MemFlags f = MemFlags.None;
                foreach (var item in v.Items)
                {
                    f |= item.Kind switch
                    {
                        ConfigValueKind.String when item.Text.Trim().Length > 0 && !char.IsAsciiDigit(item.Text.Trim()[0]) => FlagName(item.Text, item, what),
                        ConfigValueKind.String or ConfigValueKind.Number => CheckDefined(ParseNumber(item, what), item, what),
                        _ => throw new ConfigException(item.Pos, what, $"a flag is a name or a number, not {item.KindName}"),
                    };
                }
                return f;
            }
            default:
                throw new ConfigException(v.Pos, what, $"flags are a list of names, a \"READ | WRITE\" string or a number, not {v.KindName}");
        }
    }

    private static MemFlags FlagName(string name, ConfigValue at, string what)
    {
        if (MemFlagNames.TryParse(name, out var f))
        {
            return f;
        }
        string known = string.Join(", ", MemFlagNames.All.Select(x => x.Name));
        throw new ConfigException(at.Pos, what, $"unknown flag \"{name.Trim()}\" (known: {known})");
    }

    private static MemFlags CheckDefined(ulong value, ConfigValue at, string what)
    {
        ulong unknown = value & ~(ulong)MemFlagNames.Defined;
        if (unknown != 0)
        {
            throw new ConfigException(at.Pos, what, $"0x{value:x} has bits 0x{unknown:x} that are not JAILHOUSE_MEM_* flags");
        }
        return (MemFlags)value;
    }

    /// <summary>A JSON integer, or a string holding 0x-hex or decimal digits with optional '_' separators.</summary>
    public static ulong ParseNumber(ConfigValue v, string what)
    {
        if (v.Kind is not (ConfigValueKind.Number or ConfigValueKind.String))
        {
            throw new ConfigException(v.Pos, what, $"expected a number, not {v.KindName}");
        }
        string t = v.Text.Trim().Replace("_", "", StringComparison.Ordinal);
        bool hex = t.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        if (hex ? t.Length > 2 && ulong.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong x)
                : ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out x))
        {
            return x;
        }
        throw new ConfigException(v.Pos, what, $"\"{v.Text}\" is not an unsigned 64-bit number (0x hexadecimal or decimal)");
    }

    /// <summary>Reads an object's members by name; whatever is left at <see cref="Finish"/> is an unknown field.</summary>
    private sealed class Fields
    {
        private readonly ConfigValue _node;
        private readonly HashSet<string> _seen = new();

        public Fields(ConfigValue node, string prefix, string context)
        {
            if (node.Kind != ConfigValueKind.Object)
            {
                throw new ConfigException(node.Pos, $"{context} must be an object, not {node.KindName}");
            }
            _node = node;
            Prefix = prefix;
            Context = context;
        }

        /// <summary>How messages name this object, e.g. "cell 'linux': mem_regions[3] 'ram'".</summary>
        public string Context { get; set; }

        /// <summary>What goes before a field's name in messages ("" at the top of a file).</summary>
        public string Prefix { get; set; }

        public Dictionary<string, SourcePos> Positions { get; } = new();

        private string FieldName(string name) => Prefix.Length == 0 ? name : $"{Prefix}.{name}";

        public ConfigException Error(string field, string reason) =>
            new(Positions.TryGetValue(field, out var p) ? p : _node.Pos, FieldName(field), reason);

        public ConfigValue? Optional(string name)
        {
            _seen.Add(name);
            foreach (var p in _node.Properties)
            {
                if (p.Name == name)
                {
                    Positions[name] = p.Value.Pos;
                    return p.Value;
                }
            }
            return null;
        }

        public ConfigValue Required(string name)
        {
            if (Optional(name) is { } v)
            {
                return v;
            }
            foreach (var p in _node.Properties)
            {
                if (Distance(p.Name, name) <= 2)
                {
                    throw new ConfigException(p.NamePos, $"{Context}: unknown field \"{p.Name}\" (did you mean \"{name}\"? it is required)");
                }
            }
            throw new ConfigException(_node.Pos, $"{Context}: the required field \"{name}\" is missing");
        }

        /// <summary>Edit distance, to point at a misspelt field instead of reporting a missing one.</summary>
        private static int Distance(string a, string b)
        {
            var d = new int[a.Length + 1, b.Length + 1];
            for (int i = 0; i <= a.Length; i++)
            {
                d[i, 0] = i;
            }
            for (int j = 0; j <= b.Length; j++)
            {
                d[0, j] = j;
            }
            for (int i = 1; i <= a.Length; i++)
            {
                for (int j = 1; j <= b.Length; j++)
                {
                    int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                    d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                }
            }
            return d[a.Length, b.Length];
        }

        public ulong? Number(string name, bool required)
        {
            var v = required ? Required(name) : Optional(name);
            return v is null ? null : ParseNumber(v, FieldName(name));
        }

        public string? String(string name, bool required)
        {
            var v = required ? Required(name) : Optional(name);
            if (v is null)
            {
                return null;
            }
            if (v.Kind != ConfigValueKind.String)
            {
                throw new ConfigException(v.Pos, FieldName(name), $"expected a string, not {v.KindName}");
            }
            return v.Text;
        }

        public void Ignore(string[] names)
        {
            foreach (var n in names)
            {
                _seen.Add(n);
            }
        }

        public void Finish()
        {
            foreach (var p in _node.Properties)
            {
                if (!_seen.Contains(p.Name))
                {
                    throw new ConfigException(p.NamePos, $"{Context}: unknown field \"{p.Name}\"");
                }
            }
        }
    }
}
