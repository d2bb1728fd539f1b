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
    public Task ReplayAgreesWithQemu(string name) => CorpusComparer.AssertReplayAgrees(TestPaths.Qemu, name);
}
