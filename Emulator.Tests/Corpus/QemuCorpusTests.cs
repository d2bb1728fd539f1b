using System.Text;
using System.Text.Json;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Reporting;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Corpus;

/// <summary>
/// Replays every QEMU-checked trace of traces/qemu and compares each result line with its .expected.jsonl under
/// the rules of traces/qemu/README.md (compare.py --no-wnr-on-s1ptw): for `at` PAR.F, then FST/PTW/S or
/// PA[51:12]; for R/W/X the PA, or the fault's type, stage, level, s1ptw, target EL, the ESR's
/// EC/WnR/S1PTW/FSC, FAR and HPFAR; for dump the value.
/// </summary>
public class QemuCorpusTests
{
    public static TheoryData<string> Traces()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(TestPaths.Qemu, "*.trace").OrderBy(f => f, StringComparer.Ordinal))
        {
            data.Add(Path.GetFileNameWithoutExtension(f));
        }
        return data;
    }

    [Fact]
    public void CorpusIsPresent() => Assert.True(Traces().Count >= 60, "traces/qemu must hold the QEMU corpus");

    [Theory]
    [MemberData(nameof(Traces))]
    public async Task ReplayAgreesWithQemu(string name)
    {
        string tracePath = Path.Combine(TestPaths.Qemu, name + ".trace");
        var expected = File.ReadAllLines(Path.Combine(TestPaths.Qemu, name + ".expected.jsonl"))
            .Where(l => l.Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .ToDictionary(e => e.GetProperty("line").GetInt64());

        // Replay through the same JSON writer the CLI uses, so the schema is checked too.
        var ms = new MemoryStream();
        var core = new SimulatedCore();
        using (var writer = new ResultWriter(ms, ownsStream: false))
        {
            await using var stream = File.OpenRead(tracePath);
            await new Replayer(core, writer).ReplayAsync(stream, tracePath);
        }
        var actual = Encoding.UTF8.GetString(ms.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .ToDictionary(e => e.GetProperty("line").GetInt64());

        string[] traceLines = File.ReadAllLines(tracePath);
        var mismatches = new StringBuilder();
        int bad = 0;
        foreach (var (line, e) in expected.OrderBy(kv => kv.Key))
        {
            string? why = actual.TryGetValue(line, out var a) ? CorpusComparer.Compare(e, a) : "missing in actual";
            if (why is null)
            {
                continue;
            }
            bad++;
            mismatches.AppendLine($"{name}.trace:{line}: {why}");
            mismatches.AppendLine($"   context : {CorpusComparer.Context(traceLines, (int)line)}");
            mismatches.AppendLine($"   line    : {traceLines[line - 1]}");
            mismatches.AppendLine($"   expected: {e.GetRawText()}");
            mismatches.AppendLine($"   actual  : {(actual.TryGetValue(line, out var aa) ? aa.GetRawText() : "(none)")}");
        }
        Assert.True(bad == 0, $"{bad} of {expected.Count} lines disagree with QEMU:\n{mismatches}");
    }
}
