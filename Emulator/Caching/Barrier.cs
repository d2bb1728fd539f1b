namespace MmuSim.Caching;

/// <summary>
/// The option of a DSB (`dsb OPT`): its shareability domain and the accesses it orders. The values are the CRm
/// field of the instruction's encoding (Arm ARM C6.2, DSB) and the binary trace format's codes
/// (docs/binary-format.md): never renumber.
/// </summary>
/// <remarks>
/// The functional replay runs every line at once, in trace order, so a barrier changes none of its results; a PE
/// still executes it as an operation (the PE counts it) so that a checker of TLB maintenance can tell
/// when a store or a TLBI is guaranteed complete.
/// </remarks>
public enum DsbOption : byte
{
    OSHLD = 0b0001,
    OSHST = 0b0010,
    OSH = 0b0011,
    NSHLD = 0b0101,
    NSHST = 0b0110,
    NSH = 0b0111,
    ISHLD = 0b1001,
    ISHST = 0b1010,
    ISH = 0b1011,
    SY = 0b1111,
}

/// <summary>What a <see cref="DsbOption"/> says, read from its encoding.</summary>
public static class DsbOptions
{
    /// <summary>CRm[3:2]: 0b00 outer shareable, 0b01 non-shareable, 0b10 inner shareable, 0b11 full system.</summary>
    public static int Domain(this DsbOption option) => (byte)option >> 2;

    /// <summary>The barrier orders stores (CRm[1] set: the ST form or the full form).</summary>
    public static bool OrdersStores(this DsbOption option) => ((byte)option & 0b10) != 0;

    /// <summary>The barrier orders loads (CRm[0] set: the LD form or the full form).</summary>
    public static bool OrdersLoads(this DsbOption option) => ((byte)option & 0b01) != 0;

    /// <summary>The barrier reaches other PEs (inner shareable, outer shareable or full system).</summary>
    public static bool IsBroadcast(this DsbOption option) => option.Domain() != 0b01;
}
