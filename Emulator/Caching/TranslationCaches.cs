using System.Runtime.CompilerServices;
using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Registers;
using MmuSim.Translation;

namespace MmuSim.Caching;

/// <summary>
/// The translation-caching hierarchy of one core: TLB levels, walk caches of both stages and the IPA cache,
/// with TLB maintenance applied to each exactly as the operation's scope says (arm-notes §8.2). The walker
/// reaches the walk caches and the IPA cache through <see cref="IWalkCaches"/>; the core looks the TLBs up
/// before a walk and fills them after.
/// </summary>
public sealed class TranslationCaches : IWalkCaches
{
    private readonly WalkCache[] _stage1;
    private readonly WalkCache[] _stage2;

    public TranslationCaches(CachingConfig config)
    {
        Config = config;
        Tlbs = config.Tlbs.Select(c => new Tlb(c)).ToArray();
        DataPath = Tlbs.Where(t => t.Config.Serves != TlbServes.Instruction).ToArray();
        FetchPath = Tlbs.Where(t => t.Config.Serves != TlbServes.Data).ToArray();
        DataLatency = PrefixSums(DataPath);
        FetchLatency = PrefixSums(FetchPath);
        WalkCaches = config.WalkCaches.Select((c, i) => new WalkCache(c, i)).ToArray();
        _stage1 = WalkCaches.Where(w => w.Stage == 1).ToArray();
        _stage2 = WalkCaches.Where(w => w.Stage == 2).ToArray();
        IpaCache = config.IpaCache is { } ic ? new IpaCache(ic) : null;
    }

    /// <summary>Cycles of the first n lookups, 64-bit: a path of many slow levels sums past 2^31 (each level's latency is an int).</summary>
    private static long[] PrefixSums(Tlb[] path)
    {
        var sums = new long[path.Length + 1];
        for (int i = 0; i < path.Length; i++)
        {
            sums[i + 1] = sums[i] + path[i].Latency;
        }
        return sums;
    }

    public CachingConfig Config { get; }

    /// <summary>Every TLB level, in configuration order.</summary>
    public Tlb[] Tlbs { get; }

    /// <summary>The levels a data access looks up, in order.</summary>
    public Tlb[] DataPath { get; }

    /// <summary>The levels an instruction fetch looks up, in order.</summary>
    public Tlb[] FetchPath { get; }

    /// <summary>DataLatency[n]: cycles of looking up the first n levels of <see cref="DataPath"/>.</summary>
    public long[] DataLatency { get; }

    /// <summary>FetchLatency[n]: cycles of looking up the first n levels of <see cref="FetchPath"/>.</summary>
    public long[] FetchLatency { get; }

    public WalkCache[] WalkCaches { get; }

    public IpaCache? IpaCache { get; }

    public bool CoalesceContiguous => Config.CoalesceContiguous;

    public bool HasWalkCache(int stage) => (stage == 1 ? _stage1 : _stage2).Length != 0;

    public bool HasIpaCache => IpaCache is not null;

    /// <summary>Trace line of the access being translated (recorded in the entries it fills).</summary>
    public long CurrentLine { get; set; }

    // ---------------------------------------------------------------- TLBs

    /// <summary>
    /// Looks up the levels of <paramref name="path"/> in order. On a hit in level i, the entry is copied into
    /// levels 0..i−1 (a hit in a lower level fills the levels above it). Returns the number of levels looked up;
    /// <paramref name="slot"/> is the slot hit in the last of them, or −1 when every level missed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Lookup(Tlb[] path, in LookupKey key, out int slot)
    {
        slot = path[0].Lookup(in key);
        return slot >= 0 ? 1 : LookupBelow(path, in key, out slot);
    }

    /// <summary>
    /// <see cref="Lookup"/> when the first level is already known to miss (<see cref="Tlb.Peek"/> found nothing and
    /// nothing changed since): the same counts, without searching that level again.
    /// </summary>
    public static int LookupAfterFirstMiss(Tlb[] path, in LookupKey key, out int slot)
    {
        path[0].CommitMiss();
        return LookupBelow(path, in key, out slot);
    }

    private static int LookupBelow(Tlb[] path, in LookupKey key, out int slot)
    {
        for (int i = 1; i < path.Length; i++)
        {
            var tlb = path[i];
            slot = tlb.Lookup(in key);
            if (slot >= 0)
            {
                ref var entry = ref tlb.Entry(slot);
                ulong ctx = tlb.Context(slot);
                for (int j = 0; j < i; j++)
                {
                    path[j].Fill(key.Va, ctx, in entry);
                }
                return i + 1;
            }
        }
        slot = -1;
        return path.Length;
    }

    /// <summary>Fills every level of <paramref name="path"/> with the translation of a walk.</summary>
    public void Fill(Tlb[] path, ulong va, ulong ctx, in TlbEntry entry)
    {
        for (int i = 0; i < path.Length; i++)
        {
            path[i].Fill(va, ctx, in entry);
        }
    }

    /// <summary>
    /// A hardware dirty-state update changed a stage-1 leaf: entries made from its old value (in any level, under
    /// any ASID) would keep deciding execute permission from AP as it was ("EL0-writable implies PXN", WXN), so
    /// they are retired; the walk that made the update refills the levels it went through.
    /// </summary>
    public void RetireStage1Descriptor(ulong descriptorPa)
    {
        foreach (var t in Tlbs)
        {
            t.InvalidateByStage1Descriptor(descriptorPa);
        }
    }

    // ---------------------------------------------------------------- walker hooks

    public bool TryResume(int stage, bool nested, ulong ctx, ulong ia, Granule granule, int startLevel, WalkRecord record, out TableEntry entry)
    {
        var caches = stage == 1 ? _stage1 : _stage2;
        entry = default;
        bool found = false;
        for (int i = 0; i < caches.Length; i++)
        {
            var wc = caches[i];
            bool hit = wc.TryFind(ctx, ia, granule, startLevel, out var e);
            record.AddLookup(StepKind.WalkCacheLookup, (byte)stage, nested, hit ? e.Table.Level : (sbyte)-2, (byte)wc.Index, hit,
                hit ? (byte)(e.Table.Level + 1 - startLevel) : (byte)0, hit ? e.FillLine : 0, ia);
            if (hit && (!found || e.Table.Level > entry.Level))
            {
                entry = e.Table;
                found = true;
            }
        }
        return found;
    }

    public void FillTable(int stage, ulong ctx, ulong ia, Granule granule, in TableEntry entry)
    {
        var caches = stage == 1 ? _stage1 : _stage2;
        for (int i = 0; i < caches.Length; i++)
        {
            caches[i].Fill(ctx, ia, granule, in entry, CurrentLine);
        }
    }

    public bool TryStage2Leaf(ulong ctx, ulong ipa, int startLevel, bool nested, WalkRecord record, out Stage2LeafEntry leaf)
    {
        if (IpaCache is null)
        {
            leaf = default;
            return false;
        }
        bool hit = IpaCache.TryFind(ctx, ipa, out var e);
        leaf = e.Leaf;
        record.AddLookup(StepKind.IpaCacheLookup, 2, nested, hit ? leaf.Level : (sbyte)-2, 0, hit,
            hit ? (byte)(leaf.Level + 1 - startLevel) : (byte)0, hit ? e.FillLine : 0, ipa);
        return hit;
    }

    public void FillStage2Leaf(ulong ctx, ulong ipa, in Stage2LeafEntry leaf) => IpaCache?.Fill(ctx, ipa, in leaf, CurrentLine);

    // ---------------------------------------------------------------- maintenance

    /// <summary>Which structures an operation reaches.</summary>
    [Flags]
    private enum Reach : byte
    {
        None = 0,
        Tlbs = 1,
        Stage1Walk = 2,
        Stage2Walk = 4,
        Ipa = 8,
    }

    /// <summary>
    /// Applies a TLBI (arm-notes §8.2) to every structure. <paramref name="vmid"/> is the current VMID; the
    /// operand's ASID is compared on the bits the implementation has (<paramref name="asidMask"/>). A range operation
    /// is decoded as if the regime had TCR.DS=0 (<see cref="Invalidate(in TlbiOperation, ushort, TranslationRegime, TranslationRegime)"/>
    /// takes a decoded one). <paramref name="e1Regime"/> and <paramref name="e2Regime"/> as there.
    /// </summary>
    public int Invalidate(TlbiOp op, ulong xt, ushort vmid, ushort asidMask,
        TranslationRegime e1Regime = TranslationRegime.El10, TranslationRegime e2Regime = TranslationRegime.El2) =>
        Invalidate(TlbiOperation.Decode(op, xt, asidMask, lpa2: false, twoRanges: TargetRegime(op, e1Regime, e2Regime).HasTwoVaRanges()),
            vmid, e1Regime, e2Regime);

    /// <summary>
    /// The translation regime whose entries a VA operation names: <paramref name="e1Regime"/> for the E1 forms (EL1&amp;0,
    /// or EL2&amp;0 when executed at EL2 with HCR_EL2.{E2H,TGE}={1,1}), <paramref name="e2Regime"/> for the E2 forms
    /// (EL2, or EL2&amp;0 with E2H=1).
    /// </summary>
    public static TranslationRegime TargetRegime(TlbiOp op, TranslationRegime e1Regime = TranslationRegime.El10,
        TranslationRegime e2Regime = TranslationRegime.El2) =>
        op.Local() is TlbiOp.ALLE2 or TlbiOp.VAE2 or TlbiOp.VALE2 or TlbiOp.RVAE2 or TlbiOp.RVALE2 ? e2Regime
        : op.ByIpa() || op.Local() is TlbiOp.VMALLS12E1 or TlbiOp.ALLE1 ? TranslationRegime.El10
        : e1Regime;

    /// <summary>
    /// Applies a decoded TLBI (arm-notes §8.2) to every structure; <paramref name="vmid"/> is the current VMID.
    /// Stage-2 information (IPA cache, stage-2 walk cache) goes only with VMALLS12E1, ALLE1 and (R)IPAS2*; combined
    /// VA→PA entries survive (R)IPAS2* until a VMALLE1 or VMALLS12E1, as the architecture allows. The IS and OS forms
    /// act here as the local form (one PE). By address, an entry goes when any part of what it translates lies in the
    /// named addresses (one address, or a range); a TTL hint never keeps an entry (the architecture allows the
    /// removal). <paramref name="e1Regime"/> is the regime the EL1 operations (VMALLE1, (R)VA*E1, ASIDE1) act on
    /// (EL2&amp;0 when executed at EL2 with HCR_EL2.{E2H,TGE}={1,1}); <paramref name="e2Regime"/> the one (R)VAE2 and
    /// (R)VALE2 act on (EL2&amp;0 with E2H=1, where they take the operand's ASID); ALLE2 removes the entries of both EL2
    /// regimes. Returns the number of entries removed.
    /// </summary>
    public int Invalidate(in TlbiOperation t, ushort vmid,
        TranslationRegime e1Regime = TranslationRegime.El10, TranslationRegime e2Regime = TranslationRegime.El2)
    {
        var scope = new TlbiScope { Vmid = vmid, Regimes = RegimeBit(e1Regime) };
        var op = t.Local;
        if (op.IsRange() && !t.NamesAddresses)
        {
            return 0; // TG reserved: nothing is named
        }
        Reach reach;
        switch (op)
        {
            case TlbiOp.VMALLE1:
                reach = Reach.Tlbs | Reach.Stage1Walk;
                break;
            case TlbiOp.VMALLS12E1:
                scope.Regimes = RegimeBit(TranslationRegime.El10);
                reach = Reach.Tlbs | Reach.Stage1Walk | Reach.Stage2Walk | Reach.Ipa;
                break;
            case TlbiOp.ALLE1:
                scope.Regimes = RegimeBit(TranslationRegime.El10);
                scope.AnyVmid = true;
                reach = Reach.Tlbs | Reach.Stage1Walk | Reach.Stage2Walk | Reach.Ipa;
                break;
            case TlbiOp.ALLE2:
                scope.Regimes = (byte)(RegimeBit(TranslationRegime.El2) | RegimeBit(TranslationRegime.El20));
                reach = Reach.Tlbs | Reach.Stage1Walk;
                break;
            case TlbiOp.VAE1:
            case TlbiOp.VALE1:
            case TlbiOp.RVAE1:
            case TlbiOp.RVALE1:
                scope.SetAddresses(in t);
                scope.ByAsid = true;
                scope.Asid = t.Asid;
                scope.GlobalsToo = true; // global entries from the final level: every TLB entry is final-level
                reach = op is TlbiOp.VAE1 or TlbiOp.RVAE1 ? Reach.Tlbs | Reach.Stage1Walk : Reach.Tlbs;
                break;
            case TlbiOp.VAAE1:
            case TlbiOp.VAALE1:
            case TlbiOp.RVAAE1:
            case TlbiOp.RVAALE1:
                scope.SetAddresses(in t);
                reach = op is TlbiOp.VAAE1 or TlbiOp.RVAAE1 ? Reach.Tlbs | Reach.Stage1Walk : Reach.Tlbs;
                break;
            case TlbiOp.ASIDE1:
                scope.ByAsid = true;
                scope.Asid = t.Asid;
                reach = Reach.Tlbs | Reach.Stage1Walk;
                break;
            case TlbiOp.IPAS2E1:
            case TlbiOp.IPAS2LE1:
            case TlbiOp.RIPAS2E1:
            case TlbiOp.RIPAS2LE1:
                scope.Regimes = RegimeBit(TranslationRegime.El10);
                scope.SetAddresses(in t);
                reach = op is TlbiOp.IPAS2E1 or TlbiOp.RIPAS2E1 ? Reach.Stage2Walk | Reach.Ipa : Reach.Ipa;
                break;
            default: // VAE2, VALE2, RVAE2, RVALE2
                scope.Regimes = RegimeBit(e2Regime);
                scope.SetAddresses(in t);
                if (e2Regime.HasAsid())
                {
                    // With E2H=1 they act as VAE1/VALE1 do in EL1&0: the ASID's entries and the global ones.
                    scope.ByAsid = true;
                    scope.Asid = t.Asid;
                    scope.GlobalsToo = true;
                }
                reach = op is TlbiOp.VAE2 or TlbiOp.RVAE2 ? Reach.Tlbs | Reach.Stage1Walk : Reach.Tlbs;
                break;
        }
        int removed = 0;
        if ((reach & Reach.Tlbs) != 0)
        {
            foreach (var tlb in Tlbs)
            {
                removed += tlb.Invalidate(ref scope);
            }
        }
        if ((reach & Reach.Stage1Walk) != 0)
        {
            foreach (var w in _stage1)
            {
                removed += w.Invalidate(ref scope);
            }
        }
        if ((reach & Reach.Stage2Walk) != 0)
        {
            foreach (var w in _stage2)
            {
                removed += w.Invalidate(ref scope);
            }
        }
        if ((reach & Reach.Ipa) != 0 && IpaCache is not null)
        {
            removed += IpaCache.Invalidate(ref scope);
        }
        return removed;
    }

    /// <summary>
    /// The entries one TLBI reaches within a structure: the regimes (EL1&amp;0, EL2, EL2&amp;0), in a regime with stage 2 the
    /// VMID unless any, optionally the address the entry covers, and optionally the ASID (non-global entries of that
    /// ASID, plus global entries when <see cref="GlobalsToo"/>). Walk-cache entries carry no global flag: they
    /// always count as non-global (arm-notes §8.3).
    /// </summary>
    private static byte RegimeBit(TranslationRegime regime) => (byte)(1 << (int)regime);

    private struct TlbiScope : IEntryMatch<TlbEntry>, IEntryMatch<WalkCacheEntry>, IEntryMatch<IpaCacheEntry>
    {
        /// <summary>The regimes reached, bit (1 &lt;&lt; regime).</summary>
        public byte Regimes;
        public bool AnyVmid;
        public ushort Vmid;
        public bool ByAddress;
        /// <summary>The addresses named, inclusive.</summary>
        public ulong First;
        public ulong Last;
        public bool ByAsid;
        public ushort Asid;
        public bool GlobalsToo;

        public void SetAddresses(in TlbiOperation t)
        {
            ByAddress = true;
            First = t.First;
            Last = t.Last;
        }

        private readonly bool Match(ulong ctx, ulong baseAddress, int shift)
        {
            var regime = ContextTag.Regime(ctx);
            if ((Regimes & RegimeBit(regime)) == 0)
            {
                return false;
            }
            if (regime.HasStage2() && !AnyVmid && ContextTag.Vmid(ctx) != Vmid)
            {
                return false;
            }
            if (ByAddress && shift < 64)
            {
                // The entry translates [base, base + 2^shift): reached when that meets [First, Last].
                ulong entryFirst = baseAddress & ~BitOps.Mask(shift);
                if (entryFirst > Last || (entryFirst | BitOps.Mask(shift)) < First)
                {
                    return false;
                }
            }
            if (ByAsid)
            {
                return ContextTag.IsGlobal(ctx) ? GlobalsToo : ContextTag.Asid(ctx) == Asid;
            }
            return true;
        }

        /// <summary>By VA, an entry is reached through the whole stage-1 leaf it came from, even if it holds a smaller piece.</summary>
        public readonly bool Matches(ulong ctx, ulong baseAddress, int shift, in TlbEntry entry) =>
            Match(ctx, baseAddress, Math.Max(shift, entry.S1Shift));

        public readonly bool Matches(ulong ctx, ulong baseAddress, int shift, in WalkCacheEntry entry) => Match(ctx, baseAddress, shift);

        public readonly bool Matches(ulong ctx, ulong baseAddress, int shift, in IpaCacheEntry entry) => Match(ctx, baseAddress, shift);
    }
}
