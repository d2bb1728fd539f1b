using MmuSim.Bits;

namespace MmuSim.Hypervisor;

/// <summary>
/// One entry of a cell's mem_regions (jailhouse's struct jailhouse_memory): guest-physical (IPA) range
/// [VirtStart, VirtStart+Size) backed by [PhysStart, PhysStart+Size).
/// </summary>
public sealed class MemRegion
{
    public required int Index { get; init; }
    /// <summary>Optional label (jailhouse keeps it in a C comment; here it is a field).</summary>
    public string? Name { get; init; }
    public required ulong PhysStart { get; init; }
    public required ulong VirtStart { get; init; }
    public required ulong Size { get; init; }
    public required MemFlags Flags { get; init; }
    public required SourcePos Pos { get; init; }
    /// <summary>Where each field was written, for errors that name a field.</summary>
    public IReadOnlyDictionary<string, SourcePos> FieldPos { get; init; } = new Dictionary<string, SourcePos>();

    /// <summary>"region 3 'ram'" (or "region 3" without a name).</summary>
    public string Label => Name is null ? $"region {Index}" : $"region {Index} '{PrintableText.Escape(Name)}'";

    /// <summary>Exclusive end of the IPA range (validated not to wrap).</summary>
    public ulong VirtEnd => VirtStart + Size;

    /// <summary>Exclusive end of the PA range (validated not to wrap).</summary>
    public ulong PhysEnd => PhysStart + Size;

    public bool Has(MemFlags f) => (Flags & f) == f;

    public bool ContainsIpa(ulong ipa) => ipa - VirtStart < Size;

    public SourcePos Where(string field) => FieldPos.TryGetValue(field, out var p) ? p : Pos;
}

/// <summary>A cell (guest): its name and memory regions. The root cell lives in the system configuration.</summary>
public sealed class CellConfig
{
    public required string Name { get; init; }
    public required bool IsRoot { get; init; }
    public required string File { get; init; }
    public required SourcePos Pos { get; init; }
    public required IReadOnlyList<MemRegion> Regions { get; init; }
    /// <summary>How the cell's regions are named in messages: "mem_regions" or "root_cell.mem_regions".</summary>
    public string RegionsPath => IsRoot ? "root_cell.mem_regions" : "mem_regions";

    public string Label => $"cell '{PrintableText.Escape(Name)}'";

    /// <summary>Regions of size 0: placeholders (jailhouse's shared-memory macros emit <c>{ 0 }</c>), kept out of <see cref="Regions"/>.</summary>
    public IReadOnlyList<MemRegion> Placeholders { get; init; } = [];

    /// <summary>jailhouse_cell_desc.flags (JAILHOUSE_CELL_*): PASSIVE_COMMREG 0x1, TEST_DEVICE 0x2, AARCH32 0x4, virtual console bits 30 and 31.</summary>
    public uint Flags { get; init; }

    /// <summary>The CPUs of the cell's cpu_set bitmap (bit N of the little-endian words = CPU N); null when the configuration gives none.</summary>
    public IReadOnlyList<int>? Cpus { get; init; }

    /// <summary>Where the CPU set was written.</summary>
    public SourcePos? CpusPos { get; init; }

    /// <summary>The interrupt controllers the cell gets pins of (struct jailhouse_irqchip).</summary>
    public IReadOnlyList<Irqchip> Irqchips { get; init; } = [];

    /// <summary>The cell's PCI devices (struct jailhouse_pci_device); ivshmem devices name their shared-memory regions.</summary>
    public IReadOnlyList<PciDevice> PciDevices { get; init; } = [];

    /// <summary>hvisor's inter-VM communication channels of this zone (its zone JSON's `ivc_configs`).</summary>
    public IReadOnlyList<IvcConfig> Ivcs { get; init; } = [];
}

/// <summary>
/// One `ivc_configs` entry of an hvisor zone (hvisor's HvIvcConfig; docs/cells.md, "hvisor"): the channel, this zone's peer
/// number, the IPA of its control table (a trapped page) and of the shared memory, whose read/write section and
/// `max_peers` output sections the hypervisor allocates once per `ivc_id` (hvisor's ivc_init).
/// </summary>
public sealed record IvcConfig(uint IvcId, uint PeerId, ulong ControlTableIpa, ulong SharedMemIpa, uint RwSecSize, uint OutSecSize,
    uint InterruptNum, uint MaxPeers, SourcePos Pos)
{
    /// <summary>Bytes of the shared memory: the read/write section and one output section per peer.</summary>
    public ulong SharedSize => RwSecSize + (ulong)OutSecSize * MaxPeers;
}

/// <summary>struct jailhouse_irqchip: the GIC distributor at <see cref="Address"/> and the pins (from PinBase) the cell owns.</summary>
public sealed record Irqchip(ulong Address, uint Id, uint PinBase, uint[] PinBitmap, SourcePos Pos);

/// <summary>
/// struct jailhouse_pci_device, the fields the checks use. An ivshmem device (Type 3) takes the cell's memory regions
/// from ShmemRegionsStart: state table, read/write section, then one output section per peer (ShmemPeers).
/// </summary>
public sealed record PciDevice(byte Type, ushort Domain, ushort Bdf, uint ShmemRegionsStart, byte ShmemDevId, byte ShmemPeers, ushort ShmemProtocol, SourcePos Pos)
{
    public const byte TypeDevice = 1;
    public const byte TypeBridge = 2;
    public const byte TypeIvshmem = 3;

    /// <summary>"00:01.0": bus, device and function of the BDF.</summary>
    public string BdfText => $"{Bdf >> 8:x2}:{(Bdf >> 3) & 0x1f:x2}.{Bdf & 7}";
}

/// <summary>platform_info.arm: the GIC's version and MMIO bases (0 where the board has none).</summary>
public sealed record ArmPlatform(byte GicVersion, byte MaintenanceIrq, ulong GicdBase, ulong GiccBase, ulong GichBase, ulong GicvBase, ulong GicrBase, SourcePos Pos);

/// <summary>struct jailhouse_iommu: an IOMMU/SMMU unit (type JAILHOUSE_IOMMU_*) and its MMIO range.</summary>
/// <param name="TlbBase">TI PVU units only: the TLB window (`tipvu.tlb_base` of jailhouse's struct jailhouse_iommu).</param>
/// <param name="TlbSize">TI PVU units only: `tipvu.tlb_size`.</param>
public sealed record IommuUnit(uint Type, ulong Base, uint Size, SourcePos Pos, ulong TlbBase = 0, uint TlbSize = 0)
{
    public const uint TypeSmmuV3 = 3;
    public const uint TypePvu = 4;
    public const uint TypeMmu500 = 5;

    public string TypeName => Type switch
    {
        1 => "AMD IOMMU",
        2 => "Intel VT-d",
        3 => "SMMUv3",
        4 => "TI PVU",
        5 => "Arm MMU-500",
        _ => $"IOMMU type {Type}",
    };
}

/// <summary>A physical range the hypervisor itself owns (system configuration's hypervisor_memory).</summary>
public sealed record HypervisorMemory(ulong PhysStart, ulong VirtStart, ulong Size, SourcePos Pos)
{
    public ulong PhysEnd => PhysStart + Size;
}

/// <summary>The debug console (jailhouse's struct jailhouse_console): an MMIO range the hypervisor writes to.</summary>
/// <param name="Flags">`debug_console.flags` (jailhouse's console flags) when the input has them; bit 0 JAILHOUSE_CON_ACCESS_MMIO.</param>
public sealed record DebugConsole(ulong Address, ulong Size, string? Type, SourcePos Pos, ushort? Flags = null)
{
    /// <summary>jailhouse's CON_IS_MMIO(flags): the hypervisor maps the console; a console without flags is taken as MMIO, as every arm64 console is.</summary>
    public bool IsMmio => Flags is not { } f || (f & 1) != 0;
}

/// <summary>platform_info: the PCI ECAM window, 1 MiB of configuration space per bus (buses 0..EndBus).</summary>
/// <param name="PciMmconfigBase">null when there is no PCI window (jailhouse writes 0 for that).</param>
/// <param name="PciIsVirtual">A virtual PCI host: jailhouse emulates the whole window, nothing real is behind it.</param>
public sealed record PlatformInfo(ulong? PciMmconfigBase, int PciMmconfigEndBus, SourcePos Pos, bool PciIsVirtual = false)
{
    /// <summary>Bytes of the mmconfig window: (end_bus + 1) MiB.</summary>
    public ulong MmconfigSize => (ulong)(PciMmconfigEndBus + 1) << 20;
}

/// <summary>The CPU's memory-model feature registers, which decide the PA range, granules and HAFDBS.</summary>
/// <param name="Pos">Where the "cpu" object was written; null when the QEMU -cpu max default applies.</param>
public sealed record CpuIds(ulong Mmfr0, ulong Mmfr1, ulong Mmfr2, SourcePos? Pos = null);

/// <summary>The partitioning hypervisor whose semantics a configuration carries.</summary>
public enum HypervisorFamily : byte
{
    /// <summary>jailhouse: cells take memory and CPUs from the root cell; stage-2 AF=1, HA=0.</summary>
    Jailhouse,
    /// <summary>hvisor: the root zone keeps what zones get; virtio regions trapped; AF=1 with VTCR_EL2.HA=1.</summary>
    Hvisor,
}

/// <summary>The system configuration: hypervisor memory, debug console, platform, CPU, and the root cell.</summary>
public sealed class SystemConfig
{
    public required string File { get; init; }
    public required HypervisorMemory HypervisorMemory { get; init; }
    public DebugConsole? DebugConsole { get; init; }
    public required PlatformInfo Platform { get; init; }
    public required CpuIds Cpu { get; init; }
    public required CellConfig RootCell { get; init; }

    /// <summary>jailhouse_system.flags: JAILHOUSE_SYS_VIRTUAL_DEBUG_CONSOLE 0x1.</summary>
    public uint Flags { get; init; }

    /// <summary>platform_info.arm (GIC bases); null when the configuration gives none.</summary>
    public ArmPlatform? Arm { get; init; }

    /// <summary>Whose rules the configuration follows (jailhouse's, or hvisor's, read from its board.rs and zone JSON).</summary>
    public HypervisorFamily Family { get; init; } = HypervisorFamily.Jailhouse;

    /// <summary>platform_info.iommu_units with a non-zero base.</summary>
    public IReadOnlyList<IommuUnit> IommuUnits { get; init; } = [];

    /// <summary>hvisor's BOARD_PHYSMEM_LIST (board.rs): the ranges its boot code maps at EL2, in order, Device or Normal.</summary>
    public IReadOnlyList<(ulong Start, ulong End, bool Device, SourcePos Pos)>? HvisorPhysmem { get; init; }

    /// <summary>Read from jailhouse's binary `.cell` (what jailhouse itself loads), not from JSON or hvisor's files.</summary>
    public bool FromCellFile { get; init; }
}
