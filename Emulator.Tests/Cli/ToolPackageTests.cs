using System.Diagnostics;
using System.Reflection;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Cli;

/// <summary>
/// MmuSim installs as a .NET tool: `dotnet pack` of the Emulator project makes a tool package whose command is
/// `mmusim`, `dotnet tool install` from that folder puts it on a tool path, and the installed command reports the
/// version git gave the build (MinVer) and replays a trace. Shell completion (System.CommandLine's [suggest]
/// directive, what dotnet-suggest calls) offers subcommands and the values of options with a fixed set.
/// </summary>
[Collection("Console")]
public sealed class ToolPackageTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mmusim-tool-" + Guid.NewGuid().ToString("N"));

    public ToolPackageTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Exit, string Out, string Err) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        // Bounded: a pack and an install take seconds; a hung one fails the test instead of the CI run.
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not end in 5 minutes");
        }
        return (p.ExitCode, stdout, stderr.Result);
    }

    private static string? Dotnet()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (host is not null && File.Exists(host))
        {
            return host;
        }
        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(d => Path.Combine(d, "dotnet")).FirstOrDefault(File.Exists);
    }

    [SkippableFact]
    public void PacksInstallsFromTheFolderAndRuns()
    {
        string? dotnet = Dotnet();
        Skip.If(dotnet is null && Environment.GetEnvironmentVariable("CI") != "true", "the dotnet command is not on PATH");
        Assert.NotNull(dotnet);
        // The build the tests run against (Debug or Release): packed as built, not built again.
        string configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;
        string project = Path.Combine(TestPaths.RepositoryRoot, "Emulator", "Emulator.csproj");
        string packages = Path.Combine(_dir, "packages"), tools = Path.Combine(_dir, "tools");
        var pack = Run(dotnet, "pack", project, "--no-build", "-c", configuration, "-o", packages,
            "-p:PublishDir=" + Path.Combine(_dir, "publish") + Path.DirectorySeparatorChar);
        Assert.True(pack.Exit == 0, pack.Out + pack.Err);
        string package = Assert.Single(Directory.GetFiles(packages, "MmuSim.*.nupkg"));

        var install = Run(dotnet, "tool", "install", "MmuSim", "--tool-path", tools, "--add-source", packages, "--prerelease");
        Assert.True(install.Exit == 0, install.Out + install.Err);
        string mmusim = Path.Combine(tools, OperatingSystem.IsWindows() ? "mmusim.exe" : "mmusim");

        string expected = typeof(MmuSim.Cli.Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        Assert.Equal((0, expected + "\n", ""), Run(mmusim, "--version"));
        // The package's version is the informational version without its commit.
        Assert.Equal($"MmuSim.{expected.Split('+')[0]}.nupkg", Path.GetFileName(package));

        var replay = Run(mmusim, "replay", Path.Combine(TestPaths.Traces, "sample", "example.trace"), "--quiet");
        Assert.Equal((0, ""), (replay.Exit, replay.Err));
        Assert.StartsWith("lines ", replay.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rep", "replay\nreport\n")]
    [InlineData("replay x --demand-paging ", "auto\noff\non\n")]
    [InlineData("replay x --placement rand", "random\n")]
    [InlineData("cell x --granule ", "16k\n4k\n64k\n")]
    public void CompletionOffersCommandsAndFixedValues(string line, string expected)
    {
        var (exit, stdout, _) = Support.Cli.Run($"[suggest:{line.Length}]", line);
        Assert.Equal(0, exit);
        Assert.Equal(expected, stdout.Replace("\r\n", "\n"));
    }
}
