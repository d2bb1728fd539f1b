using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using MmuSim.Memory;

namespace MmuSim.Translation.Acceleration;

internal sealed partial class WalkAccelerator
{
    // Prefetch hints: where in host memory the last-level table of a 2 MiB block (4K granule) was found, per stage,
    // so that a replay that sees the next accesses coming can ask the host CPU to start loading their last-level
    // descriptors while it still walks for the current one. On a trace that misses the TLB on every access those
    // loads miss every host cache and are most of the time; issued early they overlap with other work.
    //
    // A hint is only ever the address of a host prefetch, or of a host load whose value feeds another prefetch: no
    // result, count or cycle depends on one, so a hint may be stale, aliased or wrong. It may not point to released
    // memory: hints hold frames, which never move, and are forgotten when PhysicalMemory.Epoch changes (memory
    // cleared or regions declared), as the walker's frame slots are. Other granules, whose tables span several host
    // frames, get no hints.
    private const int HintSlotsS1 = 16384;  // 32 GiB of VA in distinct slots
    private const int HintSlotsS2 = 16384;  // 32 GiB of IPA
    private const int HintBlockShift = 21;  // what one 4K-granule last-level table maps
    private const int HintIndexShift = 12;
    private const ulong HintIndexMask = 511;

    private struct Stage1Hint
    {
        public nuint Frame;
        /// <summary>The table's IPA when its reads go through stage 2 (else 0): where to look for its stage-2 hints.</summary>
        public ulong TableIpa;
    }

    private Stage1Hint[]? _hintS1;
    private nuint[]? _hintS2;
    private int _hintEpoch;

    /// <summary>Whether this host can prefetch (x86 SSE); elsewhere the replay never asks.</summary>
    public static bool CanPrefetch => Sse.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Prefetch(nuint table, ulong ia)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0((void*)(table + (nuint)(((ia >> HintIndexShift) & HintIndexMask) << 3)));
        }
    }

    /// <summary>Asks the host to start loading entry <paramref name="index"/> of <paramref name="array"/> (a memo not yet allocated: nothing).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchEntry<T>(T[]? array, int index) where T : struct
    {
        if (array is not null && Sse.IsSupported)
        {
            // A managed array may move in a collection: a prefetch of where it was is harmless, it reads nothing.
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(array), index)));
        }
    }

    /// <summary>
    /// Notes the host frame of the 4K last-level table a walk of <paramref name="ia"/> just read its descriptor from
    /// (at <paramref name="descPa"/>, through frame slot <paramref name="frameSlot"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // once per walk: out of the walk loop's way
    public unsafe void NoteLastLevelTable(byte stage, ulong ia, ulong descPa, int frameSlot, ulong tableIpa)
    {
        ref FrameSlot f = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_frames), frameSlot);
        if (f.FrameNumber != descPa >> PhysicalMemory.FrameShift || f.Frame == null || _hintEpoch != _mem.Epoch)
        {
            return; // read some other way (not a whole readable frame), or hints not yet reset for this epoch
        }
        int slot = (int)(ia >> HintBlockShift);
        if (stage == 1)
        {
            ref Stage1Hint h = ref (_hintS1 ??= new Stage1Hint[HintSlotsS1])[slot & (HintSlotsS1 - 1)];
            h.Frame = (nuint)f.Frame;
            h.TableIpa = tableIpa;
        }
        else
        {
            (_hintS2 ??= new nuint[HintSlotsS2])[slot & (HintSlotsS2 - 1)] = (nuint)f.Frame;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private nuint HintS2(ulong ipa)
    {
        var s2 = _hintS2;
        return s2 is null ? 0 : Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(s2), (int)(ipa >> HintBlockShift) & (HintSlotsS2 - 1));
    }

    /// <summary>
    /// The first step, some accesses ahead: asks the host to start loading the stage-1 last-level descriptor a walk
    /// of <paramref name="va"/> will read, with the stage-2 lookup of that table (its memo entry and last-level
    /// descriptor); with no stage-1 hint, the stage-2 last-level descriptor of <paramref name="va"/> as an IPA.
    /// </summary>
    public void PrefetchFar(ulong va)
    {
        if (_hintEpoch != _mem.Epoch)
        {
            ForgetHints();
            return;
        }
        PrefetchEntry(_pathMemo, PathSlot((va >> HintBlockShift) + 1)); // the block a 4K last-level table maps
        var s1 = _hintS1;
        if (s1 is not null)
        {
            ref Stage1Hint h = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(s1), (int)(va >> HintBlockShift) & (HintSlotsS1 - 1));
            if (h.Frame != 0)
            {
                Prefetch(h.Frame, va);
                ulong tableIpa = h.TableIpa;
                if (tableIpa != 0)
                {
                    PrefetchEntry(_memoTags, MemoSlot((tableIpa >> 12) + 1));
                    nuint t2 = HintS2(tableIpa);
                    if (t2 != 0)
                    {
                        Prefetch(t2, tableIpa);
                    }
                }
                return;
            }
        }
        nuint t = HintS2(va);
        if (t != 0)
        {
            Prefetch(t, va);
        }
    }

    /// <summary>
    /// The second step, an access or two later: reads the stage-1 last-level descriptor of <paramref name="va"/>
    /// (loaded by <see cref="PrefetchFar"/>) and, when it is a page descriptor, asks for the stage-2 last-level
    /// descriptor of the IPA it gives.
    /// </summary>
    public unsafe void PrefetchNear(ulong va)
    {
        var s1 = _hintS1;
        if (s1 is null || _hintEpoch != _mem.Epoch)
        {
            return;
        }
        nuint t = Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(s1), (int)(va >> HintBlockShift) & (HintSlotsS1 - 1)).Frame;
        if (t == 0)
        {
            return;
        }
        ulong desc = *(ulong*)(t + (nuint)(((va >> HintIndexShift) & HintIndexMask) << 3));
        if ((desc & 3) != 3)
        {
            return;
        }
        ulong ipa = desc & 0x0000_FFFF_FFFF_F000UL;
        nuint t2 = HintS2(ipa);
        if (t2 != 0)
        {
            Prefetch(t2, ipa);
        }
    }

    /// <summary>The stage-1 hint for <paramref name="va"/>'s block: the host frame noted and the table's IPA (for tests).</summary>
    internal (nuint Frame, ulong TableIpa) Stage1HintFor(ulong va)
    {
        var h = _hintS1 is null ? default : _hintS1[(int)(va >> HintBlockShift) & (HintSlotsS1 - 1)];
        return (h.Frame, h.TableIpa);
    }

    /// <summary>The stage-2 hint for <paramref name="ipa"/>'s block (for tests).</summary>
    internal nuint Stage2HintFor(ulong ipa) => HintS2(ipa);

    private void ForgetHints()
    {
        if (_hintS1 is not null)
        {
            Array.Clear(_hintS1);
        }
        if (_hintS2 is not null)
        {
            Array.Clear(_hintS2);
        }
        _hintEpoch = _mem.Epoch;
    }
}
