using System.Runtime.CompilerServices;
using MmuSim.Addressing;

namespace MmuSim.Memory;

/// <summary>Raised when simulated memory would grow past its cap (hostile or runaway input).</summary>
public sealed class MemoryLimitException(string message) : Exception(message);

/// <summary>
/// Sparse simulated physical memory: storage grows with what is written, not with the address space
/// (any PA below 2^52 is addressable). Reads report a status instead of throwing, so a walk that
/// reads outside declared RAM becomes a guest-visible external abort, not an exception.
/// </summary>
public sealed class PhysicalMemory
{
    private const int FrameShift = 12;
    private const int WordsPerFrame = 1 << (FrameShift - 3);
    // A three-level radix over PA[51:12]: PA[51:36] -> PA[35:24] -> PA[23:12] -> 4 KiB frame. Lookups are three
    // dependent loads with no hashing; storage grows with the 16 MiB regions touched.
    private const int LeafBits = 12;
    private const int MidBits = 12;
    private const int TopBits = 52 - FrameShift - LeafBits - MidBits;

    private readonly ulong[]?[]?[]?[] _top = new ulong[]?[]?[]?[1 << TopBits];
    private readonly List<(ulong Base, ulong Size)> _ram = new();
    private long _frameCount;

    /// <summary>Upper bound on bytes of backing storage; exceeding it raises <see cref="MemoryLimitException"/>.</summary>
    public long MaxBytes { get; set; } = 4L << 30;

    /// <summary>Bytes of backing storage allocated so far.</summary>
    public long AllocatedBytes => _frameCount << FrameShift;

    /// <summary>Declared RAM regions, in declaration order.</summary>
    public IReadOnlyList<(ulong Base, ulong Size)> RamRegions => _ram;

    /// <summary>Most RAM regions a trace may declare: every walk read checks them, so hostile input must not pile them up.</summary>
    public const int MaxRamRegions = 4096;

    /// <summary>Declares a RAM region. Once any region exists, walks outside all regions take an external abort.</summary>
    public void DeclareRam(PhysicalAddress baseAddress, ulong size)
    {
        if (_ram.Count >= MaxRamRegions)
        {
            throw new MemoryLimitException($"more than {MaxRamRegions} ram regions declared");
        }
        _ram.Add((baseAddress.Value, size));
    }

    /// <summary>True when a walk may read <paramref name="pa"/>: inside a declared region, or no region declared.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsBacked(PhysicalAddress pa)
    {
        if (_ram.Count == 0)
        {
            return true;
        }
        var ram = _ram;
        for (int i = 0; i < ram.Count; i++)
        {
            var (b, s) = ram[i];
            if (pa.Value - b < s)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Reads the little-endian 64-bit word at an 8-byte aligned PA. False when the PA is not backed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryRead64(PhysicalAddress pa, out ulong value)
    {
        if (!IsBacked(pa))
        {
            value = 0;
            return false;
        }
        value = Peek64(pa);
        return true;
    }

    /// <summary>The word at <paramref name="pa"/> whether or not it is declared RAM (for `dump`).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Peek64(PhysicalAddress pa)
    {
        ulong a = pa.Value;
        var mid = _top[(int)((a >> (FrameShift + LeafBits + MidBits)) & ((1 << TopBits) - 1))];
        var leaf = mid?[(int)((a >> (FrameShift + LeafBits)) & ((1 << MidBits) - 1))];
        var frame = leaf?[(int)((a >> FrameShift) & ((1 << LeafBits) - 1))];
        return frame is null ? 0 : frame[(a >> 3) & (WordsPerFrame - 1)];
    }

    /// <summary>Stores a 64-bit word at an 8-byte aligned PA.</summary>
    public void Write64(PhysicalAddress pa, ulong value)
    {
        ulong a = pa.Value;
        int ti = (int)((a >> (FrameShift + LeafBits + MidBits)) & ((1 << TopBits) - 1));
        int mi = (int)((a >> (FrameShift + LeafBits)) & ((1 << MidBits) - 1));
        int li = (int)((a >> FrameShift) & ((1 << LeafBits) - 1));
        var frame = _top[ti]?[mi]?[li];
        if (frame is null)
        {
            if (value == 0)
            {
                return; // unwritten memory reads as zero already
            }
            if (AllocatedBytes + (1 << FrameShift) > MaxBytes)
            {
                throw new MemoryLimitException(
                    $"simulated physical memory would exceed its cap of {MaxBytes} bytes (raise it with --max-memory)");
            }
            var mid = _top[ti] ??= new ulong[]?[]?[1 << MidBits];
            var leaf = mid[mi] ??= new ulong[]?[1 << LeafBits];
            frame = leaf[li] = new ulong[WordsPerFrame];
            _frameCount++;
        }
        frame[(a >> 3) & (WordsPerFrame - 1)] = value;
    }

    /// <summary>Forgets all contents and regions.</summary>
    public void Clear()
    {
        Array.Clear(_top);
        _ram.Clear();
        _frameCount = 0;
    }
}
