using System.Text.Encodings.Web;
using System.Text.Json;

namespace MmuSim.Hypervisor;

/// <summary>
/// Writes a configuration as the JSON <see cref="CellConfigLoader"/> reads (`mmusim cell --to-json`): addresses and
/// sizes as "0x" strings, flags as lists of names, placeholders (size 0) kept at their index so that ivshmem's
/// shmem_regions_start still points at the right region. Reading the output back gives the same configuration.
/// </summary>
public static class ConfigJsonWriter
{
    private static readonly JsonWriterOptions Options = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void WriteSystem(Stream output, SystemConfig sys)
    {
        using var w = new Utf8JsonWriter(output, Options);
        w.WriteStartObject();
        w.WriteString("signature", "JHSYS");
        w.WriteNumber("revision", JailhouseBinaryConfig.CurrentRevision);
        w.WriteString("architecture", "arm64");
        w.WriteNumber("flags", sys.Flags);
        w.WriteStartObject("hypervisor_memory");
        Hex(w, "phys_start", sys.HypervisorMemory.PhysStart);
        Hex(w, "virt_start", sys.HypervisorMemory.VirtStart);
        Hex(w, "size", sys.HypervisorMemory.Size);
        w.WriteEndObject();
        if (sys.DebugConsole is { } con)
        {
            w.WriteStartObject("debug_console");
            Hex(w, "address", con.Address);
            Hex(w, "size", con.Size);
            if (con.Type is { } t)
            {
                w.WriteString("type", t);
            }
            if (con.Flags is { } cf)
            {
                Hex(w, "flags", cf);
            }
            w.WriteEndObject();
        }
        w.WriteStartObject("platform_info");
        Hex(w, "pci_mmconfig_base", sys.Platform.PciMmconfigBase ?? 0);
        w.WriteNumber("pci_mmconfig_end_bus", sys.Platform.PciMmconfigEndBus);
        w.WriteNumber("pci_is_virtual", sys.Platform.PciIsVirtual ? 1 : 0);
        if (sys.IommuUnits.Count > 0)
        {
            w.WriteStartArray("iommu_units");
            foreach (var u in sys.IommuUnits)
            {
                w.WriteStartObject();
                w.WriteNumber("type", u.Type);
                Hex(w, "base", u.Base);
                Hex(w, "size", u.Size);
                if (u.TlbBase != 0 || u.TlbSize != 0)
                {
                    w.WriteStartObject("tipvu");
                    Hex(w, "tlb_base", u.TlbBase);
                    Hex(w, "tlb_size", u.TlbSize);
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (sys.Arm is { } arm)
        {
            w.WriteStartObject("arm");
            w.WriteNumber("gic_version", arm.GicVersion);
            w.WriteNumber("maintenance_irq", arm.MaintenanceIrq);
            Hex(w, "gicd_base", arm.GicdBase);
            Hex(w, "gicc_base", arm.GiccBase);
            Hex(w, "gich_base", arm.GichBase);
            Hex(w, "gicv_base", arm.GicvBase);
            Hex(w, "gicr_base", arm.GicrBase);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        if (sys.Cpu.Pos is not null)
        {
            w.WriteStartObject("cpu");
            Hex(w, "id_aa64mmfr0_el1", sys.Cpu.Mmfr0);
            Hex(w, "id_aa64mmfr1_el1", sys.Cpu.Mmfr1);
            Hex(w, "id_aa64mmfr2_el1", sys.Cpu.Mmfr2);
            w.WriteEndObject();
        }
        w.WritePropertyName("root_cell");
        CellBody(w, sys.RootCell);
        w.WriteEndObject();
        w.Flush();
        output.Write("\n"u8);
    }

    public static void WriteCell(Stream output, CellConfig cell)
    {
        using var w = new Utf8JsonWriter(output, Options);
        CellBody(w, cell, header: true);
        w.Flush();
        output.Write("\n"u8);
    }

    private static void CellBody(Utf8JsonWriter w, CellConfig cell, bool header = false)
    {
        w.WriteStartObject();
        if (header)
        {
            w.WriteString("signature", "JHCLL");
            w.WriteNumber("revision", JailhouseBinaryConfig.CurrentRevision);
            w.WriteString("architecture", "arm64");
        }
        w.WriteString("name", cell.Name);
        w.WriteNumber("flags", cell.Flags);
        if (cell.Cpus is { } cpus)
        {
            w.WriteStartArray("cpus");
            int words = cpus.Count == 0 ? 1 : cpus.Max() / 64 + 1;
            for (int i = 0; i < words; i++)
            {
                ulong word = 0;
                foreach (int c in cpus.Where(c => c / 64 == i))
                {
                    word |= 1UL << (c % 64);
                }
                w.WriteStringValue($"0x{word:x}");
            }
            w.WriteEndArray();
        }
        w.WriteStartArray("mem_regions");
        foreach (var r in cell.Regions.Concat(cell.Placeholders).OrderBy(r => r.Index))
        {
            w.WriteStartObject();
            if (r.Name is { } n)
            {
                w.WriteString("name", n);
            }
            Hex(w, "phys_start", r.PhysStart);
            Hex(w, "virt_start", r.VirtStart);
            Hex(w, "size", r.Size);
            w.WriteStartArray("flags");
            foreach (var (text, f) in MemFlagNames.All)
            {
                if (r.Has(f))
                {
                    w.WriteStringValue(text);
                }
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (cell.Irqchips.Count > 0)
        {
            w.WriteStartArray("irqchips");
            foreach (var q in cell.Irqchips)
            {
                w.WriteStartObject();
                Hex(w, "address", q.Address);
                w.WriteNumber("id", q.Id);
                w.WriteNumber("pin_base", q.PinBase);
                w.WriteStartArray("pin_bitmap");
                foreach (uint word in q.PinBitmap)
                {
                    w.WriteStringValue($"0x{word:x}");
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (cell.PciDevices.Count > 0)
        {
            w.WriteStartArray("pci_devices");
            foreach (var d in cell.PciDevices)
            {
                w.WriteStartObject();
                w.WriteNumber("type", d.Type);
                w.WriteNumber("domain", d.Domain);
                Hex(w, "bdf", d.Bdf);
                w.WriteNumber("shmem_regions_start", d.ShmemRegionsStart);
                w.WriteNumber("shmem_dev_id", d.ShmemDevId);
                w.WriteNumber("shmem_peers", d.ShmemPeers);
                Hex(w, "shmem_protocol", d.ShmemProtocol);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    private static void Hex(Utf8JsonWriter w, string name, ulong v) => w.WriteString(name, $"0x{v:x}");
}
