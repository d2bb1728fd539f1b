using MmuSim.Memory;
using MmuSim.Replay;
using MmuSim.Tracing;

namespace MmuSim.Cli;

/// <summary>A setup trace read for the questions asked of its tables (`translate`, `tables`), with the commands' errors.</summary>
internal static class SetupInput
{
    /// <summary>
    /// The setup replayed (every line applied, no results written), or null after printing `mmusim: reason`: exit 2
    /// for an input that is malformed or cannot be read, 3 for simulated memory over its cap.
    /// </summary>
    public static async Task<(Replayer? Replayer, int Exit)> ReplayAsync(IReadOnlyList<string> paths, TraceFormat format, CancellationToken ct)
    {
        try
        {
            return (await SetupReplay.RunAsync(paths, format, ct: ct), 0);
        }
        catch (Exception ex) when (ex is TraceFormatException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            Console.Error.WriteLine($"mmusim: {ex.Message}");
            return (null, 2);
        }
        catch (MemoryLimitException ex)
        {
            Console.Error.WriteLine($"mmusim: {ex.Message}");
            return (null, 3);
        }
    }
}
