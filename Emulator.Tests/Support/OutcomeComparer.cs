using MmuSim.Core;

namespace MmuSim.Tests.Support;

/// <summary>Compares results the architecture defines (everything but the cycles a model charged).</summary>
public static class OutcomeComparer
{
    /// <summary>Null when equal, else what differs.</summary>
    public static string? Diff(in AccessOutcome a, in AccessOutcome b)
    {
        if (a.Line != b.Line || a.Op != b.Op)
        {
            return $"line/op {a.Line} {a.Op} vs {b.Line} {b.Op}";
        }
        if (a.Fault != b.Fault)
        {
            return $"fault {a.Fault} vs {b.Fault}";
        }
        if (a.Pa != b.Pa || a.HasIpa != b.HasIpa || (a.HasIpa && a.Ipa != b.Ipa))
        {
            return $"pa 0x{a.Pa:x} ipa {a.HasIpa}:0x{a.Ipa:x} vs pa 0x{b.Pa:x} ipa {b.HasIpa}:0x{b.Ipa:x}";
        }
        if (a.Par != b.Par || a.Value != b.Value || a.Esr != b.Esr || a.Far != b.Far || a.Hpfar != b.Hpfar || a.TargetEl != b.TargetEl)
        {
            return $"par/value/esr/far/hpfar 0x{a.Par:x}/0x{a.Value:x}/0x{a.Esr:x}/0x{a.Far:x}/0x{a.Hpfar:x} vs 0x{b.Par:x}/0x{b.Value:x}/0x{b.Esr:x}/0x{b.Far:x}/0x{b.Hpfar:x}";
        }
        return null;
    }

    /// <summary>Asserts two replays agree line by line.</summary>
    public static void AssertSame(IReadOnlyList<AccessOutcome> reference, IReadOnlyList<AccessOutcome> actual, string what)
    {
        Assert.True(reference.Count == actual.Count, $"{what}: {actual.Count} results, reference {reference.Count}");
        for (int i = 0; i < reference.Count; i++)
        {
            string? d = Diff(reference[i], actual[i]);
            Assert.True(d is null, $"{what}: line {reference[i].Line}: {d}");
        }
    }
}
