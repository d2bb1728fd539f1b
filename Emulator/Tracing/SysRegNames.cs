using System.Text;
using MmuSim.Registers;

namespace MmuSim.Tracing;

/// <summary>
/// Register names a `reg` line (and `import core --reg`) accepts: the trace format's own (<see cref="SysReg"/>'s
/// member names), then the other spellings a debugger gives the same register where they name exactly one of them —
/// QEMU's gdb target description calls SCTLR_EL1 `SCTLR` (the register is defined once for AArch32 and AArch64 and
/// takes its AArch32 name), and FEAT_VHE's `_EL12` encodings are the EL1 registers as EL2 reaches them with
/// HCR_EL2.E2H set (Arm ARM D8.1.7, "Virtualization Host Extensions": SCTLR_EL12 accesses SCTLR_EL1, ...), and
/// QEMU 7.2 names the ID register encoding S3_0_C0_C7_3 `ID_AA64MMFR3_EL1_RESERVED` (it predates FEAT_TCR2 and
/// friends; the register reads as zero there, which is what an implementation without them holds).
/// </summary>
public static class SysRegNames
{
    private static readonly (byte[] Name, SysReg Reg)[] Aliases =
    [
        ("SCTLR"u8.ToArray(), SysReg.SCTLR_EL1),
        ("SCTLR_EL12"u8.ToArray(), SysReg.SCTLR_EL1),
        ("TCR_EL12"u8.ToArray(), SysReg.TCR_EL1),
        ("TTBR0_EL12"u8.ToArray(), SysReg.TTBR0_EL1),
        ("TTBR1_EL12"u8.ToArray(), SysReg.TTBR1_EL1),
        ("MAIR_EL12"u8.ToArray(), SysReg.MAIR_EL1),
        // QEMU before 8.0 describes the encoding of ID_AA64MMFR3_EL1 (S3_0_C0_C7_3) by its old reserved name.
        ("ID_AA64MMFR3_EL1_RESERVED"u8.ToArray(), SysReg.ID_AA64MMFR3_EL1),
    ];

    /// <summary>The register named <paramref name="name"/> (ASCII case ignored): its own name or an alias above.</summary>
    public static bool TryParse(ReadOnlySpan<byte> name, out SysReg reg)
    {
        if (WireCodes<SysReg>.TryParse(name, out reg))
        {
            return true;
        }
        foreach (var (alias, r) in Aliases)
        {
            if (Ascii.EqualsIgnoreCase(name, alias))
            {
                reg = r;
                return true;
            }
        }
        return false;
    }
}
