using System.Text;
using MmuSim.Addressing;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Hypervisor;
using MmuSim.Replay;
using MmuSim.Tests.Support;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Tests.Hypervisor;

/// <summary>Configurations written in tests, and replay helpers.</summary>
internal static class CellTestSupport
{
    public static string Examples => Path.Combine(TestPaths.Traces, "cells");

    public static SystemConfig Sys(string json, string file = "sys.json") => CellConfigLoader.ParseSystem(Encoding.UTF8.GetBytes(json), file);

    public static CellConfig Cell(string json, string file = "cell.json") => CellConfigLoader.ParseCell(Encoding.UTF8.GetBytes(json), file);

    /// <summary>ID_AA64MMFR0_EL1 with every granule at both stages and the given PARange encoding (0..6).</summary>
    public static ulong Mmfr0(int paRange) => 0x0000_0000_0010_1120UL | (uint)paRange;

    /// <summary>HAFDBS=2, 16-bit VMIDs.</summary>
    public const ulong Mmfr1 = 0x0000_0000_0000_0022;

    /// <summary>
    /// A system file: hypervisor memory, debug console, mmconfig, CPU, and the root cell's regions (JSON array text).
    /// </summary>
    public static string SystemJson(string rootRegions, ulong mmfr0 = 0x101125, ulong mmfr1 = Mmfr1, string hv = "\"phys_start\": \"0xfc000000\", \"size\": \"0x2000000\"",
        string extra = "") => $$"""
        {
          "hypervisor_memory": { {{hv}} },
          "debug_console": { "address": "0x09000000", "size": "0x1000", "type": "PL011" },
          "platform_info": { "pci_mmconfig_base": "0xe0000000", "pci_mmconfig_end_bus": 15 },
          "cpu": { "id_aa64mmfr0_el1": "0x{{mmfr0:x}}", "id_aa64mmfr1_el1": "0x{{mmfr1:x}}", "id_aa64mmfr2_el1": "0x0" },
          {{extra}}
          "root_cell": { "name": "root", "mem_regions": [ {{rootRegions}} ] }
        }
        """;

    public static string Region(string name, ulong phys, ulong virt, ulong size, string flags) =>
        $$"""{ "name": "{{name}}", "phys_start": "0x{{phys:x}}", "virt_start": "0x{{virt:x}}", "size": "0x{{size:x}}", "flags": "{{flags}}" }""";

    /// <summary>Replays a setup trace's text into a fresh core (the emitted `mem`/`reg`/`ram` lines, not the builder's memory).</summary>
    public static async Task<SimulatedCore> ReplaySetup(string trace)
    {
        var core = new SimulatedCore();
        await new Replayer(core, new Collector()).ReplayAsync(new MemoryStream(Encoding.UTF8.GetBytes(trace)), "setup.trace");
        return core;
    }

    public static bool Access(SimulatedCore core, ulong va, AccessType type, out TranslationResult r, byte el = 1) =>
        core.Mmu.Translate(new AccessRequest(new VirtualAddress(va), el, type), out r);
}
