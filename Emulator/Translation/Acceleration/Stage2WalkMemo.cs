using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MmuSim.Translation.Acceleration;

internal sealed partial class WalkAccelerator
{
    // A host-side memo of the stage-2 walks that translate stage-1 table addresses (S1PTW walks). A nested walk makes
    // one per stage-1 level, and the stage-1 tables sit at a limited set of IPAs (the upper ones at the same few on
    // almost every walk), so most of these walks repeat an earlier one exactly. The memo replays such a walk instead
    // of re-running it: the same leaf, and the same descriptor reads put in the record (so counts, cycles and the
    // cycle model's view of every read are those of the walk). It is a shortcut of the host, not part of the model:
    // it is only used where the walk has no effect besides its reads (no stage-2 walk cache to look up or fill, no
    // explain detail), and an entry holds only while memory (PhysicalMemory.Version: any write, including hardware
    // updates) and the registers (the regime generation) are unchanged. Faulting walks are never kept.
    //
    // Direct-mapped, 16384 entries: enough for the level-3 tables of 32 GiB of 4K pages. The fields every lookup reads
    // sit apart (32 bytes an entry) from the leaf and the reads, which only a replayed walk needs.
    private const int MemoSlots = 16384;

    [InlineArray(MaxMemoReads)]
    private struct MemoWords
    {
        private ulong _word;
    }

    /// <summary>A stage-2 walk reads at most 5 descriptors (level −1 with 52-bit addresses, to level 3).</summary>
    private const int MaxMemoReads = 5;

    private struct Stage2MemoTag
    {
        /// <summary>IPA[55:12] + 1 of the walk's input (0: empty). Every index a walk uses comes from bits 12 and up.</summary>
        public ulong Page;
        public long MemoryVersion;
        /// <summary>The PA of the walk's 4 KiB input page, when <see cref="TableReadable"/>.</summary>
        public ulong TablePage;
        public uint Generation;
        public byte Reads;
        /// <summary>
        /// Set once a stage-2 lookup of this walk for a table read completed with no fault and no hardware update:
        /// every check after the walk (access flag, S2AP read, HCR_EL2.PTW) depends only on the leaf and the
        /// registers, so a repeat of the lookup may skip them and take <see cref="TablePage"/>.
        /// </summary>
        public bool TableReadable;
    }

    private struct Stage2MemoWalk
    {
        public WalkLeaf Leaf;
        /// <summary>The reads, when the record keeps a step per read.</summary>
        public MemoWords DescriptorPa;
        public MemoWords Descriptor;
    }

    private Stage2MemoTag[]? _memoTags;
    private Stage2MemoWalk[]? _memoWalks;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int MemoSlot(ulong page) => (int)((page ^ (page >> 12)) & (MemoSlots - 1));

    /// <summary>The memo, allocated on first use (an MMU that never replays lean, such as explain's, never pays for it).</summary>
    private Stage2MemoTag[] MemoTags()
    {
        if (_memoTags is null)
        {
            _memoTags = new Stage2MemoTag[MemoSlots];
            _memoWalks = new Stage2MemoWalk[MemoSlots];
        }
        return _memoTags;
    }

    /// <summary>True when <paramref name="t"/> holds the walk of <paramref name="page"/> as memory and registers are now.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool MemoValid(in Stage2MemoTag t, ulong page) =>
        t.Page == page && t.MemoryVersion == _mem.Version && t.Generation == _generation;

    /// <summary>
    /// The whole stage-2 lookup of a stage-1 table read at <paramref name="ipa"/>, when the memo holds it: its reads
    /// go into the record and the descriptor's PA comes back. False when the lookup must run.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryTableRead(ulong ipa, out ulong pa)
    {
        ulong page = (ipa >> 12) + 1;
        int slot = MemoSlot(page);
        ref Stage2MemoTag t = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(MemoTags()), slot);
        if (!t.TableReadable || !MemoValid(in t, page))
        {
            pa = 0;
            return false;
        }
        ReplayReads(in t, slot, ipa);
        pa = t.TablePage | (ipa & 0xFFF);
        return true;
    }

    /// <summary>Stage2 saw the lookup of a table read at <paramref name="ipa"/> complete cleanly: a repeat may skip it.</summary>
    public void MarkTableReadable(ulong ipa, ulong pa)
    {
        ulong page = (ipa >> 12) + 1;
        ref Stage2MemoTag t = ref MemoTags()[MemoSlot(page)];
        if (MemoValid(in t, page))
        {
            t.TablePage = pa & ~0xFFFUL;
            t.TableReadable = true;
        }
    }

    private void ReplayReads(in Stage2MemoTag t, int slot, ulong ipa)
    {
        var record = _record;
        if (record.ReadsUnrecorded)
        {
            record.CountReads(t.Reads);
            return;
        }
        ref Stage2MemoWalk w = ref _memoWalks![slot];
        int first = w.Leaf.Level - t.Reads + 1;
        for (int i = 0; i < t.Reads; i++)
        {
            ulong pa = w.DescriptorPa[i];
            record.AddRead(2, first + i, nested: true, tableBase: 0, index: 0, pa, pa, w.Descriptor[i], ipa, externalAbort: false);
        }
    }

    /// <summary>
    /// The stage-2 walk of <paramref name="ipa"/> for a stage-1 table access, when the memo holds it: its reads go into
    /// the record and its leaf comes back. False when the walk must run (then <see cref="RememberStage2Walk"/>).
    /// </summary>
    public bool TryReplayStage2Walk(ulong ipa, out WalkLeaf leaf)
    {
        ulong page = (ipa >> 12) + 1;
        int slot = MemoSlot(page);
        ref Stage2MemoTag t = ref MemoTags()[slot];
        if (MemoValid(in t, page))
        {
            ReplayReads(in t, slot, ipa);
            leaf = _memoWalks![slot].Leaf;
            return true;
        }
        leaf = default;
        return false;
    }

    /// <summary>Where the record stood before a stage-2 walk (for <see cref="RememberStage2Walk"/>).</summary>
    public (int Steps, int Reads) RecordMark => (_record.Count, _record.Reads);

    /// <summary>
    /// Keeps the stage-2 walk of <paramref name="ipa"/> that just completed with <paramref name="leaf"/>, starting at
    /// <paramref name="startLevel"/>, the record having stood at <paramref name="before"/> when it began.
    /// </summary>
    public void RememberStage2Walk(ulong ipa, in WalkLeaf leaf, (int Steps, int Reads) before, int startLevel)
    {
        ulong page = (ipa >> 12) + 1;
        int slot = MemoSlot(page);
        ref Stage2MemoTag t = ref MemoTags()[slot];
        var record = _record;
        // Kept only when the record holds exactly this walk's reads (a step each, or none when reads go unrecorded)
        // and nothing else: no cache lookup, and no step dropped (the record drops steps once full).
        int reads = record.Reads - before.Reads;
        bool unrecorded = record.ReadsUnrecorded;
        if (reads == leaf.Level - startLevel + 1 && reads <= MaxMemoReads && record.Count - before.Steps == (unrecorded ? 0 : reads))
        {
            t.Page = page;
            t.MemoryVersion = _mem.Version;
            t.Generation = _generation;
            t.Reads = (byte)reads;
            t.TableReadable = false;
            ref Stage2MemoWalk w = ref _memoWalks![slot];
            w.Leaf = leaf;
            if (!unrecorded)
            {
                var steps = record.Steps;
                for (int i = 0; i < reads; i++)
                {
                    w.DescriptorPa[i] = steps[before.Steps + i].DescriptorPa;
                    w.Descriptor[i] = steps[before.Steps + i].Descriptor;
                }
            }
        }
    }
}
