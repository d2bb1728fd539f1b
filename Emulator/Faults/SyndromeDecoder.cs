using System.Text;
using MmuSim.Bits;

namespace MmuSim.Faults;

/// <summary>
/// Decodes syndrome registers into words, the way a hypervisor developer reads "ESR 0x93830006" by hand:
/// ESR_ELx (EC, IL, ISS; for aborts DFSC/IFSC, WnR, S1PTW, CM, EA, FnV, ISV and its fields), HPFAR_EL2, PAR_EL1.
/// </summary>
public static class SyndromeDecoder
{
    /// <summary>Exception class names for the EC values a translation-related trap can carry, and the common others.</summary>
    public static string EcName(int ec) => ec switch
    {
        0x00 => "Unknown reason",
        0x01 => "Trapped WFI/WFE",
        0x07 => "Access to SVE/SIMD/FP trapped",
        0x0E => "Illegal Execution state",
        0x15 => "SVC instruction execution in AArch64 state",
        0x16 => "HVC instruction execution in AArch64 state",
        0x17 => "SMC instruction execution in AArch64 state",
        0x18 => "Trapped MSR, MRS or System instruction execution in AArch64 state",
        0x20 => "Instruction Abort from a lower Exception level",
        0x21 => "Instruction Abort taken without a change in Exception level",
        0x22 => "PC alignment fault exception",
        0x24 => "Data Abort from a lower Exception level",
        0x25 => "Data Abort taken without a change in Exception level",
        0x26 => "SP alignment fault exception",
        0x2F => "SError exception",
        0x30 => "Breakpoint exception from a lower Exception level",
        0x31 => "Breakpoint exception taken without a change in Exception level",
        0x32 => "Software Step exception from a lower Exception level",
        0x33 => "Software Step exception taken without a change in Exception level",
        0x34 => "Watchpoint exception from a lower Exception level",
        0x35 => "Watchpoint exception taken without a change in Exception level",
        0x3C => "BRK instruction execution in AArch64 state",
        _ => "reserved or not decoded here",
    };

    /// <summary>A multi-line description of an ESR_ELx value.</summary>
    public static string DescribeEsr(ulong esr, int el = 0)
    {
        var sb = new StringBuilder();
        int ec = (int)BitOps.Field(esr, 31, 26);
        bool il = BitOps.Bit(esr, 25);
        ulong iss = BitOps.Field(esr, 24, 0);
        string reg = el is 1 or 2 ? $"ESR_EL{el}" : "ESR";
        sb.AppendLine($"{reg} = 0x{esr:x}");
        sb.AppendLine($"  EC   [31:26] = 0x{ec:x2}  {EcName(ec)}");
        sb.AppendLine($"  IL   [25]    = {(il ? 1 : 0)}     {(il ? "32-bit instruction trapped" : "16-bit instruction trapped")}");
        sb.AppendLine($"  ISS  [24:0]  = 0x{iss:x7}");
        ulong iss2 = BitOps.Field(esr, 55, 32);
        if (iss2 != 0)
        {
            sb.AppendLine($"  ISS2 [55:32] = 0x{iss2:x}");
        }
        bool data = ec is 0x24 or 0x25;
        bool insn = ec is 0x20 or 0x21;
        if (!data && !insn)
        {
            return sb.ToString();
        }
        int fsc = (int)BitOps.Field(esr, 5, 0);
        var (_, _, fscText) = Syndrome.DecodeFsc(fsc);
        if (data)
        {
            bool isv = BitOps.Bit(esr, 24);
            sb.AppendLine($"    ISV   [24] = {(isv ? 1 : 0)}  {(isv ? "instruction syndrome valid" : "no instruction syndrome (ISS[23:14] RES0)")}");
            if (isv)
            {
                int sas = (int)BitOps.Field(esr, 23, 22);
                sb.AppendLine($"    SAS   [23:22] = {sas}  access size {1 << sas} byte(s)");
                sb.AppendLine($"    SSE   [21] = {(BitOps.Bit(esr, 21) ? 1 : 0)}  sign-extend");
                sb.AppendLine($"    SRT   [20:16] = {BitOps.Field(esr, 20, 16)}  register X{BitOps.Field(esr, 20, 16)}/W{BitOps.Field(esr, 20, 16)}");
                sb.AppendLine($"    SF    [15] = {(BitOps.Bit(esr, 15) ? 1 : 0)}  {(BitOps.Bit(esr, 15) ? "64-bit" : "32-bit")} register");
                sb.AppendLine($"    AR    [14] = {(BitOps.Bit(esr, 14) ? 1 : 0)}  acquire/release");
            }
            sb.AppendLine($"    FnV   [10] = {(BitOps.Bit(esr, 10) ? 1 : 0)}  {(BitOps.Bit(esr, 10) ? "FAR is not valid" : "FAR is valid")}");
            sb.AppendLine($"    EA    [9]  = {(BitOps.Bit(esr, 9) ? 1 : 0)}  external abort type");
            sb.AppendLine($"    CM    [8]  = {(BitOps.Bit(esr, 8) ? 1 : 0)}  {(BitOps.Bit(esr, 8) ? "cache maintenance or AT instruction" : "not a cache maintenance instruction")}");
            sb.AppendLine($"    S1PTW [7]  = {(BitOps.Bit(esr, 7) ? 1 : 0)}  {(BitOps.Bit(esr, 7) ? "stage-2 fault on a stage-1 translation table walk" : "not on a stage-1 table walk")}");
            sb.AppendLine($"    WnR   [6]  = {(BitOps.Bit(esr, 6) ? 1 : 0)}  {(BitOps.Bit(esr, 6) ? "write" : "read")}");
            sb.AppendLine($"    DFSC  [5:0] = 0x{fsc:x2}  {fscText}");
        }
        else
        {
            sb.AppendLine($"    FnV   [10] = {(BitOps.Bit(esr, 10) ? 1 : 0)}  {(BitOps.Bit(esr, 10) ? "FAR is not valid" : "FAR is valid")}");
            sb.AppendLine($"    EA    [9]  = {(BitOps.Bit(esr, 9) ? 1 : 0)}  external abort type");
            sb.AppendLine($"    S1PTW [7]  = {(BitOps.Bit(esr, 7) ? 1 : 0)}  {(BitOps.Bit(esr, 7) ? "stage-2 fault on a stage-1 translation table walk" : "not on a stage-1 table walk")}");
            sb.AppendLine($"    IFSC  [5:0] = 0x{fsc:x2}  {fscText}");
        }
        return sb.ToString();
    }

    /// <summary>HPFAR_EL2: FIPA [43:4] = IPA[51:12] (NS [63]).</summary>
    public static string DescribeHpfar(ulong hpfar)
    {
        ulong ipaPage = BitOps.Field(hpfar, 43, 4) << 12;
        var sb = new StringBuilder();
        sb.AppendLine($"HPFAR_EL2 = 0x{hpfar:x}");
        sb.AppendLine($"  FIPA [43:4] = 0x{BitOps.Field(hpfar, 43, 4):x}  faulting IPA page 0x{ipaPage:x} (add FAR_EL2[11:0] for the byte)");
        sb.AppendLine($"  NS   [63]   = {(BitOps.Bit(hpfar, 63) ? 1 : 0)}");
        if ((hpfar & ~(BitOps.Mask(43, 4) | (1UL << 63))) != 0)
        {
            sb.AppendLine("  (RES0 bits are set)");
        }
        return sb.ToString();
    }

    /// <summary>PAR_EL1 after an AT instruction (64-bit format).</summary>
    public static string DescribePar(ulong par)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"PAR_EL1 = 0x{par:x}");
        if (BitOps.Bit(par, 0))
        {
            int fst = (int)BitOps.Field(par, 6, 1);
            sb.AppendLine("  F   [0]   = 1  the translation failed");
            sb.AppendLine($"  FST [6:1] = 0x{fst:x2}  {Syndrome.DecodeFsc(fst).Description}");
            sb.AppendLine($"  PTW [8]   = {(BitOps.Bit(par, 8) ? 1 : 0)}  {(BitOps.Bit(par, 8) ? "stage-2 fault during the stage-1 walk" : "")}");
            sb.AppendLine($"  S   [9]   = {(BitOps.Bit(par, 9) ? 1 : 0)}  fault at stage {(BitOps.Bit(par, 9) ? 2 : 1)}");
            return sb.ToString();
        }
        byte attr = (byte)(par >> 56);
        int sh = (int)BitOps.Field(par, 8, 7);
        sb.AppendLine("  F    [0]     = 0  the translation succeeded");
        sb.AppendLine($"  PA   [51:12] = 0x{par & BitOps.Mask(51, 12):x}");
        sb.AppendLine($"  SH   [8:7]   = {sh}  {ShName(sh)}");
        sb.AppendLine($"  NS   [9]     = {(BitOps.Bit(par, 9) ? 1 : 0)}");
        sb.AppendLine($"  ATTR [63:56] = 0x{attr:x2}  {Translation.Attributes.Describe(attr)}");
        return sb.ToString();
    }

    public static string ShName(int sh) => sh switch { 0 => "Non-shareable", 2 => "Outer Shareable", 3 => "Inner Shareable", _ => "reserved" };
}
