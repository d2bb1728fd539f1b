using MmuSim.Caching;
using MmuSim.Timing;

namespace MmuSim.Core;

/// <summary>
/// Everything that decides what translation costs on a simulated core: the translation-caching hierarchy and the
/// cycle model. Results (PAs, faults, descriptor contents) never depend on it for a trace that performs correct
/// TLB maintenance; counts and cycles do.
/// </summary>
public sealed record ModelConfig(string Name, CachingConfig Caching, TimingConfig Timing)
{
    /// <summary>The default: <see cref="Presets.NeoverseN1"/>.</summary>
    public static ModelConfig Default => Presets.NeoverseN1;

    /// <summary>The same configuration with the trace's data accesses sent through the walker's caches.</summary>
    public ModelConfig WithDataCaches(bool on) => this with { Timing = Timing with { ModelDataCaches = on } };
}
