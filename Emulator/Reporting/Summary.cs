using MmuSim.Core;
using MmuSim.Faults;

namespace MmuSim.Reporting;

/// <summary>The short text summary of a replay.</summary>
public static class Summary
{
    public static void Write(TextWriter w, Statistics s, bool stoppedOnFault)
    {
        w.WriteLine($"lines              {s.Lines,12:N0}");
        w.WriteLine($"accesses           {s.Accesses,12:N0}   (R {s.Reads:N0}, W {s.Writes:N0}, X {s.Fetches:N0})");
        w.WriteLine($"at instructions    {s.AtInstructions,12:N0}");
        w.WriteLine($"descriptor reads   {s.DescriptorReads,12:N0}");
        w.WriteLine($"translation cycles {s.TranslationCycles,12:N0}");
        w.WriteLine($"faults             {s.Faults,12:N0}");
        foreach (var (type, stage, level, count) in s.FaultCells())
        {
            w.WriteLine($"  {FaultInfo.TypeName(type),-14} stage {stage} level {level,2}  {count,10:N0}");
        }
        if (stoppedOnFault)
        {
            w.WriteLine("stopped at the first fault (--stop-on-fault)");
        }
    }
}
