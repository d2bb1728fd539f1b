using System.Diagnostics;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Cli;

/// <summary>
/// MinVer on a shallow clone (issue 19: CI may clone with --depth 1): the version is still sensible and the build
/// neither fails nor warns. An untagged shallow clone is 0.0.0-alpha.0 (no tag, no earlier commit to count); a tagged
/// commit gets its tag's version. Runs MinVer's own target in a depth-1 clone of this repository.
/// </summary>
public sealed class ShallowCloneVersionTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-shallow-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static (int Exit, string Out) Run(string file, string? cwd, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = cwd ?? "" };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment.Remove("MINVERVERSIONOVERRIDE");
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not end in 3 minutes");
        }
        return (p.ExitCode, stdout + stderr.Result);
    }

    private static string? OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    [SkippableFact]
    public void AShallowCloneBuildsItsVersionWithoutAWarning()
    {
        string? git = OnPath("git");
        string? dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { } h && File.Exists(h) ? h : OnPath("dotnet");
        bool repo = Directory.Exists(Path.Combine(TestPaths.RepositoryRoot, ".git")) || File.Exists(Path.Combine(TestPaths.RepositoryRoot, ".git"));
        Skip.If((git is null || dotnet is null || !repo) && Environment.GetEnvironmentVariable("CI") != "true", "git, dotnet or the repository's history is missing");
        Assert.NotNull(git);
        Assert.NotNull(dotnet);

        // file:// so that --depth applies to a local clone.
        var clone = Run(git, null, "clone", "--quiet", "--depth", "1", "file://" + TestPaths.RepositoryRoot, _dir);
        Assert.True(clone.Exit == 0, clone.Out);
        Assert.Equal((0, "true\n"), Run(git, _dir, "rev-parse", "--is-shallow-repository"));

        string project = Path.Combine(_dir, "Emulator", "Emulator.csproj");
        var untagged = Run(dotnet, _dir, "msbuild", project, "-restore", "-t:MinVer", "-getProperty:MinVerVersion", "-nologo");
        Assert.True(untagged.Exit == 0, untagged.Out);
        Assert.Equal("0.0.0-alpha.0", untagged.Out.Trim());

        Assert.Equal(0, Run(git, _dir, "-c", "user.name=t", "-c", "user.email=t@t", "tag", "v9.8.7").Exit);
        var tagged = Run(dotnet, _dir, "msbuild", project, "-t:MinVer", "-getProperty:MinVerVersion", "-nologo");
        Assert.True(tagged.Exit == 0, tagged.Out);
        // The output is the version alone: no warning line.
        Assert.Equal("9.8.7", tagged.Out.Trim());
    }
}
