using System.Buffers.Binary;
using System.Text;
using MmuSim.Hypervisor;

namespace MmuSim.Tests.Hypervisor;

/// <summary>
/// Writes jailhouse's binary configuration layout (its packed little-endian configuration structures; docs/cells.md) from the
/// tests' own values, field by field, independently of the reader: a C compiler building configs/arm64/*.c and
/// objcopy -O binary make the same bytes.
/// </summary>
internal sealed class CellFileBuilder
{
    public string Name { get; set; } = "cell";
    public byte Architecture { get; set; } = 2;
    public ushort Revision { get; set; } = 14;
    public uint Flags { get; set; }
    public ulong[] Cpus { get; set; } = [0x1];
    public List<(ulong Phys, ulong Virt, ulong Size, ulong Flags)> Regions { get; } = [];
    public List<(ulong Address, uint Id, uint PinBase, uint[] Bitmap)> Irqchips { get; } = [];
    /// <summary>type, bdf, shmem_regions_start, shmem_dev_id, shmem_peers, shmem_protocol.</summary>
    public List<(byte Type, ushort Bdf, uint ShmemStart, byte DevId, byte Peers, ushort Protocol)> PciDevices { get; } = [];
    public int CacheRegions { get; set; }
    public int PioRegions { get; set; }
    public int PciCaps { get; set; }
    public int StreamIds { get; set; }

    // System only.
    public ulong HvPhys { get; set; } = 0x7fc00000;
    public ulong HvSize { get; set; } = 0x400000;
    public ulong ConsoleAddress { get; set; } = 0x09000000;
    public uint ConsoleSize { get; set; } = 0x1000;
    public ushort ConsoleType { get; set; } = 3;
    /// <summary>debug_console.flags: JAILHOUSE_CON_ACCESS_MMIO is bit 0 (jailhouse's console flags).</summary>
    public ushort ConsoleFlags { get; set; }
    public ulong MmconfigBase { get; set; }
    public byte MmconfigEndBus { get; set; }
    public byte PciIsVirtual { get; set; }
    public List<(uint Type, ulong Base, uint Size)> Iommus { get; } = [];
    /// <summary>The union after an IOMMU unit's size, by unit index: TI PVU tipvu.tlb_base and tlb_size.</summary>
    public Dictionary<int, (ulong TlbBase, uint TlbSize)> PvuTlbs { get; } = [];
    public byte GicVersion { get; set; } = 3;
    public ulong Gicd { get; set; } = 0x08000000;
    public ulong Gicr { get; set; } = 0x080a0000;
    public ulong Gicc { get; set; }
    public ulong Gich { get; set; }

    public byte[] System()
    {
        var b = new List<byte>();
        Header(b, Revision == 13 ? "JHSYST" : "JHSYS");
        U32(b, 0); // flags
        U64(b, HvPhys); U64(b, 0); U64(b, HvSize); U64(b, 0); // hypervisor_memory
        U64(b, ConsoleAddress); U32(b, ConsoleSize); U16(b, ConsoleType); U16(b, ConsoleFlags); U32(b, 0); U32(b, 0); U64(b, 0); // debug_console
        U64(b, MmconfigBase); b.Add(MmconfigEndBus); b.Add(PciIsVirtual); U16(b, 0);
        for (int i = 0; i < 8; i++)
        {
            var (t, a, s) = i < Iommus.Count ? Iommus[i] : (0u, 0ul, 0u);
            U32(b, t); U64(b, a); U32(b, s);
            var (tlb, tlbSize) = PvuTlbs.GetValueOrDefault(i);
            U64(b, tlb); U32(b, tlbSize);
        }
        b.Add(25); b.Add(GicVersion); b.Add(0); b.Add(0); // maintenance_irq, gic_version, padding
        U64(b, Gicd); U64(b, Gicc); U64(b, Gich); U64(b, 0); U64(b, Gicr);
        if (b.Count != JailhouseBinaryConfig.SystemRootCellOffset)
        {
            throw new InvalidOperationException($"system header is {b.Count} bytes");
        }
        CellDesc(b, null);
        return b.ToArray();
    }

    public byte[] Cell()
    {
        var b = new List<byte>();
        CellDesc(b, Revision == 13 ? "JHCELL" : "JHCLL");
        return b.ToArray();
    }

    private void Header(List<byte> b, string signature)
    {
        b.AddRange(Encoding.ASCII.GetBytes(signature));
        if (signature.Length == 5)
        {
            b.Add(Architecture);
        }
        U16(b, Revision);
    }

    private void CellDesc(List<byte> b, string? signature)
    {
        int start = b.Count;
        if (signature is null)
        {
            b.AddRange(new byte[8]); // root_cell's own header is unused
        }
        else
        {
            Header(b, signature);
        }
        var name = new byte[32];
        Encoding.Latin1.GetBytes(Name).CopyTo(name, 0);
        b.AddRange(name);
        U32(b, 0); U32(b, Flags);
        U32(b, (uint)(Cpus.Length * 8)); U32(b, (uint)Regions.Count); U32(b, (uint)CacheRegions); U32(b, (uint)Irqchips.Count);
        U32(b, (uint)PioRegions); U32(b, (uint)PciDevices.Count); U32(b, (uint)PciCaps); U32(b, (uint)StreamIds);
        U32(b, 0); U64(b, 0); U64(b, 0); // vpci_irq_base, cpu_reset_address, msg_reply_timeout
        b.AddRange(new byte[32]); // console
        if (b.Count - start != JailhouseBinaryConfig.CellDescSize)
        {
            throw new InvalidOperationException($"cell descriptor is {b.Count - start} bytes");
        }
        foreach (ulong w in Cpus)
        {
            U64(b, w);
        }
        foreach (var (p, v, s, f) in Regions)
        {
            U64(b, p); U64(b, v); U64(b, s); U64(b, f);
        }
        b.AddRange(new byte[12 * CacheRegions]);
        foreach (var (a, id, pb, bm) in Irqchips)
        {
            U64(b, a); U32(b, id); U32(b, pb);
            foreach (uint w in bm)
            {
                U32(b, w);
            }
        }
        b.AddRange(new byte[4 * PioRegions]);
        foreach (var (type, bdf, shmem, dev, peers, proto) in PciDevices)
        {
            b.Add(type); b.Add(0); U16(b, 0); U16(b, bdf);
            b.AddRange(new byte[24 + 2 + 2 + 1 + 1 + 2 + 2 + 8]); // bar_mask, caps, msi, msix
            U32(b, shmem); b.Add(dev); b.Add(peers); U16(b, proto);
        }
        b.AddRange(new byte[8 * PciCaps + 4 * StreamIds]);
    }

    private static void U16(List<byte> b, ushort v) { var t = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(t, v); b.AddRange(t); }
    private static void U32(List<byte> b, uint v) { var t = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(t, v); b.AddRange(t); }
    private static void U64(List<byte> b, ulong v) { var t = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(t, v); b.AddRange(t); }

    /// <summary>
    /// A QEMU virt-like board: an ivshmem link laid out as jailhouse's JAILHOUSE_SHMEM_NET_REGIONS (state table, an
    /// empty read/write section, one output section per peer), the console's UART, a second UART page, RAM.
    /// </summary>
    public static CellFileBuilder Board()
    {
        var b = new CellFileBuilder { Name = "board", Cpus = [0xf], MmconfigBase = 0x08e00000, PciIsVirtual = 1, ConsoleFlags = 1 };
        b.Regions.Add((0x7faf0000, 0x7faf0000, 0x1000, 0x01));            // ivshmem state table: READ
        b.Regions.Add((0, 0, 0, 0));                                      // { 0 }: no read/write section
        b.Regions.Add((0x7faf1000, 0x7faf1000, 0x7f000, 0x03));           // output section of peer 0 (this cell): READ|WRITE
        b.Regions.Add((0x7fb70000, 0x7fb70000, 0x7f000, 0x01));           // output section of peer 1: READ
        b.Regions.Add((0x09000000, 0x09000000, 0x1000, 0x13));            // UART: READ|WRITE|IO
        b.Regions.Add((0x09040000, 0x09040000, 0x1000, 0x13));            // second UART: READ|WRITE|IO
        b.Regions.Add((0x40000000, 0x40000000, 0x3fa00000, 0x07));        // RAM: READ|WRITE|EXECUTE
        b.Irqchips.Add((0x08000000, 0, 32, [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]));
        b.PciDevices.Add((3, 0x0000, 0, 0, 2, 0x0001));
        return b;
    }

    /// <summary>A non-root cell of <see cref="Board"/>: the other end of the link, a sub-page UART, code (taken from the root's RAM), the comm region.</summary>
    public static CellFileBuilder Guest()
    {
        var b = new CellFileBuilder { Name = "guest", Cpus = [0xc] };
        b.Regions.Add((0x7faf0000, 0x7faf0000, 0x1000, 0x81));            // state table: READ|ROOTSHARED
        b.Regions.Add((0, 0, 0, 0));                                      // { 0 }
        b.Regions.Add((0x7faf1000, 0x7faf1000, 0x7f000, 0x81));           // output section of peer 0: READ|ROOTSHARED
        b.Regions.Add((0x7fb70000, 0x7fb70000, 0x7f000, 0x83));           // output section of peer 1 (this cell): READ|WRITE|ROOTSHARED
        b.Regions.Add((0x09040000, 0x09040000, 0x100, 0x40013));          // sub-page UART: READ|WRITE|IO|IO_32
        b.Regions.Add((0x70000000, 0x0, 0x10000, 0x47));                  // code: READ|WRITE|EXECUTE|LOADABLE
        b.Regions.Add((0, 0x80000000, 0x1000, 0x23));                     // comm region: READ|WRITE|COMM_REGION
        b.Irqchips.Add((0x08000000, 0, 32, [0, 0, 0, 0]));
        b.PciDevices.Add((3, 0x0000, 0, 1, 2, 0x0001));
        return b;
    }
}
