using MmuSim.Addressing;
using MmuSim.Caching;
using MmuSim.Registers;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Caching;

/// <summary>
/// FEAT_TLBIRANGE operands (Arm ARM, TLBI RVAE1 and the other range forms): ASID [63:48], TG [47:46], SCALE [45:44],
/// NUM [43:39], TTL [38:37], BaseADDR [36:0]; the range is (NUM+1) × 2^(5×SCALE+1) pages of the TG granule from
/// BaseADDR × granule, × 64 KiB with TCR.DS=1 (the LPA2 form), BaseADDR sign-extended for the upper VA range.
/// </summary>
public class TlbiRangeOperandTests
{
    private static ulong Xt(ulong asid, int tg, int scale, int num, int ttl, ulong baseAddr) =>
        (asid << 48) | ((ulong)tg << 46) | ((ulong)scale << 44) | ((ulong)num << 39) | ((ulong)ttl << 37) | baseAddr;

    public static TheoryData<int, int> TgAndScale()
    {
        var d = new TheoryData<int, int>();
        for (int tg = 1; tg <= 3; tg++)
        {
            for (int scale = 0; scale <= 3; scale++)
            {
                d.Add(tg, scale);
            }
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(TgAndScale))]
    public void RangeIsNumPlusOneTimesTwoToTheFiveScalePlusOnePagesFromBaseTimesGranule(int tg, int scale)
    {
        int pageShift = tg switch { 1 => 12, 2 => 14, _ => 16 };
        const ulong baseAddr = 0x0_1234_5678;
        for (int num = 0; num <= 31; num++)
        {
            var t = TlbiOperation.Decode(TlbiOp.RVAE1, Xt(0x1234, tg, scale, num, 0, baseAddr), 0xFFFF, lpa2: false, twoRanges: true);
            ulong pages = (ulong)(num + 1) << (5 * scale + 1);
            Assert.Equal(baseAddr << pageShift, t.First);
            Assert.Equal((baseAddr << pageShift) + (pages << pageShift) - 1, t.Last);
            Assert.True(t.NamesAddresses);
            Assert.Equal((ushort)0x1234, t.Asid);
            Assert.Equal(TlbiOperation.DecodeTg(tg), t.RangeGranule);
        }
    }

    [Fact]
    public void ScaleAndNumAtTheirLimits()
    {
        // SCALE=3, NUM=31 with 64K pages: 32 × 2^16 pages of 64 KiB = 2^37 bytes.
        var t = TlbiOperation.Decode(TlbiOp.RVAAE1, Xt(0, 3, 3, 31, 0, 0), 0xFFFF, lpa2: false, twoRanges: true);
        Assert.Equal(0UL, t.First);
        Assert.Equal((1UL << 37) - 1, t.Last);
        // SCALE=0, NUM=0 with 4K pages: two pages.
        t = TlbiOperation.Decode(TlbiOp.RVAAE1, Xt(0, 1, 0, 0, 0, 5), 0xFFFF, lpa2: false, twoRanges: true);
        Assert.Equal(0x5000UL, t.First);
        Assert.Equal(0x6FFFUL, t.Last);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Lpa2FormCountsBaseAddrIn64KiBUnitsWhateverTheGranule(int tg)
    {
        int pageShift = tg switch { 1 => 12, 2 => 14, _ => 16 };
        var t = TlbiOperation.Decode(TlbiOp.RVAE1, Xt(0, tg, 1, 2, 0, 0x3_0001), 0xFFFF, lpa2: true, twoRanges: true);
        Assert.Equal(0x3_0001UL << 16, t.First);
        Assert.Equal((0x3_0001UL << 16) + ((3UL << 6) << pageShift) - 1, t.Last); // (2+1) × 2^6 pages of TG
    }

    [Fact]
    public void UpperRangeBaseAddrIsSignExtendedInATwoRangeRegimeOnly()
    {
        // VA 0xFFFF_8000_0000_0000 with 4K pages: BaseADDR = VA[48:12], whose bit 36 (VA[48]) is 1.
        ulong baseAddr = (0xFFFF_8000_0000_0000UL >> 12) & ((1UL << 37) - 1);
        var upper = TlbiOperation.Decode(TlbiOp.RVAE1, Xt(1, 1, 0, 0, 0, baseAddr), 0xFFFF, lpa2: false, twoRanges: true);
        Assert.Equal(0x00FF_8000_0000_0000UL, upper.First); // as TLB entries hold VAs: bits [55:0]
        Assert.Equal(0x00FF_8000_0000_1FFFUL, upper.Last);
        var el2 = TlbiOperation.Decode(TlbiOp.RVAE2, Xt(0, 1, 0, 0, 0, baseAddr), 0xFFFF, lpa2: false, twoRanges: false);
        Assert.Equal(baseAddr << 12, el2.First);
        // 52-bit VA with LPA2: BaseADDR = VA[52:16], sign bit VA[52].
        ulong base52 = (0xFFF0_0000_0001_0000UL >> 16) & ((1UL << 37) - 1);
        var lpa2 = TlbiOperation.Decode(TlbiOp.RVALE1, Xt(1, 1, 0, 0, 0, base52), 0xFFFF, lpa2: true, twoRanges: true);
        Assert.Equal(0x00F0_0000_0001_0000UL, lpa2.First);
    }

    [Fact]
    public void IpaRangesAreNeverSignExtended()
    {
        var t = TlbiOperation.Decode(TlbiOp.RIPAS2E1, Xt(0, 1, 0, 0, 0, 1UL << 36), 0xFFFF, lpa2: false, twoRanges: true);
        Assert.Equal(1UL << 48, t.First);
        t = TlbiOperation.Decode(TlbiOp.RIPAS2LE1IS, Xt(0, 2, 0, 0, 0, 1UL << 36), 0xFFFF, lpa2: true, twoRanges: true);
        Assert.Equal(1UL << 52, t.First);
    }

    [Fact]
    public void ReservedTgNamesNothing()
    {
        var t = TlbiOperation.Decode(TlbiOp.RVAAE1, Xt(0, 0, 3, 31, 0, 0x1000), 0xFFFF, lpa2: false, twoRanges: true);
        Assert.False(t.NamesAddresses);
        Assert.Null(t.RangeGranule);
        var c = new TranslationCaches(new CachingConfig([new TlbConfig("L1", TlbServes.Unified, 16, 16, 1)], [], null));
        c.Fill(c.DataPath, 0x1000_0000, 1, new TlbEntry { Shift = 12, PaBase = 0x9000_0000 });
        Assert.Equal(0, c.Invalidate(in t, 0));
    }

    [Fact]
    public void AsidIsComparedOnTheImplementedBits()
    {
        var t = TlbiOperation.Decode(TlbiOp.RVAE1, Xt(0x1234, 1, 0, 0, 0, 0), 0xFF, lpa2: false, twoRanges: true);
        Assert.Equal((ushort)0x34, t.Asid);
    }

    [Theory]
    [InlineData(Granule.K4, false, 12)]
    [InlineData(Granule.K4, true, 16)]
    [InlineData(Granule.K16, true, 16)]
    [InlineData(Granule.K16, false, 14)]
    public void TheCoreTakesTheLpa2FormFromTcrEl1Ds(Granule g, bool ds, int shift)
    {
        var s = new Scenario().WithStage1(g, 16, ds: ds);
        int tg = g == Granule.K4 ? 1 : 2;
        var t = s.Core.DecodeTlbi(TlbiOp.RVAE1IS, Xt(1, tg, 0, 0, 0, 0x123));
        Assert.Equal(0x123UL << shift, t.First);
        Assert.Equal(TlbiShareability.InnerShareable, t.Shareability);
    }

    [Fact]
    public void TheCoreTakesTheIpaLpa2FormFromVtcrEl2Ds()
    {
        var s = new Scenario().WithStage2(Granule.K4, 24, ds: true);
        Assert.Equal(0x77UL << 16, s.Core.DecodeTlbi(TlbiOp.RIPAS2E1, Xt(0, 1, 0, 0, 0, 0x77)).First);
        s.Regs[SysReg.VTCR_EL2] &= ~(1UL << 32);
        Assert.Equal(0x77UL << 12, s.Core.DecodeTlbi(TlbiOp.RIPAS2E1, Xt(0, 1, 0, 0, 0, 0x77)).First);
    }
}
