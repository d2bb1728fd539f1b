using MmuSim.Faults;
using MmuSim.Translation;

namespace MmuSim.Core;

/// <summary>
/// Plays the guest OS (and hypervisor) for traces that carry virtual addresses only: told about a translation
/// fault, it maps what is missing so the access can be retried (see Paging/DemandPager).
/// </summary>
public interface IDemandPager
{
    /// <summary>Serves <paramref name="fault"/> of <paramref name="request"/>; true when the access should be retried.</summary>
    bool TryServe(in AccessRequest request, in FaultInfo fault);
}
