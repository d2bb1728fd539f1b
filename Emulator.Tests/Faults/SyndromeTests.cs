using MmuSim.Addressing;
using MmuSim.Faults;

namespace MmuSim.Tests.Faults;

/// <summary>
/// The pure encoders of <see cref="Syndrome"/> against hand-computed constants (Arm ARM ESR_ELx, HPFAR_EL2 and PAR_EL1
/// register pages; several vectors also occur verbatim in the QEMU corpus).
/// </summary>
public class SyndromeTests
{
    [Theory]
    [InlineData(FaultType.AddressSize, -1, 0x29)]
    [InlineData(FaultType.AddressSize, 0, 0x00)]
    [InlineData(FaultType.AddressSize, 1, 0x01)]
    [InlineData(FaultType.AddressSize, 2, 0x02)]
    [InlineData(FaultType.AddressSize, 3, 0x03)]
    [InlineData(FaultType.Translation, -1, 0x2B)]
    [InlineData(FaultType.Translation, 0, 0x04)]
    [InlineData(FaultType.Translation, 1, 0x05)]
    [InlineData(FaultType.Translation, 2, 0x06)]
    [InlineData(FaultType.Translation, 3, 0x07)]
    [InlineData(FaultType.AccessFlag, 0, 0x08)]
    [InlineData(FaultType.AccessFlag, 1, 0x09)]
    [InlineData(FaultType.AccessFlag, 2, 0x0A)]
    [InlineData(FaultType.AccessFlag, 3, 0x0B)]
    [InlineData(FaultType.Permission, 0, 0x0C)]
    [InlineData(FaultType.Permission, 1, 0x0D)]
    [InlineData(FaultType.Permission, 2, 0x0E)]
    [InlineData(FaultType.Permission, 3, 0x0F)]
    [InlineData(FaultType.ExternalWalk, -1, 0x13)]
    [InlineData(FaultType.ExternalWalk, 0, 0x14)]
    [InlineData(FaultType.ExternalWalk, 1, 0x15)]
    [InlineData(FaultType.ExternalWalk, 2, 0x16)]
    [InlineData(FaultType.ExternalWalk, 3, 0x17)]
    public void FaultStatusCodes(FaultType type, int level, int fsc)
    {
        Assert.Equal(fsc, Syndrome.Fsc(type, level));
        var (t, l, description) = Syndrome.DecodeFsc(fsc);
        Assert.Equal((type, level), (t, l));
        Assert.Contains($"level {level}", description);
    }

    [Fact]
    public void NoFaultHasNoCode() => Assert.Equal(0, Syndrome.Fsc(FaultType.None, 2));

    [Theory]
    [InlineData(0x10, "Synchronous External abort, not on a translation table walk")]
    [InlineData(0x30, "TLB conflict abort")]
    [InlineData(0x31, "Unsupported atomic hardware update fault")]
    [InlineData(0x1D, "Synchronous parity or ECC error on translation table walk, level 1")]
    [InlineData(0x3F, "reserved or unknown status code 0x3f")]
    public void OtherCodesDecodeToNoMmuFault(int fsc, string description)
    {
        var (t, _, d) = Syndrome.DecodeFsc(fsc);
        Assert.Equal(FaultType.None, t);
        Assert.Equal(description, d);
    }

    [Fact]
    public void AlignmentFaultHasItsCodeAndNoLevel()
    {
        Assert.Equal(0b100001, Syndrome.Fsc(FaultType.Alignment, FaultInfo.NoLevel));
        var (t, level, d) = Syndrome.DecodeFsc(0x21);
        Assert.Equal(FaultType.Alignment, t);
        Assert.Equal(FaultInfo.NoLevel, level);
        Assert.Equal("Alignment fault", d);
        // ESR of an EL1 store: EC 0x25 (same EL), IL, WnR, DFSC 0x21; PAR.FST for an AT.
        var f = FaultInfo.Alignment();
        Assert.Equal(0x9600_0061UL, Syndrome.Esr(in f, AccessType.Write, 1, 1));
        Assert.Equal(0x21UL, (Syndrome.ParFault(in f) >> 1) & 0x3F);
    }

    // type, stage, level, s1ptw, access, from EL, target EL, ESR
    public static TheoryData<FaultType, int, int, bool, AccessType, int, int, ulong> EsrRows => new()
    {
        // EC 0x25 data abort same EL; EC 0x24 lower EL; EC 0x21 / 0x20 instruction abort same / lower EL. IL = bit 25.
        { FaultType.Translation, 1, 1, false, AccessType.Read, 1, 1, 0x9600_0005 },
        { FaultType.Translation, 1, 3, false, AccessType.Write, 1, 1, 0x9600_0047 },
        { FaultType.Permission, 1, 3, false, AccessType.Write, 0, 1, 0x9200_004F },
        { FaultType.Permission, 1, 1, false, AccessType.Fetch, 1, 1, 0x8600_000D },   // corpus: EL1 fetch, S1 permission L1
        { FaultType.Permission, 1, 3, false, AccessType.Fetch, 0, 1, 0x8200_000F },
        { FaultType.AccessFlag, 1, 2, false, AccessType.Read, 0, 1, 0x9200_000A },
        { FaultType.AddressSize, 1, 0, false, AccessType.Read, 2, 2, 0x9600_0000 },
        { FaultType.Translation, 1, -1, false, AccessType.Read, 1, 1, 0x9600_002B },
        { FaultType.AddressSize, 1, -1, false, AccessType.Write, 1, 1, 0x9600_0069 },
        { FaultType.ExternalWalk, 1, -1, false, AccessType.Fetch, 1, 1, 0x8600_0013 },
        { FaultType.ExternalWalk, 2, 3, false, AccessType.Fetch, 1, 2, 0x8200_0017 }, // corpus: stage-2 SEA L3 on a fetch
        { FaultType.ExternalWalk, 1, 2, false, AccessType.Read, 1, 2, 0x9200_0016 },  // HCR_EL2.TEA routing
        { FaultType.Translation, 2, 2, true, AccessType.Write, 1, 2, 0x9200_00C6 },   // S1PTW, WnR = store
        { FaultType.Translation, 2, 2, true, AccessType.Read, 0, 2, 0x9200_0086 },
        { FaultType.AccessFlag, 2, 3, true, AccessType.Read, 1, 2, 0x9200_008B },     // corpus
        { FaultType.Permission, 2, 3, true, AccessType.Fetch, 0, 2, 0x8200_008F },    // S1PTW on a fetch: IABT
        { FaultType.Permission, 2, 3, false, AccessType.Write, 1, 2, 0x9200_004F },
        { FaultType.Translation, 2, 0, false, AccessType.Fetch, 1, 2, 0x8200_0004 },
        { FaultType.Translation, 1, 0, false, AccessType.Fetch, 2, 2, 0x8600_0004 },
    };

    [Theory]
    [MemberData(nameof(EsrRows))]
    public void AbortSyndromes(FaultType type, int stage, int level, bool s1ptw, AccessType access, int fromEl, int targetEl, ulong esr)
    {
        var f = stage == 1 ? FaultInfo.Stage1(type, level) : FaultInfo.Stage2(type, level, new IntermediatePhysicalAddress(0x1000), s1ptw);
        Assert.Equal($"0x{esr:x}", $"0x{Syndrome.Esr(in f, access, fromEl, targetEl):x}");
    }

    [Fact]
    public void CacheMaintenanceSetsCmAndWnR()
    {
        var f = FaultInfo.Stage2(FaultType.Translation, 3, new IntermediatePhysicalAddress(0x2000), true);
        Assert.Equal(0x9200_01C7UL, Syndrome.Esr(in f, AccessType.Read, 1, 2, cacheMaintenance: true));
    }

    [Theory]
    [InlineData(0x0000_1234_5678_9ABCUL, 0x0000_0012_3456_7890UL)]
    [InlineData(0x0000_0000_4000_0FFFUL, 0x0000_0000_0040_0000UL)]
    [InlineData(0x000F_FFFF_FFFF_F123UL, 0x0000_0FFF_FFFF_FFF0UL)]  // FIPA = IPA[51:12] in [43:4]
    [InlineData(0xFFF0_0000_0000_1000UL, 0x0000_0000_0000_0010UL)]  // nothing above IPA[51]
    [InlineData(0x0000_0100_0000_0000UL, 0x0000_0001_0000_0000UL)]  // §12 item 17: IPA 2^40
    public void HpfarHoldsIpa51To12(ulong ipa, ulong hpfar) =>
        Assert.Equal(hpfar, Syndrome.Hpfar(new IntermediatePhysicalAddress(ipa)));

    [Theory]
    [InlineData(0x0000_1234_5678_9ABCUL, 0x44, 2, 0x4400_1234_5678_9B00UL)]
    [InlineData(0x000F_0000_0000_1FFFUL, 0xFF, 3, 0xFF0F_0000_0000_1B80UL)]  // PA[51:48] with FEAT_LPA
    [InlineData(0x0000_0000_4010_0000UL, 0xF4, 3, 0xF400_0000_4010_0B80UL)]  // corpus q0005 line 91
    [InlineData(0x0000_0000_4010_0000UL, 0xFF, 0, 0xFF00_0000_4010_0A00UL)]  // Normal WB non-shareable: 0b00
    // PAR_EL1.SH is 0b10 for Device and Normal iNC oNC, whatever the descriptor said (QEMU 7.2: the descriptor's).
    [InlineData(0x0000_0000_0000_0000UL, 0x00, 0, 0x0000_0000_0000_0B00UL)]  // Device-nGnRnE, MMU off
    [InlineData(0x0000_0000_0900_0000UL, 0x04, 3, 0x0400_0000_0900_0B00UL)]  // Device-nGnRE, SH=0b11 in the descriptor
    [InlineData(0x0000_0000_4000_0000UL, 0x44, 3, 0x4400_0000_4000_0B00UL)]  // Normal iNC oNC, SH=0b11
    [InlineData(0x0000_0000_4000_0000UL, 0x44, 0, 0x4400_0000_4000_0B00UL)]  // Normal iNC oNC, SH=0b00
    public void ParOnSuccess(ulong pa, byte attr, int sh, ulong par) =>
        Assert.Equal($"0x{par:x}", $"0x{Syndrome.ParSuccess(pa, attr, sh):x}");

    [Theory]
    [InlineData(FaultType.Translation, 1, 0, false, 0x809UL)]
    [InlineData(FaultType.Permission, 1, 3, false, 0x81FUL)]   // corpus q0005 line 93
    [InlineData(FaultType.Translation, 1, -1, false, 0x857UL)]
    [InlineData(FaultType.AccessFlag, 2, 3, false, 0xA17UL)]   // S [9]
    [InlineData(FaultType.Permission, 2, 2, true, 0xB1DUL)]    // S [9], PTW [8]
    [InlineData(FaultType.AddressSize, 2, 0, true, 0xB01UL)]
    public void ParOnFault(FaultType type, int stage, int level, bool s1ptw, ulong par)
    {
        var f = stage == 1 ? FaultInfo.Stage1(type, level) : FaultInfo.Stage2(type, level, default, s1ptw);
        Assert.Equal($"0x{par:x}", $"0x{Syndrome.ParFault(in f):x}");
    }
}
