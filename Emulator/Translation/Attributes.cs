namespace MmuSim.Translation;

/// <summary>
/// Memory-attribute arithmetic in MAIR encoding: stage-2 MemAttr conversion and the stage-1 × stage-2
/// combination (Arm ARM D8.5.5 "Combining the stage 1 and stage 2 attributes", FWB=0).
/// </summary>
public static class Attributes
{
    /// <summary>Device-nGnRnE, what a data access gets with its stage-1 MMU off.</summary>
    public const byte DeviceNGnRnE = 0x00;

    /// <summary>Stage-2 MemAttr[3:0] to a MAIR-format byte: [3:2] outer and [1:0] inner (01 NC, 10 WT, 11 WB), 00xx Device.</summary>
    public static byte FromStage2(int memAttr, bool hcrCd)
    {
        int hi = (memAttr >> 2) & 3;
        int lo = memAttr & 3;
        if (hi == 0)
        {
            return (byte)(lo << 2); // Device: dd in MAIR bits [3:2]
        }
        if (hcrCd)
        {
            hi = lo = 1; // HCR_EL2.CD makes stage-2 Normal memory Non-cacheable
        }
        int hiHint = hi != 1 ? 3 : 0;
        int loHint = lo != 1 ? 3 : 0;
        return (byte)((hi << 6) | (hiHint << 4) | (lo << 2) | loHint);
    }

    /// <summary>True when a MAIR-format attribute is Device memory.</summary>
    public static bool IsDevice(byte attr) => (attr & 0xF0) == 0;

    /// <summary>True when a stage-2 MemAttr (FWB=0) is Device memory: MemAttr[3:2] = 00.</summary>
    public static bool IsStage2Device(int memAttr) => (memAttr & 0b1100) == 0;

    private static int CombineNibble(int s1, int s2)
    {
        if (s1 == 4 || s2 == 4)
        {
            return 4; // Non-cacheable wins
        }
        int s1Type = (s1 >> 2) & 3;
        if (s1Type == 0 || s1Type == 2)
        {
            return s1; // stage-1 write-through wins
        }
        if (((s2 >> 2) & 3) == 2)
        {
            return (2 << 2) | (s1 & 3); // stage-2 write-through, allocation hints from stage 1
        }
        return s1;
    }

    /// <summary>Combines stage-1 and stage-2 attributes (both MAIR format): Device beats Normal, the stricter Device type and the weaker cacheability win.</summary>
    public static byte Combine(byte s1, byte s2)
    {
        int s1Lo = s1 & 0xF, s2Lo = s2 & 0xF;
        if ((s1 >> 4) == 0 || (s2 >> 4) == 0)
        {
            int dev1 = (s1 >> 4) == 0 ? s1Lo : 0xC;
            int dev2 = (s2 >> 4) == 0 ? s2Lo : 0xC;
            return (byte)Math.Min(dev1 & 0xC, dev2 & 0xC);
        }
        return (byte)((CombineNibble(s1 >> 4, s2 >> 4) << 4) | CombineNibble(s1Lo, s2Lo));
    }

    /// <summary>
    /// Shareability of two combined stages: outer beats inner beats non-shareable, and any Device or Normal
    /// inner- and outer-Non-cacheable result is outer shareable (Arm ARM D8.5.5).
    /// </summary>
    public static byte CombineShareability(int s1, int s2, byte combinedAttr)
    {
        if (s1 == 2 || s2 == 2 || IsDevice(combinedAttr) || combinedAttr == 0x44)
        {
            return 2;
        }
        return (byte)(s1 == 3 || s2 == 3 ? 3 : 0);
    }

    /// <summary>A short name for a MAIR-format attribute, e.g. "Normal iWB oWB" or "Device-nGnRE".</summary>
    public static string Describe(byte attr)
    {
        if ((attr >> 4) == 0)
        {
            return ((attr >> 2) & 3) switch { 0 => "Device-nGnRnE", 1 => "Device-nGnRE", 2 => "Device-nGRE", _ => "Device-GRE" };
        }
        static string Nibble(int n) => n switch
        {
            4 => "NC",
            _ when (n >> 2) == 3 => "WB",
            _ when (n >> 2) == 2 => "WT",
            _ when (n >> 2) == 1 => "WB-transient",
            _ => "WT-transient",
        };
        return $"Normal i{Nibble(attr & 0xF)} o{Nibble(attr >> 4)}";
    }
}
