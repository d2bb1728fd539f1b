using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MmuSim.Addressing;
using MmuSim.Memory;

namespace MmuSim.Translation.Acceleration;

/// <summary>
/// The host-side speed-ups of the walker, owned by one <see cref="Mmu"/>: frame slots for descriptor reads, the
/// stage-1 path memo, the stage-2 walk memo and the prefetch hints. None is part of the model: each gives the walker
/// exactly what the walk would have found (the same descriptors, the same reads in the record) or only asks the host
/// to load memory early. The walker calls it at four points of the walk (resume, table read, table descriptor,
/// leaf) and tells it when the registers change (<see cref="OnRegisters"/>).
/// </summary>
/// <remarks>
/// A sealed class used through its concrete type, not an interface: every call is direct and the small ones
/// (<see cref="ReadDescriptor"/>'s frame-slot hit, the memo lookups) inline into the walk loop, which an interface
/// call per descriptor read would prevent. Its surface is what the walker calls: <see cref="CheckEpoch"/>,
/// <see cref="OnRegisters"/>, <see cref="ReadDescriptor"/>, TryPath / RememberPath, TryTableRead / MarkTableReadable,
/// TryReplayStage2Walk / RememberStage2Walk, NoteLastLevelTable, and the replay's PrefetchFar / PrefetchNear.
/// </remarks>
internal sealed partial class WalkAccelerator
{
    private readonly PhysicalMemory _mem;
    private readonly WalkRecord _record;
    private uint _generation = uint.MaxValue;

    public WalkAccelerator(PhysicalMemory memory, WalkRecord record)
    {
        _mem = memory;
        _record = record;
    }

    /// <summary>
    /// The registers changed (a new regime generation): memo entries made under another generation no longer hold.
    /// </summary>
    public void OnRegisters(uint generation) => _generation = generation;

    /// <summary>Forgets the frame slots when memory may have moved (<see cref="PhysicalMemory.Epoch"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CheckEpoch()
    {
        if (_framesEpoch != _mem.Epoch)
        {
            Array.Clear(_frames);
            _framesEpoch = _mem.Epoch;
        }
    }

    // Host frames of recent walks, one per (walk, level), as the native yardstick keeps them: the tables of the upper
    // levels are the same on almost every walk, so their reads skip the frame lookup. Only frames a walk may read
    // whole are kept; they never move, and PhysicalMemory.Epoch says when they must be forgotten. Every read still
    // happens. Slots: 0-4 the stage-1 walk, 5-9 the stage-2 walk of the output IPA, then five per stage-1 level for
    // the stage-2 walks of that level's table addresses (levels -1..3 each).
    public const int FrameSlotsS1 = 0;
    public const int FrameSlotsS2Final = 5;
    private const int FrameSlotCount = 35;

    /// <summary>The slots of the stage-2 walk that translates the address of a stage-1 table at <paramref name="s1Level"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int FrameSlotsS2ForS1Table(int s1Level) => 10 + 5 * (s1Level + 1);

    private unsafe struct FrameSlot
    {
        public ulong FrameNumber;
        public ulong* Frame;
    }

    private readonly FrameSlot[] _frames = new FrameSlot[FrameSlotCount];
    private int _framesEpoch = -1;

    /// <summary>Set by a read of a PA that is not backed (an external abort on the walk); the walk clears it.</summary>
    public bool ReadAborted;

    /// <summary>
    /// The descriptor at <paramref name="pa"/>, through frame slot <paramref name="slot"/>: a hit is one compare and
    /// one load, inline. Anything else is <see cref="ReadDescriptorSlow"/>, out of line so that the walk loop keeps its
    /// registers; a PA that is not backed reads as 0 and sets <see cref="ReadAborted"/> (the value comes back in a
    /// register, not through memory, on every read).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe ulong ReadDescriptor(int slot, ulong pa)
    {
        Debug.Assert((uint)slot < FrameSlotCount);
        ref FrameSlot f = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_frames), slot);
        ulong* frame = f.Frame;
        if (f.FrameNumber == pa >> PhysicalMemory.FrameShift && frame != null)
        {
            return frame[(pa >> 3) & (PhysicalMemory.WordsPerFrame - 1)];
        }
        return ReadDescriptorSlow(ref f, pa);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private unsafe ulong ReadDescriptorSlow(ref FrameSlot f, ulong pa)
    {
        ulong fn = pa >> PhysicalMemory.FrameShift;
        ulong* frame = _mem.FrameForWalk(fn);
        if (frame != null)
        {
            f.FrameNumber = fn;
            f.Frame = frame;
            return frame[(pa >> 3) & (PhysicalMemory.WordsPerFrame - 1)];
        }
        if (_mem.TryRead64(new PhysicalAddress(pa), out ulong value))
        {
            return value;
        }
        ReadAborted = true;
        return 0;
    }
}
