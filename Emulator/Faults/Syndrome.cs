using MmuSim.Addressing;
using MmuSim.Bits;

namespace MmuSim.Faults;

/// <summary>
/// Pure encoders from fault facts to the architectural registers: FSC (Arm ARM ESR_ELx.DFSC/IFSC),
/// ESR_ELx for aborts, HPFAR_EL2 and PAR_EL1 (64-bit format).
/// </summary>
public static class Syndrome
{
    public const int EcInstructionAbortLowerEl = 0x20;
    public const int EcInstructionAbortSameEl = 0x21;
    public const int EcDataAbortLowerEl = 0x24;
    public const int EcDataAbortSameEl = 0x25;

    /// <summary>
    /// Long-descriptor fault status code. Level −1 (FEAT_LPA2) has its own codes:
    /// 0x29 address size, 0x2B translation, 0x13 external abort on walk.
    /// </summary>
    public static int Fsc(FaultType type, int level)
    {
        int l = level & 3;
        return type switch
        {
            FaultType.AddressSize => level < 0 ? 0b101001 : 0b000000 | l,
            FaultType.Translation => level < 0 ? 0b101011 : 0b000100 | l,
            FaultType.AccessFlag => 0b001000 | l,
            FaultType.Permission => 0b001100 | l,
            FaultType.ExternalWalk => level < 0 ? 0b010011 : 0b010100 | l,
            FaultType.Alignment => 0b100001,
            _ => 0,
        };
    }

    /// <summary>Decodes an FSC into (type, level); unknown codes give <see cref="FaultType.None"/>.</summary>
    public static (FaultType Type, int Level, string Description) DecodeFsc(int fsc)
    {
        int l = fsc & 3;
        return (fsc >> 2) switch
        {
            0b0000 => (FaultType.AddressSize, l, $"Address size fault, level {l}"),
            0b0001 => (FaultType.Translation, l, $"Translation fault, level {l}"),
            0b0010 => (FaultType.AccessFlag, l, $"Access flag fault, level {l}"),
            0b0011 => (FaultType.Permission, l, $"Permission fault, level {l}"),
            0b0101 => (FaultType.ExternalWalk, l, $"Synchronous External abort on translation table walk, level {l}"),
            _ => fsc switch
            {
                0b101001 => (FaultType.AddressSize, -1, "Address size fault, level -1"),
                0b101011 => (FaultType.Translation, -1, "Translation fault, level -1"),
                0b010011 => (FaultType.ExternalWalk, -1, "Synchronous External abort on translation table walk, level -1"),
                0b010000 => (FaultType.None, 0, "Synchronous External abort, not on a translation table walk"),
                0b011000 => (FaultType.None, 0, "Synchronous parity or ECC error on memory access"),
                0b100001 => (FaultType.Alignment, FaultInfo.NoLevel, "Alignment fault"),
                0b100010 => (FaultType.None, 0, "Debug exception"),
                0b110000 => (FaultType.None, 0, "TLB conflict abort"),
                0b110001 => (FaultType.None, 0, "Unsupported atomic hardware update fault"),
                0b110100 => (FaultType.None, 0, "IMPLEMENTATION DEFINED fault (Lockdown)"),
                0b110101 => (FaultType.None, 0, "IMPLEMENTATION DEFINED fault (Unsupported Exclusive or Atomic access)"),
                _ when (fsc >> 2) == 0b0111 => (FaultType.None, l, $"Synchronous parity or ECC error on translation table walk, level {l}"),
                _ => (FaultType.None, 0, $"reserved or unknown status code 0x{fsc:x2}"),
            },
        };
    }

    /// <summary>
    /// ESR_ELx for an MMU abort: EC (data or instruction abort, lower or same EL), IL=1, ISS with
    /// S1PTW [7], WnR [6] (data aborts only: the direction of the instruction, QEMU-compatible also for
    /// S1PTW) and the FSC. ISV is 0: a trace carries no register information.
    /// </summary>
    public static ulong Esr(in FaultInfo fault, AccessType access, int fromEl, int targetEl, bool cacheMaintenance = false)
    {
        bool lower = fromEl < targetEl;
        int ec = access == AccessType.Fetch
            ? (lower ? EcInstructionAbortLowerEl : EcInstructionAbortSameEl)
            : (lower ? EcDataAbortLowerEl : EcDataAbortSameEl);
        ulong iss = (ulong)Fsc(fault.Type, fault.Level);
        if (fault.S1Ptw)
        {
            iss |= 1UL << 7;
        }
        if (access != AccessType.Fetch)
        {
            if (access == AccessType.Write || cacheMaintenance)
            {
                iss |= 1UL << 6;
            }
            if (cacheMaintenance)
            {
                iss |= 1UL << 8;
            }
        }
        return ((ulong)ec << 26) | (1UL << 25) | iss;
    }

    /// <summary>HPFAR_EL2.FIPA [43:4] = IPA[51:12].</summary>
    public static ulong Hpfar(IntermediatePhysicalAddress ipa) => ((ipa.Value >> 12) << 4) & BitOps.Mask(43, 4);

    /// <summary>PAR_EL1 for a failed AT: F=1, FST [6:1], PTW [8], S [9], and bit 11 (RES1).</summary>
    public static ulong ParFault(in FaultInfo fault)
    {
        ulong par = 1UL | ((ulong)Fsc(fault.Type, fault.Level) << 1) | (1UL << 11);
        if (fault.S1Ptw)
        {
            par |= 1UL << 8;
        }
        if (fault.Stage == 2)
        {
            par |= 1UL << 9;
        }
        return par;
    }

    /// <summary>
    /// PAR_EL1 for a successful AT: PA[51:12], ATTR [63:56] (MAIR encoding), SH [8:7], NS [9] set as
    /// QEMU reports for the Non-secure state, and bit 11 (RES1).
    /// </summary>
    /// <remarks>
    /// PAR_EL1.SH: "This field returns the value 0b10 for Device memory and for Normal memory that is Inner
    /// Non-cacheable, Outer Non-cacheable" (the PAR_EL1 field description), whatever the descriptor's SH says and
    /// whether one stage or two produced the attributes. QEMU 7.2 returns the descriptor's SH there (a deviation
    /// fixed in later QEMU; arm-notes §11 #6): the corpus comparison does not compare SH.
    /// </remarks>
    public static ulong ParSuccess(ulong outputAddress, byte attr, int sh)
    {
        bool deviceOrNonCacheable = (attr >> 4) == 0 || attr == 0x44;
        ulong shField = deviceOrNonCacheable ? 0b10UL : (ulong)(sh & 3);
        return (outputAddress & BitOps.Mask(51, 12)) | ((ulong)attr << 56) | (shField << 7) | (1UL << 9) | (1UL << 11);
    }
}
