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
}

/// <summary>A physical range the hypervisor itself owns (system configuration's hypervisor_memory).</summary>
public sealed record HypervisorMemory(ulong PhysStart, ulong VirtStart, ulong Size, SourcePos Pos)
{
    public ulong PhysEnd => PhysStart + Size;
}

/// <summary>The debug console (jailhouse's struct jailhouse_console): an MMIO range the hypervisor writes to.</summary>
public sealed record DebugConsole(ulong Address, ulong Size, string? Type, SourcePos Pos);

/// <summary>platform_info: the PCI ECAM window, 1 MiB of configuration space per bus (buses 0..EndBus).</summary>
public sealed record PlatformInfo(ulong? PciMmconfigBase, int PciMmconfigEndBus, SourcePos Pos)
{
    /// <summary>Bytes of the mmconfig window: (end_bus + 1) MiB.</summary>
    public ulong MmconfigSize => (ulong)(PciMmconfigEndBus + 1) << 20;
}

/// <summary>The CPU's memory-model feature registers, which decide the PA range, granules and HAFDBS.</summary>
/// <param name="Pos">Where the "cpu" object was written; null when the QEMU -cpu max default applies.</param>
public sealed record CpuIds(ulong Mmfr0, ulong Mmfr1, ulong Mmfr2, SourcePos? Pos = null);

/// <summary>The system configuration: hypervisor memory, debug console, platform, CPU, and the root cell.</summary>
public sealed class SystemConfig
{
    public required string File { get; init; }
    public required HypervisorMemory HypervisorMemory { get; init; }
    public DebugConsole? DebugConsole { get; init; }
    public required PlatformInfo Platform { get; init; }
    public required CpuIds Cpu { get; init; }
    public required CellConfig RootCell { get; init; }
}
