using System.Diagnostics;
using System.IO.Compression;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Cli;

/// <summary>
/// `explain` and `faults` read every input `replay` reads: a .gz, a .xz, a binary trace (written by `mmusim convert`),
/// a lackey trace and standard input each give the whole output the same trace as plain text gives.
/// </summary>
[Collection("Console")]
public class ExplainFaultsInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmusim-inputs-").FullName;

    private static string Setup => Path.Combine(TestPaths.Traces, "cells", "linux-demo.setup.trace");

    private static string Guest => Path.Combine(TestPaths.Traces, "cells", "linux-demo.guest.trace");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Exit, string Out, string Err) Run(params string[] args) => Support.Cli.Run(args);

    /// <summary>A successful run's output with each input's name, where a report names its source (`PATH:LINE`), replaced by one name.</summary>
    private static string Output((int Exit, string Out, string Err) run, params string[] paths)
    {
        Assert.True(run.Exit == 0, run.Err);
        string text = run.Out;
        foreach (var p in paths.OrderByDescending(p => p.Length))
        {
            text = text.Replace(p + ":", "GUEST:");
        }
        return text;
    }

    private string Gzip(string path)
    {
        string gz = Path.Combine(_dir, Path.GetFileName(path) + ".gz");
        using (var o = new GZipStream(File.Create(gz), CompressionLevel.Optimal))
        {
            o.Write(File.ReadAllBytes(path));
        }
        return gz;
    }

    private string Convert(string from, string name)
    {
        string to = Path.Combine(_dir, name);
        var run = Run("convert", from, to);
        Assert.True(run.Exit == 0, run.Err);
        return to;
    }

    /// <summary>`mmusim` in a process of its own, <paramref name="stdin"/> piped to its standard input.</summary>
    private static (int Exit, string Out, string Err) RunWithStdin(string stdin, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "mmusim.dll"));
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        using (var s = File.OpenRead(stdin))
        {
            s.CopyTo(p.StandardInput.BaseStream);
        }
        p.StandardInput.Close();
        p.WaitForExit();
        return (p.ExitCode, output.Result, error.Result);
    }

    [Fact]
    public void FaultsReadCompressedBinaryAndStandardInput()
    {
        string plain = Output(Run("faults", Setup, Guest), Guest);
        Assert.Contains("5 faults in 6 accesses", plain);
        Assert.Equal(plain, Output(Run("faults", Setup, Gzip(Guest)), Gzip(Guest)));
        string xz = Guest + ".xz";
        Assert.Equal(plain, Output(Run("faults", Setup, xz), xz));
        Assert.Equal(plain, Output(RunWithStdin(Guest, "faults", Setup, "-"), "-"));

        // A binary trace numbers records, not lines: it matches the text convert writes back from it.
        string mbt = Convert(Guest, "guest.mbt");
        string back = Convert(mbt, "guest.trace");
        string canonical = Output(Run("faults", Setup, back), back);
        Assert.Contains("5 faults in 6 accesses", canonical);
        Assert.Equal(canonical, Output(Run("faults", Setup, mbt), mbt));
    }

    [Theory]
    [InlineData(29)]
    [InlineData(40)]
    public void ExplainReadsCompressedAndStandardInput(int line)
    {
        string n = line.ToString();
        string plain = Output(Run("explain", Setup, Guest, "--line", n));
        Assert.StartsWith($"line {line}: ", plain);
        Assert.Equal(plain, Output(Run("explain", Setup, Gzip(Guest), "--line", n)));
        Assert.Equal(plain, Output(Run("explain", Setup, Guest + ".xz", "--line", n)));
        Assert.Equal(plain, Output(RunWithStdin(Guest, "explain", Setup, "-", "--line", n)));
        // Earlier traces too, compressed or binary.
        Assert.Equal(plain, Output(Run("explain", Convert(Setup, "setup.mbt"), Gzip(Guest), "--line", n)));
    }

    [Fact]
    public void ExplainReadsBinary()
    {
        string mbt = Convert(Guest, "guest.mbt");
        string back = Convert(mbt, "guest.trace");
        // Record 9 is the access of line 29 of the commented original.
        string canonical = Output(Run("explain", Setup, back, "--line", "9"));
        Assert.Contains("VA 0x4f000000", canonical);
        Assert.Equal(canonical, Output(Run("explain", Setup, mbt, "--line", "9")));
    }

    /// <summary>Lackey accesses and the same accesses as text, on the same lines (valgrind's banner against a comment).</summary>
    private (string Lackey, string Text) Accesses()
    {
        string lackey = Path.Combine(_dir, "prog.lackey");
        string text = Path.Combine(_dir, "prog.trace");
        File.WriteAllText(lackey, "==42== Lackey, an example Valgrind tool\nI  00400000,4\n L 7fff0010,8\n S 7fff0018,4\n L 50000000,8\nI  00400004,4\n");
        File.WriteAllText(text, "el 0\nX 0x400000\nR 0x7fff0010\nW 0x7fff0018 4\nR 0x50000000\nX 0x400004\n");
        return (lackey, text);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void ExplainReadsLackey(int line)
    {
        var (lackey, text) = Accesses();
        string n = line.ToString();
        // A foreign input runs under demand paging (auto), as in replay: the text gives the same with it on.
        string plain = Output(Run("explain", text, "--line", n, "--demand-paging", "on"));
        Assert.Contains("at EL0", plain);
        Assert.Equal(plain, Output(Run("explain", lackey, "--line", n)));
        Assert.Equal(plain, Output(Run("explain", Gzip(lackey), "--line", n)));
    }

    [Fact]
    public void ExplainBuildsVheHostTablesWithRegimeEl20()
    {
        var (lackey, _) = Accesses();
        string host = Output(Run("explain", lackey, "--line", "3", "--regime", "el20"));
        Assert.Contains("read of VA 0x7fff0010 at EL0", host);
        Assert.Contains("regime EL2&0, stage 1 on, TTBR0_EL2", host);
        Assert.DoesNotContain("S2", host); // one stage: no nested walk
        Assert.Contains("outcome: PA 0x", host);
        string guest = Output(Run("explain", lackey, "--line", "3"));
        Assert.Contains("regime EL1&0", guest);
        var bad = Run("explain", lackey, "--line", "3", "--regime", "el3");
        Assert.Equal(1, bad.Exit);
        Assert.Contains("bad --regime 'el3' (el10 or el20)", bad.Err);
    }

    [Fact]
    public void FaultsReadLackey()
    {
        var (lackey, text) = Accesses();
        // Without a stage 1 the guest's VAs are IPAs: the cell's stage 2 faults on those outside its regions.
        string plain = Output(Run("faults", Setup, text), text);
        Assert.Contains("fault", plain);
        Assert.Equal(plain, Output(Run("faults", Setup, lackey), lackey));
        Assert.Equal(plain, Output(RunWithStdin(lackey, "faults", Setup, "-"), "-"));
    }
}
