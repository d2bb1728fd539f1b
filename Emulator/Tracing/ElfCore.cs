using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace MmuSim.Tracing;

/// <summary>A PT_LOAD segment of a core: guest physical memory <see cref="PhysicalAddress"/> held at <see cref="Offset"/> of the file.</summary>
public readonly record struct CoreSegment(ulong PhysicalAddress, ulong VirtualAddress, ulong Offset, ulong FileSize, ulong MemorySize, long HeaderOffset);

/// <summary>One vCPU's NT_PRSTATUS note: its number (pr_pid, which QEMU sets to the vCPU index), PC, SP and PSTATE.</summary>
public readonly record struct CoreCpu(int Index, uint Pid, ulong Pc, ulong Sp, ulong Pstate)
{
    /// <summary>PSTATE.EL, bits [3:2] (SPSR layout, as Linux's user_pt_regs and QEMU's pstate_read give it).</summary>
    public int El => (int)((Pstate >> 2) & 3);

    /// <summary>PSTATE.PAN, bit 22.</summary>
    public bool Pan => ((Pstate >> 22) & 1) != 0;

    /// <summary>PSTATE.nRW, bit 4: the vCPU was in AArch32 (QEMU then writes a CPSR).</summary>
    public bool AArch32 => ((Pstate >> 4) & 1) != 0;
}

/// <summary>
/// An AArch64 ELF core (the ELF-64 object file format: header, program headers, PT_NOTE notes): QEMU's
/// `dump-guest-memory` (PT_LOAD segments whose p_paddr is guest physical memory; per vCPU an NT_PRSTATUS note with
/// user_pt_regs and an NT_PRFPREG note; a VMCOREINFO note when the guest published one through QEMU's vmcoreinfo
/// device) or a Linux kdump vmcore (the same notes written by the crashed kernel, VMCOREINFO always). Reading checks
/// every offset and size against the file before using it: a truncated or hostile file is a
/// <see cref="TraceFormatException"/> naming the byte offset of what is wrong, never a crash, and nothing larger than
/// the notes is read into memory.
/// </summary>
public sealed class ElfCore
{
    public const ushort EmAarch64 = 183;
    public const uint PtLoad = 1, PtNote = 4;
    public const uint NtPrstatus = 1;
    /// <summary>Program header count escape (PN_XNUM): the real count is section header 0's sh_info.</summary>
    public const ushort PnXnum = 0xFFFF;
    /// <summary>Most bytes of notes read (QEMU writes about 1 KiB per vCPU; a kdump a few KiB more).</summary>
    public const long MaxNoteBytes = 16 << 20;
    /// <summary>Most program headers taken (QEMU writes one per RAM block, a kdump one per memory range).</summary>
    public const uint MaxSegments = 1 << 20;

    /// <summary>Size of Linux's arm64 struct elf_prstatus (QEMU's aarch64_elf_prstatus), and where pr_pid and pr_reg are in it.</summary>
    private const int PrstatusSize = 392, PrPidOffset = 32, PrRegOffset = 112;

    public required string Source { get; init; }
    public required long Length { get; init; }
    public required List<CoreSegment> Segments { get; init; }
    public required List<CoreCpu> Cpus { get; init; }
    /// <summary>The VMCOREINFO note's `KEY=VALUE` lines, in order (empty without the note).</summary>
    public required List<KeyValuePair<string, string>> VmcoreInfo { get; init; }

    /// <summary>
    /// Set when the core is a QEMU dump whose notes are not the size their program header says (see
    /// <see cref="RepairQemuNoteSize"/>) and the memory was read where QEMU really wrote it: what was done, for the setup.
    /// </summary>
    public string? Repaired { get; init; }

    /// <summary>The value of VMCOREINFO key <paramref name="key"/>, or null.</summary>
    public string? Info(string key) => VmcoreInfo.FirstOrDefault(kv => kv.Key == key).Value;

    /// <summary>Reads the core at <paramref name="path"/>.</summary>
    public static ElfCore Read(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        long length = RandomAccess.GetLength(handle);
        return Parse(path, length, (offset, dest) => RandomAccess.Read(handle, dest, offset));
    }

    /// <summary>Reads a core held in <paramref name="bytes"/> (tests).</summary>
    public static ElfCore Parse(string source, byte[] bytes) =>
        Parse(source, bytes.Length, (offset, dest) =>
        {
            int n = (int)Math.Min(dest.Length, bytes.Length - offset);
            bytes.AsSpan((int)offset, n).CopyTo(dest);
            return n;
        });

    /// <summary>Reads <paramref name="dest"/>.Length bytes at an offset; returns how many it read.</summary>
    private delegate int ReadAt(long offset, Span<byte> dest);

    private static ElfCore Parse(string source, long length, ReadAt readAt)
    {
        var r = new Reader(source, length, readAt);
        Span<byte> eh = stackalloc byte[64];
        r.Exact(0, eh, "the 64-byte ELF header");
        if (eh[0] != 0x7F || eh[1] != (byte)'E' || eh[2] != (byte)'L' || eh[3] != (byte)'F')
        {
            throw r.Bad(0, "not an ELF file (no \\x7fELF magic number)");
        }
        if (eh[4] != 2)
        {
            throw r.Bad(4, $"ELF class {eh[4]} is not ELFCLASS64 (an AArch64 core is 64-bit)");
        }
        if (eh[5] != 1)
        {
            throw r.Bad(5, eh[5] == 2 ? "a big-endian core (the guest ran with SCTLR_EL1.EE=1) is not supported" : $"unknown ELF data encoding {eh[5]}");
        }
        ushort type = BinaryPrimitives.ReadUInt16LittleEndian(eh[16..]);
        ushort machine = BinaryPrimitives.ReadUInt16LittleEndian(eh[18..]);
        if (type != 4)
        {
            throw r.Bad(16, $"ELF type {type} is not ET_CORE (4)");
        }
        if (machine != EmAarch64)
        {
            throw r.Bad(18, $"ELF machine {machine} is not EM_AARCH64 ({EmAarch64})");
        }
        ulong phoff = BinaryPrimitives.ReadUInt64LittleEndian(eh[32..]);
        ulong shoff = BinaryPrimitives.ReadUInt64LittleEndian(eh[40..]);
        ushort phentsize = BinaryPrimitives.ReadUInt16LittleEndian(eh[54..]);
        uint phnum = BinaryPrimitives.ReadUInt16LittleEndian(eh[56..]);
        ushort shentsize = BinaryPrimitives.ReadUInt16LittleEndian(eh[58..]);
        if (phentsize != 56)
        {
            throw r.Bad(54, $"program header size {phentsize} is not 56");
        }
        if (phnum == PnXnum)
        {
            // PN_XNUM: more headers than 16 bits count; section header 0's sh_info has the number (QEMU uses this).
            if (shentsize != 64)
            {
                throw r.Bad(58, $"e_phnum is PN_XNUM but the section header size {shentsize} is not 64");
            }
            Span<byte> sh = stackalloc byte[64];
            r.Exact(r.Offset(shoff, 40, "e_shoff"), sh, "section header 0 (it holds the program header count)");
            phnum = BinaryPrimitives.ReadUInt32LittleEndian(sh[44..]);
        }
        if (phnum > MaxSegments)
        {
            throw r.Bad(56, $"{phnum} program headers, more than {MaxSegments}");
        }
        long table = r.Offset(phoff, 32, "e_phoff");
        if ((ulong)table + (ulong)phnum * 56 > (ulong)length)
        {
            throw r.Bad(32, $"the program header table ({phnum} x 56 bytes at {phoff}) runs past the end of the file ({length} bytes)");
        }
        var segments = new List<CoreSegment>();
        var cpus = new List<CoreCpu>();
        var info = new List<KeyValuePair<string, string>>();
        var headers = new List<Header>();
        Span<byte> ph = stackalloc byte[56];
        for (uint i = 0; i < phnum; i++)
        {
            long at = table + i * 56L;
            r.Exact(at, ph, "a program header");
            uint ptype = BinaryPrimitives.ReadUInt32LittleEndian(ph);
            if (ptype == PtLoad || ptype == PtNote)
            {
                headers.Add(new Header(i, at, ptype, BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]), BinaryPrimitives.ReadUInt64LittleEndian(ph[16..]),
                    BinaryPrimitives.ReadUInt64LittleEndian(ph[24..]), BinaryPrimitives.ReadUInt64LittleEndian(ph[32..]), BinaryPrimitives.ReadUInt64LittleEndian(ph[40..])));
            }
        }
        string? repaired = RepairQemuNoteSize(ref r, headers, length);
        long noteBytes = 0;
        foreach (var (i, at, ptype, offset, vaddr, paddr, filesz, memsz) in headers)
        {
            if (offset > (ulong)length || filesz > (ulong)length - offset)
            {
                throw r.Bad(at + 8, $"program header {i}: {filesz} bytes at offset {offset} run past the end of the file ({length} bytes): truncated core?");
            }
            if (ptype == PtLoad)
            {
                if (memsz < filesz)
                {
                    throw r.Bad(at + 40, $"program header {i}: p_memsz {memsz} is smaller than p_filesz {filesz}");
                }
                if (paddr > ulong.MaxValue - memsz)
                {
                    throw r.Bad(at + 24, $"program header {i}: {memsz} bytes at PA 0x{paddr:x} wrap around the address space");
                }
                segments.Add(new CoreSegment(paddr, vaddr, offset, filesz, memsz, at));
                continue;
            }
            noteBytes += (long)filesz;
            if (noteBytes > MaxNoteBytes)
            {
                throw r.Bad(at + 32, $"program header {i}: more than {MaxNoteBytes} bytes of notes");
            }
            var notes = new byte[filesz];
            r.Exact((long)offset, notes, "the notes");
            Notes(ref r, notes, (long)offset, cpus, info);
        }
        return new ElfCore { Source = source, Length = length, Segments = segments, Cpus = cpus, VmcoreInfo = info, Repaired = repaired };
    }

    private readonly record struct Header(uint Index, long At, uint Type, ulong Offset, ulong VirtualAddress, ulong PhysicalAddress, ulong FileSize, ulong MemorySize);

    /// <summary>
    /// QEMU 7.2's `dump-guest-memory` of an AArch64 guest with SVE sizes the notes once, from vCPU 0 (its
    /// aarch64_target_get_note_size: NT_ARM_SVE for vCPU 0's current vector length, times the vCPU count), then writes
    /// each vCPU's NT_ARM_SVE note for that vCPU's own current vector length and the memory right after the last note.
    /// When the vCPUs' lengths differ (a Linux guest with one vCPU in a user task, whose vector length the kernel
    /// set, and one in the kernel), PT_NOTE's p_filesz and every PT_LOAD's p_offset are off by the difference: memory
    /// is read from the wrong place, or past the end of the file. Seen on Debian's QEMU 7.2 with a 6.1 kernel (notes
    /// 0x660 bytes shorter than declared). The repair is taken only when it is unambiguous: exactly one PT_NOTE, its
    /// notes walked one by one (QEMU's `CORE`, `LINUX` and `VMCOREINFO` notes) end elsewhere than p_filesz says — before
    /// it while the declared PT_LOADs run past the end of the file, or past it (a note straddles p_filesz) — and the
    /// corrected layout fits the file.
    /// </summary>
    private static string? RepairQemuNoteSize(ref Reader r, List<Header> headers, long length)
    {
        if (headers.Count(h => h.Type == PtNote) != 1 || headers.Exists(h => h.Offset > (ulong)length + MaxNoteBytes))
        {
            return null; // not QEMU's layout, or an offset no shift of notes explains: reported as the headers say
        }
        bool fits = headers.TrueForAll(h => h.Offset <= (ulong)length && h.FileSize <= (ulong)length - h.Offset);
        var note = headers.Find(h => h.Type == PtNote);
        if (note.Offset > (ulong)length || note.FileSize > (ulong)MaxNoteBytes)
        {
            return null;
        }
        ulong declaredEnd = note.Offset + note.FileSize;
        var bytes = new byte[Math.Min(length - (long)note.Offset, (long)note.FileSize + (64 << 10))];
        r.Exact((long)note.Offset, bytes, "the notes");
        long walked = 0;
        while (bytes.Length - walked >= 12)
        {
            uint namesz = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)walked));
            uint descsz = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)walked + 4));
            if (namesz is 0 or > 16 || descsz > (1 << 20))
            {
                break;
            }
            long end = walked + 12 + (long)Align4(namesz) + (long)Align4(descsz);
            var name = bytes.AsSpan((int)walked + 12, (int)Math.Min(namesz, (uint)(bytes.Length - walked - 12))).TrimEnd((byte)0);
            if (end > bytes.Length || !(name.SequenceEqual("CORE"u8) || name.SequenceEqual("LINUX"u8) || name.SequenceEqual("VMCOREINFO"u8)))
            {
                break;
            }
            walked = end;
        }
        long shift = (long)note.FileSize - walked; // > 0: memory starts that much earlier than declared
        if (walked == 0 || shift == 0 || (shift > 0 && fits))
        {
            return null; // as declared; or notes shorter than their segment (padding) in a core whose memory fits as declared
        }
        var fixedHeaders = new List<Header>(headers.Count);
        foreach (var h in headers)
        {
            if (h.Type == PtLoad && h.Offset >= declaredEnd)
            {
                ulong offset = (ulong)((long)h.Offset - shift);
                if (offset > (ulong)length || h.FileSize > (ulong)length - offset)
                {
                    return null; // the corrected layout does not fit either: a truncated core, reported as such
                }
                fixedHeaders.Add(h with { Offset = offset });
            }
            else
            {
                fixedHeaders.Add(h.Type == PtNote ? h with { FileSize = (ulong)walked } : h);
            }
        }
        headers.Clear();
        headers.AddRange(fixedHeaders);
        return $"the notes are {walked} bytes, not the {note.FileSize} their program header says, and the memory is "
            + $"{Math.Abs(shift)} bytes {(shift > 0 ? "before" : "after")} where the PT_LOAD headers put it: QEMU 7.2's dump-guest-memory "
            + "sizes every vCPU's SVE note by vCPU 0's vector length; the memory is read where QEMU wrote it";
    }

    /// <summary>The notes of one PT_NOTE segment: n_namesz, n_descsz, n_type, then name and desc each padded to 4 bytes.</summary>
    private static void Notes(ref Reader r, byte[] notes, long baseOffset, List<CoreCpu> cpus, List<KeyValuePair<string, string>> info)
    {
        int p = 0;
        while (p < notes.Length)
        {
            long at = baseOffset + p;
            if (notes.Length - p < 12)
            {
                throw r.Bad(at, "a note header (12 bytes) is cut short by the end of its segment");
            }
            uint namesz = BinaryPrimitives.ReadUInt32LittleEndian(notes.AsSpan(p));
            uint descsz = BinaryPrimitives.ReadUInt32LittleEndian(notes.AsSpan(p + 4));
            uint ntype = BinaryPrimitives.ReadUInt32LittleEndian(notes.AsSpan(p + 8));
            ulong nameEnd = (ulong)p + 12 + Align4(namesz);
            ulong descEnd = nameEnd + Align4(descsz);
            if (descEnd > (ulong)notes.Length)
            {
                throw r.Bad(at, $"a note (name {namesz} bytes, desc {descsz} bytes) runs past the end of its segment");
            }
            var name = notes.AsSpan(p + 12, (int)namesz).TrimEnd((byte)0);
            var desc = notes.AsSpan((int)nameEnd, (int)descsz);
            if (name.SequenceEqual("CORE"u8) && ntype == NtPrstatus)
            {
                if (desc.Length < PrstatusSize)
                {
                    throw r.Bad(at, $"an NT_PRSTATUS note of {desc.Length} bytes, shorter than the {PrstatusSize} of an AArch64 elf_prstatus");
                }
                var regs = desc[PrRegOffset..];
                cpus.Add(new CoreCpu(cpus.Count, BinaryPrimitives.ReadUInt32LittleEndian(desc[PrPidOffset..]),
                    Pc: BinaryPrimitives.ReadUInt64LittleEndian(regs[(32 * 8)..]),
                    Sp: BinaryPrimitives.ReadUInt64LittleEndian(regs[(31 * 8)..]),
                    Pstate: BinaryPrimitives.ReadUInt64LittleEndian(regs[(33 * 8)..])));
            }
            else if (name.SequenceEqual("VMCOREINFO"u8))
            {
                foreach (var line in Encoding.ASCII.GetString(desc.TrimEnd((byte)0)).Split('\n'))
                {
                    int eq = line.IndexOf('=');
                    if (eq > 0)
                    {
                        info.Add(new(line[..eq], line[(eq + 1)..]));
                    }
                }
            }
            p = (int)descEnd;
        }
    }

    private static ulong Align4(uint n) => ((ulong)n + 3) & ~3UL;

    /// <summary>Bounded reads with errors at byte offsets.</summary>
    private readonly struct Reader(string source, long length, ReadAt readAt)
    {
        public void Exact(long offset, Span<byte> dest, string what)
        {
            if (offset < 0 || offset > length || dest.Length > length - offset)
            {
                throw Bad(offset, $"{what} ({dest.Length} bytes) runs past the end of the file ({length} bytes): truncated core?");
            }
            int done = 0;
            while (done < dest.Length)
            {
                int n = readAt(offset + done, dest[done..]);
                if (n <= 0)
                {
                    throw Bad(offset + done, $"{what}: the file ended early");
                }
                done += n;
            }
        }

        /// <summary>A file offset from a header field at <paramref name="fieldOffset"/>, checked to be inside the file.</summary>
        public long Offset(ulong value, long fieldOffset, string field)
        {
            if (value > (ulong)length)
            {
                throw Bad(fieldOffset, $"{field} {value} is past the end of the file ({length} bytes)");
            }
            return (long)value;
        }

        public TraceFormatException Bad(long offset, string reason) => TraceFormatException.AtByte(source, offset, reason);
    }
}
