namespace MmuSim.Translation;

/// <summary>The AT operations of the trace format.</summary>
/// <remarks>The values are the binary trace format's AT codes (docs/binary-format.md): never renumber.</remarks>
public enum AtOp : byte
{
    S1E1R = 0,
    S1E1W = 1,
    S1E0R = 2,
    S1E0W = 3,
    S12E1R = 4,
    S12E1W = 5,
    S12E0R = 6,
    S12E0W = 7,
    S1E2R = 8,
    S1E2W = 9,
    /// <summary>FEAT_PAN2: S1E1R with the PSTATE.PAN check.</summary>
    S1E1RP = 10,
    /// <summary>FEAT_PAN2: S1E1W with the PSTATE.PAN check.</summary>
    S1E1WP = 11,
}

/// <summary>Which stages an AT instruction asks for.</summary>
public enum AtMode : byte
{
    /// <summary>A real load, store or fetch.</summary>
    None,
    /// <summary>AT S1E0*, S1E1*, S1E2*: stage 1 only (its table walks still go through stage 2).</summary>
    Stage1,
    /// <summary>AT S12E0*, S12E1*: both stages.</summary>
    Stage12,
}

/// <summary>What an AT operation asks for.</summary>
public static class AtOps
{
    /// <summary>An AT operation's EL, direction and stages.</summary>
    public static (byte El, bool Write, AtMode Mode) Decode(this AtOp op) => op switch
    {
        AtOp.S1E1R => (1, false, AtMode.Stage1),
        AtOp.S1E1W => (1, true, AtMode.Stage1),
        AtOp.S1E0R => (0, false, AtMode.Stage1),
        AtOp.S1E0W => (0, true, AtMode.Stage1),
        AtOp.S12E1R => (1, false, AtMode.Stage12),
        AtOp.S12E1W => (1, true, AtMode.Stage12),
        AtOp.S12E0R => (0, false, AtMode.Stage12),
        AtOp.S12E0W => (0, true, AtMode.Stage12),
        AtOp.S1E2R => (2, false, AtMode.Stage1),
        AtOp.S1E1RP => (1, false, AtMode.Stage1),
        AtOp.S1E1WP => (1, true, AtMode.Stage1),
        _ => (2, true, AtMode.Stage1),
    };

    /// <summary>Whether the operation checks PSTATE.PAN (AT S1E1RP/S1E1WP); S1E1R/S1E1W never do.</summary>
    public static bool ChecksPan(this AtOp op) => op is AtOp.S1E1RP or AtOp.S1E1WP;
}
