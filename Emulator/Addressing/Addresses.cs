using System.Runtime.CompilerServices;

namespace MmuSim.Addressing;

/// <summary>A virtual address, as the program issued it (tag byte included).</summary>
public readonly record struct VirtualAddress(ulong Value)
{
    public override string ToString() => $"VA 0x{Value:x}";
}

/// <summary>An intermediate physical address: stage-1 output of the EL1&amp;0 regime, stage-2 input.</summary>
public readonly record struct IntermediatePhysicalAddress(ulong Value)
{
    /// <summary>With stage 2 disabled an IPA is used as the PA unchanged (AArch64.S2Translate with S2 off).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PhysicalAddress AsPhysicalWhenStage2Off() => new(Value);

    public override string ToString() => $"IPA 0x{Value:x}";
}

/// <summary>A physical address on the simulated bus.</summary>
public readonly record struct PhysicalAddress(ulong Value)
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PhysicalAddress Offset(ulong bytes) => new(Value + bytes);

    public override string ToString() => $"PA 0x{Value:x}";
}
