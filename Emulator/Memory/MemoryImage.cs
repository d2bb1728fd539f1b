using System.IO.MemoryMappedFiles;

namespace MmuSim.Memory;

/// <summary>
/// A raw memory image (a trace's `load PA FILE [OFFSET [SIZE]]`) mapped copy-on-write: the file's pages are read by the
/// OS when first touched and a page is copied only when simulated memory writes it, so a 1 GiB image costs address
/// space, not memory, and the file itself is never written.
/// </summary>
internal sealed unsafe class MemoryImage : IDisposable
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _bytes;

    private MemoryImage(ulong baseAddress, ulong size, MemoryMappedFile file, MemoryMappedViewAccessor view)
    {
        Base = baseAddress;
        Size = size;
        _file = file;
        _view = view;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        // The view starts at an allocation-granularity boundary at or below the offset asked for.
        _bytes = p + view.PointerOffset;
    }

    /// <summary>First PA the image covers.</summary>
    public ulong Base { get; }

    /// <summary>Bytes it covers (never 0).</summary>
    public ulong Size { get; }

    /// <summary>Maps <paramref name="size"/> bytes of <paramref name="path"/> from <paramref name="offset"/>; the caller has checked the file is long enough.</summary>
    public static MemoryImage Map(ulong baseAddress, string path, ulong offset, ulong size)
    {
        var file = MemoryMappedFile.CreateFromFile(
            new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete),
            mapName: null, capacity: 0, MemoryMappedFileAccess.CopyOnWrite, HandleInheritability.None, leaveOpen: false);
        try
        {
            var view = file.CreateViewAccessor((long)offset, (long)size, MemoryMappedFileAccess.CopyOnWrite);
            return new MemoryImage(baseAddress, size, file, view);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// True when the image's words lie at 8-byte aligned addresses of the mapping (its file offset is a multiple of 8), so
    /// a frame may point into it; an image at an odd offset (QEMU's ELF dumps) is copied a frame at a time when touched.
    /// </summary>
    public bool WordAligned => ((nuint)_bytes & 7) == 0;

    /// <summary>True when the image covers <paramref name="pa"/>.</summary>
    public bool Covers(ulong pa) => pa - Base < Size;

    /// <summary>True when the image covers the whole 4 KiB frame <paramref name="frameNumber"/>.</summary>
    public bool CoversFrame(ulong frameNumber)
    {
        ulong first = frameNumber << PhysicalMemory.FrameShift;
        return first - Base < Size && first + ((1UL << PhysicalMemory.FrameShift) - 1) - Base < Size;
    }

    /// <summary>The mapped word of the image at <paramref name="pa"/> (inside the image, 8-byte aligned, <see cref="WordAligned"/>): a frame may point here.</summary>
    public ulong* At(ulong pa) => (ulong*)(_bytes + (pa - Base));

    /// <summary>Copies the part of the image that overlaps frame <paramref name="frameNumber"/> into <paramref name="frame"/>.</summary>
    public void CopyInto(ulong frameNumber, ulong* frame)
    {
        ulong first = frameNumber << PhysicalMemory.FrameShift;
        ulong end = first + (1UL << PhysicalMemory.FrameShift);
        ulong from = Math.Max(first, Base);
        ulong to = Math.Min(end, Base + Size);
        if (from < to)
        {
            Buffer.MemoryCopy(_bytes + (from - Base), (byte*)frame + (from - first), to - from, to - from);
        }
    }

    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }
}
