namespace MmuSim.Caching;

/// <summary>One replacement policy as configurations, summaries and the documentation name it.</summary>
/// <param name="Policy">The policy.</param>
/// <param name="Name">The name a configuration gives and every writer prints (lower case).</param>
/// <param name="Description">What it does, in a few words (the docs' table of policies).</param>
/// <param name="Seeded">Whether it draws from the structure's <c>seed</c> (written out only for such policies).</param>
public sealed record ReplacementPolicyInfo(ReplacementPolicy Policy, string Name, string Description, bool Seeded = false)
{
    /// <summary>Other names a configuration may give it (read, never written).</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];
}

/// <summary>
/// The one table of replacement policies: parsing, printing, the configuration schema's documentation and the
/// messages for an unknown name all come from it. A <see cref="ReplacementPolicy"/> member without exactly one entry
/// here fails a test (ReplacementPolicyTests), and lookups of a policy with no entry throw instead of picking one.
/// Adding a policy: the enum member, its behaviour in <see cref="ReplacementState"/>, an entry here, a row in
/// docs/translation-cost.md.
/// </summary>
public static class ReplacementPolicies
{
    /// <summary>Every policy, in enum order.</summary>
    public static IReadOnlyList<ReplacementPolicyInfo> All { get; } =
    [
        new(ReplacementPolicy.Lru, "lru", "least recently used: the way whose last hit or fill is oldest (exact at any associativity)"),
        new(ReplacementPolicy.TreePlru, "tree-plru", "tree pseudo-LRU: one bit per node of a binary tree over the ways points away from the last way used")
        {
            Aliases = ["plru"],
        },
        new(ReplacementPolicy.Fifo, "fifo", "first in, first out: the oldest fill goes, hits do not count"),
        new(ReplacementPolicy.Random, "random", "a way drawn from a xorshift generator seeded by `seed` (reproducible run to run)", Seeded: true),
    ];

    /// <summary>The policy of a structure whose configuration names none.</summary>
    public static ReplacementPolicy Default => ReplacementPolicy.Lru;

    /// <summary>The entry of <paramref name="policy"/>; throws for a policy the table lacks (never falls back to another).</summary>
    public static ReplacementPolicyInfo Of(ReplacementPolicy policy)
    {
        foreach (var p in All)
        {
            if (p.Policy == policy)
            {
                return p;
            }
        }
        throw new ArgumentOutOfRangeException(nameof(policy), policy, "a replacement policy without an entry in ReplacementPolicies.All");
    }

    /// <summary>The configuration name of <paramref name="policy"/>.</summary>
    public static string NameOf(ReplacementPolicy policy) => Of(policy).Name;

    /// <summary>The policy a configuration names (a name or an alias, any case); false for an unknown name.</summary>
    public static bool TryParse(string? name, out ReplacementPolicy policy)
    {
        foreach (var p in All)
        {
            if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)
                || p.Aliases.Any(a => string.Equals(a, name, StringComparison.OrdinalIgnoreCase)))
            {
                policy = p.Policy;
                return true;
            }
        }
        policy = Default;
        return false;
    }

    /// <summary>The names, quoted, for messages: <c>"lru", "tree-plru", "fifo" or "random"</c>.</summary>
    public static string QuotedNames { get; } = string.Join(" or ", new[]
    {
        string.Join(", ", All.SkipLast(1).Select(p => $"\"{p.Name}\"")),
        $"\"{All[^1].Name}\"",
    }.Where(s => s.Length > 0));
}
