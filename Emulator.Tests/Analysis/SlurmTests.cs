using System.Diagnostics;
using System.Text.Json;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Analysis;

/// <summary>
/// `sweep --slurm` on a real Slurm (.ci/install-slurm.sh makes this machine a one-node cluster): the job array is
/// submitted, its tasks run `mmusim replay` each, `merge` gathers them, and the result equals a local sweep. Without
/// Slurm the test is skipped, except under CI=true where a missing Slurm is a failure.
/// </summary>
[Collection("Console")]
public sealed class SlurmTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmusim-slurm").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static string Trace(string name) => Path.Combine(TestPaths.RepositoryRoot, name);

    private static bool Installed(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, tool)));

    private static string Canonical(JsonElement e) => JsonSerializer.Serialize(e);

    [SkippableFact]
    public void ASubmittedSweepMergesToTheLocalSweep()
    {
        Skip.If(!Installed("sbatch") && Environment.GetEnvironmentVariable("CI") != "true", "Slurm (sbatch) is not installed; .ci/install-slurm.sh installs it");
        Assert.True(Installed("sbatch"), "CI=true: Slurm must be installed (.ci/install-slurm.sh)");
        string[] sweep = [Trace("traces/bench/mixed-2stage.trace"), Trace("traces/analysis/zipf-asids.trace.xz"), "--each-trace",
            "--preset", "cortex-a55", "--preset", "bench", "--vary", "memoryLatency=100,200", "--quiet"];
        string slurm = Path.Combine(_dir, "job");
        var (exit, output, err) = Support.Cli.Run(["sweep", .. sweep, "--slurm", slurm, "--submit", "--sbatch", "time=5"]);
        Assert.True(exit == 0, err);
        string job = output.Split("submitted job ")[1].Split(';')[0];

        // Bounded wait: the 8 tasks are small; a queue that does not move in two minutes fails the test (and is cancelled).
        var deadline = Stopwatch.StartNew();
        while (Directory.GetFiles(Path.Combine(slurm, "out")).Length < 8 || Queued(job))
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(2))
            {
                Process.Start("scancel", job)?.WaitForExit();
                Assert.Fail($"job {job} did not end within 2 minutes: {string.Join(", ", Directory.GetFiles(Path.Combine(slurm, "logs")).Select(File.ReadAllText))}");
            }
            Thread.Sleep(500);
        }

        string merged = Path.Combine(_dir, "merged.json"), local = Path.Combine(_dir, "local.json");
        (exit, _, err) = Support.Cli.Run("merge", slurm, "--json", merged);
        Assert.True(exit == 0, err);
        (exit, _, err) = Support.Cli.Run(["sweep", .. sweep, "--json", local]);
        Assert.True(exit == 0, err);
        using var a = JsonDocument.Parse(File.ReadAllBytes(merged));
        using var b = JsonDocument.Parse(File.ReadAllBytes(local));
        var ra = a.RootElement.GetProperty("runs").EnumerateArray().ToArray();
        var rb = b.RootElement.GetProperty("runs").EnumerateArray().ToArray();
        Assert.Equal(8, rb.Length);
        Assert.Equal(rb.Length, ra.Length);
        for (int i = 0; i < ra.Length; i++)
        {
            Assert.Equal(Canonical(rb[i]), Canonical(ra[i]));
        }
    }

    private static bool Queued(string job)
    {
        var psi = new ProcessStartInfo("squeue", ["-h", "-j", job]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        string o = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return o.Trim().Length != 0;
    }

    [Fact]
    public void SubmitWithoutSlurmIsAClearErrorAndWritesNothing()
    {
        string? path = Environment.GetEnvironmentVariable("PATH");
        Environment.SetEnvironmentVariable("PATH", _dir); // a PATH with no sbatch on it
        try
        {
            string slurm = Path.Combine(_dir, "job");
            var (exit, output, err) = Support.Cli.Run("sweep", Trace("traces/bench/lru.trace"), "--slurm", slurm, "--submit");
            Assert.Equal(1, exit);
            Assert.Equal("mmusim: --submit: sbatch is not on PATH (Slurm is not installed here; the job script can be written without --submit and submitted on the cluster)\n", err.Replace("\r\n", "\n"));
            Assert.Equal("", output);
            Assert.False(Directory.Exists(slurm));
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
        }
    }

    [Fact]
    public void MergeNamesTheTasksThatWroteNothing()
    {
        string slurm = Path.Combine(_dir, "job");
        var (exit, _, err) = Support.Cli.Run("sweep", Trace("traces/bench/lru.trace"), "--preset", "bench", "--preset", "uncached", "--slurm", slurm);
        Assert.True(exit == 0, err);
        // Task 0 ran (by hand, as its array task would), task 1 did not.
        string[] args = File.ReadAllLines(Path.Combine(slurm, "tasks", "0.args"));
        (exit, _, err) = Support.Cli.Run(["replay", .. args]);
        Assert.True(exit == 0, err);
        string json = Path.Combine(_dir, "m.json");
        var (mexit, mout, merr) = Support.Cli.Run("merge", slurm, "--json", json);
        Assert.Equal(2, mexit);
        Assert.Equal($"mmusim: {slurm}: 1 of 2 tasks wrote no summary: task 1 (uncached) (see {Path.Combine(slurm, "logs")})\n", merr.Replace("\r\n", "\n"));
        Assert.StartsWith("config", mout);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
        Assert.Equal("bench", doc.RootElement.GetProperty("runs")[0].GetProperty("config").GetString());
    }

    /// <summary>
    /// Tasks that read different bytes under one input name (the trace was rewritten while the job ran) are named by
    /// merge from their summaries' input digests: the table is kept, and the exit code says something is wrong.
    /// </summary>
    [Fact]
    public void MergeNamesTasksThatReadADifferentFileUnderOneName()
    {
        string trace = Path.Combine(_dir, "t.trace"), slurm = Path.Combine(_dir, "job");
        File.Copy(Trace("traces/bench/lru.trace"), trace);
        var (exit, _, err) = Support.Cli.Run("sweep", trace, "--preset", "bench", "--preset", "uncached", "--slurm", slurm);
        Assert.True(exit == 0, err);
        (exit, _, err) = Support.Cli.Run(["replay", .. File.ReadAllLines(Path.Combine(slurm, "tasks", "0.args"))]);
        Assert.True(exit == 0, err);
        string first = $"xxh3:{System.IO.Hashing.XxHash3.HashToUInt64(File.ReadAllBytes(trace)):x16}";
        File.AppendAllText(trace, "R 0x1000\n");
        string second = $"xxh3:{System.IO.Hashing.XxHash3.HashToUInt64(File.ReadAllBytes(trace)):x16}";
        (exit, _, err) = Support.Cli.Run(["replay", .. File.ReadAllLines(Path.Combine(slurm, "tasks", "1.args"))]);
        Assert.True(exit == 0, err);
        var (mexit, mout, merr) = Support.Cli.Run("merge", slurm);
        Assert.Equal(2, mexit);
        Assert.Equal($"mmusim: {slurm}: the tasks read different bytes under one name (a file changed while the job ran?): {trace} was {first} for task 0 and {second} for task 1\n",
            merr.Replace("\r\n", "\n"));
        Assert.StartsWith("config", mout);
        // Unchanged, the same job merges cleanly.
        (exit, _, err) = Support.Cli.Run(["replay", .. File.ReadAllLines(Path.Combine(slurm, "tasks", "0.args"))]);
        Assert.True(exit == 0, err);
        Assert.Equal((0, ""), Support.Cli.Run("merge", slurm) is var (e, _, m) ? (e, m) : default);
    }
}
