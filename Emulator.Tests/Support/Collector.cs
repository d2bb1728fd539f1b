using MmuSim.Core;

namespace MmuSim.Tests.Support;

/// <summary>Keeps every outcome of a replay for assertions.</summary>
public sealed class Collector : IOutcomeSink
{
    public List<AccessOutcome> Outcomes { get; } = new();

    public void OnOutcome(in AccessOutcome outcome) => Outcomes.Add(outcome);
}
