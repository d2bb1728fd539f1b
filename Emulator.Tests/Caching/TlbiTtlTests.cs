using MmuSim.Addressing;
using MmuSim.Caching;
using MmuSim.Tests.Support;
using MmuSim.Translation;

namespace MmuSim.Tests.Caching;

/// <summary>
/// FEAT_TTL: XT[47:44] of a non-range VA or IPA TLBI hints the granule ([47:46], 0b00 = no hint) and level ([45:44])
/// of the entry; a range TLBI carries its level in TTL [38:37] (0 = no hint). The hint is decoded and kept on the
/// operation, and never makes the replay keep an entry (the architecture allows the removal when it does not match).
/// </summary>
public class TlbiTtlTests
{
    [Theory]
    [InlineData(0b00, 0, null, -1)]
    [InlineData(0b00, 3, null, -1)]  // no granule: no hint, whatever the level bits
    [InlineData(0b01, 3, Granule.K4, 3)]
    [InlineData(0b01, 0, Granule.K4, 0)]
    [InlineData(0b10, 2, Granule.K16, 2)]
    [InlineData(0b11, 1, Granule.K64, 1)]
    public void NonRangeHintIsXt47To44(int tg, int level, Granule? granule, int expectedLevel)
    {
        ulong xt = (5UL << 48) | ((ulong)tg << 46) | ((ulong)level << 44) | 0xABC;
        foreach (var op in new[] { TlbiOp.VAE1, TlbiOp.VALE1IS, TlbiOp.VAAE1OS, TlbiOp.VAALE1, TlbiOp.VAE2, TlbiOp.IPAS2E1, TlbiOp.IPAS2LE1OS })
        {
            var t = TlbiOperation.Decode(op, xt, 0xFFFF, lpa2: false, twoRanges: true);
            Assert.Equal(granule, t.TtlGranule);
            Assert.Equal(expectedLevel, t.TtlLevel);
            Assert.Equal(granule is not null, t.HasTtl);
            Assert.Equal(0xABCUL << 12, t.First); // the hint is not part of the address
            Assert.Equal(t.First, t.Last);
        }
    }

    [Fact]
    public void OperationsWithoutAddressHaveNoHint()
    {
        ulong xt = (0b0111UL << 44) | (3UL << 48);
        foreach (var op in new[] { TlbiOp.VMALLE1, TlbiOp.ASIDE1, TlbiOp.ALLE2OS })
        {
            Assert.False(TlbiOperation.Decode(op, xt, 0xFFFF, lpa2: false, twoRanges: true).HasTtl);
        }
    }

    [Theory]
    [InlineData(0, -1)]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 3)]
    public void RangeHintIsTtl38To37(int ttl, int level)
    {
        ulong xt = (1UL << 46) | ((ulong)ttl << 37) | 0x40;
        var t = TlbiOperation.Decode(TlbiOp.RVAE1, xt, 0xFFFF, lpa2: false, twoRanges: true);
        Assert.Equal(level, t.TtlLevel);
        Assert.Null(t.TtlGranule);
        Assert.Equal(0x40UL << 12, t.First); // TTL is not part of BaseADDR
        Assert.Equal((0x42UL << 12) - 1, t.Last);
    }

    [Fact]
    public void AMismatchedHintStillRemovesTheEntry()
    {
        // A level-3 page; the hints say level 1 of 64K, or level 2: the replay removes it anyway.
        foreach (ulong hint in new[] { 0b1101UL << 44, 0b0110UL << 44 })
        {
            var c = new TranslationCaches(new CachingConfig([new TlbConfig("L1", TlbServes.Unified, 16, 16, 1)], [], null));
            ulong ctx = (1UL << 16) | 1;
            c.Fill(c.DataPath, 0x5000, ctx, new TlbEntry { Shift = 12, PaBase = 0x9000_0000 });
            var key = new LookupKey { Va = 0x5000, Ctx = ctx, CtxGlobal = ctx };
            Assert.True(c.Tlbs[0].Lookup(in key) >= 0);
            Assert.Equal(1, c.Invalidate(TlbiOp.VALE1, (1UL << 48) | hint | 5, 1, 0xFFFF));
            Assert.True(c.Tlbs[0].Lookup(in key) < 0);
        }
    }

    [Fact]
    public void TheCoreKeepsTheDecodedHintOnTheOperation()
    {
        var s = new Scenario().WithStage1(Granule.K4, 16);
        s.Core.Tlbi(TlbiOp.VAE1OS, (2UL << 48) | (0b0111UL << 44) | 0x123);
        Assert.Equal(TlbiOp.VAE1OS, s.Core.LastTlbi.Op);
        Assert.Equal(TlbiShareability.OuterShareable, s.Core.LastTlbi.Shareability);
        Assert.Equal(Granule.K4, s.Core.LastTlbi.TtlGranule);
        Assert.Equal(3, s.Core.LastTlbi.TtlLevel);
        Assert.Equal((ushort)2, s.Core.LastTlbi.Asid);
    }
}
