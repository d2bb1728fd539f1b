using MmuSim.Bits;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Tracing;

namespace MmuSim.Hypervisor;

/// <summary>
/// `mmusim cell --check`: every finding about a configuration, errors and dangers alike, each naming the cell,
/// the region's index and name, and where it was written. When the configuration builds, the hypervisor's EL2 map
/// is probed for gaps: in the tables `cell` would build, or in an existing setup trace.
/// </summary>
public static class CellChecker
{
    public static async Task<List<Finding>> CheckAsync(SystemConfig sys, IReadOnlyList<CellConfig> cells, CellBuildOptions opt,
        string? againstTrace = null, CancellationToken ct = default)
    {
        var plan = CellSetupBuilder.Plan(sys, cells, opt);
        var findings = new List<Finding>(plan.Findings);
        if (findings.Any(f => f.Severity == Severity.Error && f.Blocks))
        {
            return Sort(findings, sys, cells);
        }
        if (againstTrace is not null)
        {
            var core = new SimulatedCore();
            await using var s = File.OpenRead(againstTrace);
            await new Replayer(core, NullSink.Instance).ReplayAsync(s, againstTrace, ct);
            findings.AddRange(El2MapProbe.Probe(core, plan.El2Items, opt.Granule));
            return Sort(findings, sys, cells);
        }
        try
        {
            var setup = CellSetupBuilder.Build(sys, cells, opt);
            _ = setup;
        }
        catch (ConfigException e) when (e.Errors.Count > 0)
        {
            findings.AddRange(e.Errors.Cast<Finding>());
        }
        return Sort(findings, sys, cells);
    }

    /// <summary>In the order the files were given (system first), then by line; findings without a place last.</summary>
    private static List<Finding> Sort(List<Finding> f, SystemConfig sys, IReadOnlyList<CellConfig> cells)
    {
        var rank = new Dictionary<string, int> { [sys.File] = 0 };
        foreach (var c in cells)
        {
            rank.TryAdd(c.File, rank.Count);
        }
        return f.OrderBy(x => x.Pos is { } p ? rank.GetValueOrDefault(p.File, rank.Count) : int.MaxValue)
            .ThenBy(x => x.Pos?.Line ?? 0).ThenBy(x => x.Pos?.Column ?? 0).ThenByDescending(x => x.Severity).ToList();
    }

    private sealed class NullSink : IOutcomeSink
    {
        public static readonly NullSink Instance = new();

        public void OnOutcome(in AccessOutcome outcome)
        {
        }
    }
}
