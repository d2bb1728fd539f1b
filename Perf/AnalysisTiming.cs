using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace MmuSim.Perf;

/// <summary>
/// `Perf analysis TRACE MMUSIM [ROUNDS] [YARDSTICK]`: the analysis side's speed targets measured side by side in one
/// run, as a user runs the commands (separate processes of the native `mmusim` executable <c>MMUSIM</c>):
/// <list type="bullet">
/// <item>a 16-configuration sweep (`--preset bench --vary 'tlbs[0].entries=16,32,64,128' --vary
/// 'tlbs[1].entries=256,512,1024,2048'`) against the 16 separate `replay --config` runs of the same models (written
/// by `sweep --slurm`, so they are exactly the sweep's), target at most 40 %;</item>
/// <item>the one-pass `mrc` against one `replay` (the default model), target at most 2×;</item>
/// <item>with a yardstick executable (the hand-written C replay, given by path), its time on the same trace.</item>
/// </list>
/// Rounds alternate the commands so that a slow spell of the machine hits both sides; the ratios are per round, then
/// their minimum, median and maximum. Wall times; CPU times (user + system, from the child's rusage) beside them.
/// </summary>
public static partial class AnalysisTiming
{
    private static readonly string[] Vary = ["--vary", "tlbs[0].entries=16,32,64,128", "--vary", "tlbs[1].entries=256,512,1024,2048"];

    public static int Run(string trace, string mmusim, int rounds, string? yardstick)
    {
        string dir = Directory.CreateTempSubdirectory("mmusim-perf-analysis").FullName;
        try
        {
            // The sweep's own configurations, as files: what `replay --config` reads.
            Exec(mmusim, ["sweep", trace, "--preset", "bench", .. Vary, "--slurm", dir]);
            string[] configs = Directory.GetFiles(Path.Combine(dir, "configs"), "*.json").Order(StringComparer.Ordinal).ToArray();
            Console.WriteLine($"trace {trace}, {configs.Length} configurations, {rounds} rounds, mmusim {mmusim}");
            Console.WriteLine("round  sweep s (cpu)   16 replays s (cpu)   ratio   |  mrc s (cpu)   replay s (cpu)   ratio" + (yardstick is null ? "" : "   |  yardstick s"));
            var sweepRatios = new List<double>();
            var mrcRatios = new List<double>();
            for (int r = 0; r < rounds; r++)
            {
                var sweep = Exec(mmusim, ["sweep", trace, "--preset", "bench", .. Vary, "--quiet"]);
                var separate = (Wall: 0.0, Cpu: 0.0);
                foreach (var c in configs)
                {
                    var one = Exec(mmusim, ["replay", trace, "--config", c, "--quiet"]);
                    separate = (separate.Wall + one.Wall, separate.Cpu + one.Cpu);
                }
                var mrc = Exec(mmusim, ["mrc", trace, "--quiet"]);
                var replay = Exec(mmusim, ["replay", trace, "--quiet"]);
                string side = "";
                if (yardstick is not null)
                {
                    side = $"   |  {Exec(yardstick, [trace]).Wall,8:F3}";
                }
                sweepRatios.Add(sweep.Wall / separate.Wall);
                mrcRatios.Add(mrc.Wall / replay.Wall);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{r,5}  {sweep.Wall,6:F2} ({sweep.Cpu,5:F2})   {separate.Wall,8:F2} ({separate.Cpu,6:F2})    {100 * sweepRatios[^1],5:F1} %  |  {mrc.Wall,5:F2} ({mrc.Cpu,4:F2})   {replay.Wall,5:F2} ({replay.Cpu,4:F2})      {mrcRatios[^1],4:F2}x{side}"));
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"sweep / 16 replays: min {100 * sweepRatios.Min():F1} %, median {100 * Median(sweepRatios):F1} %, max {100 * sweepRatios.Max():F1} % (target at most 40 %)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"mrc / replay:       min {mrcRatios.Min():F2}x, median {Median(mrcRatios):F2}x, max {mrcRatios.Max():F2}x (target at most 2x)"));
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>Runs a command to its end, its output discarded; its wall time and CPU time (user + system) in seconds.</summary>
    private static (double Wall, double Cpu) Exec(string file, string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        double before = ChildrenCpu();
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        // Drained as they come, so that a chatty command never blocks on a full pipe.
        var output = p.StandardOutput.ReadToEndAsync();
        var errors = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        double wall = clock.Elapsed.TotalSeconds;
        double cpu = ChildrenCpu() - before;
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)}: exit {p.ExitCode}: {errors.Result.Trim()}");
        }
        GC.KeepAlive(output.Result);
        return (wall, cpu);
    }

    /// <summary>User + system CPU seconds of this process's reaped children (getrusage RUSAGE_CHILDREN), or NaN off Linux.</summary>
    private static unsafe double ChildrenCpu()
    {
        if (!OperatingSystem.IsLinux())
        {
            return double.NaN;
        }
        // struct rusage begins with ru_utime and ru_stime, each a timeval { long tv_sec; long tv_usec; } on 64-bit Linux.
        long* usage = stackalloc long[18];
        if (getrusage(-1, usage) != 0)
        {
            return double.NaN;
        }
        return usage[0] + usage[1] / 1e6 + usage[2] + usage[3] / 1e6;
    }

    [LibraryImport("libc", EntryPoint = "getrusage")]
    private static unsafe partial int getrusage(int who, long* usage);
}
