using System.Globalization;
using System.Text;
using System.Text.Json;
using MmuSim.Core;
using MmuSim.Replay;
using MmuSim.Reporting;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Corpus;

/// <summary>
/// Replays every trace of traces/qemu-v2 whose kind (`kind` in NAME.meta.json, else the trace's first comment line)
/// is `tlbirange` or `bigend` and compares each result with NAME.expected.jsonl under the rules of
/// <see cref="QemuCorpusTests"/> (<see cref="CorpusComparer"/>, compare.py --no-wnr-on-s1ptw). Traces that need what
/// another branch brings (the EL2&amp;0 regime, HCR_EL2.E2H=1; `ldtr`/`sttr`; `pstate`) are listed in
/// <see cref="WaitingFor"/> with the reason; a test asserts that list is exactly those traces.
/// </summary>
public class QemuV2MaintenanceAndEndianTests
{
    private static string Dir => Path.Combine(TestPaths.Traces, "qemu-v2");

    internal static readonly string[] Kinds = ["tlbirange", "bigend"];

    /// <summary>
    /// Traces of these kinds that use features of the VHE/PAN branch, with the reason; they are replayed once that
    /// branch is merged (remove them from here). None of the public-v2 tlbirange and bigend traces needs it.
    /// </summary>
    public static readonly Dictionary<string, string> WaitingFor = new(StringComparer.Ordinal);

    /// <summary>The kind of a corpus trace: `kind` of its meta.json, else ", kind K" in its first line.</summary>
    public static string KindOf(string name)
    {
        string meta = Path.Combine(Dir, name + ".meta.json");
        if (File.Exists(meta))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(meta));
            if (doc.RootElement.TryGetProperty("kind", out var k) && k.GetString() is { } kind)
            {
                return kind;
            }
        }
        string first = File.ReadLines(Path.Combine(Dir, name + ".trace")).First();
        int at = first.LastIndexOf("kind ", StringComparison.Ordinal);
        return at < 0 ? "" : first[(at + 5)..].Trim();
    }

    private static IEnumerable<string> OfMyKinds() =>
        Directory.GetFiles(Dir, "*.trace").Select(f => Path.GetFileNameWithoutExtension(f)!)
            .Where(n => Kinds.Contains(KindOf(n))).OrderBy(n => n, StringComparer.Ordinal);

    /// <summary>Why a trace cannot agree before the VHE/PAN branch: E2H=1 written to HCR_EL2, or its commands.</summary>
    public static string? NeedsOtherBranch(string name)
    {
        var why = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string raw in File.ReadLines(Path.Combine(Dir, name + ".trace")))
        {
            string[] tok = raw.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (tok.Length == 0 || tok[0].StartsWith('#'))
            {
                continue;
            }
            string cmd = tok[0].ToLowerInvariant();
            if (cmd is "ldtr" or "sttr" or "pstate")
            {
                why.Add(cmd);
            }
            else if (cmd == "reg" && tok.Length >= 3 && tok[1].Equals("HCR_EL2", StringComparison.OrdinalIgnoreCase)
                && ((ParseNumber(tok[2]) >> 34) & 1) != 0)
            {
                why.Add("E2H=1 (EL2&0)");
            }
        }
        return why.Count == 0 ? null : string.Join(", ", why);
    }

    private static ulong ParseNumber(string s) =>
        s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.Parse(s.AsSpan(2).ToString().Replace("_", ""), NumberStyles.HexNumber, CultureInfo.InvariantCulture)
            : ulong.Parse(s.Replace("_", ""), CultureInfo.InvariantCulture);

    public static TheoryData<string> Traces()
    {
        var data = new TheoryData<string>();
        foreach (string n in OfMyKinds().Where(n => !WaitingFor.ContainsKey(n)))
        {
            data.Add(n);
        }
        return data;
    }

    [Fact]
    public void CorpusHoldsBothKinds()
    {
        var names = OfMyKinds().ToArray();
        Assert.Contains(names, n => KindOf(n) == "tlbirange");
        Assert.Contains(names, n => KindOf(n) == "bigend");
        Assert.True(names.Length >= 9, $"traces/qemu-v2 holds {names.Length} tlbirange/bigend traces");
    }

    [Fact]
    public void WaitingListIsExactlyTheTracesThatNeedTheOtherBranch()
    {
        var needing = OfMyKinds().Select(n => (n, why: NeedsOtherBranch(n))).Where(x => x.why is not null)
            .ToDictionary(x => x.n, x => x.why!, StringComparer.Ordinal);
        Assert.Equal(needing.Keys.Order(StringComparer.Ordinal), WaitingFor.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, why) in needing)
        {
            Assert.Equal(why, WaitingFor[name]);
        }
    }

    [Fact]
    public void TheDetectorSeesE2hAndTheUnprivilegedCommands()
    {
        // The other kinds of the corpus use them: the detector must find them there.
        var all = Directory.GetFiles(Dir, "*.trace").Select(f => Path.GetFileNameWithoutExtension(f)!).ToArray();
        Assert.Contains(all, n => KindOf(n) == "vhe" && NeedsOtherBranch(n) is { } w && w.Contains("E2H=1"));
        Assert.Contains(all, n => KindOf(n) == "pan" && NeedsOtherBranch(n) is { } w && (w.Contains("ldtr") || w.Contains("sttr") || w.Contains("pstate")));
    }

    [Theory]
    [MemberData(nameof(Traces))]
    public Task ReplayAgreesWithQemu(string name) => CorpusComparer.AssertReplayAgrees(Dir, name);
}
