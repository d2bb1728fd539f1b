using System.Text;
using MmuSim.Bits;

namespace MmuSim.Faults;

/// <summary>
/// Decodes syndrome registers into words, the way a hypervisor developer reads "ESR 0x93830006" by hand:
/// ESR_ELx (EC, IL, ISS; for aborts DFSC/IFSC, WnR, S1PTW, CM, EA, FnV, ISV and its fields), HPFAR_EL2, PAR_EL1.
/// </summary>
public static class SyndromeDecoder
{
    /// <summary>Exception class names (ESR_ELx.EC, Arm ARM D24.2 "ESR_EL2"); every value the architecture defines.</summary>
    public static string EcName(int ec) => ec switch
    {
        0x00 => "Unknown reason",
        0x01 => "Trapped WF* instruction",
        0x03 => "Trapped MCR or MRC access with coproc==0b1111 (AArch32)",
        0x04 => "Trapped MCRR or MRRC access with coproc==0b1111 (AArch32)",
        0x05 => "Trapped MCR or MRC access with coproc==0b1110 (AArch32)",
        0x06 => "Trapped LDC or STC access (AArch32)",
        0x07 => "Access to SME, SVE, Advanced SIMD or floating-point functionality trapped",
        0x08 => "Trapped VMRS access, from ID group trap (AArch32)",
        0x09 => "Trapped use of a Pointer authentication instruction",
        0x0A => "Trapped LD64B, ST64B, ST64BV or ST64BV0 instruction",
        0x0C => "Trapped MRRC access with coproc==0b1110 (AArch32)",
        0x0D => "Branch Target Exception",
        0x0E => "Illegal Execution state",
        0x11 => "SVC instruction execution in AArch32 state",
        0x12 => "HVC instruction execution in AArch32 state",
        0x13 => "SMC instruction execution in AArch32 state",
        0x15 => "SVC instruction execution in AArch64 state",
        0x16 => "HVC instruction execution in AArch64 state",
        0x17 => "SMC instruction execution in AArch64 state",
        0x18 => "Trapped MSR, MRS or System instruction execution in AArch64 state",
        0x19 => "Access to SVE functionality trapped",
        0x1A => "Trapped ERET, ERETAA or ERETAB instruction",
        0x1B => "Exception from a TSTART instruction",
        0x1C => "Pointer authentication failure (FPAC)",
        0x1D => "Access to SME functionality trapped",
        0x1F => "IMPLEMENTATION DEFINED exception taken to EL3",
        0x20 => "Instruction Abort from a lower Exception level",
        0x21 => "Instruction Abort taken without a change in Exception level",
        0x22 => "PC alignment fault exception",
        0x24 => "Data Abort from a lower Exception level",
        0x25 => "Data Abort taken without a change in Exception level",
        0x26 => "SP alignment fault exception",
        0x27 => "Memory Operation Exception",
        0x28 => "Trapped floating-point exception (AArch32)",
        0x2C => "Trapped floating-point exception (AArch64)",
        0x2D => "Guarded Control Stack exception",
        0x2F => "SError exception",
        0x30 => "Breakpoint exception from a lower Exception level",
        0x31 => "Breakpoint exception taken without a change in Exception level",
        0x32 => "Software Step exception from a lower Exception level",
        0x33 => "Software Step exception taken without a change in Exception level",
        0x34 => "Watchpoint exception from a lower Exception level",
        0x35 => "Watchpoint exception taken without a change in Exception level",
        0x38 => "BKPT instruction execution (AArch32)",
        0x3A => "Vector Catch exception (AArch32)",
        0x3C => "BRK instruction execution in AArch64 state",
        0x3D => "Profiling exception",
        _ => "reserved (no exception class has this value)",
    };

    private static string B(ulong v, int bit) => BitOps.Bit(v, bit) ? "1" : "0";

    /// <summary>The ISS of the exception classes that are not aborts, field by field (Arm ARM, ESR_EL2 ISS encodings).</summary>
    private static void DescribeOtherIss(StringBuilder sb, int ec, ulong esr)
    {
        switch (ec)
        {
            case 0x01:
            {
                int ti = (int)BitOps.Field(esr, 1, 0);
                sb.AppendLine($"    CV    [24] = {B(esr, 24)}  {(BitOps.Bit(esr, 24) ? "COND is valid" : "COND is not valid")}");
                sb.AppendLine($"    COND  [23:20] = 0x{BitOps.Field(esr, 23, 20):x}");
                sb.AppendLine($"    RN    [9:5] = {BitOps.Field(esr, 9, 5)}  the timeout register of WFIT/WFET");
                sb.AppendLine($"    RV    [2]  = {B(esr, 2)}  {(BitOps.Bit(esr, 2) ? "RN is valid" : "RN is not valid")}");
                sb.AppendLine($"    TI    [1:0] = {ti}  {ti switch { 0 => "WFI", 1 => "WFE", 2 => "WFIT", _ => "WFET" }} trapped");
                break;
            }
            case 0x15 or 0x16 or 0x17 or 0x11 or 0x12 or 0x13:
            {
                string insn = (ec & 3) switch { 1 => "SVC", 2 => "HVC", _ => "SMC" };
                ulong imm = BitOps.Field(esr, 15, 0);
                sb.AppendLine($"    imm16 [15:0] = 0x{imm:x4}  {insn} #0x{imm:x}" + (ec == 0x16 && imm == 0x4a48 ? " (jailhouse's hypercall immediate, \"JH\")" : ""));
                break;
            }
            case 0x18:
            {
                int op0 = (int)BitOps.Field(esr, 21, 20), op2 = (int)BitOps.Field(esr, 19, 17), op1 = (int)BitOps.Field(esr, 16, 14);
                int crn = (int)BitOps.Field(esr, 13, 10), rt = (int)BitOps.Field(esr, 9, 5), crm = (int)BitOps.Field(esr, 4, 1);
                bool read = BitOps.Bit(esr, 0);
                string reg = $"S{op0}_{op1}_C{crn}_C{crm}_{op2}";
                string rtName = rt == 31 ? "XZR" : $"X{rt}";
                sb.AppendLine($"    Op0   [21:20] = {op0}");
                sb.AppendLine($"    Op2   [19:17] = {op2}");
                sb.AppendLine($"    Op1   [16:14] = {op1}");
                sb.AppendLine($"    CRn   [13:10] = {crn}");
                sb.AppendLine($"    Rt    [9:5] = {rt}");
                sb.AppendLine($"    CRm   [4:1] = {crm}");
                sb.AppendLine($"    Direction [0] = {(read ? 1 : 0)}  {(read ? "read" : "write")}");
                sb.AppendLine(op0 == 1
                    ? $"    that is SYS #{op1}, C{crn}, C{crm}, #{op2}, {rtName} (a System instruction: cache, TLB or address translation maintenance)"
                    : read ? $"    that is MRS {rtName}, {reg}" : $"    that is MSR {reg}, {rtName}");
                break;
            }
            case 0x1A:
                sb.AppendLine($"    ERET  [1]  = {B(esr, 1)}  {(BitOps.Bit(esr, 1) ? "ERETAA or ERETAB" : "ERET")}");
                sb.AppendLine($"    ERETA [0]  = {B(esr, 0)}  {(BitOps.Bit(esr, 0) ? "B key" : "A key")} (for ERETAA/ERETAB)");
                break;
            case 0x1C:
                sb.AppendLine($"    [1]        = {B(esr, 1)}  {(BitOps.Bit(esr, 1) ? "a data key" : "an instruction key")}");
                sb.AppendLine($"    [0]        = {B(esr, 0)}  {(BitOps.Bit(esr, 0) ? "key B" : "key A")}");
                break;
            case 0x0D:
                sb.AppendLine($"    BTYPE [1:0] = {BitOps.Field(esr, 1, 0)}  PSTATE.BTYPE of the failing instruction");
                break;
            case 0x2C or 0x28:
                sb.AppendLine($"    TFV   [23] = {B(esr, 23)}  {(BitOps.Bit(esr, 23) ? "the flags below are valid" : "the flags below are UNKNOWN")}");
                foreach (var (bit, name, what) in new[] { (7, "IDF", "input denormal"), (4, "IXF", "inexact"), (3, "UFF", "underflow"), (2, "OFF", "overflow"), (1, "DZF", "divide by zero"), (0, "IOF", "invalid operation") })
                {
                    sb.AppendLine($"    {name,-5} [{bit}]  = {B(esr, bit)}  {what}");
                }
                break;
            case 0x2F:
            {
                bool ids = BitOps.Bit(esr, 24);
                sb.AppendLine($"    IDS   [24] = {(ids ? 1 : 0)}  {(ids ? "IMPLEMENTATION DEFINED syndrome in [23:0]" : "architected syndrome")}");
                if (!ids)
                {
                    int aet = (int)BitOps.Field(esr, 12, 10);
                    int dfsc = (int)BitOps.Field(esr, 5, 0);
                    sb.AppendLine($"    IESB  [13] = {B(esr, 13)}  {(BitOps.Bit(esr, 13) ? "synchronized by an implicit error synchronization barrier" : "not synchronized by IESB")}");
                    sb.AppendLine($"    AET   [12:10] = {aet}  {aet switch { 0 => "Uncontainable (UC)", 1 => "Unrecoverable state (UEU)", 2 => "Restartable state (UEO)", 3 => "Recoverable state (UER)", 6 => "Corrected (CE)", _ => "reserved" }}");
                    sb.AppendLine($"    EA    [9]  = {B(esr, 9)}  external abort type");
                    sb.AppendLine($"    DFSC  [5:0] = 0x{dfsc:x2}  {(dfsc == 0 ? "Uncategorized error" : dfsc == 0x11 ? "Asynchronous SError interrupt" : "reserved")}");
                }
                break;
            }
            case 0x30 or 0x31 or 0x32 or 0x33:
                if (ec is 0x32 or 0x33)
                {
                    sb.AppendLine($"    ISV   [24] = {B(esr, 24)}  {(BitOps.Bit(esr, 24) ? "EX is valid" : "EX is not valid")}");
                    sb.AppendLine($"    EX    [6]  = {B(esr, 6)}  {(BitOps.Bit(esr, 6) ? "the stepped instruction was a Load-Exclusive" : "not a Load-Exclusive")}");
                }
                sb.AppendLine($"    IFSC  [5:0] = 0x{BitOps.Field(esr, 5, 0):x2}  {(BitOps.Field(esr, 5, 0) == 0x22 ? "Debug exception" : "reserved")}");
                break;
            case 0x34 or 0x35:
                sb.AppendLine($"    WPT   [23:18] = {BitOps.Field(esr, 23, 18)}  watchpoint number{(BitOps.Bit(esr, 17) ? "" : " (UNKNOWN: WPTV=0)")}");
                sb.AppendLine($"    WPTV  [17] = {B(esr, 17)}");
                sb.AppendLine($"    FnV   [10] = {B(esr, 10)}  {(BitOps.Bit(esr, 10) ? "FAR is not valid" : "FAR is valid")}");
                sb.AppendLine($"    CM    [8]  = {B(esr, 8)}  {(BitOps.Bit(esr, 8) ? "cache maintenance instruction" : "not a cache maintenance instruction")}");
                sb.AppendLine($"    WnR   [6]  = {B(esr, 6)}  {(BitOps.Bit(esr, 6) ? "write" : "read")}");
                sb.AppendLine($"    DFSC  [5:0] = 0x{BitOps.Field(esr, 5, 0):x2}  {(BitOps.Field(esr, 5, 0) == 0x22 ? "Debug exception" : "reserved")}");
                break;
            case 0x3C or 0x38:
                sb.AppendLine($"    Comment [15:0] = 0x{BitOps.Field(esr, 15, 0):x4}  {(ec == 0x3C ? "BRK" : "BKPT")} #0x{BitOps.Field(esr, 15, 0):x}");
                break;
            case 0x07:
                sb.AppendLine($"    CV    [24] = {B(esr, 24)}  COND [23:20] = 0x{BitOps.Field(esr, 23, 20):x} (meaningful for traps from AArch32 only)");
                break;
            case 0x00 or 0x0E or 0x22 or 0x26 or 0x09:
                sb.AppendLine(BitOps.Field(esr, 24, 0) == 0 ? "    (this class has no syndrome: ISS is RES0)" : "    (this class has no syndrome, but ISS is not 0: RES0 bits are set)");
                break;
            default:
                sb.AppendLine("    (the ISS of this class is not decoded field by field)");
                break;
        }
    }

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
        // IL gives the trapped instruction's length only for instruction traps (and data aborts with ISV=1); the
        // Arm ARM has it 1 for every other class (aborts without ISV, SError, alignment, most debug exceptions).
        bool trapsInstruction = ec is 0x01 or (>= 0x03 and <= 0x0A) or 0x0C or 0x11 or 0x12 or 0x13 or (>= 0x15 and <= 0x1A) or 0x1D or 0x28 or 0x2C or 0x38 or 0x3C
            || (ec is 0x24 or 0x25 && BitOps.Bit(esr, 24));
        sb.AppendLine($"  IL   [25]    = {(il ? 1 : 0)}     {(!trapsInstruction ? (il ? "not an instruction trap (IL is 1 for this class)" : "not an instruction trap (IL should be 1 for this class)") : il ? "32-bit instruction trapped" : "16-bit instruction trapped")}");
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
            DescribeOtherIss(sb, ec, esr);
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
