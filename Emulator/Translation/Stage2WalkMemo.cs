using System.Runtime.CompilerServices;

namespace MmuSim.Translation;

public sealed partial class Mmu
{
    // A host-side memo of the stage-2 walks that translate stage-1 table addresses (S1PTW walks). A nested walk makes
    // one per stage-1 level, and the upper stage-1 tables sit at the same few IPAs on almost every walk, so most of
    // these walks repeat one another exactly. The memo replays such a walk instead of re-running it: the same leaf,
    // and the same descriptor reads put in the record (so counts, cycles and the cycle model's view of every read
    // are those of the walk). It is a shortcut of the host, not part of the model: it is only used where the walk
    // has no effect besides its reads (no stage-2 walk cache to look up or fill, no explain detail), and an entry
    // holds only while memory (PhysicalMemory.Version: any write, including hardware updates) and the registers
    // (the regime generation) are unchanged. Faulting walks are never kept.
    private const int MemoSlots = 64;

    [InlineArray(MaxMemoReads)]
    private struct MemoWords
    {
        private ulong _word;
    }

    /// <summary>A stage-2 walk reads at most 5 descriptors (level −1 with 52-bit addresses, to level 3).</summary>
    private const int MaxMemoReads = 5;

    private struct Stage2Memo
    {
        /// <summary>IPA[55:12] + 1 of the walk's input (0: empty). Every index a walk uses comes from bits 12 and up.</summary>
        public ulong Page;
        public long MemoryVersion;
        public uint Generation;
        public Leaf Leaf;
        public int Reads;
        public MemoWords DescriptorPa;
        public MemoWords Descriptor;
        /// <summary>
        /// Set once a stage-2 lookup of this walk for a table read completed with no fault and no hardware update:
        /// every check after the walk (access flag, S2AP read, HCR_EL2.PTW) depends only on the leaf and the
        /// registers, so a repeat of the lookup may skip them and take <see cref="TablePage"/>.
        /// </summary>
        public bool TableReadable;
        /// <summary>The PA of the walk's 4 KiB input page, when <see cref="TableReadable"/>.</summary>
        public ulong TablePage;
    }

    private readonly Stage2Memo[] _s2Memo = new Stage2Memo[MemoSlots];

    /// <summary>Set per translation: S1PTW stage-2 walks may come from, and go into, the memo.</summary>
    private bool _memoOn;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int MemoSlot(ulong page) => (int)((page ^ (page >> 6)) & (MemoSlots - 1));

    /// <summary>Set per translation: a stage-2 lookup for a table read may come whole from the memo (no IPA cache to consult).</summary>
    private bool _memoTableReads;

    /// <summary>
    /// The whole stage-2 lookup of a stage-1 table read at <paramref name="ipa"/>, when the memo holds it: its reads
    /// go into the record and the descriptor's PA comes back. False when the lookup must run.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryTableRead(ulong ipa, out ulong pa)
    {
        ulong page = (ipa >> 12) + 1;
        ref Stage2Memo m = ref _s2Memo[MemoSlot(page)];
        if (m.Page != page || !m.TableReadable || m.MemoryVersion != _mem.Version || m.Generation != _generation)
        {
            pa = 0;
            return false;
        }
        ReplayReads(ref m, ipa);
        pa = m.TablePage | (ipa & 0xFFF);
        return true;
    }

    /// <summary>Stage2 saw the lookup of a table read at <paramref name="ipa"/> complete cleanly: a repeat may skip it.</summary>
    private void MarkTableReadable(ulong ipa, ulong pa)
    {
        ulong page = (ipa >> 12) + 1;
        ref Stage2Memo m = ref _s2Memo[MemoSlot(page)];
        if (m.Page == page && m.MemoryVersion == _mem.Version && m.Generation == _generation)
        {
            m.TablePage = pa & ~0xFFFUL;
            m.TableReadable = true;
        }
    }

    private void ReplayReads(ref Stage2Memo m, ulong ipa)
    {
        var record = Record;
        if (record.ReadsUnrecorded)
        {
            record.CountReads(m.Reads);
            return;
        }
        int first = m.Leaf.Level - m.Reads + 1;
        for (int i = 0; i < m.Reads; i++)
        {
            ulong pa = m.DescriptorPa[i];
            record.AddRead(2, first + i, nested: true, tableBase: 0, index: 0, pa, pa, m.Descriptor[i], ipa, externalAbort: false);
        }
    }

    /// <summary>The stage-2 walk of <paramref name="ipa"/> for a stage-1 table access, from the memo or walked.</summary>
    private bool WalkStage2ForTable(ulong ipa, int frameSlots, out Leaf leaf, out Faults.FaultInfo fault)
    {
        ulong page = (ipa >> 12) + 1;
        ref Stage2Memo m = ref _s2Memo[MemoSlot(page)];
        var record = Record;
        if (m.Page == page && m.MemoryVersion == _mem.Version && m.Generation == _generation)
        {
            ReplayReads(ref m, ipa);
            leaf = m.Leaf;
            fault = default;
            return true;
        }
        int before = record.Count;
        int readsBefore = record.Reads;
        if (!Walk<Stage2Walk>(ref _s2, ipa, s1ViaS2: false, nested: true, _walkCtxS2, frameSlots, out leaf, out fault))
        {
            return false;
        }
        // Kept only when the record holds exactly this walk's reads (a step each, or none when reads go unrecorded)
        // and nothing else: no cache lookup, and no step dropped (the record drops steps once full).
        int reads = record.Reads - readsBefore;
        bool unrecorded = record.ReadsUnrecorded;
        if (reads == leaf.Level - _s2.StartLevel + 1 && reads <= MaxMemoReads && record.Count - before == (unrecorded ? 0 : reads))
        {
            m.Page = page;
            m.MemoryVersion = _mem.Version;
            m.Generation = _generation;
            m.Leaf = leaf;
            m.Reads = reads;
            m.TableReadable = false;
            if (!unrecorded)
            {
                var steps = record.Steps;
                for (int i = 0; i < reads; i++)
                {
                    m.DescriptorPa[i] = steps[before + i].DescriptorPa;
                    m.Descriptor[i] = steps[before + i].Descriptor;
                }
            }
        }
        return true;
    }
}
