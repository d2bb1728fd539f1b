using MmuSim.Caching;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Caching;

/// <summary>
/// The table of replacement policies (<see cref="ReplacementPolicies"/>) is complete and consistent: a new
/// <see cref="ReplacementPolicy"/> member fails here until it has its entry and its row in the docs.
/// </summary>
public class ReplacementPolicyTests
{
    public static TheoryData<ReplacementPolicy> EveryPolicy() => new(Enum.GetValues<ReplacementPolicy>());

    [Theory]
    [MemberData(nameof(EveryPolicy))]
    public void EveryPolicyHasExactlyOneEntryAndRoundTrips(ReplacementPolicy policy)
    {
        var entry = Assert.Single(ReplacementPolicies.All, p => p.Policy == policy);
        Assert.Same(entry, ReplacementPolicies.Of(policy));
        Assert.Equal(entry.Name, ReplacementPolicies.NameOf(policy));
        Assert.True(ReplacementPolicies.TryParse(entry.Name, out var parsed));
        Assert.Equal(policy, parsed);
        Assert.True(ReplacementPolicies.TryParse(entry.Name.ToUpperInvariant(), out parsed));
        Assert.Equal(policy, parsed);
        foreach (string alias in entry.Aliases)
        {
            Assert.True(ReplacementPolicies.TryParse(alias, out parsed));
            Assert.Equal(policy, parsed);
        }
        Assert.Equal(entry.Name.ToLowerInvariant(), entry.Name);
        Assert.False(string.IsNullOrWhiteSpace(entry.Description));
    }

    [Fact]
    public void TheTableHoldsEveryPolicyOnceInEnumOrderUnderDistinctNames()
    {
        Assert.Equal(Enum.GetValues<ReplacementPolicy>(), ReplacementPolicies.All.Select(p => p.Policy));
        var names = ReplacementPolicies.All.SelectMany(p => p.Aliases.Prepend(p.Name)).Select(n => n.ToLowerInvariant()).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.Contains(ReplacementPolicies.Default, ReplacementPolicies.All.Select(p => p.Policy));
    }

    [Fact]
    public void APolicyWithoutAnEntryIsRefusedNotReplaced()
    {
        var missing = (ReplacementPolicy)byte.MaxValue;
        Assert.Throws<ArgumentOutOfRangeException>(() => ReplacementPolicies.Of(missing));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReplacementState(missing, 1, 4, 1));
        Assert.False(ReplacementPolicies.TryParse("mru", out _));
        Assert.False(ReplacementPolicies.TryParse(null, out _));
    }

    [Fact]
    public void TheNamesForMessagesComeFromTheTable() =>
        Assert.Equal(string.Join(", ", ReplacementPolicies.All.SkipLast(1).Select(p => $"\"{p.Name}\"")) + $" or \"{ReplacementPolicies.All[^1].Name}\"",
            ReplacementPolicies.QuotedNames);

    /// <summary>Every policy replaces only when its set is full, and then a way that held an entry.</summary>
    [Theory]
    [MemberData(nameof(EveryPolicy))]
    public void EveryPolicyFillsEmptyWaysFirstThenEvictsAValidOne(ReplacementPolicy policy)
    {
        var a = new SetAssociativeArray<int>(2, 5, policy, 3);
        var held = new HashSet<ulong>();
        for (ulong tag = 1; tag <= 5; tag++)
        {
            a.Insert(1, tag, 0, 0, out var outcome, out _);
            Assert.Equal(InsertOutcome.New, outcome);
            held.Add(tag);
        }
        for (ulong tag = 6; tag < 40; tag++)
        {
            a.Insert(1, tag, 0, 0, out var outcome, out ulong evicted);
            Assert.Equal(InsertOutcome.Evicted, outcome);
            Assert.True(held.Remove(evicted), $"{policy} evicted {evicted}, which the set did not hold");
            held.Add(tag);
            Assert.True(a.Find(1, tag, 0, 0) >= 0);
        }
    }

    /// <summary>
    /// docs/translation-cost.md has one row per policy, generated from the same table: name, aliases, whether it is
    /// seeded, description. The failure message is the table to paste.
    /// </summary>
    [Fact]
    public void TheDocsTableOfPoliciesIsTheRegistry()
    {
        const string header = "| policy | also read as | seeded | replaces, in a full set |";
        var expected = ReplacementPolicies.All.Select(p =>
            $"| `{p.Name}` | {(p.Aliases.Count == 0 ? "–" : string.Join(", ", p.Aliases.Select(a => $"`{a}`")))} | {(p.Seeded ? "yes" : "no")} | {p.Description} |").ToList();
        var lines = File.ReadAllLines(Path.Combine(TestPaths.Docs, "translation-cost.md"));
        int at = Array.IndexOf(lines, header);
        Assert.True(at >= 0, $"docs/translation-cost.md has no table starting with \"{header}\"");
        var rows = lines.Skip(at + 2).TakeWhile(l => l.StartsWith('|')).ToList();
        Assert.True(expected.SequenceEqual(rows),
            "docs/translation-cost.md: the table of policies should read:\n" + string.Join("\n", expected.Prepend("|---|---|---|---|").Prepend(header)));
    }
}
