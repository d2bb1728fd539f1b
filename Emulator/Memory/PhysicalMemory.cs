using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MmuSim.Addressing;
using MmuSim.Bits;

namespace MmuSim.Memory;

/// <summary>Raised when simulated memory would grow past its cap (hostile or runaway input).</summary>
public sealed class MemoryLimitException(string message) : Exception(message);

/// <summary>
/// Sparse simulated physical memory: storage grows with what is written, not with the address space
/// (any PA below 2^52 is addressable). Reads report a status instead of throwing, so a walk that
/// reads outside declared RAM becomes a guest-visible external abort, not an exception.
/// </summary>
/// <remarks>
/// Layout, chosen for walks over scattered tables (a nested walk is 24 dependent reads): 4 KiB frames are carved
/// from native slabs (huge pages where the OS offers them: walks touch frames at random, and host TLB misses
/// otherwise cost as much as the reads), so a frame has a stable address and no object header, and the GC never
/// scans them; an open-addressing hash table maps a frame number to its frame with one probe, and the slot also
/// records whether a walk may read the whole frame, so a read needs no search of the RAM regions. The table's hash
/// has a random seed (<see cref="SeededHash"/>): frame numbers come from the trace, and a fixed hash lets a few MB
/// of crafted `mem` lines pile every frame into one probe run. Frames are never
/// moved or freed before <see cref="Clear"/>, which is what lets a walker keep frame pointers between walks
/// (<see cref="Epoch"/> says when it must forget them).
/// </remarks>
public sealed unsafe class PhysicalMemory
{
    /// <summary>log2 of the frame size.</summary>
    public const int FrameShift = 12;
    /// <summary>64-bit words in a frame.</summary>
    public const int WordsPerFrame = 1 << (FrameShift - 3);
    private const int MaxSlabFrames = 16384; // 64 MiB slabs once memory grows
    private const int MinSlabFrames = 16;

    /// <summary>Key = frame number + 1 (0 marks an empty slot); Value = frame address | 1 when a walk may read all of it.</summary>
    private struct Slot
    {
        public ulong Key;
        public nuint Value;
    }

    private const int InitialBits = 10;
    private Slot[] _slots = new Slot[1 << InitialBits];
    private int _hashBits = InitialBits;
    private readonly SeededHash _hash = SeededHash.Random();
    private int _used;
    private readonly List<FrameSlab> _slabs = new();
    private ulong* _slabNext;
    private int _slabLeft;
    private readonly List<(ulong Base, ulong Size)> _ram = new();
    // The union of the RAM regions as sorted, disjoint, non-adjacent [First, Last] runs: a membership test is a
    // binary search, whatever order and overlap the regions were declared in.
    private readonly List<(ulong First, ulong Last)> _runs = new();
    private long _frameCount;
    private ulong _lastWriteFrameNumber;
    private ulong* _lastWriteFrame;
    /// <summary>Memory images (`load`), oldest first; a later one wins where they overlap.</summary>
    private readonly List<MemoryImage> _images = new();

    /// <summary>Upper bound on bytes of backing storage; exceeding it raises <see cref="MemoryLimitException"/>.</summary>
    public long MaxBytes { get; set; } = 4L << 30;

    /// <summary>Bytes of backing storage allocated so far.</summary>
    public long AllocatedBytes => _frameCount << FrameShift;

    /// <summary>Declared RAM regions, in declaration order.</summary>
    public IReadOnlyList<(ulong Base, ulong Size)> RamRegions => _ram;

    /// <summary>
    /// Changes whenever a frame pointer handed out by <see cref="FrameForWalk"/> may no longer be valid or readable
    /// (a RAM region declared, memory cleared). Creating frames does not change it.
    /// </summary>
    public int Epoch { get; private set; }

    /// <summary>
    /// Changes whenever any word may have changed (every <see cref="Write64"/>, a RAM region declared, memory
    /// cleared): what a reader may key a copy of memory contents on.
    /// </summary>
    public long Version { get; private set; }

    /// <summary>Most RAM regions a trace may declare (each is kept for the summary and the run list).</summary>
    public const int MaxRamRegions = 4096;

    /// <summary>Slots visited by insertions since the memory was made (table growth included): the work a hostile
    /// choice of frame numbers would drive up, which tests compare with random frame numbers.</summary>
    public long InsertProbes { get; private set; }

    /// <summary>Slots whose walk-readable flag a RAM declaration decided again (only the first declaration does).</summary>
    public long FlagRescans { get; private set; }

    /// <summary>Declares a RAM region. Once any region exists, walks outside all regions take an external abort.</summary>
    /// <exception cref="ArgumentException">The region is empty or runs past the top of the 64-bit address space.</exception>
    public void DeclareRam(PhysicalAddress baseAddress, ulong size)
    {
        if (size == 0 || baseAddress.Value + (size - 1) < baseAddress.Value)
        {
            throw new ArgumentException(size == 0
                ? "a RAM region cannot be empty"
                : $"the RAM region at 0x{baseAddress.Value:x} of 0x{size:x} bytes runs past the top of the address space");
        }
        if (_ram.Count >= MaxRamRegions)
        {
            throw new MemoryLimitException($"more than {MaxRamRegions} ram regions declared");
        }
        bool first = _ram.Count == 0;
        _ram.Add((baseAddress.Value, size));
        AddRun(baseAddress.Value, baseAddress.Value + (size - 1));
        if (first)
        {
            // The first region turns "everything is readable" into "only RAM is": every frame's flag is decided again,
            // once. Later regions only add readability, and a frame whose flag is clear is looked at again when a
            // read misses the flag (TryRead64Slow), so a declaration never rescans the frames: N frames then R
            // regions cost N + R, not N·R.
            var slots = _slots;
            FlagRescans += slots.Length;
            for (int i = 0; i < slots.Length; i++)
            {
                if (slots[i].Key != 0)
                {
                    slots[i].Value = (slots[i].Value & ~(nuint)1) | (WholeFrameBacked(slots[i].Key - 1) ? 1u : 0u);
                }
            }
        }
        Epoch++;
        Version++;
    }

    /// <summary>Merges [first, last] into the sorted runs.</summary>
    private void AddRun(ulong first, ulong last)
    {
        var runs = _runs;
        // The first run that could touch [first, last]: the last run starting at or before `first`, if it reaches it.
        int i = RunAtOrBefore(first);
        if (i < 0 || (runs[i].Last != ulong.MaxValue && runs[i].Last + 1 < first))
        {
            i++;
        }
        int j = i;
        while (j < runs.Count && (last == ulong.MaxValue || runs[j].First <= last + 1))
        {
            first = Math.Min(first, runs[j].First);
            last = Math.Max(last, runs[j].Last);
            j++;
        }
        runs.RemoveRange(i, j - i);
        runs.Insert(i, (first, last));
    }

    /// <summary>Index of the last run whose First ≤ <paramref name="a"/>, or −1.</summary>
    private int RunAtOrBefore(ulong a)
    {
        var runs = _runs;
        int lo = 0, hi = runs.Count - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (runs[mid].First <= a)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found;
    }

    /// <summary>True when a walk may read <paramref name="pa"/>: inside a declared region, or no region declared.</summary>
    public bool IsBacked(PhysicalAddress pa)
    {
        if (_runs.Count == 0)
        {
            return true;
        }
        int i = RunAtOrBefore(pa.Value);
        return i >= 0 && pa.Value <= _runs[i].Last;
    }

    /// <summary>True when RAM (or no region at all) covers the whole frame, so any word of it is readable.</summary>
    private bool WholeFrameBacked(ulong frameNumber)
    {
        if (_runs.Count == 0)
        {
            return true;
        }
        ulong first = frameNumber << FrameShift;
        ulong last = first + (1UL << FrameShift) - 1;
        int i = RunAtOrBefore(first);
        return i >= 0 && last <= _runs[i].Last;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Home(ulong key) => _hash.Index(key, _hashBits);

    /// <summary>The slot value of a frame: its address with bit 0 = whole frame readable; 0 when never written.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private nuint Find(ulong frameNumber)
    {
        ulong key = frameNumber + 1;
        var slots = _slots;
        int mask = slots.Length - 1;
        int h = Home(key);
        while (true)
        {
            ref Slot s = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(slots), h);
            if (s.Key == key)
            {
                return s.Value;
            }
            if (s.Key == 0)
            {
                return 0;
            }
            h = (h + 1) & mask;
        }
    }

    /// <summary>
    /// The frame of <paramref name="frameNumber"/> when it exists and a walk may read every word of it (the walker's
    /// fast path, and what it may keep until <see cref="Epoch"/> changes); null otherwise, and the caller falls back
    /// to <see cref="TryRead64"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong* FrameForWalk(ulong frameNumber)
    {
        nuint v = Find(frameNumber);
        return (v & 1) != 0 ? (ulong*)(v & ~(nuint)1) : null;
    }

    /// <summary>Reads the little-endian 64-bit word at an 8-byte aligned PA. False when the PA is not backed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryRead64(PhysicalAddress pa, out ulong value)
    {
        ulong a = pa.Value;
        nuint v = Find(a >> FrameShift);
        if ((v & 1) != 0)
        {
            value = ((ulong*)(v & ~(nuint)1))[(a >> 3) & (WordsPerFrame - 1)];
            return true;
        }
        return TryRead64Slow(a, v, out value);
    }

    private bool TryRead64Slow(ulong a, nuint v, out ulong value)
    {
        if (!IsBacked(new PhysicalAddress(a)))
        {
            value = 0;
            return false;
        }
        if (v == 0 && _images.Count != 0)
        {
            v = Materialize(a >> FrameShift);
        }
        else if (v != 0 && (v & 1) == 0 && WholeFrameBacked(a >> FrameShift))
        {
            // A region declared after the frame was made covers it now: set its flag for the fast path.
            SetWholeFrameFlag(a >> FrameShift);
        }
        value = v == 0 ? 0 : ((ulong*)(v & ~(nuint)1))[(a >> 3) & (WordsPerFrame - 1)];
        return true;
    }

    /// <summary>The word at <paramref name="pa"/> whether or not it is declared RAM (for `dump`).</summary>
    public ulong Peek64(PhysicalAddress pa)
    {
        ulong a = pa.Value;
        nuint v = Find(a >> FrameShift);
        if (v == 0 && _images.Count != 0)
        {
            v = Materialize(a >> FrameShift);
        }
        return v == 0 ? 0 : ((ulong*)(v & ~(nuint)1))[(a >> 3) & (WordsPerFrame - 1)];
    }

    /// <summary>Stores a 64-bit word at an 8-byte aligned PA.</summary>
    public void Write64(PhysicalAddress pa, ulong value)
    {
        ulong a = pa.Value;
        Version++;
        // Table dumps write hundreds of consecutive words: the frame of the last write skips the lookup.
        if (a >> FrameShift == _lastWriteFrameNumber && _lastWriteFrame != null)
        {
            _lastWriteFrame[(a >> 3) & (WordsPerFrame - 1)] = value;
            return;
        }
        nuint v = Find(a >> FrameShift);
        if (v == 0 && _images.Count != 0)
        {
            v = Materialize(a >> FrameShift);
        }
        if (v == 0)
        {
            if (value == 0)
            {
                return; // unwritten memory reads as zero already
            }
            v = AddFrame(a >> FrameShift);
        }
        _lastWriteFrameNumber = a >> FrameShift;
        _lastWriteFrame = (ulong*)(v & ~(nuint)1);
        _lastWriteFrame[(a >> 3) & (WordsPerFrame - 1)] = value;
    }

    /// <summary>Largest physical address space a `load` may fill: 52 bits (FEAT_LPA/FEAT_LPA2 OA size).</summary>
    public const ulong PhysicalAddressLimit = 1UL << 52;

    /// <summary>Bytes of memory images mapped so far (address space, not memory: pages cost memory only when written).</summary>
    public ulong MappedImageBytes { get; private set; }

    /// <summary>
    /// Physical memory from <paramref name="pa"/> holds <paramref name="size"/> bytes of the file at
    /// <paramref name="path"/> from byte <paramref name="offset"/> (a trace's `load`): mapped copy-on-write, never
    /// copied, never written back. Frames that already hold contents get the image's bytes now; the others point into
    /// the mapping when first touched (<see cref="Materialize"/>). The caller has checked that the file holds
    /// <paramref name="size"/> bytes from <paramref name="offset"/>.
    /// </summary>
    public void LoadImage(PhysicalAddress pa, string path, ulong offset, ulong size)
    {
        if (((pa.Value | size) & 7) != 0)
        {
            throw new ArgumentException("a memory image's address and size are multiples of 8");
        }
        if (pa.Value >= PhysicalAddressLimit || size > PhysicalAddressLimit - pa.Value)
        {
            throw new ArgumentException($"a memory image of {size} bytes at 0x{pa.Value:x} ends past the 52-bit physical address space");
        }
        if (size == 0)
        {
            return;
        }
        var image = MemoryImage.Map(pa.Value, path, offset, size);
        _images.Add(image);
        MappedImageBytes += size;
        // Frames that exist (written by `mem`, or an earlier image's) take the image's bytes where it overlaps them.
        var slots = _slots;
        for (int i = 0; i < slots.Length; i++)
        {
            if (slots[i].Key != 0)
            {
                image.CopyInto(slots[i].Key - 1, (ulong*)(slots[i].Value & ~(nuint)1));
            }
        }
        Epoch++;
        Version++;
    }

    /// <summary>
    /// The frame of a frame number no store has made yet, when a memory image covers part of it: a pointer into the
    /// newest image's mapping when that image covers the whole frame and its words are 8-byte aligned in the file (no
    /// copy: the OS copies the page if it is ever written), else a new frame with the bytes of every image that
    /// overlaps it, oldest first. 0 when no image does.
    /// </summary>
    private nuint Materialize(ulong frameNumber)
    {
        var images = _images;
        ulong first = frameNumber << FrameShift;
        ulong last = first + ((1UL << FrameShift) - 1);
        for (int i = images.Count - 1; i >= 0; i--)
        {
            var image = images[i];
            if (image.CoversFrame(frameNumber) && image.WordAligned)
            {
                if ((_used + 1) * 2 > _slots.Length)
                {
                    Grow();
                }
                nuint value = (nuint)image.At(first) | (WholeFrameBacked(frameNumber) ? 1u : 0u);
                Insert(_slots, _hashBits, frameNumber + 1, value);
                _used++;
                return value;
            }
            if (image.Base <= last && first <= image.Base + (image.Size - 1))
            {
                // Partly covered: copy from every overlapping image into a frame of our own.
                nuint v = AddFrame(frameNumber);
                ulong* frame = (ulong*)(v & ~(nuint)1);
                for (int j = 0; j <= i; j++)
                {
                    images[j].CopyInto(frameNumber, frame);
                }
                return v;
            }
        }
        return 0;
    }

    private void SetWholeFrameFlag(ulong frameNumber)
    {
        ulong key = frameNumber + 1;
        var slots = _slots;
        int mask = slots.Length - 1;
        int h = Home(key);
        while (slots[h].Key != key)
        {
            h = (h + 1) & mask;
        }
        slots[h].Value |= 1;
    }

    private nuint AddFrame(ulong frameNumber)
    {
        if (AllocatedBytes + (1 << FrameShift) > MaxBytes)
        {
            throw new MemoryLimitException(
                $"simulated physical memory would exceed its cap of {MaxBytes} bytes (raise it with --max-memory)");
        }
        if ((_used + 1) * 2 > _slots.Length)
        {
            Grow();
        }
        if (_slabLeft == 0)
        {
            // Slabs double with the memory in use, so a small trace stays small and a big one gets huge pages.
            int frames = (int)Math.Clamp(_frameCount, MinSlabFrames, MaxSlabFrames);
            var slab = new FrameSlab((nuint)frames << FrameShift);
            _slabs.Add(slab);
            _slabNext = slab.Frames;
            _slabLeft = frames;
        }
        ulong* frame = _slabNext;
        _slabNext += WordsPerFrame;
        _slabLeft--;
        _frameCount++;
        nuint value = (nuint)frame | (WholeFrameBacked(frameNumber) ? 1u : 0u);
        Insert(_slots, _hashBits, frameNumber + 1, value);
        _used++;
        return value;
    }

    private void Insert(Slot[] slots, int bits, ulong key, nuint value)
    {
        int mask = slots.Length - 1;
        int h = _hash.Index(key, bits);
        long probes = 1;
        while (slots[h].Key != 0)
        {
            h = (h + 1) & mask;
            probes++;
        }
        InsertProbes += probes;
        slots[h] = new Slot { Key = key, Value = value };
    }

    private void Grow()
    {
        var old = _slots;
        var slots = new Slot[old.Length * 2];
        int bits = _hashBits + 1;
        foreach (var s in old)
        {
            if (s.Key != 0)
            {
                Insert(slots, bits, s.Key, s.Value);
            }
        }
        _slots = slots;
        _hashBits = bits;
    }

    /// <summary>Forgets all contents and regions.</summary>
    public void Clear()
    {
        _slots = new Slot[1 << InitialBits];
        _hashBits = InitialBits;
        _used = 0;
        foreach (var slab in _slabs)
        {
            slab.Dispose();
        }
        _slabs.Clear();
        _slabNext = null;
        _slabLeft = 0;
        _ram.Clear();
        foreach (var image in _images)
        {
            image.Dispose();
        }
        _images.Clear();
        MappedImageBytes = 0;
        _runs.Clear();
        _frameCount = 0;
        _lastWriteFrame = null;
        Epoch++;
        Version++;
    }
}
