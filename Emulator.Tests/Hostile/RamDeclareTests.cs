using MmuSim.Addressing;
using MmuSim.Memory;

namespace MmuSim.Tests.Hostile;

/// <summary>
/// Declaring RAM after many frames exist costs no rescan per region (N `mem` lines outside RAM then R `ram` lines
/// took N·R² work): only the first region decides every frame's flag again; later regions are found by a binary
/// search of the merged runs when a read misses a frame's flag. What a walk may read is unchanged, checked against a
/// plain list-of-regions oracle over random, overlapping and adjacent regions.
/// </summary>
public sealed class RamDeclareTests
{
    private static PhysicalAddress Pa(ulong v) => new(v);

    [Fact]
    public unsafe void ManyRegionsAfterManyFramesRescanTheFramesOnce()
    {
        var mem = new PhysicalMemory();
        const int frames = 20_000;
        for (ulong f = 0; f < frames; f++)
        {
            mem.Write64(Pa((1UL << 40) + (f << 12)), f + 1); // outside every region below
        }
        long before = mem.FlagRescans;
        for (ulong r = 0; r < 4000; r++)
        {
            mem.DeclareRam(Pa(r << 24), 1UL << 20);
        }
        // One rescan (the first region), of every slot of the table; none for the 3,999 regions after it.
        Assert.InRange(mem.FlagRescans - before, frames, 4L * frames);
        Assert.False(mem.TryRead64(Pa(1UL << 40), out _));
        mem.DeclareRam(Pa(1UL << 40), 1UL << 20);
        Assert.True(mem.TryRead64(Pa(1UL << 40), out ulong v));
        Assert.Equal(1UL, v);
        // The frame's flag is set by that read: the walker's fast path sees it from now on.
        Assert.True(mem.FrameForWalk((1UL << 40) >> 12) != null);
    }

    [Fact]
    public unsafe void ReadabilityMatchesTheRegionListForRandomOverlappingRegions()
    {
        var rng = new Random(5);
        for (int round = 0; round < 40; round++)
        {
            var mem = new PhysicalMemory();
            var regions = new List<(ulong Base, ulong Size)>();
            var frames = new List<ulong>();
            for (int i = 0; i < 64; i++)
            {
                ulong f = (ulong)rng.Next(0, 256);
                frames.Add(f);
                mem.Write64(Pa(f << 12 | (ulong)rng.Next(0, 512) << 3), 7);
                if (rng.Next(4) == 0)
                {
                    // Regions of a few frames, sometimes adjacent or overlapping, sometimes of part of a frame.
                    ulong b = (ulong)rng.Next(0, 256) << 12;
                    if (rng.Next(3) == 0)
                    {
                        b += (ulong)rng.Next(1, 512) << 3;
                    }
                    ulong s = (ulong)rng.Next(1, 5) << 12;
                    if (rng.Next(3) == 0 && regions.Count > 0)
                    {
                        b = regions[^1].Base + regions[^1].Size; // adjacent to the last one
                    }
                    mem.DeclareRam(Pa(b), s);
                    regions.Add((b, s));
                }
            }
            for (ulong a = 0; a < 260UL << 12; a += 8 * 61)
            {
                ulong pa = a & ~7UL;
                bool backed = regions.Count == 0 || regions.Any(r => pa - r.Base < r.Size);
                Assert.Equal(backed, mem.IsBacked(Pa(pa)));
                Assert.Equal(backed, mem.TryRead64(Pa(pa), out _));
            }
            foreach (ulong f in frames)
            {
                ulong first = f << 12, last = first + 4095;
                // Whole-frame readability: every byte of the frame in the union of the regions.
                bool whole = regions.Count == 0 || Enumerable.Range(0, 512).All(w => regions.Any(r => first + (ulong)w * 8 - r.Base < r.Size && first + (ulong)w * 8 + 7 - r.Base < r.Size));
                mem.TryRead64(Pa(first), out _); // lets a region declared after the frame set its flag
                Assert.Equal(whole, mem.FrameForWalk(f) != null);
                _ = last;
            }
        }
    }

    [Theory]
    [InlineData(0x1000UL, 0UL)]
    [InlineData(0xFFFF_FFFF_FFFF_F000UL, 0x2000UL)]
    public void EmptyAndWrappingRegionsAreRefused(ulong b, ulong size)
    {
        var mem = new PhysicalMemory();
        var e = Assert.Throws<ArgumentException>(() => mem.DeclareRam(Pa(b), size));
        Assert.Equal(size == 0 ? "a RAM region cannot be empty"
            : "the RAM region at 0xfffffffffffff000 of 0x2000 bytes runs past the top of the address space", e.Message);
        Assert.Empty(mem.RamRegions);
    }

    [Fact]
    public void TheLastRegionMayEndAtTheTopOfTheAddressSpace()
    {
        var mem = new PhysicalMemory();
        mem.DeclareRam(Pa(0xFFFF_FFFF_FFFF_F000UL), 0x1000);
        mem.DeclareRam(Pa(0xFFFF_FFFF_FFFF_E000UL), 0x1000);
        Assert.True(mem.IsBacked(Pa(0xFFFF_FFFF_FFFF_FFF8UL)));
        Assert.True(mem.IsBacked(Pa(0xFFFF_FFFF_FFFF_E000UL)));
        Assert.False(mem.IsBacked(Pa(0xFFFF_FFFF_FFFF_DFF8UL)));
    }
}
