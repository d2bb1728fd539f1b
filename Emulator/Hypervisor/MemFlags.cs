using System.Text;

namespace MmuSim.Hypervisor;

/// <summary>
/// Memory-region flags with the values of jailhouse's JAILHOUSE_MEM_* (docs/cells.md, "Flags").
/// IO_UNALIGNED and IO_8/16/32/64 describe what a sub-page MMIO region lets the hypervisor's dispatcher do.
/// </summary>
[Flags]
public enum MemFlags : ulong
{
    None = 0,
    Read = 0x0001,
    Write = 0x0002,
    Execute = 0x0004,
    Dma = 0x0008,
    Io = 0x0010,
    CommRegion = 0x0020,
    Loadable = 0x0040,
    RootShared = 0x0080,
    NoHugepages = 0x0100,
    IoUnaligned = 0x8000,
    Io8 = 0x10000,
    Io16 = 0x20000,
    Io32 = 0x40000,
    Io64 = 0x80000,
    /// <summary>
    /// Not a jailhouse flag: this model's mark for a region the hypervisor traps whatever its alignment and forwards to
    /// a device model (hvisor's virtio regions); never mapped at stage 2.
    /// </summary>
    Trapped = 1UL << 32,
}

/// <summary>Names of <see cref="MemFlags"/> as the configuration format spells them.</summary>
public static class MemFlagNames
{
    /// <summary>Every flag with its name, in value order.</summary>
    public static readonly IReadOnlyList<(string Name, MemFlags Flag)> All =
    [
        ("READ", MemFlags.Read),
        ("WRITE", MemFlags.Write),
        ("EXECUTE", MemFlags.Execute),
        ("DMA", MemFlags.Dma),
        ("IO", MemFlags.Io),
        ("COMM_REGION", MemFlags.CommRegion),
        ("LOADABLE", MemFlags.Loadable),
        ("ROOTSHARED", MemFlags.RootShared),
        ("NO_HUGEPAGES", MemFlags.NoHugepages),
        ("IO_UNALIGNED", MemFlags.IoUnaligned),
        ("IO_8", MemFlags.Io8),
        ("IO_16", MemFlags.Io16),
        ("IO_32", MemFlags.Io32),
        ("IO_64", MemFlags.Io64),
        ("TRAPPED", MemFlags.Trapped),
    ];

    /// <summary>Every defined bit.</summary>
    public static readonly MemFlags Defined = All.Aggregate(MemFlags.None, (a, f) => a | f.Flag);

    /// <summary>One flag by name: case-insensitive, with or without the C prefix JAILHOUSE_MEM_.</summary>
    public static bool TryParse(string name, out MemFlags flag)
    {
        string n = name.Trim();
        if (n.StartsWith("JAILHOUSE_MEM_", StringComparison.OrdinalIgnoreCase))
        {
            n = n["JAILHOUSE_MEM_".Length..];
        }
        foreach (var (text, f) in All)
        {
            if (string.Equals(text, n, StringComparison.OrdinalIgnoreCase))
            {
                flag = f;
                return true;
            }
        }
        flag = MemFlags.None;
        return false;
    }

    /// <summary>"READ|WRITE|EXECUTE", or "0" when no flag is set.</summary>
    public static string Format(MemFlags flags)
    {
        if (flags == MemFlags.None)
        {
            return "0";
        }
        var sb = new StringBuilder();
        foreach (var (text, f) in All)
        {
            if ((flags & f) != 0)
            {
                if (sb.Length > 0)
                {
                    sb.Append('|');
                }
                sb.Append(text);
            }
        }
        MemFlags unknown = flags & ~Defined;
        if (unknown != 0)
        {
            sb.Append(sb.Length > 0 ? "|" : "").Append($"0x{(ulong)unknown:x}");
        }
        return sb.ToString();
    }
}
