using MmuSim.Addressing;

namespace MmuSim.Faults;

/// <summary>The MMU fault kinds this model raises (the trace format's `fault.type`).</summary>
public enum FaultType : byte
{
    None,
    Translation,
    AddressSize,
    AccessFlag,
    Permission,
    /// <summary>Synchronous external abort on a translation table walk (or hardware update).</summary>
    ExternalWalk,
    /// <summary>
    /// Alignment fault (DFSC 0b100001): SCTLR_ELx.A before translation, or a misaligned data access to Device
    /// memory after it. Has no lookup level (<see cref="FaultInfo.Level"/> is <see cref="FaultInfo.NoLevel"/>).
    /// </summary>
    Alignment,
}

/// <summary>What kind of access was made; decides data vs instruction abort and WnR.</summary>
public enum AccessType : byte
{
    Read,
    Write,
    Fetch,
}

/// <summary>
/// Architectural facts about a fault, with no encoding applied (QEMU's ARMMMUFaultInfo shape).
/// Encoders in <see cref="Syndrome"/> turn it into FSC, ESR, HPFAR and PAR.
/// </summary>
public readonly record struct FaultInfo(
    FaultType Type,
    byte Stage,
    sbyte Level,
    bool S1Ptw,
    IntermediatePhysicalAddress Ipa)
{
    public bool IsFault => Type != FaultType.None;

    /// <summary>The level of a fault that has none (alignment): results write it as null.</summary>
    public const sbyte NoLevel = sbyte.MinValue;

    /// <summary>Whether the fault names a lookup level (every MMU fault but alignment).</summary>
    public bool HasLevel => Level != NoLevel;

    /// <summary>An Alignment fault of <paramref name="stage"/> (stage 1 for SCTLR.A and a Device stage-1 type).</summary>
    public static FaultInfo Alignment(byte stage = 1, IntermediatePhysicalAddress ipa = default) => new(FaultType.Alignment, stage, NoLevel, false, ipa);

    public static FaultInfo None => default;

    public static FaultInfo Stage1(FaultType type, int level) => new(type, 1, (sbyte)level, false, default);

    public static FaultInfo Stage2(FaultType type, int level, IntermediatePhysicalAddress ipa, bool s1ptw) =>
        new(type, 2, (sbyte)level, s1ptw, ipa);

    public static string TypeName(FaultType t) => t switch
    {
        FaultType.Translation => "translation",
        FaultType.AddressSize => "address_size",
        FaultType.AccessFlag => "access_flag",
        FaultType.Permission => "permission",
        FaultType.ExternalWalk => "external_walk",
        FaultType.Alignment => "alignment",
        _ => "none",
    };
}
