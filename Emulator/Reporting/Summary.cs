using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Paging;

namespace MmuSim.Reporting;

/// <summary>The short text summary of a replay.</summary>
public static class Summary
{
    public static void Write(TextWriter w, Statistics s, bool stoppedOnFault, DemandPager? pager = null)
    {
        w.WriteLine($"lines              {s.Lines,12:N0}");
        if (s.BadLines > 0)
        {
            w.WriteLine($"bad lines skipped  {s.BadLines,12:N0}");
        }
        w.WriteLine($"accesses           {s.Accesses,12:N0}   (R {s.Reads:N0}, W {s.Writes:N0}, X {s.Fetches:N0})");
        w.WriteLine($"at instructions    {s.AtInstructions,12:N0}");
        w.WriteLine($"descriptor reads   {s.DescriptorReads,12:N0}");
        w.WriteLine($"translation cycles {s.TranslationCycles,12:N0}");
        w.WriteLine($"faults             {s.Faults,12:N0}");
        foreach (var (type, stage, level, count) in s.FaultCells())
        {
            w.WriteLine($"  {FaultInfo.TypeName(type),-14} stage {stage} level {level,2}  {count,10:N0}");
        }
        if (pager is not null)
        {
            pager.WriteSummary(w);
            w.WriteLine($"  walks not charged {s.DemandFaultReads,11:N0} descriptor reads (walks that ended in a served fault)");
        }
        if (stoppedOnFault)
        {
            w.WriteLine("stopped at the first fault (--stop-on-fault)");
        }
    }
}
