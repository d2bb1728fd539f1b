using MmuSim.Addressing;
using MmuSim.Caching;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Tests.Caching;

/// <summary>
/// The IS and OS forms of every TLBI: the code's bits [7:6] name the domain and bits [5:0] the operation, the text
/// names are the enum's (VAE1IS ...), and on one PE each acts exactly as the local form.
/// </summary>
public class TlbiShareabilityTests
{
    public static TheoryData<TlbiOp> AllOps()
    {
        var d = new TheoryData<TlbiOp>();
        foreach (var op in Enum.GetValues<TlbiOp>())
        {
            d.Add(op);
        }
        return d;
    }

    [Fact]
    public void EveryOperationHasItsIsAndOsForm()
    {
        var locals = Enum.GetValues<TlbiOp>().Where(o => o.Shareability() == TlbiShareability.NonShareable).ToArray();
        Assert.Equal(21, locals.Length);
        foreach (var op in locals)
        {
            Assert.Equal(op + 64, Enum.Parse<TlbiOp>(op + "IS"));
            Assert.Equal(op + 128, Enum.Parse<TlbiOp>(op + "OS"));
        }
        Assert.Equal(63, Enum.GetValues<TlbiOp>().Length);
    }

    [Theory]
    [MemberData(nameof(AllOps))]
    public void TheSuffixIsTheShareabilityAndTheRestTheOperation(TlbiOp op)
    {
        string name = op.ToString();
        var expected = name.EndsWith("IS", StringComparison.Ordinal) && op.Local() != op ? TlbiShareability.InnerShareable
            : name.EndsWith("OS", StringComparison.Ordinal) && op.Local() != op ? TlbiShareability.OuterShareable
            : TlbiShareability.NonShareable;
        Assert.Equal(expected, op.Shareability());
        Assert.Equal(expected == TlbiShareability.NonShareable ? name : name[..^2], op.Local().ToString());
        Assert.Equal(name.StartsWith('R'), op.IsRange());
        // The text name reads back (any case) as the same code.
        Assert.True(WireCodes<TlbiOp>.TryParse(System.Text.Encoding.ASCII.GetBytes(name.ToLowerInvariant()), out var parsed));
        Assert.Equal(op, parsed);
    }

    [Theory]
    [MemberData(nameof(AllOps))]
    public void OnOnePeEachFormActsAsTheLocalForm(TlbiOp op)
    {
        // Every combination of entries a TLBI could reach, and an operand that names some of them.
        const ulong xt = (1UL << 48) | (1UL << 46) | (1UL << 39) | 0x1FF; // ASID 1; as a range: TG 4K, NUM 1
        var shared = Fill();
        var local = Fill();
        int a = shared.Invalidate(op, xt, 1, 0xFFFF);
        int b = local.Invalidate(op.Local(), xt, 1, 0xFFFF);
        Assert.Equal(b, a);
        Assert.Equal(Held(local), Held(shared));
    }

    private static readonly (ulong Ctx, ulong Va, int Shift)[] Entries =
    [
        ((1UL << 16) | 1, 0x1F_F000, 12), ((1UL << 16) | 2, 0x1F_F000, 12), ((1UL << 16) | ContextTag.Global, 0x20_0000, 12),
        (ContextTag.El2 | ContextTag.Global, 0x1F_F000, 12), ((2UL << 16) | 1, 0x1F_F000, 12), ((1UL << 16) | 1, 0x0, 21),
    ];

    private static TranslationCaches Fill()
    {
        var c = new TranslationCaches(new CachingConfig(
            [new TlbConfig("L1", TlbServes.Unified, 16, 16, 1)],
            [new WalkCacheConfig("S1WC", 1, [0, 1, 2], 16, 16, 1), new WalkCacheConfig("S2WC", 2, [0, 1, 2], 16, 16, 1)],
            new IpaCacheConfig("IPA", 16, 16, 1)));
        foreach (var (ctx, va, shift) in Entries)
        {
            c.Fill(c.DataPath, va, ctx, new TlbEntry { Shift = (byte)shift, PaBase = 0x9000_0000 });
            c.FillTable(1, ctx, va, Granule.K4, new TableEntry { Level = 2, NextTable = 0x4000_3000 });
            c.FillTable(2, ctx & 0xFFFF_0000, va, Granule.K4, new TableEntry { Level = 2, NextTable = 0x4000_3000 });
            c.FillStage2Leaf(ctx & 0xFFFF_0000, va, new Stage2LeafEntry { Descriptor = 0x7FF, Level = 3, Shift = 12, GroupShift = 12 });
        }
        return c;
    }

    private static string Held(TranslationCaches c)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var (ctx, va, _) in Entries)
        {
            var key = new LookupKey { Va = va, Ctx = ctx, CtxGlobal = ctx };
            sb.Append(c.Tlbs[0].Lookup(in key) >= 0 ? 'T' : '-');
            sb.Append(c.WalkCaches[0].TryFind(ctx, va, Granule.K4, 0, out _) ? 'W' : '-');
            sb.Append(c.WalkCaches[1].TryFind(ctx & 0xFFFF_0000, va, Granule.K4, 0, out _) ? 'S' : '-');
            sb.Append(c.IpaCache!.TryFind(ctx & 0xFFFF_0000, va, out _) ? 'I' : '-');
        }
        return sb.ToString();
    }
}
