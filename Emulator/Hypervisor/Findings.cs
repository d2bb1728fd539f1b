using MmuSim.Bits;

namespace MmuSim.Hypervisor;

public enum Severity : byte
{
    /// <summary>Worth knowing; not a mistake.</summary>
    Note,
    /// <summary>Legal but dangerous or not what the author meant; `cell` still builds.</summary>
    Warning,
    /// <summary>The configuration contradicts itself or the CPU; `cell` refuses to build.</summary>
    Error,
}

/// <summary>
/// One result of validating or checking a configuration. <see cref="Kind"/> is a stable keyword (overlap,
/// unaligned, size, beyond-parange, writable-executable, reaches-hypervisor, reaches-private, hypervisor-map-gap,
/// subpage, pool, vmid, cpu, name); the region is named by index and name when the finding is about one.
/// </summary>
public sealed record Finding(Severity Severity, string Kind, SourcePos? Pos, string Message) : IConfigError
{
    public string? Cell { get; init; }
    public int? RegionIndex { get; init; }
    public string? RegionName { get; init; }

    /// <summary>
    /// An error that stops `cell` from building (the tables cannot be right). False for what jailhouse itself builds but
    /// its tools or `cell create` reject (GIC or IOMMU mapped into a cell, CPU sets, ivshmem peers): reported, then built.
    /// </summary>
    public bool Blocks { get; init; } = true;

    /// <summary>Every kind a finding can have (what `cell --ignore` accepts).</summary>
    public static readonly IReadOnlySet<string> Kinds = new SortedSet<string>(StringComparer.Ordinal)
    {
        "overlap", "unaligned", "size", "beyond-parange", "writable-executable", "reaches-hypervisor", "reaches-private", "pool",
        "hypervisor-map", "hypervisor-map-gap", "subpage", "cpu", "vmid", "name", "placeholder", "gic", "iommu", "mmconfig",
        "phys-alias", "cpu-set", "access-width", "ivshmem", "root-never-owned", "ivc",
    };

    public static string SeverityName(Severity s) => s switch { Severity.Error => "error", Severity.Warning => "warning", _ => "note" };

    public override string ToString() =>
        $"{(Pos is { } p ? p + ": " : "")}{SeverityName(Severity)}: {Message} [{Kind}]";
}
