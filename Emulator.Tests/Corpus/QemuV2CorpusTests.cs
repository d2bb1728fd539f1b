using System.Text;
using System.Text.Json;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Reporting;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Corpus;

/// <summary>
/// Replays the QEMU-checked traces of traces/qemu-v2 whose kind (the first line's "kind NAME", or `kind` in
/// NAME.meta.json) is in <see cref="Kinds"/>, and compares each result line with its .expected.jsonl under the rules
/// of traces/qemu/compare.py (<see cref="CorpusComparer"/>, with the version-2 rules: alignment faults with a null
/// level, `unpriv`, ldtr/sttr lines).
/// </summary>
public class QemuV2CorpusTests
{
    /// <summary>
    /// The kinds replayed here; <see cref="QemuV2MaintenanceAndEndianTests"/> replays `bigend` and `tlbirange`.
    /// </summary>
    public static readonly IReadOnlySet<string> Kinds = new HashSet<string>(StringComparer.Ordinal) { "vhe", "pan", "align" };

    /// <summary>The kind of a trace: its first line's "kind NAME", else the meta file's "kind".</summary>
    public static string KindOf(string name)
    {
        string first = File.ReadLines(Path.Combine(TestPaths.QemuV2, name + ".trace")).FirstOrDefault() ?? "";
        int at = first.LastIndexOf(" kind ", StringComparison.Ordinal);
        if (at >= 0)
        {
            return first[(at + 6)..].Trim();
        }
        string meta = Path.Combine(TestPaths.QemuV2, name + ".meta.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(meta));
        return doc.RootElement.GetProperty("kind").GetString()!;
    }

    public static TheoryData<string> Traces()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(TestPaths.QemuV2, "*.trace").OrderBy(f => f, StringComparer.Ordinal))
        {
            string name = Path.GetFileNameWithoutExtension(f);
            if (Kinds.Contains(KindOf(name)))
            {
                data.Add(name);
            }
        }
        return data;
    }

    /// <summary>Every trace of the corpus is replayed by one of the two classes: no kind is left out.</summary>
    [Fact]
    public void EveryKindOfTheCorpusIsReplayed()
    {
        var kinds = Directory.GetFiles(TestPaths.QemuV2, "*.trace").Select(f => KindOf(Path.GetFileNameWithoutExtension(f))).ToHashSet();
        Assert.Equal(5, kinds.Count);
        Assert.Equal(kinds.Order(StringComparer.Ordinal), Kinds.Concat(QemuV2MaintenanceAndEndianTests.Kinds).Order(StringComparer.Ordinal));
        Assert.Empty(QemuV2MaintenanceAndEndianTests.WaitingFor);
    }

    [Fact]
    public void EveryKindOfTheSetHasTraces()
    {
        var kinds = Directory.GetFiles(TestPaths.QemuV2, "*.trace").Select(f => KindOf(Path.GetFileNameWithoutExtension(f))).ToHashSet();
        foreach (var k in Kinds)
        {
            Assert.Contains(k, kinds);
        }
    }

    [Theory]
    [MemberData(nameof(Traces))]
    public Task ReplayAgreesWithQemu(string name) => CorpusComparer.AssertReplayAgrees(TestPaths.QemuV2, name);
}
