using MmuSim.Checking;

namespace MmuSim.Reporting;

/// <summary>The text summary of `replay --check-maintenance`: findings counted by kind, then the first of them.</summary>
public static class FindingSummary
{
    /// <summary>Findings listed one a line after the counts (the findings file has them all).</summary>
    public const int Listed = 20;

    public static void Write(TextWriter w, IReadOnlyList<MaintenanceFinding> findings)
    {
        int errors = 0;
        var byKind = new int[4];
        foreach (var f in findings)
        {
            byKind[(int)f.Kind]++;
            errors += f.Error ? 1 : 0;
        }
        w.WriteLine($"TLB maintenance: {findings.Count} finding{(findings.Count == 1 ? "" : "s")} ({errors} error{(errors == 1 ? "" : "s")}, {findings.Count - errors} note{(findings.Count - errors == 1 ? "" : "s")})");
        foreach (var kind in new[] { FindingKind.StaleTranslation, FindingKind.UnorderedWrite, FindingKind.UnsynchronizedContext, FindingKind.BreakBeforeMake })
        {
            w.WriteLine($"  {MaintenanceFinding.KindName(kind),-24}{byKind[(int)kind],8}");
        }
        for (int i = 0; i < findings.Count && i < Listed; i++)
        {
            w.WriteLine($"  {findings[i]}");
        }
        if (findings.Count > Listed)
        {
            w.WriteLine($"  ... {findings.Count - Listed} more in the findings file");
        }
    }
}
