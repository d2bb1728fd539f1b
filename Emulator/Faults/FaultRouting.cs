using MmuSim.Registers;

namespace MmuSim.Faults;

/// <summary>Where a translation fault is taken (arm-notes §4.4; Arm ARM D1.3 and the pseudocode's AArch64.Abort).</summary>
public static class FaultRouting
{
    /// <summary>
    /// The target EL of <paramref name="fault"/> on an access at <paramref name="el"/> in <paramref name="regime"/>:
    /// stage-2 faults (S1PTW included) and, with HCR_EL2.TEA=1, synchronous external aborts on a walk go to EL2;
    /// stage-1 faults go where the regime sends them (<see cref="TranslationRegimes.Stage1FaultTargetEl"/>).
    /// </summary>
    public static byte TargetEl(in FaultInfo fault, TranslationRegime regime, int el, Hcr hcr) =>
        fault.Stage == 2 || (fault.Type == FaultType.ExternalWalk && hcr.Tea) ? (byte)2 : regime.Stage1FaultTargetEl(el, hcr);
}
