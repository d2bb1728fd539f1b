namespace MmuSim.Timing;

/// <summary>
/// The parameters of the timeline (<c>--timing timeline</c>, docs/translation-cost.md "The timeline"): how a PE issues
/// its accesses and how many translations it can have in flight. The additive model ignores them.
/// </summary>
/// <param name="Window">Accesses in flight per PE (issued, not yet retired); retirement is in trace order.</param>
/// <param name="IssueInterval">Cycles from one access's issue to the next one's when the trace says nothing between them.</param>
/// <param name="IssueWidth">Instructions per cycle of <c>inst N</c> lines: they delay the next issue by ⌊N / width⌋ cycles, the
/// remainder carrying over to the next access.</param>
/// <param name="Walkers">Table walks one PE services at once.</param>
/// <param name="WalkQueue">Misses that may wait for a walker; when they are all taken the PE stops issuing until one
/// enters (null: no limit).</param>
/// <param name="WalkerCacheMisses">Descriptor reads missing the nearest walker cache in flight at once (its miss
/// buffers; null: no limit; ignored without walker caches).</param>
/// <param name="MemoryRequests">Descriptor reads served by memory in flight at once (null: no limit).</param>
public sealed record TimelineConfig(int Window = 1, int IssueInterval = 1, int IssueWidth = 1, int Walkers = 1,
    int? WalkQueue = null, int? WalkerCacheMisses = null, int? MemoryRequests = null)
{
    /// <summary>Largest window a configuration may ask for (the timeline keeps a slot per access in flight).</summary>
    public const int MaxWindow = 4096;

    /// <summary>Largest walker count a configuration may ask for.</summary>
    public const int MaxWalkers = 64;

    /// <summary>One access at a time, one walker, no limits: the additive model with issue times (what a configuration without <c>timeline</c> gets).</summary>
    public static TimelineConfig Serial { get; } = new();
}
