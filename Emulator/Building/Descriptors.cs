using MmuSim.Addressing;
using MmuSim.Bits;

namespace MmuSim.Building;

/// <summary>
/// Encoders for VMSAv8-64 descriptors (Arm ARM D8.3): the inverse of what the walker decodes. Used by the
/// page-table builder, the hypervisor cell builder, demand paging and the tests.
/// </summary>
public static class Descriptors
{
    /// <summary>
    /// Places an output or next-table address in a descriptor: bits [47:g]; with DS, OA[49:48] in [49:48] and
    /// OA[51:50] in [9:8]; with 64K and a 52-bit address, OA[51:48] in [15:12].
    /// </summary>
    public static ulong EncodeAddress(ulong address, Granule g, bool ds)
    {
        int gs = (int)g;
        if (ds)
        {
            return (address & BitOps.Mask(49, gs)) | (BitOps.Field(address, 51, 50) << 8);
        }
        ulong d = address & BitOps.Mask(47, gs);
        if (g == Granule.K64)
        {
            d |= BitOps.Field(address, 51, 48) << 12;
        }
        return d;
    }

    /// <summary>A table descriptor (bits[1:0]=11) with optional stage-1 table attributes.</summary>
    public static ulong Table(ulong nextTable, Granule g, bool ds = false, int apTable = 0, bool uxnTable = false, bool pxnTable = false) =>
        EncodeAddress(nextTable, g, ds) | 0b11
        | ((ulong)(apTable & 3) << 61) | (uxnTable ? 1UL << 60 : 0) | (pxnTable ? 1UL << 59 : 0);

    /// <summary>
    /// A stage-1 block (level &lt; 3) or page (level 3) descriptor. <paramref name="ap"/> is AP[2:1]
    /// (0 = RW EL1, 1 = RW EL0/EL1, 2 = RO EL1, 3 = RO EL0/EL1).
    /// </summary>
    public static ulong Stage1Leaf(ulong oa, int level, Granule g, int attrIndx = 0, int ap = 0, int sh = 3, bool af = true,
        bool nG = false, bool uxn = false, bool pxn = false, bool contiguous = false, bool dbm = false, bool ds = false) =>
        EncodeAddress(oa, g, ds) | (level == 3 ? 0b11UL : 0b01UL)
        | ((ulong)(attrIndx & 7) << 2) | ((ulong)(ap & 3) << 6) | (ds ? 0 : (ulong)(sh & 3) << 8)
        | (af ? 1UL << 10 : 0) | (nG ? 1UL << 11 : 0) | (dbm ? 1UL << 51 : 0) | (contiguous ? 1UL << 52 : 0)
        | (pxn ? 1UL << 53 : 0) | (uxn ? 1UL << 54 : 0);

    /// <summary>
    /// A stage-2 block or page descriptor. <paramref name="s2ap"/>: 0 none, 1 RO, 2 WO, 3 RW. <paramref name="xn"/> is
    /// XN[1:0] (bits [54:53]). <paramref name="memAttr"/> is MemAttr[3:0] (0xF Normal WB, 0x1 Device-nGnRE).
    /// </summary>
    public static ulong Stage2Leaf(ulong oa, int level, Granule g, int memAttr = 0xF, int s2ap = 3, int sh = 3, bool af = true,
        int xn = 0, bool contiguous = false, bool dbm = false, bool ds = false) =>
        EncodeAddress(oa, g, ds) | (level == 3 ? 0b11UL : 0b01UL)
        | ((ulong)(memAttr & 0xF) << 2) | ((ulong)(s2ap & 3) << 6) | (ds ? 0 : (ulong)(sh & 3) << 8)
        | (af ? 1UL << 10 : 0) | (dbm ? 1UL << 51 : 0) | (contiguous ? 1UL << 52 : 0) | ((ulong)(xn & 3) << 53);

    /// <summary>Replaces the address field of a leaf or table descriptor, keeping every attribute.</summary>
    public static ulong WithAddress(ulong descriptor, ulong address, Granule g, bool ds)
    {
        ulong fieldMask = EncodeAddress(ulong.MaxValue, g, ds);
        return (descriptor & ~fieldMask) | EncodeAddress(address, g, ds);
    }
}
