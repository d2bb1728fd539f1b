using System.Text.RegularExpressions;
using MmuSim.Tests.Support;

namespace MmuSim.Tests;

/// <summary>
/// The floors of Emulator/ (folder = namespace), lowest first. A folder may use only the folders below it: no
/// cycle between folders, and what is below never learns of what is built on it (docs/DESIGN.md, "Floors").
/// </summary>
public sealed partial class DependencyOrderTests
{
    /// <summary>The dependency order, written once. A new folder goes here, at the floor it belongs to.</summary>
    public static readonly string[] Floors =
    [
        "Bits", "Addressing", "Memory", "Registers", "Faults", "Translation", "Caching", "Timing", "Building",
        "Core", "Paging", "Tracing", "Replay", "Checking", "Reporting", "Analysis", "Hypervisor", "Cli",
    ];

    private static string EmulatorSource() => Path.Combine(TestPaths.RepositoryRoot, "Emulator");

    // `using MmuSim.X;`, `using static MmuSim.X.Y;`, `using A = MmuSim.X.Y;` and qualified names `MmuSim.X.Y` in code.
    [GeneratedRegex(@"\bMmuSim\.([A-Z][A-Za-z0-9]*)")]
    private static partial Regex Reference();

    /// <summary>Each file's references to other floors, comments and string literals left out.</summary>
    private static IEnumerable<(string File, int Line, string From, string To)> References(string root)
    {
        foreach (var file in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(root, file);
            if (rel.StartsWith("obj", StringComparison.Ordinal) || rel.StartsWith("bin", StringComparison.Ordinal))
            {
                continue;
            }
            string from = rel.Split(Path.DirectorySeparatorChar)[0];
            if (from.EndsWith(".cs", StringComparison.Ordinal))
            {
                continue; // files at the root (assembly attributes) belong to no floor
            }
            int n = 0;
            foreach (string raw in File.ReadLines(file))
            {
                n++;
                string code = StripCommentsAndStrings(raw);
                if (code.TrimStart().StartsWith("namespace", StringComparison.Ordinal))
                {
                    continue;
                }
                foreach (Match m in Reference().Matches(code))
                {
                    yield return (rel, n, from, m.Groups[1].Value);
                }
            }
        }
    }

    private static string StripCommentsAndStrings(string line)
    {
        int slash = line.IndexOf("//", StringComparison.Ordinal);
        if (slash >= 0)
        {
            line = line[..slash];
        }
        return Regex.Replace(line, "\"(?:[^\"\\\\]|\\\\.)*\"", "\"\"");
    }

    [Fact]
    public void EveryFolderIsAFloor()
    {
        var folders = Directory.GetDirectories(EmulatorSource())
            .Select(Path.GetFileName)
            .Where(f => f is not ("bin" or "obj"))
            .Order(StringComparer.Ordinal)
            .ToArray();
        Assert.Equal(Floors.Order(StringComparer.Ordinal).ToArray(), folders);
    }

    [Fact]
    public void NoFolderUsesAFloorAboveIt()
    {
        var upward = References(EmulatorSource())
            .Where(r => r.From != r.To && Array.IndexOf(Floors, r.To) >= 0 && Array.IndexOf(Floors, r.To) > Array.IndexOf(Floors, r.From))
            .Select(r => $"{r.File}:{r.Line}: {r.From} uses {r.To}, a floor above it")
            .Distinct()
            .ToArray();
        Assert.Empty(upward);
    }

    [Fact]
    public void EveryReferenceNamesAFloor()
    {
        var unknown = References(EmulatorSource())
            .Where(r => Array.IndexOf(Floors, r.To) < 0 && r.To != "Tests")
            .Select(r => $"{r.File}:{r.Line}: MmuSim.{r.To} is no floor")
            .Distinct()
            .ToArray();
        Assert.Empty(unknown);
    }
}
