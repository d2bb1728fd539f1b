namespace MmuSim.Caching;

/// <summary>The TLBI operations of the trace format.</summary>
public enum TlbiOp : byte
{
    VMALLE1,
    VMALLS12E1,
    ALLE1,
    ALLE2,
    VAE1,
    VALE1,
    VAAE1,
    VAALE1,
    ASIDE1,
    IPAS2E1,
    IPAS2LE1,
    VAE2,
    VALE2,
}
