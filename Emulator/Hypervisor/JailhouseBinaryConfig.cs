using System.Buffers.Binary;
using System.Text;
using MmuSim.Bits;

namespace MmuSim.Hypervisor;

/// <summary>
/// Reads jailhouse's binary configurations (the <c>.cell</c> files its build makes from configs/&lt;arch&gt;/*.c): a packed,
/// little-endian <c>struct jailhouse_system</c> ("JHSYS") or <c>struct jailhouse_cell_desc</c> ("JHCLL") followed by the
/// cell's arrays in the order of jailhouse's configuration structures (docs/cells.md, "jailhouse's binary `.cell` files"): cpu set, memory regions, cache regions, irqchips, PIO
/// regions, PCI devices, PCI capabilities, stream IDs.
/// Supported revisions: 14 (signature of 5 bytes, then the architecture byte) and 13 (the same layout with the 6-byte
/// signatures "JHSYST"/"JHCELL" and no architecture byte, read as arm64). Earlier revisions laid out platform_info
/// differently (iommu_units inside the arch union) and are refused, as jailhouse's driver refuses any revision but its own.
/// Every count and offset is checked against the file's length before it is used; an error names the byte offset.
/// </summary>
public static class JailhouseBinaryConfig
{
    /// <summary>JAILHOUSE_CONFIG_REVISION of today's layout.</summary>
    public const ushort CurrentRevision = 14;

    /// <summary>JAILHOUSE_ARM64; JAILHOUSE_X86 is 0, JAILHOUSE_ARM (AArch32) 1.</summary>
    public const byte ArchitectureArm64 = 2;

    // sizeof() of jailhouse's packed configuration and console structures.
    public const int MemorySize = 32;
    public const int ConsoleSize = 32;
    public const int CacheSize = 12;
    public const int IrqchipSize = 32;
    public const int PioSize = 4;
    public const int PciDeviceSize = 56;
    public const int PciCapSize = 8;
    public const int StreamIdSize = 4;
    public const int IommuSize = 28;
    public const int MaxIommuUnits = 8;

    /// <summary>sizeof(struct jailhouse_cell_desc).</summary>
    public const int CellDescSize = 132;

    /// <summary>Offset of root_cell in struct jailhouse_system: header 8, flags 4, hypervisor_memory 32, debug_console 32, platform_info 280.</summary>
    public const int SystemRootCellOffset = 356;

    private static ReadOnlySpan<byte> SysSignature => "JHSYS"u8;
    private static ReadOnlySpan<byte> CellSignature => "JHCLL"u8;
    private static ReadOnlySpan<byte> SysSignature13 => "JHSYST"u8;
    private static ReadOnlySpan<byte> CellSignature13 => "JHCELL"u8;

    /// <summary>Whether a file starts like a jailhouse binary configuration of any revision ("JHSYS", "JHCLL", "JHCELL").</summary>
    public static bool IsBinary(ReadOnlySpan<byte> head) =>
        head.StartsWith(SysSignature) || head.StartsWith(CellSignature) || head.StartsWith(CellSignature13);

    public static SystemConfig ReadSystem(byte[] data, string file)
    {
        var r = new Reader(data, file);
        Header(r, system: true);
        uint flags = r.U32(8, "flags");
        var hvPos = r.At(12);
        ulong hvPhys = r.U64(12, "hypervisor_memory.phys_start");
        ulong hvVirt = r.U64(20, "hypervisor_memory.virt_start");
        ulong hvSize = r.U64(28, "hypervisor_memory.size");
        // jailhouse links the hypervisor at its own EL2 address and ignores virt_start; 0 means "as phys_start" here.
        var hv = new HypervisorMemory(hvPhys, hvVirt == 0 ? hvPhys : hvVirt, hvSize, hvPos);

        ulong conAddr = r.U64(44, "debug_console.address");
        uint conSize = r.U32(52, "debug_console.size");
        ushort conType = r.U16(56, "debug_console.type");
        // JAILHOUSE_CON_TYPE_NONE (0) or a size of 0: no console to map.
        ushort conFlags = r.U16(58, "debug_console.flags");
        DebugConsole? console = conType == 0 || conSize == 0 ? null : new DebugConsole(conAddr, conSize, ConsoleTypeName(conType), r.At(44), conFlags);

        var pPos = r.At(76);
        ulong mmcfg = r.U64(76, "platform_info.pci_mmconfig_base");
        byte endBus = r.U8(84, "platform_info.pci_mmconfig_end_bus");
        byte isVirtual = r.U8(85, "platform_info.pci_is_virtual");
        _ = r.U16(86, "platform_info.pci_domain");
        var platform = new PlatformInfo(mmcfg == 0 ? null : mmcfg, endBus, pPos, isVirtual != 0);

        var iommus = new List<IommuUnit>();
        for (int i = 0; i < MaxIommuUnits; i++)
        {
            int o = 88 + i * IommuSize;
            uint type = r.U32(o, $"platform_info.iommu_units[{i}].type");
            ulong b = r.U64(o + 4, $"platform_info.iommu_units[{i}].base");
            uint size = r.U32(o + 12, $"platform_info.iommu_units[{i}].size");
            if (b != 0 || size != 0)
            {
                // The union after size: tipvu {tlb_base u64, tlb_size u32} for a TI PVU (type 4).
                bool pvu = type == IommuUnit.TypePvu;
                iommus.Add(new IommuUnit(type, b, size, r.At(o),
                    pvu ? r.U64(o + 16, $"platform_info.iommu_units[{i}].tipvu.tlb_base") : 0,
                    pvu ? r.U32(o + 24, $"platform_info.iommu_units[{i}].tipvu.tlb_size") : 0));
            }
        }
        const int armOffset = 88 + MaxIommuUnits * IommuSize;
        var arm = new ArmPlatform(
            GicVersion: r.U8(armOffset + 1, "platform_info.arm.gic_version"),
            MaintenanceIrq: r.U8(armOffset, "platform_info.arm.maintenance_irq"),
            GicdBase: r.U64(armOffset + 4, "platform_info.arm.gicd_base"),
            GiccBase: r.U64(armOffset + 12, "platform_info.arm.gicc_base"),
            GichBase: r.U64(armOffset + 20, "platform_info.arm.gich_base"),
            GicvBase: r.U64(armOffset + 28, "platform_info.arm.gicv_base"),
            GicrBase: r.U64(armOffset + 36, "platform_info.arm.gicr_base"),
            Pos: r.At(armOffset));

        var root = Cell(r, SystemRootCellOffset, isRoot: true);
        return new SystemConfig
        {
            File = file,
            FromCellFile = true,
            HypervisorMemory = hv,
            DebugConsole = console,
            Platform = platform,
            // A .cell carries no CPU feature registers: the model's default CPU (QEMU -cpu max) decides PARange.
            Cpu = new CpuIds(Registers.SystemRegisters.QemuMaxMmfr0, Registers.SystemRegisters.QemuMaxMmfr1, Registers.SystemRegisters.QemuMaxMmfr2),
            RootCell = root,
            Flags = flags,
            Arm = arm,
            IommuUnits = iommus,
        };
    }

    public static CellConfig ReadCell(byte[] data, string file)
    {
        var r = new Reader(data, file);
        Header(r, system: false);
        return Cell(r, 0, isRoot: false);
    }

    /// <summary>Signature, revision and architecture, checked as jailhouse's driver checks them before using anything else.</summary>
    private static void Header(Reader r, bool system)
    {
        var d = r.Data;
        if (d.Length < 8)
        {
            throw new ConfigException(r.At(d.Length), $"the file ends after {d.Length} bytes, inside the 8-byte header (signature, architecture, revision)");
        }
        bool sys14 = d.AsSpan().StartsWith(SysSignature) && d[5] != (byte)'T';
        bool sys13 = d.AsSpan().StartsWith(SysSignature13);
        bool cell14 = d.AsSpan().StartsWith(CellSignature);
        bool cell13 = d.AsSpan().StartsWith(CellSignature13);
        if (system && (cell14 || cell13))
        {
            throw new ConfigException(r.At(0), "this is a cell configuration (signature \"JHCLL\"), not a system configuration (\"JHSYS\"): give the system configuration first");
        }
        if (!system && (sys14 || sys13))
        {
            throw new ConfigException(r.At(0), "this is a system configuration (signature \"JHSYS\"), not a cell configuration (\"JHCLL\"): only the first file is the system configuration");
        }
        if (!(sys14 || sys13 || cell14 || cell13))
        {
            throw new ConfigException(r.At(0), $"signature \"{Printable(d.AsSpan(0, 6))}\" is neither \"JHSYS\" nor \"JHCLL\": not a jailhouse configuration");
        }
        ushort revision = r.U16(6, "revision");
        bool old = sys13 || cell13;
        if (old ? revision != 13 : revision != CurrentRevision)
        {
            throw new ConfigException(r.At(6), $"revision {revision} is not supported: this reader knows revision {CurrentRevision} (signature \"{(system ? "JHSYS" : "JHCLL")}\" and an architecture byte) and revision 13 (signature \"{(system ? "JHSYST" : "JHCELL")}\"); rebuild the configuration with a matching jailhouse");
        }
        if (!old)
        {
            byte arch = d[5];
            if (arch != ArchitectureArm64)
            {
                string what = arch switch { 0 => "x86 (JAILHOUSE_X86)", 1 => "32-bit Arm (JAILHOUSE_ARM)", _ => $"unknown ({arch})" };
                throw new ConfigException(r.At(5), $"architecture {what}: only arm64 (JAILHOUSE_ARM64 = 2) configurations are modelled; jailhouse's driver refuses a configuration of another architecture too");
            }
        }
    }

    private static CellConfig Cell(Reader r, int at, bool isRoot)
    {
        string path = isRoot ? "root_cell." : "";
        var nameBytes = r.Bytes(at + 8, 32, $"{path}name");
        // jailhouse's driver forces name[JAILHOUSE_CELL_NAME_MAXLEN] = 0: the name ends at the first NUL, at most 31 bytes.
        int len = nameBytes.IndexOf((byte)0);
        if (len < 0 || len > CellConfigLoader.CellNameMaxLength)
        {
            len = CellConfigLoader.CellNameMaxLength;
        }
        string name = Encoding.Latin1.GetString(nameBytes[..len]);
        if (name.Length == 0)
        {
            throw new ConfigException(r.At(at + 8), $"{path}name is empty: a cell needs a name");
        }
        uint cellFlags = r.U32(at + 44, $"{path}flags");
        string[] countNames = ["cpu_set_size", "num_memory_regions", "num_cache_regions", "num_irqchips", "num_pio_regions", "num_pci_devices", "num_pci_caps", "num_stream_ids"];
        int[] itemSizes = [1, MemorySize, CacheSize, IrqchipSize, PioSize, PciDeviceSize, PciCapSize, StreamIdSize];
        var counts = new uint[countNames.Length];
        long offset = at + CellDescSize;
        if (r.Data.Length < offset)
        {
            throw new ConfigException(r.At(r.Data.Length), $"the file ends after {r.Data.Length} bytes, inside {(isRoot ? "root_cell" : "the cell descriptor")} (struct jailhouse_cell_desc, bytes {at}..{at + CellDescSize - 1})");
        }
        var starts = new long[countNames.Length];
        for (int i = 0; i < countNames.Length; i++)
        {
            int fieldAt = at + 48 + 4 * i;
            counts[i] = r.U32(fieldAt, path + countNames[i]);
            starts[i] = offset;
            long bytes = (long)counts[i] * itemSizes[i];
            if (offset + bytes > r.Data.Length)
            {
                throw new ConfigException(r.At(fieldAt),
                    $"{path}{countNames[i]} = {counts[i]} needs {bytes} bytes from byte {offset}, but the file ends at byte {r.Data.Length}: truncated, or the count is wrong");
            }
            offset += bytes;
        }

        List<int>? cpus = null;
        if (counts[0] > 0)
        {
            cpus = [];
            var set = r.Bytes((int)starts[0], (int)counts[0], $"{path}cpu set");
            for (int b = 0; b < set.Length; b++)
            {
                for (int bit = 0; bit < 8; bit++)
                {
                    if ((set[b] & (1 << bit)) != 0)
                    {
                        cpus.Add(b * 8 + bit);
                    }
                }
            }
        }

        var regions = new List<MemRegion>();
        var placeholders = new List<MemRegion>();
        for (int i = 0; i < counts[1]; i++)
        {
            int o = (int)starts[1] + i * MemorySize;
            string what = $"{path}mem_regions[{i}]";
            ulong flags = r.U64(o + 24, $"{what}.flags");
            ulong unknown = flags & ~(ulong)(MemFlagNames.Defined & ~MemFlags.Trapped);
            if (unknown != 0)
            {
                throw new ConfigException(r.At(o + 24), $"{what}.flags", $"0x{flags:x} has bits 0x{unknown:x} that are not JAILHOUSE_MEM_* flags");
            }
            var region = new MemRegion
            {
                Index = i,
                PhysStart = r.U64(o, $"{what}.phys_start"),
                VirtStart = r.U64(o + 8, $"{what}.virt_start"),
                Size = r.U64(o + 16, $"{what}.size"),
                Flags = (MemFlags)flags,
                Pos = r.At(o),
                FieldPos = new Dictionary<string, SourcePos>
                {
                    ["phys_start"] = r.At(o),
                    ["virt_start"] = r.At(o + 8),
                    ["size"] = r.At(o + 16),
                    ["flags"] = r.At(o + 24),
                },
            };
            (region.Size == 0 ? placeholders : regions).Add(region);
        }

        var irqchips = new List<Irqchip>();
        for (int i = 0; i < counts[3]; i++)
        {
            int o = (int)starts[3] + i * IrqchipSize;
            string what = $"{path}irqchips[{i}]";
            var bitmap = new uint[4];
            for (int w = 0; w < 4; w++)
            {
                bitmap[w] = r.U32(o + 16 + 4 * w, $"{what}.pin_bitmap[{w}]");
            }
            irqchips.Add(new Irqchip(r.U64(o, $"{what}.address"), r.U32(o + 8, $"{what}.id"), r.U32(o + 12, $"{what}.pin_base"), bitmap, r.At(o)));
        }

        var pci = new List<PciDevice>();
        for (int i = 0; i < counts[5]; i++)
        {
            int o = (int)starts[5] + i * PciDeviceSize;
            string what = $"{path}pci_devices[{i}]";
            pci.Add(new PciDevice(
                Type: r.U8(o, $"{what}.type"),
                Domain: r.U16(o + 2, $"{what}.domain"),
                Bdf: r.U16(o + 4, $"{what}.bdf"),
                ShmemRegionsStart: r.U32(o + 48, $"{what}.shmem_regions_start"),
                ShmemDevId: r.U8(o + 52, $"{what}.shmem_dev_id"),
                ShmemPeers: r.U8(o + 53, $"{what}.shmem_peers"),
                ShmemProtocol: r.U16(o + 54, $"{what}.shmem_protocol"),
                Pos: r.At(o)));
        }

        return new CellConfig
        {
            Name = name,
            IsRoot = isRoot,
            File = r.File,
            Pos = r.At(at),
            Regions = regions,
            Placeholders = placeholders,
            Flags = cellFlags,
            Cpus = cpus,
            CpusPos = counts[0] > 0 ? r.At(starts[0]) : null,
            Irqchips = irqchips,
            PciDevices = pci,
        };
    }

    /// <summary>JAILHOUSE_CON_TYPE_* as the configurations name them.</summary>
    public static string ConsoleTypeName(ushort type) => type switch
    {
        1 => "EFIFB",
        2 => "8250",
        3 => "PL011",
        4 => "XUARTPS",
        5 => "MVEBU",
        6 => "HSCIF",
        7 => "SCIFA",
        8 => "IMX",
        9 => "IMX_LPUART",
        10 => "SCIF",
        _ => $"type {type}",
    };

    private static string Printable(ReadOnlySpan<byte> b)
    {
        var sb = new StringBuilder();
        foreach (byte c in b)
        {
            sb.Append(c is >= 0x20 and < 0x7f and not (byte)'"' and not (byte)'\\' ? (char)c : $"\\x{c:x2}");
        }
        return sb.ToString();
    }

    /// <summary>Bounds-checked little-endian reads; a read past the end names the field and its byte offset.</summary>
    private sealed class Reader(byte[] data, string file)
    {
        public byte[] Data => data;
        public string File => file;

        public SourcePos At(long offset) => SourcePos.AtByte(file, offset);

        public ReadOnlySpan<byte> Bytes(int offset, int length, string field)
        {
            if ((long)offset + length > data.Length)
            {
                throw new ConfigException(At(Math.Min(offset, data.Length)),
                    $"the file ends at byte {data.Length}, inside {field} (bytes {offset}..{(long)offset + length - 1}): truncated");
            }
            return data.AsSpan(offset, length);
        }

        public byte U8(int offset, string field) => Bytes(offset, 1, field)[0];
        public ushort U16(int offset, string field) => BinaryPrimitives.ReadUInt16LittleEndian(Bytes(offset, 2, field));
        public uint U32(int offset, string field) => BinaryPrimitives.ReadUInt32LittleEndian(Bytes(offset, 4, field));
        public ulong U64(int offset, string field) => BinaryPrimitives.ReadUInt64LittleEndian(Bytes(offset, 8, field));
    }
}
