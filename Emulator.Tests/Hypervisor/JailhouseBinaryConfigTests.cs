using MmuSim.Bits;
using MmuSim.Hypervisor;

namespace MmuSim.Tests.Hypervisor;

/// <summary>jailhouse's binary .cell files: the layout of jailhouse's configuration structures (docs/cells.md) read field by field, and every way a file can be wrong.</summary>
public sealed class JailhouseBinaryConfigTests
{
    [Fact]
    public void ASystemFileReadsEveryFieldTheModelUses()
    {
        var sys = JailhouseBinaryConfig.ReadSystem(CellFileBuilder.Board().System(), "board.cell");
        Assert.Equal(0x7fc00000UL, sys.HypervisorMemory.PhysStart);
        Assert.Equal(0x7fc00000UL, sys.HypervisorMemory.VirtStart);
        Assert.Equal(0x400000UL, sys.HypervisorMemory.Size);
        Assert.Equal(new DebugConsole(0x09000000, 0x1000, "PL011", SourcePos.AtByte("board.cell", 44), 1), sys.DebugConsole);
        Assert.Equal(0x08e00000UL, sys.Platform.PciMmconfigBase);
        Assert.True(sys.Platform.PciIsVirtual);
        Assert.Equal((byte)3, sys.Arm!.GicVersion);
        Assert.Equal(0x08000000UL, sys.Arm.GicdBase);
        Assert.Equal(0x080a0000UL, sys.Arm.GicrBase);
        var root = sys.RootCell;
        Assert.Equal("board", root.Name);
        Assert.True(root.IsRoot);
        Assert.Equal([0, 1, 2, 3], root.Cpus);
        Assert.Equal([0, 2, 3, 4, 5, 6], root.Regions.Select(r => r.Index));
        Assert.Equal(1, Assert.Single(root.Placeholders).Index);
        var ram = root.Regions[5];
        Assert.Equal((0x40000000UL, 0x40000000UL, 0x3fa00000UL, MemFlags.Read | MemFlags.Write | MemFlags.Execute),
            (ram.PhysStart, ram.VirtStart, ram.Size, ram.Flags));
        // 356 (root_cell) + 132 (descriptor) + 8 (cpu set) + 6 regions of 32 bytes: the RAM region is the seventh.
        Assert.Equal(SourcePos.AtByte("board.cell", 356 + 132 + 8 + 6 * 32), ram.Pos);
        Assert.Equal(SourcePos.AtByte("board.cell", 356 + 132 + 8 + 6 * 32 + 24), ram.Where("flags"));
        var ivshmem = Assert.Single(root.PciDevices);
        Assert.Equal((PciDevice.TypeIvshmem, 0u, (byte)0, (byte)2), (ivshmem.Type, ivshmem.ShmemRegionsStart, ivshmem.ShmemDevId, ivshmem.ShmemPeers));
        Assert.Equal(0x08000000UL, Assert.Single(root.Irqchips).Address);
    }

    [Fact]
    public void ACellFileReadsItsRegionsAndCpus()
    {
        var cell = JailhouseBinaryConfig.ReadCell(CellFileBuilder.Guest().Cell(), "guest.cell");
        Assert.Equal("guest", cell.Name);
        Assert.False(cell.IsRoot);
        Assert.Equal([2, 3], cell.Cpus);
        Assert.Equal(6, cell.Regions.Count);
        var uart = cell.Regions.Single(r => r.Index == 4);
        Assert.Equal(MemFlags.Read | MemFlags.Write | MemFlags.Io | MemFlags.Io32, uart.Flags);
        Assert.Equal(0x100UL, uart.Size);
        Assert.Equal((byte)1, Assert.Single(cell.PciDevices).ShmemDevId);
    }

    [Fact]
    public void Revision13WithItsSixByteSignaturesIsRead()
    {
        var b = CellFileBuilder.Board();
        b.Revision = 13;
        byte[] sys = b.System();
        Assert.Equal("JHSYST"u8.ToArray(), sys[..6]);
        Assert.Equal("board", JailhouseBinaryConfig.ReadSystem(sys, "old.cell").RootCell.Name);
        var g = CellFileBuilder.Guest();
        g.Revision = 13;
        Assert.Equal("guest", JailhouseBinaryConfig.ReadCell(g.Cell(), "old-guest.cell").Name);
    }

    public static TheoryData<string, Func<byte[]>, bool, string> Refused() => new()
    {
        {
            "revision 12", () => { var b = CellFileBuilder.Board(); b.Revision = 12; return b.System(); }, true,
            "x.cell:byte 0x6: revision 12 is not supported: this reader knows revision 14 (signature \"JHSYS\" and an architecture byte) and revision 13 (signature \"JHSYST\"); rebuild the configuration with a matching jailhouse"
        },
        {
            "x86", () => { var b = CellFileBuilder.Board(); b.Architecture = 0; return b.System(); }, true,
            "x.cell:byte 0x5: architecture x86 (JAILHOUSE_X86): only arm64 (JAILHOUSE_ARM64 = 2) configurations are modelled; jailhouse's driver refuses a configuration of another architecture too"
        },
        {
            "AArch32", () => { var b = CellFileBuilder.Guest(); b.Architecture = 1; return b.Cell(); }, false,
            "x.cell:byte 0x5: architecture 32-bit Arm (JAILHOUSE_ARM): only arm64 (JAILHOUSE_ARM64 = 2) configurations are modelled; jailhouse's driver refuses a configuration of another architecture too"
        },
        {
            "a cell given as the system", () => CellFileBuilder.Guest().Cell(), true,
            "x.cell:byte 0x0: this is a cell configuration (signature \"JHCLL\"), not a system configuration (\"JHSYS\"): give the system configuration first"
        },
        {
            "a system given as a cell", () => CellFileBuilder.Board().System(), false,
            "x.cell:byte 0x0: this is a system configuration (signature \"JHSYS\"), not a cell configuration (\"JHCLL\"): only the first file is the system configuration"
        },
        {
            "a count past the end", () => { var c = CellFileBuilder.Guest().Cell(); c[52] = 0xff; c[53] = 0xff; return c; }, false,
            "x.cell:byte 0x34: num_memory_regions = 65535 needs 2097120 bytes from byte 140, but the file ends at byte 452: truncated, or the count is wrong"
        },
        {
            "an unknown flag", () => { var b = CellFileBuilder.Guest(); b.Regions[0] = (0x7faf0000, 0x7faf0000, 0x1000, 0x200); return b.Cell(); }, false,
            "x.cell:byte 0xa4: mem_regions[0].flags: 0x200 has bits 0x200 that are not JAILHOUSE_MEM_* flags"
        },
        {
            "an empty name", () => { var b = CellFileBuilder.Guest(); b.Name = ""; return b.Cell(); }, false,
            "x.cell:byte 0x8: name is empty: a cell needs a name"
        },
        {
            "three bytes", () => "JHC"u8.ToArray(), false,
            "x.cell:byte 0x3: the file ends after 3 bytes, inside the 8-byte header (signature, architecture, revision)"
        },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void AFileJailhouseWouldRefuseIsAnErrorNamingTheByte(string what, Func<byte[]> bytes, bool asSystem, string message)
    {
        _ = what;
        var e = Assert.Throws<ConfigException>(() =>
        {
            if (asSystem)
            {
                JailhouseBinaryConfig.ReadSystem(bytes(), "x.cell");
            }
            else
            {
                JailhouseBinaryConfig.ReadCell(bytes(), "x.cell");
            }
        });
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void EveryTruncationIsAnErrorNamingAByteInsideTheFile()
    {
        foreach (byte[] whole in new[] { CellFileBuilder.Board().System(), CellFileBuilder.Guest().Cell() })
        {
            bool system = whole[3] == (byte)'S';
            for (int len = 0; len < whole.Length; len++)
            {
                byte[] cut = whole[..len];
                var e = Assert.Throws<ConfigException>(() => Read(cut, system));
                Assert.Equal(-1, e.Line);
                Assert.InRange(e.Column, 0, len);
            }
        }
    }

    [Fact]
    public void RandomCorruptionNeverCrashes()
    {
        // Property: any byte string that starts like a configuration is read or refused with a ConfigException naming
        // a byte of the file; nothing else is thrown (no IndexOutOfRange, no OverflowException, no OutOfMemory).
        var rng = new Random(15);
        var originals = new[] { CellFileBuilder.Board().System(), CellFileBuilder.Guest().Cell() };
        int read = 0, refused = 0;
        for (int round = 0; round < 4000; round++)
        {
            byte[] f = (byte[])originals[round % 2].Clone();
            int flips = 1 + rng.Next(8);
            for (int i = 0; i < flips; i++)
            {
                // Mostly the header and counts (where a bad value does most harm), sometimes anywhere.
                int at = rng.Next(4) == 0 ? rng.Next(f.Length) : rng.Next(Math.Min(f.Length, round % 2 == 0 ? 520 : 140));
                f[at] = (byte)rng.Next(256);
            }
            if (rng.Next(3) == 0)
            {
                f = f[..rng.Next(f.Length)];
            }
            try
            {
                Read(f, round % 2 == 0);
                read++;
            }
            catch (ConfigException e)
            {
                Assert.Equal(-1, e.Line);
                Assert.InRange(e.Column, 0, f.Length);
                refused++;
            }
        }
        Assert.True(read > 0 && refused > 0, $"read {read}, refused {refused}: the corruption should hit both outcomes");
    }

    private static void Read(byte[] data, bool system)
    {
        if (system)
        {
            JailhouseBinaryConfig.ReadSystem(data, "f.cell");
        }
        else
        {
            JailhouseBinaryConfig.ReadCell(data, "f.cell");
        }
    }
}

/// <summary>traces/cells/board.cell and guest.cell are <see cref="CellFileBuilder"/>'s output, committed so users and golden tests can run them.</summary>
public sealed class CommittedCellFileTests
{
    [Fact]
    public void TheCommittedCellFilesAreTheBuildersOutput()
    {
        string dir = Path.Combine(Support.TestPaths.RepositoryRoot, "traces", "cells");
        foreach (var (name, bytes) in new[] { ("board.cell", CellFileBuilder.Board().System()), ("guest.cell", CellFileBuilder.Guest().Cell()) })
        {
            string path = Path.Combine(dir, name);
            if (Environment.GetEnvironmentVariable("MMUSIM_UPDATE_GOLDEN") == "1")
            {
                File.WriteAllBytes(path, bytes);
            }
            Assert.Equal(bytes, File.ReadAllBytes(path));
        }
    }
}

/// <summary>Region names from the C source next to a .cell (jailhouse keeps them in comments).</summary>
public sealed class ConfigSourceNamesTests
{
    [Fact]
    public void CommentsBeforeEachRegionNameItAndTheShmemMacroCountsFour()
    {
        const string source = """
            struct { struct jailhouse_cell_desc cell; struct jailhouse_memory mem_regions[8]; } config = {
                .cell = { .name = "x" /* not a region */, .num_memory_regions = ARRAY_SIZE(config.mem_regions) },
                .mem_regions = {
                    /* IVSHMEM shared memory regions for 00:01.0 (networking) */
                    JAILHOUSE_SHMEM_NET_REGIONS(0x7fb00000, 1),
                    /* UART */ {
                        .phys_start = 0x09000000, /* inside: not a name */
                        .flags = JAILHOUSE_MEM_READ,
                    },
                    {
                        .phys_start = 0x40000000,
                    },
                    // RAM
                    //   (loadable)
                    { 0 },
                    /* hidden */ SOME_OTHER_MACRO(1),
                    /* never reached */ { 0 },
                },
            };
            """;
        var names = ConfigSourceNames.Read(source);
        Assert.Equal(new Dictionary<int, string>
        {
            [0] = "IVSHMEM shared memory regions for 00:01.0 (networking) [0]",
            [1] = "IVSHMEM shared memory regions for 00:01.0 (networking) [1]",
            [2] = "IVSHMEM shared memory regions for 00:01.0 (networking) [2]",
            [3] = "IVSHMEM shared memory regions for 00:01.0 (networking) [3]",
            [4] = "UART",
            [6] = "(loadable)",
        }, names);
    }
}
