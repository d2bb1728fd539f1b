namespace MmuSim.Translation;

/// <summary>What a walk found at its last lookup (the block or page descriptor and where it was).</summary>
internal struct WalkLeaf
{
    public ulong Descriptor;
    /// <summary>The descriptor's address in the table's space (IPA for stage 1 through stage 2).</summary>
    public ulong DescriptorAddress;
    public ulong DescriptorPa;
    /// <summary>The block or page address (descriptor address field, low bits cleared).</summary>
    public ulong OutputBase;
    public int Level;
    public int Shift;
    /// <summary>Table attributes ORed down the walk: bit0 PXNTable, bit1 UXN/XNTable, bit2 APTable[0], bit3 APTable[1].</summary>
    public int TableAttrs;
}
