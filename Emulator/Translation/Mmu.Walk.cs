using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Translation.Acceleration;

namespace MmuSim.Translation;

// The translation itself, in the shape of the Arm ARM pseudocode: FullTranslate (stage 1, then stage 2 of its
// output), Stage1Leaf and S2Translate (the checks after a walk, in R_XCHFJ order) and one walk loop for both stages
// (AArch64.S1Walk / S2Walk). The host speed-ups are calls on the WalkAccelerator at four points of the loop.
public sealed partial class Mmu
{
    /// <summary>
    /// AArch64.FullTranslate: the regime of the access, the checks that need no table, stage 1 (walk, then the leaf
    /// checks, or the flat map when it is off), then stage 2 of its output when the regime has it enabled.
    /// </summary>
    private bool FullTranslate(in AccessRequest req, ref TranslationResult r)
    {
        var regime = RegimeAt(req.El); // TranslationRegimes.Of, decided once per register generation
        ref RegimeSnapshot rs = ref Snapshot(regime);
        bool s2On = rs.Stage2On;
        bool fetch = req.Type == AccessType.Fetch;
        ulong va = req.Va.Value;
        ulong ipa;
        byte s1Attr;
        byte s1Sh;
        int s1Shift;
        int s1Contig;

        bool s1On = rs.Stage1On;
        bool upper = UpperRange(ref rs, va);
        ref WalkParams p = ref Stage1Params(ref rs, upper);
        if (InputFault(in req, ref p, s1On, upper, out r.Fault))
        {
            return false;
        }
        r.TwoDimensional = s1On && s2On;

        if (!s1On)
        {
            // AArch64.S1DisabledOutput: flat map of the PAMax-bit address space.
            ipa = va & BitOps.Mask(_paMax);
            s1Shift = s1Contig = _paMax;
            r.Global = true;
            r.S1Permissions = Permissions.AllStage1;
            if (rs.DefaultCacheable)
            {
                s1Attr = 0xFF;
                s1Sh = 0;
            }
            else
            {
                if (!fetch && req.MisalignedData)
                {
                    // Data accesses are Device-nGnRnE with stage 1 off: a misaligned one is an Alignment fault.
                    r.Fault = FaultInfo.Alignment();
                    return false;
                }
                // Data: Device-nGnRnE; fetches: Normal, write-through if SCTLR.I else non-cacheable. Shareability
                // is reported as 0 in PAR, as QEMU 7.2 does (Device and NC become outer shareable once combined).
                s1Attr = !fetch ? Attributes.DeviceNGnRnE : rs.Sctlr.I ? (byte)0xEE : (byte)0x44;
                s1Sh = 0;
            }
        }
        else
        {
            _pathRegime = (byte)((int)regime * 2 + (upper ? 1 : 0));
            if (!Walk<Stage1Walk>(ref p, va, s2On, nested: false, rs.WalkCtx, WalkAccelerator.FrameSlotsS1, out WalkLeaf leaf, out r.Fault))
            {
                return false;
            }
            r.Level = (sbyte)leaf.Level;
            var sctlr = rs.Sctlr;
            // A misaligned data access to a stage-1 Device type faults after AF and before permission (R_XCHFJ).
            bool alignFault = !fetch && Attributes.IsDevice((byte)(rs.Mair >> (8 * (int)BitOps.Field(leaf.Descriptor, 4, 2))))
                && req.MisalignedData;
            if (!Stage1Leaf(ref p, ref leaf, in req, s2On, sctlr, alignFault, out r.Fault))
            {
                return false;
            }
            ipa = leaf.OutputBase | (va & BitOps.Mask(leaf.Shift));
            ulong mair = rs.Mair;
            s1Attr = (byte)(mair >> (8 * (int)BitOps.Field(leaf.Descriptor, 4, 2)));
            s1Sh = (byte)(p.Ds ? p.TcrSh : (int)BitOps.Field(leaf.Descriptor, 9, 8));
            s1Shift = leaf.Shift;
            // What a TLB entry holds, from the descriptor as it is now in memory (after any AF/dirty update): the
            // permissions of every EL and access type, whether a write must still set the dirty state, nG.
            r.Global = !rs.AsidTagged || !BitOps.Bit(leaf.Descriptor, 11);
            r.S1Permissions = _modes.UseCaches ? Permissions.Stage1Mask(leaf.Descriptor, leaf.TableAttrs, ref p, sctlr.Wxn) : (ushort)0;
            r.S1Clean = p.Hd && BitOps.Bit(leaf.Descriptor, 51) && BitOps.Bit(leaf.Descriptor, 7);
            r.S1DescriptorPa = leaf.DescriptorPa;
            r.S1Shift = (byte)leaf.Shift;
            s1Contig = ContiguousShift(ref p, in leaf);
        }

        // With stage 1 off (and no HCR_EL2.DC) data are Device-nGnRnE whatever a fetch's attributes say.
        bool flatDevice = !s1On && !rs.DefaultCacheable;
        r.Ipa = ipa;
        r.HasIpa = s2On;
        if (!s2On || req.At == AtMode.Stage1)
        {
            r.Pa = ipa;
            r.Attr = s1Attr;
            r.DataDevice = Attributes.IsDevice(s1Attr) || flatDevice;
            r.Sh = s1Sh;
            r.BlockShift = (byte)s1Shift;
            r.ContiguousShift = (byte)s1Contig;
            r.S2Permissions = Permissions.AllStage2;
            return true;
        }

        var s2Access = req.Type == AccessType.Write ? S2Access.Write : fetch ? S2Access.Fetch : S2Access.Read;
        if (!S2Translate(ipa, s2Access, s1ptw: false, el0: req.El == 0, isAt: req.At != AtMode.None, WalkAccelerator.FrameSlotsS2Final, out var s2,
            misalignedData: !fetch && req.MisalignedData))
        {
            r.Fault = s2.Fault;
            return false;
        }
        if (r.Level == -2)
        {
            r.Level = (sbyte)s2.Level;
        }
        r.Pa = s2.Pa;
        r.Attr = Attributes.Combine(s1Attr, Attributes.FromStage2(s2.MemAttr, _hcr.Cd));
        r.DataDevice = Attributes.IsDevice(r.Attr) || flatDevice;
        r.Sh = Attributes.CombineShareability(s1Sh, s2.Sh, r.Attr);
        r.BlockShift = (byte)Math.Min(s1Shift, s2.Shift);
        r.ContiguousShift = (byte)Math.Min(s1Contig, s2.ContiguousShift);
        r.S2Level = (sbyte)s2.Level;
        r.S2Permissions = _modes.UseCaches ? Permissions.Stage2Mask(s2.Descriptor, _s2.Hd, _xnx) : (byte)0;
        r.S2Clean = _s2.Hd && BitOps.Bit(s2.Descriptor, 51) && !BitOps.Bit(s2.Descriptor, 7);
        return true;
    }

    /// <summary>
    /// The size a cached entry for <paramref name="leaf"/> may cover: the whole contiguous group (Arm ARM D8.6.1,
    /// "The Contiguous bit") when coalescing is on, the Contiguous bit is set at a level that has it, the stage
    /// has no hardware AF/dirty update (those are made per descriptor, so one entry for the group would hide
    /// them), and every member of the group is a correctly programmed copy: same attributes, AF and permissions,
    /// consecutive output addresses. The group is checked in memory without counting descriptor reads; a
    /// misprogrammed group is simply cached page by page, so coalescing never changes a result.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ContiguousShift(ref WalkParams p, in WalkLeaf leaf) =>
        !_modes.UseCaches || !BitOps.Bit(leaf.Descriptor, 52) ? leaf.Shift : ContiguousGroupShift(ref p, in leaf);

    private int ContiguousGroupShift(ref WalkParams p, in WalkLeaf leaf)
    {
        if (!_caches!.CoalesceContiguous || p.Ha || !TranslationGeometry.ContiguousAllowed(p.Granule, leaf.Level, p.Ds))
        {
            return leaf.Shift;
        }
        int entries = TranslationGeometry.ContiguousEntries(p.Granule, leaf.Level);
        int log2 = System.Numerics.BitOperations.Log2((uint)entries);
        int groupShift = leaf.Shift + log2;
        if (groupShift > p.InputSize)
        {
            return leaf.Shift; // a group larger than the input range is a programming error: no coalescing
        }
        ulong groupBytes = (ulong)entries * 8;
        ulong firstPa = leaf.DescriptorPa & ~(groupBytes - 1);
        ulong member = (leaf.DescriptorPa - firstPa) >> 3;
        ulong groupOa = leaf.OutputBase - (member << leaf.Shift);
        if ((groupOa & BitOps.Mask(groupShift)) != 0)
        {
            return leaf.Shift;
        }
        ulong fieldMask = AddressFieldMask(ref p);
        ulong rest = leaf.Descriptor & ~fieldMask;
        for (int i = 0; i < entries; i++)
        {
            ulong d = _mem.Peek64(new PhysicalAddress(firstPa + ((ulong)i << 3)));
            if (p.BigEndian)
            {
                d = BinaryPrimitives.ReverseEndianness(d);
            }
            if ((d & ~fieldMask) != rest || DescriptorAddress(d, in p) != groupOa + ((ulong)i << leaf.Shift))
            {
                return leaf.Shift;
            }
        }
        return groupShift;
    }

    /// <summary>The descriptor bits that hold an output address (see <see cref="DescriptorAddress"/>).</summary>
    private static ulong AddressFieldMask(ref WalkParams p)
    {
        int g = (int)p.Granule;
        if (p.Ds)
        {
            return BitOps.Mask(49, g) | BitOps.Mask(9, 8);
        }
        return BitOps.Mask(47, g) | (p.Granule == Granule.K64 && p.Lpa ? BitOps.Mask(15, 12) : 0);
    }

    /// <summary>
    /// Which stage a <see cref="Walk{TStage}"/> instance serves. The loop is one source for both stages; the type only
    /// lets the compiler drop the stage-2 translation of table addresses from the stage-2 instance, whose loop is
    /// then smaller (nested walks run it four times per stage-1 walk).
    /// </summary>
    private interface IWalkStage
    {
        bool MayTranslateTables { get; }

        /// <summary>The stage (WalkParams.Stage of every walk of this instance), a constant for the compiler.</summary>
        byte Stage { get; }
    }

    private readonly struct Stage1Walk : IWalkStage
    {
        public bool MayTranslateTables => true;

        public byte Stage => 1;
    }

    private readonly struct Stage2Walk : IWalkStage
    {
        public bool MayTranslateTables => false;

        public byte Stage => 2;
    }

    private enum S2Access : byte
    {
        Read,
        Write,
        Fetch,
    }

    private struct S2Result
    {
        public ulong Pa;
        public int MemAttr;
        public byte Sh;
        public int Level;
        public int Shift;
        public int ContiguousShift;
        /// <summary>The leaf descriptor after any hardware update.</summary>
        public ulong Descriptor;
        public FaultInfo Fault;
    }

    /// <summary>
    /// The walk loop shared by both stages (AArch64.S1Walk / S2Walk): per level, index, descriptor fetch (through
    /// stage 2 for an EL1&amp;0 stage-1 table when <paramref name="s1ViaS2"/>), validity, output-address size, then
    /// descend or stop at a leaf. Geometry comes from <see cref="TranslationGeometry"/>; nothing is per level.
    /// </summary>
    private bool Walk<TStage>(ref WalkParams p, ulong ia, bool s1ViaS2, bool nested, ulong cacheCtx, int frameSlots, out WalkLeaf leaf, out FaultInfo fault)
        where TStage : struct, IWalkStage
    {
        leaf = default;
        fault = default;
        // What the loop needs from p, in locals: the stage-2 calls below are opaque to the compiler, which would
        // otherwise reload every field of p after each of them.
        var g = p.Granule;
        int stride = TranslationGeometry.Stride(g);
        int level = p.StartLevel;
        int indexBits = p.FirstLevelBits;
        ulong tableBase = p.TableBase;
        byte stage = default(TStage).Stage;
        Debug.Assert(p.Stage == stage);
        // An output address with any bit at or above the output size is an address size fault.
        ulong aboveOa = ~BitOps.Mask(p.OaSize);
        bool plainAddress = !p.Ds && !(g == Granule.K64 && p.Lpa); // the output address is bits [47:g] alone
        ulong addressMask = BitOps.Mask(47, (int)g);
        // SCTLR_ELx.EE: the 64-bit descriptor is stored big-endian; decided once per regime snapshot, swapped only then.
        bool bigEndian = p.BigEndian;
        var record = Record;
        int tableAttrs = 0;
        // A walk cache holds table descriptors already read: the walk resumes below the deepest one that covers
        // the input address, with the table attributes accumulated above it.
        bool walkCache = stage == 1 ? _modes.WalkCache1 : _modes.WalkCache2;
        if (walkCache && _caches!.TryResume(stage, nested, cacheCtx, ia, g, level, record, out var resume))
        {
            level = resume.Level + 1;
            tableBase = resume.NextTable;
            tableAttrs = resume.TableAttrs;
            indexBits = stride;
        }
        // The path memo (stage 1 only, a host speed-up): the walk down to the last-level table, by the block of VAs
        // it maps.
        bool pathMemo = default(TStage).MayTranslateTables && _modes.PathMemo && level < 3 && !walkCache;
        WalkAccelerator.PathMark path = default;
        if (pathMemo && _accel.TryPath(ia, g, (byte)(_pathRegime | (s1ViaS2 ? 0x80 : 0)), out path, out ulong table, out int attrs))
        {
            level = 3;
            tableBase = table;
            tableAttrs = attrs;
            indexBits = stride;
            pathMemo = false;
        }
        int shift = TranslationGeometry.LevelShift(g, level);
        ulong indexMask = BitOps.Mask(indexBits);
        while (true)
        {
            int index = (int)((ia >> shift) & indexMask);
            ulong descAddr = tableBase + ((ulong)index << 3);
            ulong descPa = descAddr;
            if (default(TStage).MayTranslateTables && s1ViaS2)
            {
                // Stage-1 descriptor addresses are IPAs: translate them through stage 2 as reads; a stage-2 fault
                // here is reported with S1PTW=1 and the descriptor's IPA (Arm ARM D8.2.x, "nested walks").
                if (!(_modes.Stage2MemoTableReads && _accel.TryTableRead(descAddr, out descPa)))
                {
                    if (!S2Translate(descAddr, S2Access.Read, s1ptw: true, el0: false, isAt: false, WalkAccelerator.FrameSlotsS2ForS1Table(level), out var s2))
                    {
                        record.Add(new WalkStep { Kind = StepKind.Read, Stage = stage, Level = (sbyte)level, TableBase = tableBase, Index = index, DescriptorAddress = descAddr, InputAddress = ia, Nested = nested, NotRead = true });
                        fault = s2.Fault;
                        return false;
                    }
                    descPa = s2.Pa;
                }
            }
            ulong desc = _accel.ReadDescriptor(frameSlots + level + 1, descPa);
            if (bigEndian)
            {
                desc = BinaryPrimitives.ReverseEndianness(desc);
            }
            bool aborted = _accel.ReadAborted;
            record.AddRead(stage, level, nested, tableBase, index, descAddr, descPa, desc, ia, aborted);
            if (aborted)
            {
                _accel.ReadAborted = false;
                fault = MakeFault(stage, FaultType.ExternalWalk, level, ia, nested);
                return false;
            }
            // bit0=0: invalid. bits[1:0]=01 at level 3: reserved. 01 below level 3: a block, if this level allows one.
            bool isTable = (desc & 2) != 0;
            if ((desc & 1) == 0 || (level == 3 && !isTable)
                || (!isTable && !TranslationGeometry.BlockAllowed(g, level, p.Ds, p.Lpa)))
            {
                fault = MakeFault(stage, FaultType.Translation, level, ia, nested);
                return false;
            }
            ulong address = plainAddress ? desc & addressMask : DescriptorAddress(desc, in p);
            if ((address & aboveOa) != 0)
            {
                fault = MakeFault(stage, FaultType.AddressSize, level, ia, nested);
                return false;
            }
            if (isTable && level < 3)
            {
                tableAttrs |= (int)(desc >> 59) & 0xF;
                if (walkCache)
                {
                    _caches!.FillTable(stage, cacheCtx, ia, g, new TableEntry { NextTable = address, TableAttrs = tableAttrs, Level = (sbyte)level });
                }
                if (pathMemo && level == 2)
                {
                    _accel.RememberPath(in path, address, tableAttrs);
                }
                tableBase = address;
                level++;
                shift -= stride;
                indexMask = (1UL << stride) - 1; // stride ≤ 13
                continue;
            }
            if (level == 3 && g == Granule.K4 && !bigEndian)
            {
                // (The prefetch hints read little-endian descriptors straight from host frames: none for big-endian walks.)
                _accel.NoteLastLevelTable(stage, ia, descPa, frameSlots + level + 1, default(TStage).MayTranslateTables && s1ViaS2 ? tableBase : 0);
            }
            leaf.Descriptor = desc;
            leaf.DescriptorAddress = descAddr;
            leaf.DescriptorPa = descPa;
            leaf.Level = level;
            leaf.Shift = shift;
            leaf.OutputBase = address & ~BitOps.Mask(shift);
            leaf.TableAttrs = tableAttrs;
            return true;
        }
    }

    /// <summary>
    /// The output (or next-table) address of a descriptor: bits [47:g]; with DS also [49:48] and [51:50] from
    /// bits [9:8]; with 64K and FEAT_LPA, OA[51:48] from bits [15:12] (so with an output size below 52 bits they
    /// raise the address size fault the architecture requires).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong DescriptorAddress(ulong desc, in WalkParams p)
    {
        int g = (int)p.Granule;
        if (p.Ds)
        {
            return (desc & BitOps.Mask(49, g)) | (BitOps.Field(desc, 9, 8) << 50);
        }
        ulong a = desc & BitOps.Mask(47, g);
        if (p.Granule == Granule.K64 && p.Lpa)
        {
            a |= BitOps.Field(desc, 15, 12) << 48;
        }
        return a;
    }

    /// <summary>A walk fault of <paramref name="stage"/> (kept out of line: the walk loop stays small).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static FaultInfo MakeFault(byte stage, FaultType type, int level, ulong ia, bool nested) =>
        stage == 1
            ? FaultInfo.Stage1(type, level)
            : FaultInfo.Stage2(type, level, new IntermediatePhysicalAddress(ia), nested);

    /// <summary>
    /// Stage-1 leaf checks in priority order (R_XCHFJ): access flag, memory-type alignment
    /// (<paramref name="alignFault"/>: a misaligned data access to Device memory), then permission (with PSTATE.PAN
    /// when the request says so); then the hardware AF/dirty update, whose write of a stage-1 descriptor is itself
    /// translated through stage 2 as a write.
    /// </summary>
    private bool Stage1Leaf(ref WalkParams p, ref WalkLeaf leaf, in AccessRequest req, bool s2On, Sctlr sctlr, bool alignFault, out FaultInfo fault)
    {
        fault = default;
        ulong desc = leaf.Descriptor;
        ulong newDesc = desc;
        if (!BitOps.Bit(desc, 10))
        {
            if (!p.Ha)
            {
                fault = FaultInfo.Stage1(FaultType.AccessFlag, leaf.Level);
                return false;
            }
            newDesc |= 1UL << 10;
        }
        if (alignFault)
        {
            fault = FaultInfo.Alignment();
            return false;
        }
        bool dbm = p.Hd && BitOps.Bit(desc, 51);
        Permissions.Stage1Inputs(desc, leaf.TableAttrs, ref p, out int ap, out int apClean, out bool xn, out bool pxn);
        if (!Permissions.Stage1Permits(req.Type == AccessType.Write ? ap : apClean, xn, pxn, p.TwoRanges, sctlr.Wxn, req.El, req.Type, req.Pan))
        {
            fault = FaultInfo.Stage1(FaultType.Permission, leaf.Level);
            return false;
        }
        // AT never updates the dirty state (it may update AF, as QEMU does).
        if (dbm && req.Type == AccessType.Write && req.At == AtMode.None && BitOps.Bit(desc, 7))
        {
            newDesc &= ~(1UL << 7);
        }
        if (newDesc != desc)
        {
            ulong pa = leaf.DescriptorPa;
            if (s2On)
            {
                // The update is a write to the descriptor's IPA and needs stage-2 write permission (S1PTW=1).
                if (!S2Translate(leaf.DescriptorAddress, S2Access.Write, s1ptw: true, el0: false, isAt: false, WalkAccelerator.FrameSlotsS2ForS1Table(leaf.Level), out var s2))
                {
                    fault = s2.Fault;
                    return false;
                }
                pa = s2.Pa;
            }
            WriteBack(1, leaf.Level, leaf.DescriptorAddress, pa, desc, newDesc, p.BigEndian);
            leaf.Descriptor = newDesc;
        }
        return true;
    }

    /// <summary>
    /// A full stage-2 lookup of one IPA: T0SZ/SL0 configuration, IPA range, VTTBR base, the walk, access flag,
    /// permission, HCR_EL2.PTW for table walks, then the hardware AF/dirty update. A misaligned data access
    /// (<paramref name="misalignedData"/>) to stage-2 Device memory is a stage-2 Alignment fault, after AF and before
    /// permission.
    /// </summary>
    private bool S2Translate(ulong ipa, S2Access access, bool s1ptw, bool el0, bool isAt, int frameSlots, out S2Result result, bool misalignedData = false)
    {
        result = default;
        ref WalkParams p = ref _s2;
        var ipaTyped = new IntermediatePhysicalAddress(ipa);
        if (p.ConfigFault || BitOps.AnyAbove(ipa, p.InputSize))
        {
            result.Fault = FaultInfo.Stage2(FaultType.Translation, 0, ipaTyped, s1ptw);
            return false;
        }
        if (p.BaseAddressSizeFault)
        {
            result.Fault = FaultInfo.Stage2(FaultType.AddressSize, 0, ipaTyped, s1ptw);
            return false;
        }
        // The IPA cache holds stage-2 leaves as they are in memory; every check below runs on the cached descriptor
        // exactly as on one just read. Only a write that must set the dirty state walks anyway: hardware updates
        // are made by walks (the cached copy is then replaced by the updated one).
        WalkLeaf leaf = default;
        bool cached = false;
        Stage2LeafEntry hit = default;
        if (_modes.IpaCache && _caches!.TryStage2Leaf(_walkCtxS2, ipa, p.StartLevel, s1ptw, Record, out hit))
        {
            bool mustSetDirty = access == S2Access.Write && !isAt && p.Hd && BitOps.Bit(hit.Descriptor, 51) && !BitOps.Bit(hit.Descriptor, 7);
            if (!mustSetDirty)
            {
                cached = true;
                leaf.Descriptor = hit.Descriptor;
                leaf.Level = hit.Level;
                leaf.Shift = hit.Shift;
                leaf.OutputBase = hit.OutputBase | (ipa & BitOps.Mask(hit.GroupShift) & ~BitOps.Mask(hit.Shift));
            }
        }
        if (!cached && !S2Walk(ipa, s1ptw, frameSlots, out leaf, out result.Fault))
        {
            return false;
        }
        result.Level = leaf.Level;
        ulong desc = leaf.Descriptor;
        ulong newDesc = desc;
        if (!BitOps.Bit(desc, 10))
        {
            if (!p.Ha)
            {
                result.Fault = FaultInfo.Stage2(FaultType.AccessFlag, leaf.Level, ipaTyped, s1ptw);
                return false;
            }
            newDesc |= 1UL << 10;
        }
        int s2ap = (int)BitOps.Field(desc, 7, 6);
        bool dbm = p.Hd && BitOps.Bit(desc, 51);
        if (dbm)
        {
            s2ap |= 2; // writable-clean counts as writable
        }
        int memAttr = (int)BitOps.Field(desc, 5, 2);
        if (misalignedData && Attributes.IsStage2Device(memAttr))
        {
            result.Fault = FaultInfo.Alignment(2, ipaTyped);
            return false;
        }
        bool write = access == S2Access.Write;
        if (!Permissions.Stage2Permits(s2ap, (int)BitOps.Field(desc, 54, 53), _xnx, el0, access == S2Access.Read, write, access == S2Access.Fetch)
            || (s1ptw && !write && _hcr.Ptw && Attributes.IsStage2Device(memAttr)))
        {
            // HCR_EL2.PTW: a stage-1 walk that lands in stage-2 Device memory is a stage-2 permission fault.
            result.Fault = FaultInfo.Stage2(FaultType.Permission, leaf.Level, ipaTyped, s1ptw);
            return false;
        }
        if (dbm && write && !isAt && !BitOps.Bit(desc, 7))
        {
            newDesc |= 1UL << 7;
        }
        if (newDesc != desc)
        {
            WriteBack(2, leaf.Level, leaf.DescriptorAddress, leaf.DescriptorPa, desc, newDesc, p.BigEndian);
            leaf.Descriptor = newDesc;
        }
        result.Pa = leaf.OutputBase | (ipa & BitOps.Mask(leaf.Shift));
        if (s1ptw && access == S2Access.Read && _modes.Stage2MemoTableReads && newDesc == desc)
        {
            _accel.MarkTableReadable(ipa, result.Pa);
        }
        result.MemAttr = memAttr;
        result.Sh = (byte)(p.Ds ? p.TcrSh : (int)BitOps.Field(desc, 9, 8));
        result.Shift = leaf.Shift;
        result.Descriptor = leaf.Descriptor;
        result.ContiguousShift = cached ? hit.GroupShift : ContiguousShift(ref p, in leaf);
        if (!cached && _modes.IpaCache)
        {
            int group = result.ContiguousShift;
            _caches!.FillStage2Leaf(_walkCtxS2, ipa, new Stage2LeafEntry
            {
                Descriptor = leaf.Descriptor,
                OutputBase = leaf.OutputBase & ~BitOps.Mask(group),
                Level = (sbyte)leaf.Level,
                Shift = (byte)leaf.Shift,
                GroupShift = (byte)group,
            });
        }
        return true;
    }

    /// <summary>
    /// The stage-2 walk of <paramref name="ipa"/> (AArch64.S2Walk); for a stage-1 table access (S1PTW) with the
    /// stage-2 walk memo on, replayed from the memo when it holds the walk, and kept there when it does not.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool S2Walk(ulong ipa, bool s1ptw, int frameSlots, out WalkLeaf leaf, out FaultInfo fault) =>
        s1ptw && _modes.Stage2Memo
            ? S2WalkForTable(ipa, frameSlots, out leaf, out fault)
            : Walk<Stage2Walk>(ref _s2, ipa, s1ViaS2: false, nested: s1ptw, _walkCtxS2, frameSlots, out leaf, out fault);

    [MethodImpl(MethodImplOptions.NoInlining)] // the memo's bookkeeping stays out of the stage-1 walk loop
    private bool S2WalkForTable(ulong ipa, int frameSlots, out WalkLeaf leaf, out FaultInfo fault)
    {
        if (_accel.TryReplayStage2Walk(ipa, out leaf))
        {
            fault = default;
            return true;
        }
        var mark = _accel.RecordMark;
        if (!Walk<Stage2Walk>(ref _s2, ipa, s1ViaS2: false, nested: true, _walkCtxS2, frameSlots, out leaf, out fault))
        {
            return false;
        }
        _accel.RememberStage2Walk(ipa, in leaf, mark, _s2.StartLevel);
        return true;
    }

    /// <summary>
    /// A hardware AF/dirty update of a descriptor: written in the walk's byte order (big-endian when SCTLR_ELx.EE=1,
    /// as the pseudocode's descriptor update reverses it); the record holds the descriptor's value.
    /// </summary>
    private void WriteBack(int stage, int level, ulong descAddr, ulong descPa, ulong oldValue, ulong newValue, bool bigEndian)
    {
        if (!DryRun)
        {
            _mem.Write64(new PhysicalAddress(descPa), bigEndian ? BinaryPrimitives.ReverseEndianness(newValue) : newValue);
            HardwareUpdates++;
        }
        Record.Add(new WalkStep
        {
            Kind = StepKind.Update,
            Stage = (byte)stage,
            Level = (sbyte)level,
            DescriptorAddress = descAddr,
            DescriptorPa = descPa,
            Descriptor = newValue,
            OldDescriptor = oldValue,
        });
    }
}
