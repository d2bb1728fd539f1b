using System.Runtime.InteropServices;

namespace MmuSim.Memory;

/// <summary>
/// Zeroed native storage for simulated frames, released when its <see cref="PhysicalMemory"/> is cleared or
/// collected. Large slabs on Linux are anonymous mappings advised for transparent huge pages (zero pages come
/// lazily, so an untouched slab costs no RAM); elsewhere, and for small slabs, plain zeroed native memory.
/// </summary>
internal sealed unsafe partial class FrameSlab : SafeHandle
{
    private const nuint HugePageBytes = 2 << 20;
    private readonly nuint _bytes;
    private readonly bool _mapped;

    public FrameSlab(nuint bytes) : base(IntPtr.Zero, ownsHandle: true)
    {
        _bytes = bytes;
        if (bytes >= HugePageBytes && OperatingSystem.IsLinux() && TryMap(bytes, out nint mapped))
        {
            _mapped = true;
            SetHandle(mapped);
        }
        else
        {
            SetHandle((nint)NativeMemory.AllocZeroed(bytes));
        }
    }

    /// <summary>The first frame; frames follow each other every 4 KiB.</summary>
    public ulong* Frames => (ulong*)handle;

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        if (_mapped)
        {
            return Native.munmap(handle, _bytes) == 0;
        }
        NativeMemory.Free((void*)handle);
        return true;
    }

    private static bool TryMap(nuint bytes, out nint address)
    {
        const int protReadWrite = 0x1 | 0x2;
        const int mapPrivateAnonymousNoReserve = 0x02 | 0x20 | 0x4000;
        const int madvHugePage = 14;
        address = 0;
        try
        {
            nint p = Native.mmap(0, bytes, protReadWrite, mapPrivateAnonymousNoReserve, -1, 0);
            if (p == -1 || p == 0)
            {
                return false;
            }
            _ = Native.madvise(p, bytes, madvHugePage); // advice only: without THP the slab still works
            address = p;
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // a libc we cannot bind (musl under another name): fall back to the allocator
        }
    }

    private static partial class Native
    {
        [LibraryImport("libc.so.6")]
        internal static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

        [LibraryImport("libc.so.6")]
        internal static partial int munmap(nint addr, nuint length);

        [LibraryImport("libc.so.6")]
        internal static partial int madvise(nint addr, nuint length, int advice);
    }
}
