using System.Buffers.Binary;
using System.Text;
using CsCheck;
using MmuSim.Registers;
using MmuSim.Replay;
using MmuSim.Reporting;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Tracing;

/// <summary>
/// `mmusim import core`: an ELF core as QEMU's dump-guest-memory and a kdump write it (PT_LOAD of guest physical
/// memory, NT_PRSTATUS per vCPU, VMCOREINFO) becomes a setup whose memory is the core's by `load`, whose kernel
/// tables are found from VMCOREINFO, and whose missing registers are named; a truncated or hostile core is an error
/// at a byte offset, never a crash.
/// </summary>
[Collection("Console")]
public sealed class ElfCoreTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-core-" + Guid.NewGuid().ToString("N"));

    public ElfCoreTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const ulong RamBase = 0x4000_0000;
    private const int RamOffset = 0x1000, RamSize = 0x10000;

    /// <summary>
    /// A two-vCPU core: 64 KiB of RAM at PA 0x40000000 holding a kernel's 4K tables (swapper_pg_dir at the start of RAM,
    /// VA 0xffff800008000000 → a 2 MiB block at PA 0x40200000), vCPU 0 at EL1, vCPU 1 at EL1 with PSTATE.PAN.
    /// </summary>
    public static byte[] SampleCore(bool vmcoreinfo = true)
    {
        var notes = new MemoryStream();
        void Note(string name, uint type, byte[] desc)
        {
            byte[] n = Encoding.ASCII.GetBytes(name + "\0");
            var head = new byte[12];
            BinaryPrimitives.WriteUInt32LittleEndian(head, (uint)n.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(4), (uint)desc.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(8), type);
            notes.Write(head);
            notes.Write(n);
            notes.Write(new byte[(4 - n.Length % 4) % 4]);
            notes.Write(desc);
            notes.Write(new byte[(4 - desc.Length % 4) % 4]);
        }
        byte[] Prstatus(uint pid, ulong pc, ulong pstate)
        {
            var d = new byte[392];
            BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(32), pid);
            BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(112 + 31 * 8), 0xffff80000a00ff00); // sp
            BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(112 + 32 * 8), pc);
            BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(112 + 33 * 8), pstate);
            return d;
        }
        Note("CORE", 1, Prstatus(0, 0xffff800008010000, 0x3c5));
        Note("CORE", 2, new byte[528]); // NT_PRFPREG: skipped
        Note("CORE", 1, Prstatus(1, 0xffff800008010400, 0x400005));
        if (vmcoreinfo)
        {
            Note("VMCOREINFO", 0, Encoding.ASCII.GetBytes(
                "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffff800009000000\nNUMBER(VA_BITS)=48\n"
                + "NUMBER(kimage_voffset)=0xffff7fffc9000000\nNUMBER(PHYS_OFFSET)=0x40000000\nNUMBER(TCR_EL1_T1SZ)=0x10\n"));
        }
        byte[] noteBytes = notes.ToArray();
        var core = new byte[RamOffset + RamSize];
        var h = core.AsSpan();
        "\x7f"u8.CopyTo(h);
        "ELF"u8.CopyTo(h[1..]);
        h[4] = 2; // ELFCLASS64
        h[5] = 1; // little-endian
        h[6] = 1; // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(h[16..], 4);   // ET_CORE
        BinaryPrimitives.WriteUInt16LittleEndian(h[18..], 183); // EM_AARCH64
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(h[32..], 64);  // e_phoff
        BinaryPrimitives.WriteUInt16LittleEndian(h[52..], 64);  // e_ehsize
        BinaryPrimitives.WriteUInt16LittleEndian(h[54..], 56);  // e_phentsize
        BinaryPrimitives.WriteUInt16LittleEndian(h[56..], 2);   // e_phnum
        void Phdr(int i, uint type, ulong offset, ulong paddr, ulong size)
        {
            var p = core.AsSpan(64 + i * 56, 56);
            BinaryPrimitives.WriteUInt32LittleEndian(p, type);
            BinaryPrimitives.WriteUInt64LittleEndian(p[8..], offset);
            BinaryPrimitives.WriteUInt64LittleEndian(p[24..], paddr);
            BinaryPrimitives.WriteUInt64LittleEndian(p[32..], size);
            BinaryPrimitives.WriteUInt64LittleEndian(p[40..], size);
        }
        Phdr(0, 4, 176, 0, (ulong)noteBytes.Length);
        Phdr(1, 1, RamOffset, RamBase, RamSize);
        noteBytes.CopyTo(h[176..]);
        void Word(ulong pa, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(core.AsSpan((int)(RamOffset + pa - RamBase)), v);
        Word(0x4000_0000 + 256 * 8, 0x4000_1003);   // L0[256] -> L1
        Word(0x4000_1000, 0x4000_2003);             // L1[0] -> L2
        Word(0x4000_2000 + 64 * 8, 0x4020_0701);    // L2[64]: 2 MiB block, AttrIndx 0, ISH, AF
        return core;
    }

    private string WriteCore(byte[] bytes, string name = "guest.core")
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public async Task KdumpLikeCoreBecomesASetupWhoseKernelVasTranslate()
    {
        string core = WriteCore(SampleCore());
        string setup = Path.Combine(_dir, "setup.trace");
        var (exit, _, err) = Support.Cli.Run("import", "core", core, "-o", setup);

        Assert.Equal(0, exit);
        Assert.Equal("mmusim import core: 1 memory segment(s), 2 vCPU(s); inferred from VMCOREINFO: TTBR1_EL1, TCR_EL1, MAIR_EL1, SCTLR_EL1; "
            + "missing (give them with --reg NAME=VALUE): TTBR0_EL1\n", err.Replace("\r\n", "\n"));
        Assert.Equal("""
            # setup imported by `mmusim import core` from guest.core (69632 bytes): 1 PT_LOAD segment, 2 vCPU notes, a VMCOREINFO note
            # OSRELEASE=6.1.0-test
            ram  0x40000000 0x10000
            load 0x40000000 guest.core 0x1000 0x10000
            # missing (an ELF core's notes hold no system registers; give them with --reg NAME=VALUE): TTBR0_EL1
            cpu  0
            # vCPU 0 (pr_pid 0): PC 0xffff800008010000, SP 0xffff80000a00ff00, PSTATE 0x3c5
            reg  SCTLR_EL1 0x1   # inferred: M=1: a running kernel has its MMU on
            reg  TCR_EL1 0x5b5100090   # inferred: T1SZ=16, 4K granule (VMCOREINFO), EPD0=1, IPS=48 bits
            reg  TTBR1_EL1 0x40000000   # inferred: swapper_pg_dir - kimage_voffset (VMCOREINFO)
            reg  MAIR_EL1 0x40044ffff   # inferred: Linux's arm64 MT_* attribute indices
            el   1
            cpu  1
            # vCPU 1 (pr_pid 1): PC 0xffff800008010400, SP 0xffff80000a00ff00, PSTATE 0x400005
            reg  SCTLR_EL1 0x1   # inferred: M=1: a running kernel has its MMU on
            reg  TCR_EL1 0x5b5100090   # inferred: T1SZ=16, 4K granule (VMCOREINFO), EPD0=1, IPS=48 bits
            reg  TTBR1_EL1 0x40000000   # inferred: swapper_pg_dir - kimage_voffset (VMCOREINFO)
            reg  MAIR_EL1 0x40044ffff   # inferred: Linux's arm64 MT_* attribute indices
            el   1
            pstate PAN 1

            """.Replace("\r\n", "\n"), File.ReadAllText(setup));

        var replayer = await SetupReplay.RunAsync([setup]);
        var pe = replayer.System.Pes[1];
        var answers = TranslationProbe.Accesses(pe, 0xffff8000_0812_3458, 1);
        Assert.Equal(0x4032_3458UL, answers[0].Outcome.Pa);
        Assert.True(pe.Pan);
        Assert.Equal(0, pe.Memory.AllocatedBytes); // the walk read the core through the mapping
    }

    [Fact]
    public void QemuCoreWithoutVmcoreinfoSaysWhatIsMissingAndTakesRegOptions()
    {
        string core = WriteCore(SampleCore(vmcoreinfo: false));
        string setup = Path.Combine(_dir, "qemu.trace");
        var (exit, _, err) = Support.Cli.Run("import", "core", core, "-o", setup, "--reg", "TTBR1_EL1=0x40000000", "--reg", "tcr_el1=0x5b5100090");
        Assert.Equal(0, exit);
        Assert.Equal("mmusim import core: 1 memory segment(s), 2 vCPU(s); missing (give them with --reg NAME=VALUE): SCTLR_EL1, TTBR0_EL1, MAIR_EL1\n",
            err.Replace("\r\n", "\n"));
        Assert.Contains("reg  TTBR1_EL1 0x40000000\n", File.ReadAllText(setup));

        // QEMU's gdb spelling of SCTLR_EL1 is a name --reg takes (docs/trace-format.md, "Register name aliases").
        (exit, _, err) = Support.Cli.Run("import", "core", core, "-o", setup, "--reg", "TTBR1_EL1=0x40000000", "--reg", "tcr_el1=0x5b5100090", "--reg", "SCTLR=0x30d0199d");
        Assert.Equal(0, exit);
        Assert.Equal("mmusim import core: 1 memory segment(s), 2 vCPU(s); missing (give them with --reg NAME=VALUE): TTBR0_EL1, MAIR_EL1\n", err.Replace("\r\n", "\n"));
        Assert.Contains("reg  SCTLR_EL1 0x30d0199d\n", File.ReadAllText(setup));

        (exit, _, err) = Support.Cli.Run("import", "core", core, "-o", setup, "--reg", "TTBR9_EL1=1");
        Assert.Equal(1, exit);
        Assert.Equal("mmusim import core: bad --reg 'TTBR9_EL1=1' ([cpuN:]NAME=VALUE: a vCPU number, a register of the trace format, a 64-bit number)\n", err.Replace("\r\n", "\n"));
    }

    [Fact]
    public void RegTakesAVcpuAndTheFormWithoutOneMeansEveryVcpu()
    {
        string core = WriteCore(SampleCore());
        string setup = Path.Combine(_dir, "per-vcpu.trace");
        // Each vCPU's own TTBR0_EL1 (one process per vCPU); MAIR_EL1 for both, then vCPU 1's own, which wins there.
        var (exit, _, err) = Support.Cli.Run("import", "core", core, "-o", setup, "--reg", "cpu0:TTBR0_EL1=0x40008000",
            "--reg", "CPU1:ttbr0_el1=0x4000a000", "--reg", "MAIR_EL1=0xff", "--reg", "cpu1:MAIR_EL1=0x4ff");
        Assert.Equal("mmusim import core: 1 memory segment(s), 2 vCPU(s); inferred from VMCOREINFO: TTBR1_EL1, TCR_EL1, MAIR_EL1, SCTLR_EL1\n", err.Replace("\r\n", "\n"));
        Assert.Equal(0, exit);
        Assert.Equal("""
            # setup imported by `mmusim import core` from guest.core (69632 bytes): 1 PT_LOAD segment, 2 vCPU notes, a VMCOREINFO note
            # OSRELEASE=6.1.0-test
            ram  0x40000000 0x10000
            load 0x40000000 guest.core 0x1000 0x10000
            cpu  0
            # vCPU 0 (pr_pid 0): PC 0xffff800008010000, SP 0xffff80000a00ff00, PSTATE 0x3c5
            reg  SCTLR_EL1 0x1   # inferred: M=1: a running kernel has its MMU on
            reg  TCR_EL1 0x5b5100090   # inferred: T1SZ=16, 4K granule (VMCOREINFO), EPD0=1, IPS=48 bits
            reg  TTBR1_EL1 0x40000000   # inferred: swapper_pg_dir - kimage_voffset (VMCOREINFO)
            reg  MAIR_EL1 0xff
            reg  TTBR0_EL1 0x40008000
            el   1
            cpu  1
            # vCPU 1 (pr_pid 1): PC 0xffff800008010400, SP 0xffff80000a00ff00, PSTATE 0x400005
            reg  SCTLR_EL1 0x1   # inferred: M=1: a running kernel has its MMU on
            reg  TCR_EL1 0x5b5100090   # inferred: T1SZ=16, 4K granule (VMCOREINFO), EPD0=1, IPS=48 bits
            reg  TTBR1_EL1 0x40000000   # inferred: swapper_pg_dir - kimage_voffset (VMCOREINFO)
            reg  TTBR0_EL1 0x4000a000
            reg  MAIR_EL1 0x4ff
            el   1
            pstate PAN 1

            """.Replace("\r\n", "\n"), File.ReadAllText(setup));

        // Given for vCPU 0 alone, TTBR0_EL1 is still missing for vCPU 1, and the summary says which.
        (exit, _, err) = Support.Cli.Run("import", "core", core, "-o", setup, "--reg", "cpu0:TTBR0_EL1=0x40008000");
        Assert.Equal(0, exit);
        Assert.Equal("mmusim import core: 1 memory segment(s), 2 vCPU(s); inferred from VMCOREINFO: TTBR1_EL1, TCR_EL1, MAIR_EL1, SCTLR_EL1; "
            + "missing (give them with --reg NAME=VALUE): TTBR0_EL1 (vCPU 1)\n", err.Replace("\r\n", "\n"));

        // A vCPU the core has no note for, and malformed prefixes, are bad options.
        (exit, _, err) = Support.Cli.Run("import", "core", core, "-o", setup, "--reg", "cpu2:TTBR0_EL1=0x1");
        Assert.Equal((1, "mmusim import core: --reg cpu2:TTBR0_EL1: the core has no vCPU 2 (its vCPUs: 0, 1)\n"), (exit, err.Replace("\r\n", "\n")));
        foreach (string bad in new[] { "cpu:TTBR0_EL1=1", "cpux:TTBR0_EL1=1", "vcpu1:TTBR0_EL1=1", "cpu-1:TTBR0_EL1=1", "cpu1:=1", "cpu1:TTBR0_EL1" })
        {
            (exit, _, err) = Support.Cli.Run("import", "core", core, "-o", setup, "--reg", bad);
            Assert.Equal((1, $"mmusim import core: bad --reg '{bad}' ([cpuN:]NAME=VALUE: a vCPU number, a register of the trace format, a 64-bit number)\n"),
                (exit, err.Replace("\r\n", "\n")));
        }
    }

    [Theory]
    [InlineData(10, "byte 0: the 64-byte ELF header (64 bytes) runs past the end of the file (10 bytes): truncated core?")]
    [InlineData(100, "byte 32: the program header table (2 x 56 bytes at 64) runs past the end of the file (100 bytes)")]
    [InlineData(0x2000, "byte 128: program header 1: 65536 bytes at offset 4096 run past the end of the file (8192 bytes): truncated core?")]
    public void TruncatedCoreIsAnErrorAtAByteOffset(int length, string reason)
    {
        string core = WriteCore(SampleCore()[..length]);
        var (exit, _, err) = Support.Cli.Run("import", "core", core, "-o", Path.Combine(_dir, "t.trace"));
        Assert.Equal(2, exit);
        Assert.Equal($"mmusim: {core}:{reason}\n", err.Replace("\r\n", "\n"));
        Assert.False(File.Exists(Path.Combine(_dir, "t.trace")));
    }

    [Theory]
    [InlineData(4, 1, "byte 4: ELF class 1 is not ELFCLASS64 (an AArch64 core is 64-bit)")]
    [InlineData(18, 62, "byte 18: ELF machine 62 is not EM_AARCH64 (183)")]
    [InlineData(181, 0xff, "byte 176: a note (name 5 bytes, desc 65416 bytes) runs past the end of its segment")]
    public void HostileHeaderFieldsAreErrors(int offset, byte value, string reason)
    {
        var bytes = SampleCore();
        bytes[offset] = value;
        var e = Assert.Throws<TraceFormatException>(() => ElfCore.Parse("x.core", bytes));
        Assert.Equal($"x.core:{reason}", e.Message);
    }

    /// <summary>Any truncation of a valid core, with any bytes changed: parsed, or refused with a byte offset; never another exception.</summary>
    [Fact]
    public void NoCutOrCorruptionCrashesTheReader()
    {
        var valid = SampleCore();
        Gen.Select(Gen.Int[0, valid.Length], Gen.Int[0, 600].Array[0, 6], Gen.Byte.Array[6]).Sample(t =>
        {
            var (cut, positions, values) = t;
            var bytes = valid[..cut];
            for (int i = 0; i < positions.Length; i++)
            {
                if (positions[i] < bytes.Length)
                {
                    bytes[positions[i]] = values[i];
                }
            }
            try
            {
                var core = ElfCore.Parse("fuzz.core", bytes);
                _ = CoreImport.Build(core, "fuzz.core", []);
            }
            catch (TraceFormatException e)
            {
                Assert.True(e.ByteOffset >= 0 && e.ByteOffset <= valid.Length, e.Message);
            }
        }, iter: 3000);
    }
}
