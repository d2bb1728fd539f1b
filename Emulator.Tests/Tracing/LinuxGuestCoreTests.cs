using System.Buffers.Binary;
using System.Text;
using MmuSim.Replay;
using MmuSim.Reporting;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Tracing;

/// <summary>
/// What a real Linux guest's cores broke (Debian's 6.1 kernel under QEMU 7.2, docs/guest.md "A real Linux guest").
/// First, found on that guest (Debian's 6.1 kernel under QEMU 7.2, `-cpu max` with SVE): `dump-guest-memory` sizes
/// the notes from vCPU 0's SVE vector length but writes each vCPU's NT_ARM_SVE note at that vCPU's own length, and
/// the memory right after the last note. With vCPU 0 in the kernel (vector length 64 bytes: a 0x8b0-byte note) and
/// vCPU 1 in a user task (16 bytes: 0x250), the notes were 0x660 bytes shorter than PT_NOTE said and every PT_LOAD
/// really started 0x660 bytes before its p_offset, so the last one ran past the end of the file. These cores are
/// laid out the same way, small: the import must read memory where QEMU wrote it and say so, and a core that is
/// simply truncated must stay an error.
/// </summary>
[Collection("Console")]
public sealed class LinuxGuestCoreTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-svecore-" + Guid.NewGuid().ToString("N"));

    public LinuxGuestCoreTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const ulong RamBase = 0x4000_0000;
    private const int RamSize = 0x4000;
    private const int NotesAt = 176;

    private static void Note(MemoryStream notes, string name, uint type, int descSize)
    {
        byte[] n = Encoding.ASCII.GetBytes(name + "\0");
        var head = new byte[12];
        BinaryPrimitives.WriteUInt32LittleEndian(head, (uint)n.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(4), (uint)descSize);
        BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(8), type);
        notes.Write(head);
        notes.Write(n);
        notes.Write(new byte[(4 - n.Length % 4) % 4]);
        var desc = new byte[(descSize + 3) & ~3];
        if (type == 1)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(desc.AsSpan(112 + 33 * 8), 0x3c5); // PSTATE: EL1h
        }
        notes.Write(desc);
    }

    /// <summary>
    /// Two vCPUs whose NT_ARM_SVE notes (type 0x405, name LINUX) are <paramref name="sve0"/> and <paramref name="sve1"/>
    /// bytes, declared as twice vCPU 0's; RAM (4 KiB tables: VA 0xffff800008000000 → 2 MiB block at 0x40200000)
    /// written right after the real notes, then QEMU's 11-byte section-name table.
    /// </summary>
    private static byte[] Core(int sve0, int sve1)
    {
        var notes = new MemoryStream();
        int declared = 0;
        foreach (int sve in new[] { sve0, sve1 })
        {
            Note(notes, "CORE", 1, 392);
            Note(notes, "CORE", 2, 528);
            Note(notes, "LINUX", 0x405, sve);
        }
        declared = 2 * (int)(notes.Length / 2 + (sve0 - sve1) / 2);
        byte[] noteBytes = notes.ToArray();
        byte[] ram = new byte[RamSize];
        BinaryPrimitives.WriteUInt64LittleEndian(ram.AsSpan(256 * 8), 0x4000_1003);          // L0[256] -> L1
        BinaryPrimitives.WriteUInt64LittleEndian(ram.AsSpan(0x1000), 0x4000_2003);           // L1[0] -> L2
        BinaryPrimitives.WriteUInt64LittleEndian(ram.AsSpan(0x2000 + 64 * 8), 0x4020_0701);  // L2[64]: 2 MiB block
        var core = new byte[NotesAt + noteBytes.Length + RamSize + 11];
        var h = core.AsSpan();
        "\u007fELF"u8.CopyTo(h);
        h[4] = 2;
        h[5] = 1;
        h[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(h[16..], 4);   // ET_CORE
        BinaryPrimitives.WriteUInt16LittleEndian(h[18..], 183); // EM_AARCH64
        BinaryPrimitives.WriteUInt64LittleEndian(h[32..], 64);  // e_phoff
        BinaryPrimitives.WriteUInt16LittleEndian(h[54..], 56);
        BinaryPrimitives.WriteUInt16LittleEndian(h[56..], 2);
        void Phdr(int i, uint type, ulong offset, ulong paddr, ulong size)
        {
            var p = core.AsSpan(64 + i * 56, 56);
            BinaryPrimitives.WriteUInt32LittleEndian(p, type);
            BinaryPrimitives.WriteUInt64LittleEndian(p[8..], offset);
            BinaryPrimitives.WriteUInt64LittleEndian(p[24..], paddr);
            BinaryPrimitives.WriteUInt64LittleEndian(p[32..], size);
            BinaryPrimitives.WriteUInt64LittleEndian(p[40..], size);
        }
        Phdr(0, 4, NotesAt, 0, (ulong)declared);
        Phdr(1, 1, (ulong)(NotesAt + declared), RamBase, RamSize);
        noteBytes.CopyTo(h[NotesAt..]);
        ram.CopyTo(h[(NotesAt + noteBytes.Length)..]);
        "\0.shstrtab\0"u8.CopyTo(h[^11..]);
        return core;
    }

    private async Task<ulong?> ImportAndTranslate(byte[] bytes, string expectedNote)
    {
        string core = Path.Combine(_dir, "guest.core"), setup = Path.Combine(_dir, "guest.trace");
        File.WriteAllBytes(core, bytes);
        var (exit, _, err) = Support.Cli.Run("import", "core", core, "-o", setup,
            "--reg", "TTBR1_EL1=0x40000000", "--reg", "TCR_EL1=0x5b5100090", "--reg", "MAIR_EL1=0xff", "--reg", "SCTLR_EL1=1");
        Assert.True(exit == 0, err);
        string note = $"mmusim import core: {core}: {expectedNote}\n";
        Assert.StartsWith(note, err.Replace("\r\n", "\n"), StringComparison.Ordinal);
        Assert.Contains($"# repaired: {expectedNote}\n", File.ReadAllText(setup), StringComparison.Ordinal);
        var replayer = await SetupReplay.RunAsync([setup]);
        return TranslationProbe.Accesses(replayer.System.Pes[0], 0xffff8000_0812_3458, 1)[0].Outcome.Pa;
    }

    [Fact]
    public async Task ShorterSveNoteOfALaterVcpuMovesTheMemoryBackAndTheImportFindsIt()
    {
        // As seen: 0x8b0 and 0x250 bytes of SVE note; the declared layout runs past the end of the file.
        var bytes = Core(0x8b0, 0x250);
        Assert.Equal(0x4032_3458UL, await ImportAndTranslate(bytes,
            "the notes are 4776 bytes, not the 6408 their program header says, and the memory is 1632 bytes before where the PT_LOAD headers put it: "
            + "QEMU 7.2's dump-guest-memory sizes every vCPU's SVE note by vCPU 0's vector length; the memory is read where QEMU wrote it"));
    }

    [Fact]
    public async Task LongerSveNoteOfALaterVcpuMovesTheMemoryOnAndTheImportFindsIt()
    {
        // The other way round: vCPU 0 in a user task, vCPU 1 in the kernel; a note straddles the declared end.
        var bytes = Core(0x250, 0x8b0);
        Assert.Equal(0x4032_3458UL, await ImportAndTranslate(bytes,
            "the notes are 4776 bytes, not the 3144 their program header says, and the memory is 1632 bytes after where the PT_LOAD headers put it: "
            + "QEMU 7.2's dump-guest-memory sizes every vCPU's SVE note by vCPU 0's vector length; the memory is read where QEMU wrote it"));
    }

    [Fact]
    public void EqualSveNotesNeedNoRepairAndATruncatedCoreIsStillAnError()
    {
        var same = ElfCore.Parse("same.core", Core(0x8b0, 0x8b0));
        Assert.Null(same.Repaired);
        Assert.Equal((ulong)(NotesAt + 2 * (12 + 8 + 392 + 12 + 8 + 528 + 12 + 8 + 0x8b0)), same.Segments[0].Offset);

        // Cut inside the memory, past the declared notes: even read from where QEMU wrote it, the memory does not fit.
        var cut = Core(0x8b0, 0x250)[..(NotesAt + 6408 + 0x100)];
        var e = Assert.Throws<TraceFormatException>(() => ElfCore.Parse("cut.core", cut));
        Assert.Equal("cut.core:byte 128: program header 1: 16384 bytes at offset 6584 run past the end of the file (6840 bytes): truncated core?", e.Message);
    }

    /// <summary>
    /// The second: `import core` inferred MAIR_EL1 Attr1 (Linux's MT_NORMAL_TAGGED) as 0xf0, the value only a CPU with
    /// MTE gets; the real kernel had 0xff, and its linear map, mapped MT_NORMAL_TAGGED, was listed as Inner
    /// Write-Through transient memory. A kdump-like core whose kernel block uses AttrIndx 1 must read as Normal
    /// Write-Back, as the tables imported from the live guest say.
    /// </summary>
    [Fact]
    public void InferredMairReadsTheTaggedIndexAsNormalWriteBack()
    {
        var bytes = ElfCoreTests.SampleCore();
        // L2[64] of SampleCore's tables (at RAM offset 0x2000 + 64 * 8 in the file's RAM): AttrIndx 0 -> 1.
        int at = 0x1000 + 0x2000 + 64 * 8;
        Assert.Equal(0x4020_0701UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at)));
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), 0x4020_0705);
        string core = Path.Combine(_dir, "kdump.core"), setup = Path.Combine(_dir, "kdump.trace");
        File.WriteAllBytes(core, bytes);
        var (exit, _, err) = Support.Cli.Run("import", "core", core, "-o", setup);
        Assert.True(exit == 0, err);
        var (texit, tables, terr) = Support.Cli.Run("tables", setup);
        Assert.True(texit == 0, terr);
        Assert.Equal("""
            EL1&0 stage 1, TTBR1_EL1, ASID 0: 4K granule, 48-bit input, start level 0, 48-bit output, table at 0x40000000
              VA 0xffff800008000000-0xffff8000081fffff -> PA 0x40200000    L2 1 x 2 MiB block       EL1 RW, EL0 --  PX  UX   Normal iWB oWB ISH


            """.Replace("\r\n", "\n"), tables.Replace("\r\n", "\n"));
    }
}
