using MmuSim.Bits;
using MmuSim.Faults;

namespace MmuSim.Translation;

/// <summary>
/// The permission checks of a leaf (Arm ARM D8.4 "Memory access control"): stage-1 direct permissions with the
/// hierarchical APTable/XNTable/PXNTable, stage-2 S2AP and XN; and the same decisions tabulated for every EL and
/// access type as the masks a TLB entry carries, so a TLB hit faults exactly when a walk would.
/// </summary>
internal static class Permissions
{
    /// <summary>
    /// The inputs of the stage-1 permission check of a leaf. With HD, DBM=1 makes AP[2] a dirty bit:
    /// writable-clean counts as writable for the write check (<paramref name="ap"/>), before APTable applies, so it
    /// is only "writable" when AP[2] is the only thing that would refuse the write. Writable-clean changes nothing
    /// else: "EL0-writable implies PXN" and WXN look at AP as programmed (<paramref name="apClean"/>; QEMU 7.2 and
    /// the checked corpus). Hierarchical attributes apply unless HPD.
    /// </summary>
    internal static void Stage1Inputs(ulong desc, int tableAttrs, ref WalkParams p, out int ap, out int apClean, out bool xn, out bool pxn)
    {
        ap = (int)BitOps.Field(desc, 7, 6);
        apClean = ap;
        if (p.Hd && BitOps.Bit(desc, 51))
        {
            ap &= 1;
        }
        xn = BitOps.Bit(desc, 54);
        pxn = BitOps.Bit(desc, 53);
        if (!p.Hpd)
        {
            if ((tableAttrs & 4) != 0)
            {
                ap &= 2; // APTable[0]: no EL0 access
                apClean &= 2;
            }
            if ((tableAttrs & 8) != 0)
            {
                ap |= 2; // APTable[1]: read-only
                apClean |= 2;
            }
            xn |= (tableAttrs & 2) != 0;
            pxn |= (tableAttrs & 1) != 0;
        }
    }

    /// <summary>
    /// Stage-1 direct permissions (Arm ARM D8.4.1): AP[2:1] for data; UXN/PXN for fetches, with EL0-writable
    /// implying PXN and SCTLR.WXN making writable memory execute-never. One-range regimes use AP[2] and XN only.
    /// With <paramref name="pan"/> (PSTATE.PAN=1 on a privileged data access of a two-range regime), a page that
    /// EL0 may access (AP[1]=1 after APTable[0]) permits neither read nor write (FEAT_PAN); fetches are unaffected.
    /// </summary>
    internal static bool Stage1Permits(int ap, bool xn, bool pxn, bool twoRanges, bool wxn, int el, AccessType type, bool pan = false)
    {
        if (pan && twoRanges && el != 0 && type != AccessType.Fetch && (ap & 1) != 0)
        {
            return false;
        }
        bool privWrite = (ap & 2) == 0;
        if (!twoRanges)
        {
            return type switch
            {
                AccessType.Read => true,
                AccessType.Write => privWrite,
                _ => !xn && !(wxn && privWrite),
            };
        }
        bool userRead = (ap & 1) != 0;
        bool userWrite = ap == 1;
        if (el == 0)
        {
            return type switch
            {
                AccessType.Read => userRead,
                AccessType.Write => userWrite,
                _ => !xn && !(wxn && userWrite),
            };
        }
        return type switch
        {
            AccessType.Read => true,
            AccessType.Write => privWrite,
            _ => !pxn && !userWrite && !(wxn && privWrite),
        };
    }

    /// <summary>
    /// Stage-2 permission (Arm ARM D8.4.3): S2AP[0] read, S2AP[1] write; execute from XN[1:0], split by EL with
    /// FEAT_XNX, else XN[1] alone.
    /// </summary>
    internal static bool Stage2Permits(int s2ap, int xn, bool xnx, bool el0, bool read, bool write, bool fetch)
    {
        if (fetch)
        {
            if (!xnx)
            {
                return (xn & 2) == 0;
            }
            return xn switch { 0 => true, 1 => el0, 2 => false, _ => !el0 };
        }
        if (write)
        {
            return (s2ap & 2) != 0;
        }
        return !read || (s2ap & 1) != 0;
    }

    /// <summary>
    /// Every stage-1 permission bit (EL0..EL2 × read, write, fetch, then a privileged access under PSTATE.PAN: bits
    /// <see cref="PanIndex"/> + type).
    /// </summary>
    public const ushort AllStage1 = 0xFFF;

    /// <summary>The mask bit of a privileged access (EL1, or EL2 in EL2&amp;0) with PSTATE.PAN=1: index + access type.</summary>
    public const int PanIndex = 9;

    /// <summary>The stage-1 mask bit of an access: el·3 + type, or <see cref="PanIndex"/> + type under PAN.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static int MaskIndex(int el, AccessType type, bool pan) => (pan ? PanIndex : el * 3) + (int)type;

    /// <summary>Every stage-2 permission bit (EL0, EL1 × read, write, fetch).</summary>
    public const byte AllStage2 = 0x3F;

    /// <summary>
    /// Stage-1 permissions of a leaf for every EL and access type: bit (el·3 + type), and bits 9..11 for EL1 under
    /// PSTATE.PAN (<see cref="MaskIndex"/>), decided by the same
    /// <see cref="Stage1Inputs"/> and <see cref="Stage1Permits"/> as a walk, so a TLB hit faults exactly
    /// when a walk would.
    /// </summary>
    internal static ushort Stage1Mask(ulong desc, int tableAttrs, ref WalkParams p, bool wxn)
    {
        Stage1Inputs(desc, tableAttrs, ref p, out int ap, out int apClean, out bool xn, out bool pxn);
        int key = ap | apClean << 2 | (xn ? 16 : 0) | (pxn ? 32 : 0) | (p.TwoRanges ? 64 : 0) | (wxn ? 128 : 0);
        return Stage1Masks[key];
    }

    // Every walk that fills a TLB needs the mask of all 9 (EL, access) pairs; the inputs are 8 bits, so the masks are
    // tabulated once from the same Stage1Permits a walk uses (a table, not a second copy of the rules).
    private static readonly ushort[] Stage1Masks = BuildStage1Masks();

    private static ushort[] BuildStage1Masks()
    {
        var masks = new ushort[256];
        for (int key = 0; key < 256; key++)
        {
            int ap = key & 3, apClean = (key >> 2) & 3;
            bool xn = (key & 16) != 0, pxn = (key & 32) != 0, twoRanges = (key & 64) != 0, wxn = (key & 128) != 0;
            int mask = 0;
            for (int el = 0; el <= 3; el++)
            {
                for (int t = 0; t < 3; t++)
                {
                    var type = (AccessType)t;
                    bool pan = el == 3;
                    if (Stage1Permits(type == AccessType.Write ? ap : apClean, xn, pxn, twoRanges, wxn, pan ? 1 : el, type, pan))
                    {
                        mask |= 1 << (el * 3 + t);
                    }
                }
            }
            masks[key] = (ushort)mask;
        }
        return masks;
    }

    /// <summary>Stage-2 permissions of a leaf: bit ((el == 0 ? 0 : 3) + type), as <see cref="Stage2Permits"/> decides.</summary>
    internal static byte Stage2Mask(ulong desc, bool hd, bool xnx)
    {
        int s2ap = (int)BitOps.Field(desc, 7, 6);
        if (hd && BitOps.Bit(desc, 51))
        {
            s2ap |= 2; // writable-clean counts as writable
        }
        return Stage2Masks[s2ap | (int)BitOps.Field(desc, 54, 53) << 2 | (xnx ? 16 : 0)];
    }

    /// <summary>Stage-2 masks for every (S2AP, XN, XNX), tabulated from <see cref="Stage2Permits"/>.</summary>
    private static readonly byte[] Stage2Masks = BuildStage2Masks();

    private static byte[] BuildStage2Masks()
    {
        var masks = new byte[32];
        for (int key = 0; key < 32; key++)
        {
            int s2ap = key & 3, xn = (key >> 2) & 3;
            bool xnx = (key & 16) != 0;
            int mask = 0;
            for (int e = 0; e < 2; e++)
            {
                for (int t = 0; t < 3; t++)
                {
                    if (Stage2Permits(s2ap, xn, xnx, el0: e == 0, read: t == 0, write: t == 1, fetch: t == 2))
                    {
                        mask |= 1 << (e * 3 + t);
                    }
                }
            }
            masks[key] = (byte)mask;
        }
        return masks;
    }
}
