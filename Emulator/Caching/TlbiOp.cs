namespace MmuSim.Caching;

/// <summary>The TLBI operations of the trace format.</summary>
/// <remarks>The values are the binary trace format's TLBI codes (docs/binary-format.md): never renumber.</remarks>
public enum TlbiOp : byte
{
    VMALLE1 = 0,
    VMALLS12E1 = 1,
    ALLE1 = 2,
    ALLE2 = 3,
    VAE1 = 4,
    VALE1 = 5,
    VAAE1 = 6,
    VAALE1 = 7,
    ASIDE1 = 8,
    IPAS2E1 = 9,
    IPAS2LE1 = 10,
    VAE2 = 11,
    VALE2 = 12,
}
