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

    private readonly Dictionary<ulong, ulong[]> _frames = new();
    private readonly List<(ulong Base, ulong Size)> _ram = new();
    private ulong _lastFrameNumber = ulong.MaxValue;
    private ulong[]? _lastFrame;

    /// <summary>Upper bound on bytes of backing storage; exceeding it raises <see cref="MemoryLimitException"/>.</summary>
    public long MaxBytes { get; set; } = 4L << 30;

    /// <summary>Bytes of backing storage allocated so far.</summary>
    public long AllocatedBytes => (long)_frames.Count << FrameShift;

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
    public ulong Peek64(PhysicalAddress pa)
    {
        ulong frameNumber = pa.Value >> FrameShift;
        ulong[]? frame;
        if (frameNumber == _lastFrameNumber)
        {
            frame = _lastFrame;
        }
        else if (_frames.TryGetValue(frameNumber, out frame))
        {
            _lastFrameNumber = frameNumber;
            _lastFrame = frame;
        }
        return frame is null ? 0 : frame[(pa.Value >> 3) & (WordsPerFrame - 1)];
    }

    /// <summary>Stores a 64-bit word at an 8-byte aligned PA.</summary>
    public void Write64(PhysicalAddress pa, ulong value)
    {
        ulong frameNumber = pa.Value >> FrameShift;
        ulong[]? frame;
        if (frameNumber == _lastFrameNumber && _lastFrame is not null)
        {
            frame = _lastFrame;
        }
        else if (!_frames.TryGetValue(frameNumber, out frame))
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
            frame = new ulong[WordsPerFrame];
            _frames.Add(frameNumber, frame);
        }
        _lastFrameNumber = frameNumber;
        _lastFrame = frame;
        frame[(pa.Value >> 3) & (WordsPerFrame - 1)] = value;
    }

    /// <summary>Forgets all contents and regions.</summary>
    public void Clear()
    {
        _frames.Clear();
        _ram.Clear();
        _lastFrameNumber = ulong.MaxValue;
        _lastFrame = null;
    }
}
